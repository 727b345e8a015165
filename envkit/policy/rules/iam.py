"""IAM: policy documents (wildcards, scoping, escalation, credentials, PassRole, trust,
grammar), who receives administrator access and by which path, identities (users, groups,
MFA, access keys) and the account password policy.

IAM documents are analysed with parliament's IAM knowledge (known actions, resource formats,
actions that support resource scoping, escalation methods, actions that return credentials;
see :mod:`._iamdata`) instead of hand-kept lists.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from pulumi_policy import Severity

from ._common import (
    ADVISORY,
    MANDATORY,
    as_list,
    config_value,
    document,
    known,
    plain,
    rule,
    with_details,
)
from ._iamdata import (
    all_actions,
    by_danger,
    credential_actions,
    escalation_methods,
    escalations,
    expand,
    named,
    parliament_findings,
    per_document,
    scopable_on_everything,
    spelled,
    union,
)

ROLE = "aws:iam/role:Role"
USER = "aws:iam/user:User"
GROUP = "aws:iam/group:Group"
POLICY = "aws:iam/policy:Policy"
ACCESS_KEY = "aws:iam/accessKey:AccessKey"
POLICY_ATTACHMENT = "aws:iam/policyAttachment:PolicyAttachment"
LOGIN_PROFILE = "aws:iam/userLoginProfile:UserLoginProfile"
#: Inline policies and attachments, per kind of principal: (inline type, attachment type).
PER_KIND = {"role": (ROLE, "aws:iam/rolePolicy:RolePolicy",
                     "aws:iam/rolePolicyAttachment:RolePolicyAttachment"),
            "user": (USER, "aws:iam/userPolicy:UserPolicy",
                     "aws:iam/userPolicyAttachment:UserPolicyAttachment"),
            "group": (GROUP, "aws:iam/groupPolicy:GroupPolicy",
                      "aws:iam/groupPolicyAttachment:GroupPolicyAttachment")}
USER_POLICY_TYPES = {"aws:iam/userPolicy:UserPolicy",
                     "aws:iam/userPolicyAttachment:UserPolicyAttachment"}
DOC_TYPES = {POLICY, "aws:iam/userPolicy:UserPolicy", "aws:iam/groupPolicy:GroupPolicy",
             "aws:iam/rolePolicy:RolePolicy"}
MEMBERSHIP = {"aws:iam/userGroupMembership:UserGroupMembership",
              "aws:iam/groupMembership:GroupMembership"}
SENSITIVE_SERVICES = ("iam", "sts", "kms", "organizations")
ADMIN_POLICIES = ("AdministratorAccess", "IAMFullAccess", "PowerUserAccess")
#: How a role, user or group named by a value unknown before deployment is reported.
UNNAMED = "(name unknown until deployed)"
SELF_ONLY = "${aws:username}"

_IAM_DOCS = frozenset(DOC_TYPES | {ROLE})


def _grant_types(*kinds: str, principals: bool = True) -> frozenset[str]:
    """The resource types through which a policy reaches principals of ``kinds``.

    A stack rule sees only the types it names, and each costs a decoding per resource. With
    the principal types, names linked through a dependency match even when unknown in a
    preview; a rule that only reports grants can do without (see :data:`UNNAMED`)."""
    types = {POLICY, POLICY_ATTACHMENT}
    for kind in kinds:
        principal, inline, attachment = PER_KIND[kind]
        types |= {inline, attachment} | ({principal} if principals or kind == "role" else set())
    return frozenset(types)

# --- reading IAM documents --------------------------------------------------------------------


def statements(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """A document's statements (one or a list), malformed entries dropped."""
    return [s for s in as_list(doc.get("Statement")) if isinstance(s, dict)]


