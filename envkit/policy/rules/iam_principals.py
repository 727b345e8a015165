"""IAM principals: who receives administrator access and by which path (inline policies,
managed ARNs, attachments), users and groups, MFA, access keys, policy-management conflicts
and the account password policy.

Documents are read with :mod:`.iam`'s readers; the rules here follow the grants between
resources (a stack rule sees every role, user, group and attachment at once).
"""

from __future__ import annotations

import json
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
    rule,
)
from .iam import (
    ACCESS_KEY,
    ADMIN_POLICIES,
    GROUP,
    LOGIN_PROFILE,
    MEMBERSHIP,
    PER_KIND,
    POLICY,
    POLICY_ATTACHMENT,
    ROLE,
    UNNAMED,
    USER,
    USER_POLICY_TYPES,
    _grant_types,
    _is_admin_document,
    document,
    statements,
)

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


@rule("iam-group-has-users",
      "Every IAM group has at least one user (a group without members grants nothing and "
      "hides mistakes in who was meant to be in it).",
      ADVISORY, Severity.LOW, ["Checkov CKV2_AWS_14"],
      "Add the users the group is for (iam.users.NAME.groups), or delete the group.",
      kind="stack", types=frozenset({GROUP, *MEMBERSHIP}))
def iam_group_has_users(args, report):
    members = {g for groups in _groups_of_users(args.resources).values() for g in groups}
    for group in by_type(args.resources, GROUP):
        if _key(group) not in members:
            report(f"group '{_key(group)}' has no users", group.urn)


@rule("iam-no-root-access-keys",
      "No access key is created for the account's root user.",
      MANDATORY, Severity.CRITICAL, ["CIS 1.4", "Security Hub IAM.4", "Checkov CKV_AWS_348",
                                         "trivy AVD-AWS-0141"],
      "Create keys for an IAM user or, better, use a role; the root user signs in with MFA "
      "and keeps no keys.",
      types=frozenset({ACCESS_KEY}))
def iam_no_root_access_keys(args, report):
    if args.resource_type == ACCESS_KEY and str(args.props.get("user") or "").strip() == "root":
        report("the access key is for the root user")


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
