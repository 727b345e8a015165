"""IAM: policy documents (wildcards, scoping, escalation, PassRole, trust, grammar),
identities (users, groups, MFA, access keys) and the account password policy.

IAM documents are analysed with parliament's IAM knowledge base (known actions, resource
formats, actions that support resource scoping, privilege escalation) instead of hand-kept
lists.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from pulumi_policy import Severity

from ._common import (
    ADVISORY,
    MANDATORY,
    as_list,
    by_type,
    config_value,
    known,
    parliament_findings,
    plain,
    rule,
)

USER_POLICY_TYPES = {"aws:iam/userPolicy:UserPolicy",
                     "aws:iam/userPolicyAttachment:UserPolicyAttachment"}
DOC_TYPES = {"aws:iam/policy:Policy", "aws:iam/userPolicy:UserPolicy",
             "aws:iam/groupPolicy:GroupPolicy", "aws:iam/rolePolicy:RolePolicy"}
ROLE = "aws:iam/role:Role"
SENSITIVE_SERVICES = ("iam", "sts", "kms", "organizations")
ADMIN_POLICIES = ("AdministratorAccess", "IAMFullAccess", "PowerUserAccess")
ESCALATION_ACTIONS = {
    "iam:createpolicyversion", "iam:setdefaultpolicyversion", "iam:attachuserpolicy",
    "iam:attachgrouppolicy", "iam:attachrolepolicy", "iam:putuserpolicy", "iam:putgrouppolicy",
    "iam:putrolepolicy", "iam:updateassumerolepolicy", "iam:createloginprofile",
    "iam:updateloginprofile", "iam:addusertogroup",
}
SELF_ONLY = "${aws:username}"

_IAM_DOCS = frozenset(DOC_TYPES | {ROLE})

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


def documents(args: Any) -> Iterator[tuple[str, dict[str, Any] | None, str]]:
    """(label, document, raw) for each identity-policy document a resource carries."""
    props = args.props
    if args.resource_type in DOC_TYPES:
        raw = props.get("policy")
        yield "policy", document(raw), raw if isinstance(raw, str) else json.dumps(raw)
    elif args.resource_type == ROLE:
        for i, inline in enumerate(as_list(props.get("inlinePolicies"))):
            raw = (inline or {}).get("policy")
            if raw is not None:
                yield f"inlinePolicies[{i}]", document(raw), raw if isinstance(raw, str) \
                    else json.dumps(raw)


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


# --- IAM documents --------------------------------------------------------------------------


@rule("iam-no-admin-wildcard",
      "IAM policies must not allow every action on every resource (\"*:*\").",
      MANDATORY, Severity.CRITICAL,
      ["CIS 1.16", "Security Hub IAM.1", "Checkov CKV_AWS_62"],
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
      MANDATORY, Severity.HIGH, ["Security Hub IAM.21"],
      "List the individual actions (iam:GetUser, kms:Decrypt, ...) instead of iam:* / kms:*.",
      types=_IAM_DOCS)
def iam_no_sensitive_service_wildcard(args, report):
    for label, s in allowed_statements(args):
        for action in actions(s):
            service, _, verb = action.partition(":")
            if action == "*" or (service.lower() in SENSITIVE_SERVICES and verb == "*"):
                report(f"{label}: allows '{action}'")


@rule("iam-no-resource-star-for-scopable-actions",
      "Actions that support resource-level permissions must not be allowed on Resource \"*\".",
      MANDATORY, Severity.MEDIUM, ["Checkov CKV_AWS_355", "AWS IAM least privilege"],
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
      "IAM policies must not grant privilege-escalation paths (policy versions, attaching or "
      "writing user policies, rewriting trust, keys for other users, PassRole with RunInstances).",
      MANDATORY, Severity.CRITICAL, ["Checkov CKV_AWS_286", "Security Hub IAM.21"],
      "Remove the escalation actions or restrict them to the user's own identity "
      "(arn:aws:iam::*:user/${aws:username}).",
      types=_IAM_DOCS)
def iam_no_privilege_escalation(args, report):
    for label, doc, raw in documents(args):
        if doc is None:
            continue
        found = set()
        for s in statements(doc):
            if not allows(s):
                continue
            acts = {a.lower() for a in actions(s)}
            res = resources(s)
            self_only = bool(res) and all(SELF_ONLY in r for r in res)
            for action in acts & ESCALATION_ACTIONS:
                if not self_only:
                    found.add(action)
            if "iam:createaccesskey" in acts and not self_only:
                found.add("iam:createaccesskey on other users")
            if "iam:passrole" in acts and "ec2:runinstances" in acts and "*" in res:
                found.add("iam:passrole with ec2:runinstances on *")
        for issue, _ in parliament_findings(raw):
            if issue == "PRIVILEGE_ESCALATION":
                found.add("a known escalation combination (parliament)")
        if found:
            report(f"{label}: {', '.join(sorted(found))}")


@rule("iam-passrole-restricted",
      "iam:PassRole must name role ARNs or carry an iam:PassedToService condition.",
      MANDATORY, Severity.HIGH, ["AWS IAM PassRole", "Checkov CKV_AWS_286"],
      "Set Resource to the role ARNs that may be passed, or add "
      "Condition: {StringEquals: {iam:PassedToService: ec2.amazonaws.com}}.",
      types=_IAM_DOCS)
def iam_passrole_restricted(args, report):
    for label, s in allowed_statements(args):
        if not {"iam:passrole", "iam:*", "*"} & {a.lower() for a in actions(s)}:
            continue
        conditions = json.dumps(s.get("Condition") or {})
        if "*" in resources(s) and "iam:PassedToService" not in conditions:
            report(f"{label}: iam:PassRole on Resource \"*\" without iam:PassedToService")


@rule("iam-trust-not-public",
      "Role trust policies must name a service or an account, never \"*\".",
      MANDATORY, Severity.CRITICAL, ["Checkov CKV_AWS_60", "Checkov CKV_AWS_61"],
      "Set Principal to {Service: ec2.amazonaws.com} or {AWS: arn:aws:iam::ACCOUNT:root}.",
      types=frozenset({ROLE}))
def iam_trust_not_public(args, report):
    if args.resource_type != ROLE:
        return
    doc = document(args.props.get("assumeRolePolicy"))
    if doc is None:
        report("assumeRolePolicy is not a readable policy document")
        return
    for s in statements(doc):
        if not allows(s):
            continue
        principal = s.get("Principal")
        values = [principal] if isinstance(principal, str) else [
            v for vs in (principal or {}).values() for v in as_list(vs)]
        if "*" in values or "NotPrincipal" in s:
            report("the role can be assumed by anyone (Principal \"*\")")


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


# --- IAM identities -------------------------------------------------------------------------


@rule("iam-no-user-policies",
      "Policies are attached to groups or roles, never directly to users.",
      MANDATORY, Severity.MEDIUM, ["CIS 1.15", "Security Hub IAM.2", "Checkov CKV_AWS_40"],
      "Put the user in a group and attach the policy to the group.",
      types=frozenset(USER_POLICY_TYPES | {"aws:iam/policyAttachment:PolicyAttachment"}))
def iam_no_user_policies(args, report):
    if args.resource_type in USER_POLICY_TYPES:
        report(f"{args.resource_type.rsplit(':', 1)[-1]} attaches a policy directly to a user")
    elif args.resource_type == "aws:iam/policyAttachment:PolicyAttachment" and \
            as_list(args.props.get("users")):
        report("PolicyAttachment attaches a policy directly to users")


def _groups_of_users(resources: list) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for r in by_type(resources, "aws:iam/userGroupMembership:UserGroupMembership"):
        user = known(lambda r=r: r.props.get("user"))
        for g in known(lambda r=r: as_list(r.props.get("groups")), []):
            out.setdefault(str(user), set()).add(str(g))
    for r in by_type(resources, "aws:iam/groupMembership:GroupMembership"):
        group = known(lambda r=r: r.props.get("group"))
        for u in known(lambda r=r: as_list(r.props.get("users")), []):
            out.setdefault(str(u), set()).add(str(group))
    return out


def _mfa_groups(resources: list) -> set[str]:
    """Groups with a policy that denies actions unless the caller signed in with MFA."""
    out = set()
    for r in by_type(resources, "aws:iam/groupPolicy:GroupPolicy"):
        doc = known(lambda r=r: document(r.props.get("policy")))
        for s in statements(doc or {}):
            if s.get("Effect") == "Deny" and "aws:MultiFactorAuthPresent" in json.dumps(
                    s.get("Condition") or {}):
                out.add(str(known(lambda r=r: r.props.get("group"))))
    return out


def _admin_groups(resources: list) -> set[str]:
    out = set()
    for r in by_type(resources, "aws:iam/groupPolicyAttachment:GroupPolicyAttachment"):
        arn = str(known(lambda r=r: r.props.get("policyArn"), ""))
        if arn.rsplit("/", 1)[-1] in ADMIN_POLICIES:
            out.add(str(known(lambda r=r: r.props.get("group"))))
    return out


def _user_names(resources: list) -> dict[str, Any]:
    return {str(known(lambda r=r: r.props.get("name"), r.name)): r
            for r in by_type(resources, "aws:iam/user:User")}


_MEMBERSHIP = {"aws:iam/userGroupMembership:UserGroupMembership",
               "aws:iam/groupMembership:GroupMembership"}


@rule("iam-user-in-group",
      "Every IAM user belongs to at least one group.",
      ADVISORY, Severity.LOW, ["AWS IAM groups", "CIS 1.15"],
      "Add the user to a group (iam.users.NAME.groups) that carries its permissions.",
      kind="stack", types=frozenset({"aws:iam/user:User", *_MEMBERSHIP}))
def iam_user_in_group(args, report):
    members = _groups_of_users(args.resources)
    for name, user in _user_names(args.resources).items():
        if not members.get(name):
            report(f"user '{name}' is in no group", user.urn)


@rule("iam-admin-policies-need-mfa",
      "AdministratorAccess, IAMFullAccess and PowerUserAccess are attached only to groups "
      "that enforce MFA.",
      MANDATORY, Severity.CRITICAL, ["CIS 1.10", "Security Hub IAM.5"],
      "Set require_mfa: true on the group (a deny-unless-MFA policy) or attach a narrower "
      "policy.", kind="stack", types=frozenset({
          "aws:iam/groupPolicyAttachment:GroupPolicyAttachment",
          "aws:iam/groupPolicy:GroupPolicy", "aws:iam/rolePolicyAttachment:RolePolicyAttachment"}))
def iam_admin_policies_need_mfa(args, report):
    mfa = _mfa_groups(args.resources)
    for r in by_type(args.resources, "aws:iam/groupPolicyAttachment:GroupPolicyAttachment"):
        arn = str(known(lambda r=r: r.props.get("policyArn"), ""))
        group = str(known(lambda r=r: r.props.get("group")))
        if arn.rsplit("/", 1)[-1] in ADMIN_POLICIES and group not in mfa:
            report(f"group '{group}' gets {arn.rsplit('/', 1)[-1]} without MFA enforcement",
                   r.urn)
    for r in by_type(args.resources, "aws:iam/rolePolicyAttachment:RolePolicyAttachment"):
        arn = str(known(lambda r=r: r.props.get("policyArn"), ""))
        if arn.rsplit("/", 1)[-1] in ("IAMFullAccess",):
            report(f"role '{known(lambda r=r: r.props.get('role'))}' gets IAMFullAccess", r.urn)


@rule("iam-console-users-mfa",
      "Console users are covered by MFA enforcement (a group that denies all but MFA setup "
      "until the user signs in with MFA).",
      ADVISORY, Severity.HIGH, ["CIS 1.10", "Security Hub IAM.5"],
      "Put console users in a group with require_mfa: true.", kind="stack",
      types=frozenset({"aws:iam/userLoginProfile:UserLoginProfile",
                       "aws:iam/groupPolicy:GroupPolicy", *_MEMBERSHIP}))
def iam_console_users_mfa(args, report):
    members = _groups_of_users(args.resources)
    mfa = _mfa_groups(args.resources)
    for r in by_type(args.resources, "aws:iam/userLoginProfile:UserLoginProfile"):
        user = str(known(lambda r=r: r.props.get("user")))
        if not members.get(user, set()) & mfa:
            report(f"console user '{user}' is in no MFA-enforcing group", r.urn)


@rule("iam-no-access-keys-for-console-admins",
      "Console users in administrator groups get no access keys.",
      MANDATORY, Severity.HIGH, ["CIS 1.11", "Security Hub IAM.3"],
      "Drop access_key for the user; administrators use the console or short-lived "
      "credentials (SSO, sts:AssumeRole).", kind="stack",
      types=frozenset({"aws:iam/accessKey:AccessKey", "aws:iam/userLoginProfile:UserLoginProfile",
                       "aws:iam/groupPolicyAttachment:GroupPolicyAttachment", *_MEMBERSHIP}))
def iam_no_access_keys_for_console_admins(args, report):
    members = _groups_of_users(args.resources)
    admins = _admin_groups(args.resources)
    console = {str(known(lambda r=r: r.props.get("user"))) for r in
               by_type(args.resources, "aws:iam/userLoginProfile:UserLoginProfile")}
    for r in by_type(args.resources, "aws:iam/accessKey:AccessKey"):
        user = str(known(lambda r=r: r.props.get("user")))
        if user in console and members.get(user, set()) & admins:
            report(f"access key for console administrator '{user}'", r.urn)


@rule("iam-access-key-age",
      "Access keys are rotated before they reach the maximum age.",
      ADVISORY, Severity.MEDIUM, ["CIS 1.14", "Security Hub IAM.3"],
      "Create a new key, switch to it, delete the old one (or redeploy the user's key).",
      kind="stack", types=frozenset({"aws:iam/accessKey:AccessKey"}),
      config={"maxAccessKeyAgeDays": {"type": "integer", "default": 90, "minimum": 1}})
def iam_access_key_age(args, report):
    from datetime import datetime, timezone

    limit = int(config_value(args, "maxAccessKeyAgeDays", 90))
    for r in by_type(args.resources, "aws:iam/accessKey:AccessKey"):
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


@rule("iam-password-policy-cis",
      "The account password policy meets CIS: length, reuse prevention, all character "
      "classes, maximum age.",
      MANDATORY, Severity.HIGH,
      ["CIS 1.8", "CIS 1.9", "Security Hub IAM.7", "Checkov CKV_AWS_9", "Checkov CKV_AWS_10",
       "Checkov CKV_AWS_13"],
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