def _raw(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(plain(value), default=str)


def documents(args: Any) -> Iterator[tuple[str, dict[str, Any] | None, str]]:
    """(label, document, raw) for each identity-policy document a resource carries."""
    props = args.props
    if args.resource_type in DOC_TYPES:
        raw = props.get("policy")
        yield "policy", document(raw), _raw(raw)
    elif args.resource_type == ROLE:
        for i, inline in enumerate(as_list(props.get("inlinePolicies"))):
            raw = (inline or {}).get("policy")
            if raw is not None:
                yield f"inlinePolicies[{i}]", document(raw), _raw(raw)


def allows(statement: dict[str, Any]) -> bool:
    """Whether a statement is an Allow."""
    return statement.get("Effect") == "Allow"


def actions(statement: dict[str, Any]) -> list[str]:
    """A statement's Action entries."""
    return [str(a) for a in as_list(statement.get("Action"))]


def resources(statement: dict[str, Any]) -> list[str]:
    """A statement's Resource entries."""
    return [str(r) for r in as_list(statement.get("Resource"))]


def allowed_statements(args: Any) -> Iterator[tuple[str, dict[str, Any]]]:
    """(label, statement) for each Allow statement of the identity policies a resource has."""
    for label, doc, _ in documents(args):
        for statement in statements(doc or {}):
            if allows(statement):
                yield label, statement


def _granted(statement: dict[str, Any]) -> frozenset[str]:
    """The actions (lowercase) a statement names; NotAction names all the others."""
    if "NotAction" in statement:
        return all_actions() - union(expand(str(a)) for a in as_list(statement["NotAction"]))
    return union(expand(a) for a in actions(statement))


def _self_only(statement: dict[str, Any]) -> bool:
    res = resources(statement)
    return bool(res) and all(SELF_ONLY in r for r in res)


def _on_everything(statement: dict[str, Any]) -> bool:
    return "*" in resources(statement) or "NotResource" in statement


@dataclass(frozen=True)
class _Reach:
    """What one document lets its holder do, in parliament's terms."""

    escalations: tuple[str, ...]
    credentials: tuple[str, ...]


@per_document
def _reach(raw: str) -> _Reach:
    """Escalation methods and unconstrained credential actions of a document text (cached per
    distinct text; each action pattern is expanded once, see :func:`._iamdata.expand`)."""
    granted, unconstrained, denied = [], [], []
    passrole_anywhere = False
    for s in statements(document(raw) or {}):
        acts = _granted(s)
        if allows(s):
            if _self_only(s):  # a user managing their own keys, password or MFA
                continue
            granted.append(acts)
            if _on_everything(s):
                # PassRole on named roles passes only those roles (iam-passrole-restricted).
                passrole_anywhere = passrole_anywhere or "iam:passrole" in acts
                if not s.get("Condition"):
                    unconstrained.append(acts)
        elif s.get("Effect") == "Deny" and "*" in resources(s) and not s.get("Condition"):
            denied.append(acts)
    allowed = union(granted) - union(denied)
    if not passrole_anywhere:
        allowed = allowed - {"iam:passrole"}
    loose = union(unconstrained) - union(denied)
    credentials = loose & credential_actions()
    # parliament's methods count wherever they are granted; cloudsplaining's, which include
    # reaching one's own instances (Instance Connect, SSM), count when granted on every
    # resource without a condition: scoped to a student's own instances they are the lab.
    found = set(escalations(allowed, parliament_only=True)) | set(escalations(loose))
    return _Reach(tuple(sorted(found)), tuple(spelled(credentials)))


def _action_list(detail: str) -> list[str]:
    """The actions of a parliament finding's detail (a JSON list, or one action)."""
    try:
        value = json.loads(detail)
    except ValueError:
        return [detail]
    return [str(a) for a in value] if isinstance(value, list) else [str(value)]


def _is_admin_document(raw: Any) -> bool:
    doc = known(lambda: document(raw))
    return any(allows(s) and {"*", "*:*"} & set(actions(s)) and "*" in resources(s)
               for s in statements(doc or {}))


# --- IAM documents --------------------------------------------------------------------------


@rule("iam-no-admin-wildcard",
      "IAM policies must not allow every action on every resource (\"*:*\").",
      MANDATORY, Severity.CRITICAL,
      ["CIS 1.16", "Security Hub IAM.1", "Checkov CKV_AWS_62", "Checkov CKV_AWS_1",
       "trivy AVD-AWS-0057"],
      "Grant the specific actions the lab needs; for administrators attach the "
      "AdministratorAccess managed policy to an MFA-enforcing group instead.",
      types=_IAM_DOCS)
def iam_no_admin_wildcard(args, report):
    for label, s in allowed_statements(args):
        if {"*", "*:*"} & set(actions(s)) and "*" in resources(s):
            report(f"{label}: a statement allows Action \"*\" on Resource \"*\"")


@rule("iam-no-sensitive-service-wildcard",
      "IAM policies must not allow \"*\" or service-wide wildcards on iam, sts, kms or "
      "organizations.",
      MANDATORY, Severity.HIGH,
      ["Security Hub IAM.21", "Checkov CKV_AWS_63", "Checkov CKV_AWS_49",
       "Checkov CKV2_AWS_40", "trivy AVD-AWS-0057"],
      "List the individual actions (iam:GetUser, kms:Decrypt, ...) instead of iam:* / kms:*.",
      types=_IAM_DOCS)
def iam_no_sensitive_service_wildcard(args, report):
    for label, s in allowed_statements(args):
        for action in actions(s):
            service, _, verb = action.partition(":")
            if action == "*" or (service.lower() in SENSITIVE_SERVICES and verb == "*"):
                report(f"{label}: allows '{action}'")


@rule("iam-no-service-wildcard",
      "IAM policies must not allow every action of a service (s3:*, ec2:*); iam, sts, kms "
      "and organizations are iam-no-sensitive-service-wildcard's.",
      MANDATORY, Severity.HIGH,
      ["Security Hub IAM.21", "trivy AVD-AWS-0057", "trivy AVD-AWS-0345"],
      "List the actions the workload calls (s3:GetObject, s3:PutObject ...) instead of s3:*.",
      types=_IAM_DOCS)
def iam_no_service_wildcard(args, report):
    for label, s in allowed_statements(args):
        for action in actions(s):
            service, _, verb = action.partition(":")
            if verb == "*" and service not in ("", "*") \
                    and service.lower() not in SENSITIVE_SERVICES:
                report(f"{label}: allows every {service} action ('{action}')")


@rule("iam-no-resource-star-for-scopable-actions",
      "Actions that support resource-level permissions must not be allowed on Resource \"*\" "
      "(actions that support none, like most Describe* calls, may).",
      MANDATORY, Severity.MEDIUM,
      ["Checkov CKV_AWS_355", "Checkov CKV_AWS_356", "Checkov CKV_AWS_288",
       "Checkov CKV_AWS_289", "Checkov CKV_AWS_290", "Checkov CKV_AWS_108",
       "Checkov CKV_AWS_109", "Checkov CKV_AWS_111", "trivy AVD-AWS-0057",
       "trivy AVD-AWS-0346", "AWS IAM least privilege"],
      "Name the resources (ARNs, with wildcards inside the ARN if needed) or add conditions.",
      types=_IAM_DOCS)
def iam_no_resource_star(args, report):
    for label, doc, raw in documents(args):
        if doc is None:
            continue
        found = [a for issue, detail in parliament_findings(raw) if issue == "RESOURCE_STAR"
                 for a in _action_list(detail)]
        # The catalogue Checkov reads knows newer actions, and resource types parliament's
        # lacks; either one's word that an action can be scoped counts.
        known = {a.lower() for a in found}
        found += [a for a in scopable_on_everything(raw) if a.lower() not in known]
        if found:
            found = by_danger(found)
            report(with_details(f"{label}: Resource \"*\" for actions that can be scoped: "
                                f"{named(found)}", {"actions": found}))


@rule("iam-no-not-action-allow",
      "Allow statements must not use NotAction, NotResource or NotPrincipal.",
      MANDATORY, Severity.HIGH, ["AWS IAM NotAction with Allow"],
      "Rewrite the statement as an explicit list of allowed actions and resources.",
      types=_IAM_DOCS)
def iam_no_not_action_allow(args, report):
    docs = list(documents(args))
    if args.resource_type == ROLE:
        trust = args.props.get("assumeRolePolicy")
        docs.append(("assumeRolePolicy", document(trust), ""))
    for label, doc, _ in docs:
        for s in statements(doc or {}):
            used = [k for k in ("NotAction", "NotResource", "NotPrincipal") if k in s]
            if allows(s) and used:
                report(f"{label}: an Allow statement uses {', '.join(used)}")


@rule("iam-no-privilege-escalation",
      "IAM policies must not grant a privilege-escalation method (parliament's list: new "
      "policy versions, attaching or writing policies, keys or passwords for other users, "
      "PassRole with a service that runs code ...).",
      MANDATORY, Severity.CRITICAL,
      ["Checkov CKV_AWS_286", "Checkov CKV_AWS_110", "Security Hub IAM.21"],
      "Remove the escalation actions or restrict them to the user's own identity "
      "(arn:aws:iam::*:user/${aws:username}); pass only named roles.",
      types=_IAM_DOCS)
def iam_no_privilege_escalation(args, report):
    methods = escalation_methods()
    for label, doc, raw in documents(args):
        if doc is None:
            continue
        found = _reach(raw).escalations
        if found:
            ways = {m: spelled(methods[m]) for m in found}
            report(with_details(f"{label}: " + named(
                [f"{m} ({', '.join(a)})" for m, a in ways.items()], "escalation method", "; "),
                {"methods": ways}))


@rule("iam-no-credentials-exposure",
      "IAM policies must not allow, on every resource and without conditions, actions that "
      "return credentials (parliament's list: sts:AssumeRole, iam:CreateAccessKey, "
      "sts:GetFederationToken ...).",
      MANDATORY, Severity.HIGH, ["Checkov CKV_AWS_287", "Checkov CKV_AWS_107"],
      "Name the roles, users or resources the action may touch, or add conditions.",
      types=_IAM_DOCS)
def iam_no_credentials_exposure(args, report):
    for label, doc, raw in documents(args):
        if doc is None:
            continue
        found = by_danger(_reach(raw).credentials)
        if found:
            report(with_details(f"{label}: returns credentials on any resource: "
                                f"{named(found)}", {"actions": found}))


@rule("iam-passrole-restricted",
      "iam:PassRole must name role ARNs or carry an iam:PassedToService condition.",
      MANDATORY, Severity.HIGH,
      ["AWS IAM PassRole", "Checkov CKV_AWS_286", "trivy AVD-AWS-0342"],
      "Set Resource to the role ARNs that may be passed, or add "
      "Condition: {StringEquals: {iam:PassedToService: ec2.amazonaws.com}}.",
      types=_IAM_DOCS)
def iam_passrole_restricted(args, report):
    for label, s in allowed_statements(args):
        if "iam:passrole" not in _granted(s):
            continue
        conditions = json.dumps(s.get("Condition") or {})
        if _on_everything(s) and "iam:PassedToService" not in conditions:
            report(f"{label}: iam:PassRole on Resource \"*\" without iam:PassedToService")


def _trust(args: Any) -> list[dict[str, Any]] | None:
    doc = document(args.props.get("assumeRolePolicy"))
    return None if doc is None else [s for s in statements(doc) if allows(s)]


def _principals(statement: dict[str, Any], kind: str | None = None) -> list[str]:
    principal = statement.get("Principal")
    if isinstance(principal, str):
        return [principal]
    if not isinstance(principal, dict):
        return []
    return [str(v) for k, vs in principal.items() if kind in (None, k) for v in as_list(vs)]


@rule("iam-trust-not-public",
      "Role trust policies must name a service or an account, never \"*\".",
      MANDATORY, Severity.CRITICAL,
      ["Checkov CKV_AWS_60", "Checkov CKV_AWS_283", "trivy AVD-AWS-0057"],
      "Set Principal to {Service: ec2.amazonaws.com} or {AWS: arn:aws:iam::ACCOUNT:root}.",
      types=frozenset({ROLE}))
def iam_trust_not_public(args, report):
    if args.resource_type != ROLE:
        return
    trust = _trust(args)
    if trust is None:
        report("assumeRolePolicy is not a readable policy document")
        return
    for s in trust:
        if "*" in _principals(s) or "NotPrincipal" in s:
            report("the role can be assumed by anyone (Principal \"*\")")


# Checkov's reading of GitHub's OIDC subject claim (checkov/common/util/oidc_utils.py): the
# condition key, claims a workflow author controls, and an owner/repo pair.
_GITHUB_OIDC = "oidc-provider/token.actions.githubusercontent.com"
_GITHUB_SUB = re.compile(r"^token\.actions\.githubusercontent\.com(?:/[a-zA-Z0-9_-]+)?:sub$")
_GITHUB_ABUSABLE = ("workflow", "environment", "ref", "context", "head_ref", "base_ref")
_GITHUB_REPO = re.compile(r"(\$\{)?[a-zA-Z0-9_-]+(\.[a-zA-Z0-9_-]+)*(\})?/[^/]+")


def _github_sub_problem(value: str) -> str | None:
    """Why a ``token.actions.githubusercontent.com:sub`` value lets other workflows in, or
    None when it names one repository (and more)."""
    claims = value.split(":")
    if value == "*" or len(claims) == 1:
        return f"'{value}' matches any repository"
    if claims[1] == "*":
        return f"'{value}' matches any value of {claims[0]}"
    if claims[0].startswith(_GITHUB_ABUSABLE):
        return f"'{value}' starts with {claims[0]}, which any repository's workflow can claim"
    if claims[0] == "repo" and not _GITHUB_REPO.match(claims[1]):
        return f"'{value}' does not name one owner/repository"
    return None


@rule("iam-github-oidc-trust-scoped",
      "A role trusted by GitHub Actions (token.actions.githubusercontent.com) requires a sub "
      "claim naming one repository (repo:OWNER/REPO:...), never a wildcard or a claim any "
      "workflow can set.",
      MANDATORY, Severity.CRITICAL,
      ["Checkov CKV_AWS_358", "Checkov CKV_AWS_393", "AWS IAM OIDC federation"],
      "Add Condition: {StringLike: {token.actions.githubusercontent.com:sub: "
      "repo:OWNER/REPO:ref:refs/heads/main}} (and :aud sts.amazonaws.com).",
      types=frozenset({ROLE}))
def iam_github_oidc_trust_scoped(args, report):
    if args.resource_type != ROLE:
        return
    for s in _trust(args) or []:
        if not any(_GITHUB_OIDC in p for p in _principals(s, "Federated")):
            continue
        subs = [str(v) for block in (s.get("Condition") or {}).values()
                if isinstance(block, dict)
                for key, values in block.items() if _GITHUB_SUB.match(str(key))
                for v in as_list(values)]
        if not subs:
            report("GitHub Actions may assume the role from any repository (no "
                   "token.actions.githubusercontent.com:sub condition)")
        for problem in filter(None, map(_github_sub_problem, subs)):
            report(f"GitHub Actions sub condition {problem}")


_WHOLE_ACCOUNT = re.compile(r"^(?:(\d{12})|arn:aws[\w-]*:iam::(\d{12}):root)$")


@rule("iam-trust-account-needs-condition",
      "A role trusted by a whole AWS account (arn:aws:iam::123456789012:root or a bare "
      "account id) requires sts:ExternalId or another condition.",
      MANDATORY, Severity.HIGH, ["Checkov CKV_AWS_61", "AWS IAM confused deputy"],
      "Trust the role or user that needs it (arn:aws:iam::ACCOUNT:role/NAME), or add "
      "Condition: {StringEquals: {sts:ExternalId: ...}}; list your own accounts in "
      "trustedAccounts.",
      types=frozenset({ROLE}),
      config={"trustedAccounts": {"type": "array", "items": {"type": "string"},
                                  "default": []}})
def iam_trust_account_needs_condition(args, report):
    if args.resource_type != ROLE:
        return
    trusted = {str(a) for a in config_value(args, "trustedAccounts", [])}
    for s in _trust(args) or []:
        if s.get("Condition"):
            continue
        for principal in _principals(s, "AWS"):
            match = _WHOLE_ACCOUNT.match(principal.strip())
            account = match and (match.group(1) or match.group(2))
            if account and account not in trusted:
                report(f"any identity in account {account} can assume the role "
                       f"(no sts:ExternalId or other condition)")


@rule("iam-document-well-formed",
      "IAM documents declare a Version and use known actions on matching resource types.",
      ADVISORY, Severity.MEDIUM, ["AWS IAM policy grammar"],
      "Add \"Version\": \"2012-10-17\", fix misspelled actions and use resource ARNs of the "
      "action's resource type.",
      types=_IAM_DOCS)
def iam_document_well_formed(args, report):
    for label, doc, raw in documents(args):
        if doc is None:
            report(f"{label}: not valid JSON")
            continue
        problems = [f"{issue}: {detail}" if detail else issue for issue, detail in
                    parliament_findings(raw) if issue in (
                        "NO_VERSION", "UNKNOWN_ACTION", "UNKNOWN_PREFIX", "RESOURCE_MISMATCH",
                        "MALFORMED", "INVALID_ARN", "UNKNOWN_CONDITION_FOR_ACTION")]
        if problems:
            report(f"{label}: " + "; ".join(problems))
