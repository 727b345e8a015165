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
    by_type,
    config_value,
    known,
    plain,
    rule,
)
from ._iamdata import (
    all_actions,
    credential_actions,
    escalation_methods,
    escalations,
    expand,
    parliament_findings,
    per_document,
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


def document(value: Any) -> dict[str, Any] | None:
    """A policy document from a JSON string or a mapping; None when unreadable."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return None
    value = plain(value)
    return value if isinstance(value, dict) else None


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
    credentials = (union(unconstrained) & credential_actions()) - union(denied)
    return _Reach(tuple(escalations(allowed)), tuple(spelled(credentials)))


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
       "AWS IAM least privilege"],
      "Name the resources (ARNs, with wildcards inside the ARN if needed) or add conditions.",
      types=_IAM_DOCS)
def iam_no_resource_star(args, report):
    for label, doc, raw in documents(args):
        if doc is None:
            continue
        for issue, detail in parliament_findings(raw):
            if issue == "RESOURCE_STAR":
                report(f"{label}: Resource \"*\" for actions that can be scoped: {detail}")


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
            report(f"{label}: " + "; ".join(
                f"{m} ({', '.join(spelled(methods[m]))})" for m in found))


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
        found = _reach(raw).credentials
        if found:
            report(f"{label}: returns credentials on any resource: {', '.join(found)}")


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


# --- who gets what: roles, users, groups ------------------------------------------------------


def _key(resource: Any) -> str:
    """How policies name a role, user or group: its name, else its logical name."""
    name = known(lambda: resource.props.get("name"))
    return name if isinstance(name, str) and name else resource.name


def _principals_of(resource: Any, prop: str, type_: str) -> list[str]:
    """The roles/users/groups (by :func:`_key`) a resource names in ``prop``: the ones of
    ``type_`` it depends on (``role=role.name``), and literal names (``role="ops"``)."""
    linked = [_key(d) for d in resource.dependencies if d.resource_type == type_]
    values = known(lambda: as_list(resource.props.get(prop)), [])
    if linked and len(values) <= len(linked):
        return linked  # every value came from a linked resource
    return linked + [v for v in values if isinstance(v, str) and v not in linked]


@dataclass(frozen=True)
class Grant:
    """A policy reaching a role, user or group, and the resource that makes it so."""

    kind: str  # role | user | group
    who: str
    policy: str  # a managed policy name, or "*:*"
    via: Any


def _managed(arn: Any) -> str | None:
    name = arn.rsplit("/", 1)[-1] if isinstance(arn, str) and ":policy/" in arn else None
    return name if name in ADMIN_POLICIES else None


def grants(resources: list) -> list[Grant]:
    """Every administrator-level policy (AdministratorAccess, IAMFullAccess,
    PowerUserAccess, an Allow of *:*) reaching a role, user or group, through any path:
    inline policies (RolePolicy, ``inline_policies``), managed ARNs (attachments,
    ``managed_policy_arns``, PolicyAttachment) and aws.iam.Policy resources attached by any
    of those."""
    admin_docs = {p.urn for p in by_type(resources, POLICY)
                  if _is_admin_document(known(lambda p=p: p.props.get("policy")))}

    def who(r: Any, prop: str, type_: str) -> list[str]:
        # A grant is a grant even when its principal is named by a value unknown until
        # deployment and not linked to a resource here: report it rather than pass it.
        return _principals_of(r, prop, type_) or [UNNAMED]

    def policies_of(r: Any, arns: list[Any]) -> list[str]:
        named = [m for m in map(_managed, arns) if m]
        return named + ["*:*"] * any(d.urn in admin_docs for d in r.dependencies)

    out = []
    for r in resources:
        t = r.resource_type
        if t == ROLE:
            inline = known(lambda r=r: as_list(r.props.get("inlinePolicies")), [])
            if any(_is_admin_document((i or {}).get("policy")) for i in inline):
                out.append(Grant("role", _key(r), "*:*", r))
            arns = known(lambda r=r: as_list(r.props.get("managedPolicyArns")), [])
            out += [Grant("role", _key(r), p, r) for p in policies_of(r, arns)]
        elif t == POLICY_ATTACHMENT:
            found = policies_of(r, [known(lambda r=r: r.props.get("policyArn"))])
            for kind, (type_, _, _) in PER_KIND.items():
                if known(lambda r=r, k=kind: as_list(r.props.get(f"{k}s")), [None]):
                    out += [Grant(kind, name, p, r) for p in found
                            for name in who(r, f"{kind}s", type_)]
        for kind, (type_, inline_type, attachment_type) in PER_KIND.items():
            if t == inline_type and _is_admin_document(known(lambda r=r: r.props.get("policy"))):
                found = ["*:*"]
            elif t == attachment_type:
                found = policies_of(r, [known(lambda r=r: r.props.get("policyArn"))])
            else:
                continue
            out += [Grant(kind, name, p, r) for p in found for name in who(r, kind, type_)]
    return out


def _groups_of_users(resources: list) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for r in by_type(resources, "aws:iam/userGroupMembership:UserGroupMembership"):
        for user in _principals_of(r, "user", USER):
            out.setdefault(user, set()).update(_principals_of(r, "groups", GROUP))
    for r in by_type(resources, "aws:iam/groupMembership:GroupMembership"):
        for group in _principals_of(r, "group", GROUP):
            for user in _principals_of(r, "users", USER):
                out.setdefault(user, set()).add(group)
    return out


def _mfa_groups(resources: list) -> set[str]:
    """Groups with a policy that denies actions unless the caller signed in with MFA."""
    out = set()
    for r in by_type(resources, "aws:iam/groupPolicy:GroupPolicy"):
        doc = known(lambda r=r: document(r.props.get("policy")))
        for s in statements(doc or {}):
            if s.get("Effect") == "Deny" and "aws:MultiFactorAuthPresent" in json.dumps(
                    s.get("Condition") or {}):
                out.update(_principals_of(r, "group", GROUP))
    return out


def _via(grant: Grant) -> str:
    return f"{grant.via.resource_type.rsplit(':', 1)[-1]} '{grant.via.name}'"


@rule("iam-no-user-policies",
      "Policies are attached to groups or roles, never directly to users.",
      MANDATORY, Severity.MEDIUM,
      ["CIS 1.15", "Security Hub IAM.2", "Checkov CKV_AWS_40", "trivy AVD-AWS-0143"],
      "Put the user in a group and attach the policy to the group.",
      types=frozenset(USER_POLICY_TYPES | {POLICY_ATTACHMENT}))
def iam_no_user_policies(args, report):
    if args.resource_type in USER_POLICY_TYPES:
        report(f"{args.resource_type.rsplit(':', 1)[-1]} attaches a policy directly to a user")
    elif args.resource_type == POLICY_ATTACHMENT and as_list(args.props.get("users")):
        report("PolicyAttachment attaches a policy directly to users")


@rule("iam-user-in-group",
      "Every IAM user belongs to at least one group.",
      ADVISORY, Severity.LOW, ["AWS IAM groups", "CIS 1.15", "Checkov CKV2_AWS_21"],
      "Add the user to a group (iam.users.NAME.groups) that carries its permissions.",
      kind="stack", types=frozenset({USER, *MEMBERSHIP}))
def iam_user_in_group(args, report):
    members = _groups_of_users(args.resources)
    for user in by_type(args.resources, USER):
        if not members.get(_key(user)):
            report(f"user '{_key(user)}' is in no group", user.urn)


@rule("iam-no-admin-for-roles-or-users",
      "AdministratorAccess, IAMFullAccess or an Allow of \"*:*\" reaches no role and no user, "
      "by any path: inline policies, managed_policy_arns, Role/User/PolicyAttachment, or an "
      "aws.iam.Policy attached by any of them.",
      MANDATORY, Severity.CRITICAL,
      ["CIS 1.16", "Security Hub IAM.1", "Checkov CKV_AWS_274", "Checkov CKV_AWS_275",
       "Checkov CKV2_AWS_56", "trivy AVD-AWS-0057"],
      "Give the role or user the actions it needs; people who administer the account get "
      "AdministratorAccess through a group that enforces MFA.",
      kind="stack", types=_grant_types("role", "user", principals=False))
def iam_no_admin_for_roles_or_users(args, report):
    for g in grants(args.resources):
        if g.kind in ("role", "user") and g.policy != "PowerUserAccess":
            report(f"{g.kind} '{g.who}' gets {g.policy} through {_via(g)}", g.via.urn)


@rule("iam-admin-policies-need-mfa",
      "AdministratorAccess, IAMFullAccess, PowerUserAccess or an Allow of \"*:*\" reaches a "
      "group, by any path, only when the group enforces MFA.",
      MANDATORY, Severity.CRITICAL,
      ["CIS 1.10", "Security Hub IAM.5", "Checkov CKV_AWS_274", "Checkov CKV2_AWS_56",
       "trivy AVD-AWS-0123"],
      "Set require_mfa: true on the group (a deny-unless-MFA policy) or attach a narrower "
      "policy.", kind="stack", types=_grant_types("group"))
def iam_admin_policies_need_mfa(args, report):
    mfa = _mfa_groups(args.resources)
    for g in grants(args.resources):
        if g.kind == "group" and g.who not in mfa:
            report(f"group '{g.who}' gets {g.policy} without MFA enforcement", g.via.urn)


@rule("iam-console-users-mfa",
      "Console users are covered by MFA enforcement (a group that denies all but MFA setup "
      "until the user signs in with MFA).",
      ADVISORY, Severity.HIGH,
      ["CIS 1.10", "Security Hub IAM.5", "trivy AVD-AWS-0145",
       "AWSGuard mfa-enabled-for-iam-console-access"],
      "Put console users in a group with require_mfa: true.", kind="stack",
      types=frozenset({LOGIN_PROFILE, USER, GROUP, "aws:iam/groupPolicy:GroupPolicy",
                       *MEMBERSHIP}))
def iam_console_users_mfa(args, report):
    members = _groups_of_users(args.resources)
    mfa = _mfa_groups(args.resources)
    for r in by_type(args.resources, LOGIN_PROFILE):
        for user in _principals_of(r, "user", USER):
            if not members.get(user, set()) & mfa:
                report(f"console user '{user}' is in no MFA-enforcing group", r.urn)


@rule("iam-no-access-keys-for-console-admins",
      "Console users in administrator groups get no access keys.",
      MANDATORY, Severity.HIGH, ["CIS 1.11", "Security Hub IAM.3"],
      "Drop access_key for the user; administrators use the console or short-lived "
      "credentials (SSO, sts:AssumeRole).", kind="stack",
      types=frozenset({ACCESS_KEY, LOGIN_PROFILE, USER, *MEMBERSHIP, *_grant_types("group")}))
def iam_no_access_keys_for_console_admins(args, report):
    members = _groups_of_users(args.resources)
    admins = {g.who for g in grants(args.resources) if g.kind == "group"}
    console = {u for r in by_type(args.resources, LOGIN_PROFILE)
               for u in _principals_of(r, "user", USER)}
    for r in by_type(args.resources, ACCESS_KEY):
        for user in _principals_of(r, "user", USER):
            if user in console and members.get(user, set()) & admins:
                report(f"access key for console administrator '{user}'", r.urn)


@rule("iam-one-active-access-key-per-user",
      "No user has more than one active access key.",
      ADVISORY, Severity.MEDIUM, ["CIS 1.13", "trivy AVD-AWS-0167"],
      "Keep one active key per user; mark the key being rotated out status=\"Inactive\", "
      "then delete it.", kind="stack", types=frozenset({ACCESS_KEY, USER}))
def iam_one_active_access_key_per_user(args, report):
    active: dict[str, list[Any]] = {}
    for r in by_type(args.resources, ACCESS_KEY):
        status = known(lambda r=r: r.props.get("status"), "Active")
        if str(status or "Active").lower() == "active":
            for user in _principals_of(r, "user", USER):
                active.setdefault(user, []).append(r)
    for user, keys in active.items():
        if len(keys) > 1:
            report(f"user '{user}' has {len(keys)} active access keys "
                   f"({', '.join(k.name for k in keys)})", keys[-1].urn)


@rule("iam-access-key-age",
      "Access keys are rotated before they reach the maximum age.",
      ADVISORY, Severity.MEDIUM,
      ["CIS 1.14", "Security Hub IAM.3", "trivy AVD-AWS-0146", "AWSGuard access-keys-rotated"],
      "Create a new key, switch to it, delete the old one (or redeploy the user's key).",
      kind="stack", types=frozenset({ACCESS_KEY}),
      config={"maxAccessKeyAgeDays": {"type": "integer", "default": 90, "minimum": 1}})
def iam_access_key_age(args, report):
    from datetime import datetime, timezone

    limit = int(config_value(args, "maxAccessKeyAgeDays", 90))
    for r in by_type(args.resources, ACCESS_KEY):
        created = known(lambda r=r: r.props.get("createDate"))
        if not isinstance(created, str):
            continue
        try:
            age = datetime.now(timezone.utc) - datetime.fromisoformat(created.replace("Z",
                                                                                      "+00:00"))
        except ValueError:
            continue
        if age.days > limit:
            report(f"access key is {age.days} days old (limit {limit})", r.urn)


@rule("iam-role-no-policy-management-conflicts",
      "A role's policies are managed one way: a role with managed_policy_arns or "
      "inline_policies gets no RolePolicy, RolePolicyAttachment or PolicyAttachment (they "
      "undo each other on every update).",
      ADVISORY, Severity.LOW, ["AWSGuard iam-role-no-policy-management-conflicts"],
      "Keep the role's policies either on the role (managed_policy_arns, inline_policies) or "
      "in separate resources, not both.",
      kind="stack", types=frozenset({ROLE, POLICY_ATTACHMENT, "aws:iam/rolePolicy:RolePolicy",
                                     "aws:iam/rolePolicyAttachment:RolePolicyAttachment"}))
def iam_role_no_policy_management_conflicts(args, report):
    separate = {POLICY_ATTACHMENT, "aws:iam/rolePolicy:RolePolicy",
                "aws:iam/rolePolicyAttachment:RolePolicyAttachment"}
    for r in args.resources:
        if r.resource_type not in separate:
            continue
        for role in (d for d in r.dependencies if d.resource_type == ROLE):
            exclusive = [p for p in ("managedPolicyArns", "inlinePolicies")
                         if known(lambda role=role, p=p: as_list(role.props.get(p)), [])]
            if exclusive:
                report(f"'{r.name}' manages policies of role '{_key(role)}', which sets "
                       f"{' and '.join(exclusive)}", r.urn)


@rule("iam-password-policy-cis",
      "The account password policy meets CIS: length, reuse prevention, all character "
      "classes, maximum age.",
      MANDATORY, Severity.HIGH,
      ["CIS 1.8", "CIS 1.9", "Security Hub IAM.7", "Checkov CKV_AWS_9", "Checkov CKV_AWS_10",
       "Checkov CKV_AWS_11", "Checkov CKV_AWS_12", "Checkov CKV_AWS_13", "Checkov CKV_AWS_14",
       "Checkov CKV_AWS_15", "trivy AVD-AWS-0056", "trivy AVD-AWS-0058", "trivy AVD-AWS-0059",
       "trivy AVD-AWS-0060", "trivy AVD-AWS-0061", "trivy AVD-AWS-0062",
       "trivy AVD-AWS-0063"],
      "Set iam.password_policy: {} (CIS defaults) or raise the values that fall short.",
      types=frozenset({"aws:iam/accountPasswordPolicy:AccountPasswordPolicy"}),
      config={"minimumPasswordLength": {"type": "integer", "default": 14, "minimum": 6},
              "minimumReusePrevention": {"type": "integer", "default": 24, "maximum": 24},
              "maximumPasswordAgeDays": {"type": "integer", "default": 90}})
def iam_password_policy_cis(args, report):
    if args.resource_type != "aws:iam/accountPasswordPolicy:AccountPasswordPolicy":
        return
    p = args.props
    problems = []
    length = int(config_value(args, "minimumPasswordLength", 14))
    if (p.get("minimumPasswordLength") or 6) < length:
        problems.append(f"minimum length {p.get('minimumPasswordLength')} < {length}")
    reuse = int(config_value(args, "minimumReusePrevention", 24))
    if (p.get("passwordReusePrevention") or 0) < reuse:
        problems.append(f"reuse prevention {p.get('passwordReusePrevention')} < {reuse}")
    for key in ("requireSymbols", "requireNumbers", "requireUppercaseCharacters",
                "requireLowercaseCharacters"):
        if not p.get(key):
            problems.append(f"{key} is off")
    age = int(config_value(args, "maximumPasswordAgeDays", 90))
    if not p.get("maxPasswordAge") or p.get("maxPasswordAge") > age:
        problems.append(f"maximum age {p.get('maxPasswordAge') or 'unlimited'} > {age} days")
    if problems:
        report("; ".join(problems))
