"""envkit's CrossGuard rules: IAM and EC2 least privilege, one source of truth.

``policies/__main__.py`` builds the PolicyPack from :data:`POLICIES` for the engine, and
``envkit policy check`` evaluates the same objects offline through pulumi-policy's
analyzer. Rules read resource properties as the engine sends them (pulumi-aws wire
names: ``metadataOptions.httpTokens``, ``rootBlockDevice.encrypted``...). IAM documents
are analysed with parliament's IAM knowledge base (known actions, resource formats,
actions that support resource scoping, privilege escalation) instead of hand-kept lists.
"""

from __future__ import annotations

import fnmatch
import importlib
import importlib.util
import ipaddress
import json
import re
import sys
import types
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    PolicyComplianceFramework,
    PolicyConfigSchema,
    ResourceValidationPolicy,
    Severity,
    StackValidationPolicy,
)
from pulumi_policy.proxy import UnknownValueError

from ..components.base import AMI_OWNER_TAG, TAG_ENVIRONMENT, TAG_EXPIRES, TAG_OWNER

PACK_NAME = "envkit-least-privilege"

MANDATORY = EnforcementLevel.MANDATORY
ADVISORY = EnforcementLevel.ADVISORY

# --- reading IAM documents --------------------------------------------------------------------

USER_POLICY_TYPES = {"aws:iam/userPolicy:UserPolicy",
                     "aws:iam/userPolicyAttachment:UserPolicyAttachment"}
DOC_TYPES = {"aws:iam/policy:Policy", "aws:iam/userPolicy:UserPolicy",
             "aws:iam/groupPolicy:GroupPolicy", "aws:iam/rolePolicy:RolePolicy"}
SENSITIVE_SERVICES = ("iam", "sts", "kms", "organizations")
ADMIN_POLICIES = ("AdministratorAccess", "IAMFullAccess", "PowerUserAccess")
ESCALATION_ACTIONS = {
    "iam:createpolicyversion", "iam:setdefaultpolicyversion", "iam:attachuserpolicy",
    "iam:attachgrouppolicy", "iam:attachrolepolicy", "iam:putuserpolicy", "iam:putgrouppolicy",
    "iam:putrolepolicy", "iam:updateassumerolepolicy", "iam:createloginprofile",
    "iam:updateloginprofile", "iam:addusertogroup",
}
SELF_ONLY = "${aws:username}"


def _list(value: Any) -> list:
    # The analyzer hands properties over as read-only Sequence/Mapping proxies.
    if value is None:
        return []
    if isinstance(value, Sequence) and not isinstance(value, str):
        return list(value)
    return [value]


_SCALARS = frozenset({str, int, float, bool, type(None)})


def _plain(value: Any) -> Any:
    """A proxied property as plain dicts and lists (unknown values raise, as they should)."""
    if type(value) in _SCALARS:  # most leaves; spares an ABC isinstance check each
        return value
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, Sequence) and not isinstance(value, str):
        return [_plain(v) for v in value]
    return value


def _document(value: Any) -> dict[str, Any] | None:
    """A policy document from a JSON string or a mapping; None when unreadable."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return None
    value = _plain(value)
    return value if isinstance(value, dict) else None


def _statements(doc: dict[str, Any]) -> list[dict[str, Any]]:
    return [s for s in _list(doc.get("Statement")) if isinstance(s, dict)]


def _documents(args: Any) -> Iterator[tuple[str, dict[str, Any] | None, str]]:
    """(label, document, raw) for each identity-policy document a resource carries."""
    props = args.props
    if args.resource_type in DOC_TYPES:
        raw = props.get("policy")
        yield "policy", _document(raw), raw if isinstance(raw, str) else json.dumps(raw)
    elif args.resource_type == "aws:iam/role:Role":
        for i, inline in enumerate(_list(props.get("inlinePolicies"))):
            raw = (inline or {}).get("policy")
            if raw is not None:
                yield f"inlinePolicies[{i}]", _document(raw), raw if isinstance(raw, str) \
                    else json.dumps(raw)


def _allows(statement: dict[str, Any]) -> bool:
    return statement.get("Effect") == "Allow"


def _actions(statement: dict[str, Any]) -> list[str]:
    return [str(a) for a in _list(statement.get("Action"))]


def _resources(statement: dict[str, Any]) -> list[str]:
    return [str(r) for r in _list(statement.get("Resource"))]


def _import_parliament() -> Any:
    """Import parliament without pkg_resources.

    parliament's ``__init__`` imports the deprecated ``pkg_resources`` (about 90 ms, half the
    cost of parliament itself) only to call ``resource_filename`` for two of its own data
    files. While parliament is imported, and only then, ``sys.modules`` holds a stand-in with
    that one function; nothing else in the process ever sees it.
    """
    if "parliament" in sys.modules or "pkg_resources" in sys.modules:
        import parliament

        return parliament
    shim = types.ModuleType("pkg_resources")

    def resource_filename(package: str, name: str) -> str:
        spec = importlib.util.find_spec(package)
        return str(Path(spec.origin).parent / name)  # type: ignore[union-attr, arg-type]

    shim.resource_filename = resource_filename  # type: ignore[attr-defined]
    sys.modules["pkg_resources"] = shim
    try:
        import parliament
    finally:
        if sys.modules.get("pkg_resources") is shim:
            del sys.modules["pkg_resources"]
    return parliament


@cache
def _parliament(raw: str) -> tuple[tuple[str, str], ...]:
    """parliament's findings (issue, detail) for one document, community auditors included."""
    analyze_policy_string = _import_parliament().analyze_policy_string

    policy = analyze_policy_string(raw, include_community_auditors=True)
    return tuple((f.issue, json.dumps(f.detail, default=str) if not isinstance(f.detail, str)
                  else f.detail) for f in policy.findings)


# --- rule metadata --------------------------------------------------------------------------


@dataclass
class Rule:
    """A rule's metadata (what `envkit policy list` and the README show) and its policy."""

    name: str
    description: str
    level: EnforcementLevel
    severity: Severity
    controls: list[str]
    remediation: str
    kind: str = "resource"
    config: dict[str, dict[str, Any]] = field(default_factory=dict)
    can_remediate: bool = False
    #: Resource types a resource rule can say anything about (None: any type). The engine
    #: runs every rule on every resource; the offline gate uses this to skip the analyzer
    #: calls that cannot produce a finding.
    types: frozenset[str] | Callable[[str], bool] | None = None

    def applies_to(self, type_: str) -> bool:
        """Whether the rule can say anything about resources of ``type_``."""
        if self.types is None:
            return True
        if callable(self.types):
            return self.types(type_)
        return type_ in self.types

    def to_dict(self) -> dict[str, Any]:
        """The rule as JSON-ready data."""
        return {"name": self.name, "description": self.description,
                "level": self.level.value, "severity": self.severity.value,
                "controls": self.controls, "remediation": self.remediation, "kind": self.kind,
                "config": self.config, "remediates": self.can_remediate}


RULES: list[Rule] = []
POLICIES: list[Any] = []

_FRAMEWORKS = {"CIS": ("CIS AWS Foundations Benchmark", "3.0.0"),
               "Security Hub": ("AWS Security Hub FSBP", "1.0.0"),
               "Checkov": ("Checkov", "3"),
               "AWS IAM": ("AWS IAM best practices", "2024")}


def _framework(controls: list[str]) -> PolicyComplianceFramework:
    first = controls[0]
    for prefix, (name, version) in _FRAMEWORKS.items():
        if first.startswith(prefix):
            return PolicyComplianceFramework(name=name, version=version,
                                             reference=first[len(prefix):].strip())
    return PolicyComplianceFramework(name=first)


def rule(name: str, description: str, level: EnforcementLevel, severity: Severity,
         controls: list[str], remediation: str, *, kind: str = "resource",
         config: dict[str, dict[str, Any]] | None = None,
         remediate: Callable[[Any], Any] | None = None) -> Callable[[Callable], Callable]:
    """Register a validation function as a CrossGuard policy with envkit's metadata."""

    def wrap(validate: Callable) -> Callable:
        meta = Rule(name, description, level, severity, controls, remediation, kind,
                    config or {}, remediate is not None)
        common = {
            "name": name, "description": description, "enforcement_level": level,
            "config_schema": PolicyConfigSchema(properties=config) if config else None,
            "severity": severity, "framework": _framework(controls),
            "tags": [c.lower().replace(" ", "-") for c in controls],
            "remediation_steps": remediation,
        }
        if kind == "stack":
            policy = StackValidationPolicy(validate=validate, **common)
        else:
            policy = ResourceValidationPolicy(validate=validate, remediate=remediate, **common)
        RULES.append(meta)
        POLICIES.append(policy)
        return validate

    return wrap


def _config(args: Any, key: str, default: Any) -> Any:
    value = args.get_config().get(key)
    return default if value is None else value


# --- IAM documents --------------------------------------------------------------------------


def _allowed_statements(args: Any) -> Iterator[tuple[str, dict[str, Any]]]:
    """(label, statement) for each Allow statement of the identity policies a resource has."""
    for label, doc, _ in _documents(args):
        for statement in _statements(doc or {}):
            if _allows(statement):
                yield label, statement


@rule("iam-no-admin-wildcard",
      "IAM policies must not allow every action on every resource (\"*:*\").",
      MANDATORY, Severity.CRITICAL,
      ["CIS 1.16", "Security Hub IAM.1", "Checkov CKV_AWS_62"],
      "Grant the specific actions the lab needs; for administrators attach the "
      "AdministratorAccess managed policy to an MFA-enforcing group instead.")
def iam_no_admin_wildcard(args, report):
    for label, s in _allowed_statements(args):
        if {"*", "*:*"} & set(_actions(s)) and "*" in _resources(s):
            report(f"{label}: a statement allows Action \"*\" on Resource \"*\"")


@rule("iam-no-sensitive-service-wildcard",
      "IAM policies must not allow \"*\" or service-wide wildcards on iam, sts, kms or "
      "organizations.",
      MANDATORY, Severity.HIGH, ["Security Hub IAM.21"],
      "List the individual actions (iam:GetUser, kms:Decrypt, ...) instead of iam:* / kms:*.")
def iam_no_sensitive_service_wildcard(args, report):
    for label, s in _allowed_statements(args):
        for action in _actions(s):
            service, _, verb = action.partition(":")
            if action == "*" or (service.lower() in SENSITIVE_SERVICES and verb == "*"):
                report(f"{label}: allows '{action}'")


@rule("iam-no-resource-star-for-scopable-actions",
      "Actions that support resource-level permissions must not be allowed on Resource \"*\".",
      MANDATORY, Severity.MEDIUM, ["Checkov CKV_AWS_355", "AWS IAM least privilege"],
      "Name the resources (ARNs, with wildcards inside the ARN if needed) or add conditions.")
def iam_no_resource_star(args, report):
    for label, doc, raw in _documents(args):
        if doc is None:
            continue
        for issue, detail in _parliament(raw):
            if issue == "RESOURCE_STAR":
                report(f"{label}: Resource \"*\" for actions that can be scoped: {detail}")


@rule("iam-no-not-action-allow",
      "Allow statements must not use NotAction, NotResource or NotPrincipal.",
      MANDATORY, Severity.HIGH, ["AWS IAM NotAction with Allow"],
      "Rewrite the statement as an explicit list of allowed actions and resources.")
def iam_no_not_action_allow(args, report):
    docs = list(_documents(args))
    if args.resource_type == "aws:iam/role:Role":
        trust = args.props.get("assumeRolePolicy")
        docs.append(("assumeRolePolicy", _document(trust), ""))
    for label, doc, _ in docs:
        for s in _statements(doc or {}):
            used = [k for k in ("NotAction", "NotResource", "NotPrincipal") if k in s]
            if _allows(s) and used:
                report(f"{label}: an Allow statement uses {', '.join(used)}")


@rule("iam-no-privilege-escalation",
      "IAM policies must not grant privilege-escalation paths (policy versions, attaching or "
      "writing user policies, rewriting trust, keys for other users, PassRole with RunInstances).",
      MANDATORY, Severity.CRITICAL, ["Checkov CKV_AWS_286", "Security Hub IAM.21"],
      "Remove the escalation actions or restrict them to the user's own identity "
      "(arn:aws:iam::*:user/${aws:username}).")
def iam_no_privilege_escalation(args, report):
    for label, doc, raw in _documents(args):
        if doc is None:
            continue
        found = set()
        for s in _statements(doc):
            if not _allows(s):
                continue
            actions = {a.lower() for a in _actions(s)}
            resources = _resources(s)
            self_only = bool(resources) and all(SELF_ONLY in r for r in resources)
            for action in actions & ESCALATION_ACTIONS:
                if not self_only:
                    found.add(action)
            if "iam:createaccesskey" in actions and not self_only:
                found.add("iam:createaccesskey on other users")
            if "iam:passrole" in actions and "ec2:runinstances" in actions and "*" in resources:
                found.add("iam:passrole with ec2:runinstances on *")
        for issue, _ in _parliament(raw):
            if issue == "PRIVILEGE_ESCALATION":
                found.add("a known escalation combination (parliament)")
        if found:
            report(f"{label}: {', '.join(sorted(found))}")


@rule("iam-passrole-restricted",
      "iam:PassRole must name role ARNs or carry an iam:PassedToService condition.",
      MANDATORY, Severity.HIGH, ["AWS IAM PassRole", "Checkov CKV_AWS_286"],
      "Set Resource to the role ARNs that may be passed, or add "
      "Condition: {StringEquals: {iam:PassedToService: ec2.amazonaws.com}}.")
def iam_passrole_restricted(args, report):
    for label, s in _allowed_statements(args):
        if not {"iam:passrole", "iam:*", "*"} & {a.lower() for a in _actions(s)}:
            continue
        conditions = json.dumps(s.get("Condition") or {})
        if "*" in _resources(s) and "iam:PassedToService" not in conditions:
            report(f"{label}: iam:PassRole on Resource \"*\" without iam:PassedToService")


@rule("iam-trust-not-public",
      "Role trust policies must name a service or an account, never \"*\".",
      MANDATORY, Severity.CRITICAL, ["Checkov CKV_AWS_60", "Checkov CKV_AWS_61"],
      "Set Principal to {Service: ec2.amazonaws.com} or {AWS: arn:aws:iam::ACCOUNT:root}.")
def iam_trust_not_public(args, report):
    if args.resource_type != "aws:iam/role:Role":
        return
    doc = _document(args.props.get("assumeRolePolicy"))
    if doc is None:
        report("assumeRolePolicy is not a readable policy document")
        return
    for s in _statements(doc):
        if not _allows(s):
            continue
        principal = s.get("Principal")
        values = [principal] if isinstance(principal, str) else [
            v for vs in (principal or {}).values() for v in _list(vs)]
        if "*" in values or "NotPrincipal" in s:
            report("the role can be assumed by anyone (Principal \"*\")")


@rule("iam-document-well-formed",
      "IAM documents declare a Version and use known actions on matching resource types.",
      ADVISORY, Severity.MEDIUM, ["AWS IAM policy grammar"],
      "Add \"Version\": \"2012-10-17\", fix misspelled actions and use resource ARNs of the "
      "action's resource type.")
def iam_document_well_formed(args, report):
    for label, doc, raw in _documents(args):
        if doc is None:
            report(f"{label}: not valid JSON")
            continue
        problems = [f"{issue}: {detail}" if detail else issue for issue, detail in
                    _parliament(raw) if issue in ("NO_VERSION", "UNKNOWN_ACTION", "UNKNOWN_PREFIX",
                                                  "RESOURCE_MISMATCH", "MALFORMED",
                                                  "INVALID_ARN", "UNKNOWN_CONDITION_FOR_ACTION")]
        if problems:
            report(f"{label}: " + "; ".join(problems))


# --- IAM identities -------------------------------------------------------------------------


@rule("iam-no-user-policies",
      "Policies are attached to groups or roles, never directly to users.",
      MANDATORY, Severity.MEDIUM, ["CIS 1.15", "Security Hub IAM.2", "Checkov CKV_AWS_40"],
      "Put the user in a group and attach the policy to the group.")
def iam_no_user_policies(args, report):
    if args.resource_type in USER_POLICY_TYPES:
        report(f"{args.resource_type.rsplit(':', 1)[-1]} attaches a policy directly to a user")
    elif args.resource_type == "aws:iam/policyAttachment:PolicyAttachment" and \
            _list(args.props.get("users")):
        report("PolicyAttachment attaches a policy directly to users")


def _known(fn: Callable[[], Any], default: Any = None) -> Any:
    try:
        return fn()
    except UnknownValueError:
        return default


def _by_type(resources: list, type_: str) -> list:
    return [r for r in resources if r.resource_type == type_]


def _groups_of_users(resources: list) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for r in _by_type(resources, "aws:iam/userGroupMembership:UserGroupMembership"):
        user = _known(lambda r=r: r.props.get("user"))
        for g in _known(lambda r=r: _list(r.props.get("groups")), []):
            out.setdefault(str(user), set()).add(str(g))
    for r in _by_type(resources, "aws:iam/groupMembership:GroupMembership"):
        group = _known(lambda r=r: r.props.get("group"))
        for u in _known(lambda r=r: _list(r.props.get("users")), []):
            out.setdefault(str(u), set()).add(str(group))
    return out


def _mfa_groups(resources: list) -> set[str]:
    """Groups with a policy that denies actions unless the caller signed in with MFA."""
    out = set()
    for r in _by_type(resources, "aws:iam/groupPolicy:GroupPolicy"):
        doc = _known(lambda r=r: _document(r.props.get("policy")))
        for s in _statements(doc or {}):
            if s.get("Effect") == "Deny" and "aws:MultiFactorAuthPresent" in json.dumps(
                    s.get("Condition") or {}):
                out.add(str(_known(lambda r=r: r.props.get("group"))))
    return out


def _admin_groups(resources: list) -> set[str]:
    out = set()
    for r in _by_type(resources, "aws:iam/groupPolicyAttachment:GroupPolicyAttachment"):
        arn = str(_known(lambda r=r: r.props.get("policyArn"), ""))
        if arn.rsplit("/", 1)[-1] in ADMIN_POLICIES:
            out.add(str(_known(lambda r=r: r.props.get("group"))))
    return out


def _user_names(resources: list) -> dict[str, Any]:
    return {str(_known(lambda r=r: r.props.get("name"), r.name)): r
            for r in _by_type(resources, "aws:iam/user:User")}


@rule("iam-user-in-group",
      "Every IAM user belongs to at least one group.",
      ADVISORY, Severity.LOW, ["AWS IAM groups", "CIS 1.15"],
      "Add the user to a group (iam.users.NAME.groups) that carries its permissions.",
      kind="stack")
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
      "policy.", kind="stack")
def iam_admin_policies_need_mfa(args, report):
    mfa = _mfa_groups(args.resources)
    for r in _by_type(args.resources, "aws:iam/groupPolicyAttachment:GroupPolicyAttachment"):
        arn = str(_known(lambda r=r: r.props.get("policyArn"), ""))
        group = str(_known(lambda r=r: r.props.get("group")))
        if arn.rsplit("/", 1)[-1] in ADMIN_POLICIES and group not in mfa:
            report(f"group '{group}' gets {arn.rsplit('/', 1)[-1]} without MFA enforcement",
                   r.urn)
    for r in _by_type(args.resources, "aws:iam/rolePolicyAttachment:RolePolicyAttachment"):
        arn = str(_known(lambda r=r: r.props.get("policyArn"), ""))
        if arn.rsplit("/", 1)[-1] in ("IAMFullAccess",):
            report(f"role '{_known(lambda r=r: r.props.get('role'))}' gets IAMFullAccess", r.urn)


@rule("iam-console-users-mfa",
      "Console users are covered by MFA enforcement (a group that denies all but MFA setup "
      "until the user signs in with MFA).",
      ADVISORY, Severity.HIGH, ["CIS 1.10", "Security Hub IAM.5"],
      "Put console users in a group with require_mfa: true.", kind="stack")
def iam_console_users_mfa(args, report):
    members = _groups_of_users(args.resources)
    mfa = _mfa_groups(args.resources)
    for r in _by_type(args.resources, "aws:iam/userLoginProfile:UserLoginProfile"):
        user = str(_known(lambda r=r: r.props.get("user")))
        if not members.get(user, set()) & mfa:
            report(f"console user '{user}' is in no MFA-enforcing group", r.urn)


@rule("iam-no-access-keys-for-console-admins",
      "Console users in administrator groups get no access keys.",
      MANDATORY, Severity.HIGH, ["CIS 1.11", "Security Hub IAM.3"],
      "Drop access_key for the user; administrators use the console or short-lived "
      "credentials (SSO, sts:AssumeRole).", kind="stack")
def iam_no_access_keys_for_console_admins(args, report):
    members = _groups_of_users(args.resources)
    admins = _admin_groups(args.resources)
    console = {str(_known(lambda r=r: r.props.get("user"))) for r in
               _by_type(args.resources, "aws:iam/userLoginProfile:UserLoginProfile")}
    for r in _by_type(args.resources, "aws:iam/accessKey:AccessKey"):
        user = str(_known(lambda r=r: r.props.get("user")))
        if user in console and members.get(user, set()) & admins:
            report(f"access key for console administrator '{user}'", r.urn)


@rule("iam-access-key-age",
      "Access keys are rotated before they reach the maximum age.",
      ADVISORY, Severity.MEDIUM, ["CIS 1.14", "Security Hub IAM.3"],
      "Create a new key, switch to it, delete the old one (or redeploy the user's key).",
      kind="stack", config={"maxAccessKeyAgeDays": {"type": "integer", "default": 90,
                                                    "minimum": 1}})
def iam_access_key_age(args, report):
    from datetime import datetime, timezone

    limit = int(_config(args, "maxAccessKeyAgeDays", 90))
    for r in _by_type(args.resources, "aws:iam/accessKey:AccessKey"):
        created = _known(lambda r=r: r.props.get("createDate"))
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
      config={"minimumPasswordLength": {"type": "integer", "default": 14, "minimum": 6},
              "minimumReusePrevention": {"type": "integer", "default": 24, "maximum": 24},
              "maximumPasswordAgeDays": {"type": "integer", "default": 90}})
def iam_password_policy_cis(args, report):
    if args.resource_type != "aws:iam/accountPasswordPolicy:AccountPasswordPolicy":
        return
    p = args.props
    problems = []
    length = int(_config(args, "minimumPasswordLength", 14))
    if (p.get("minimumPasswordLength") or 6) < length:
        problems.append(f"minimum length {p.get('minimumPasswordLength')} < {length}")
    reuse = int(_config(args, "minimumReusePrevention", 24))
    if (p.get("passwordReusePrevention") or 0) < reuse:
        problems.append(f"reuse prevention {p.get('passwordReusePrevention')} < {reuse}")
    for key in ("requireSymbols", "requireNumbers", "requireUppercaseCharacters",
                "requireLowercaseCharacters"):
        if not p.get(key):
            problems.append(f"{key} is off")
    age = int(_config(args, "maximumPasswordAgeDays", 90))
    if not p.get("maxPasswordAge") or p.get("maxPasswordAge") > age:
        problems.append(f"maximum age {p.get('maxPasswordAge') or 'unlimited'} > {age} days")
    if problems:
        report("; ".join(problems))


_SECRET_PATTERNS = [
    (re.compile(r"\b(AKIA|ASIA)[0-9A-Z]{16}\b"), "an AWS access key id"),
    (re.compile(r"aws_secret_access_key\s*[=:]", re.I), "an AWS secret access key"),
    (re.compile(r"-----BEGIN (?:RSA |EC |OPENSSH |DSA )?PRIVATE KEY-----"), "a private key"),
    (re.compile(r"\b(password|passwd|secret)\s*[=:]\s*['\"]?[^\s'\"$]{6,}", re.I),
     "a password"),
]


@rule("no-secrets-in-user-data-or-tags",
      "No access keys, private keys or passwords are written in user data or tags.",
      MANDATORY, Severity.CRITICAL, ["Checkov CKV_AWS_46"],
      "Use an instance profile (roles) and a secrets store instead of literal credentials.")
def no_secrets_in_user_data_or_tags(args, report):
    texts = []
    user_data = args.props.get("userData")
    if isinstance(user_data, str):
        texts.append(("userData", user_data))
    tags = _plain(args.props.get("tags"))
    if isinstance(tags, dict):
        texts += [(f"tags.{k}", f"{k}={v}") for k, v in tags.items()]
    for where, text in texts:
        for pattern, what in _SECRET_PATTERNS:
            if pattern.search(text):
                report(f"{where} contains {what}")


# --- EC2 ------------------------------------------------------------------------------------

INSTANCE = "aws:ec2/instance:Instance"
LAUNCH_TEMPLATE = "aws:ec2/launchTemplate:LaunchTemplate"


def _remediate_imds(args):
    if args.resource_type not in (INSTANCE, LAUNCH_TEMPLATE):
        return None
    props = _plain(args.props)
    options = dict(props.get("metadataOptions") or {})
    if options.get("httpTokens") == "required":
        return None
    options["httpTokens"] = "required"
    options.setdefault("httpPutResponseHopLimit", 1)
    props["metadataOptions"] = options
    return props


@rule("ec2-imdsv2-required",
      "Instances require IMDSv2 (metadata tokens), which blocks SSRF credential theft.",
      MANDATORY, Severity.HIGH, ["Security Hub EC2.8", "Checkov CKV_AWS_79"],
      "Leave imdsv2 at its default (true); with remediation the pack sets httpTokens: "
      "required.", remediate=_remediate_imds)
def ec2_imdsv2_required(args, report):
    if args.resource_type not in (INSTANCE, LAUNCH_TEMPLATE):
        return
    options = args.props.get("metadataOptions") or {}
    if options.get("httpTokens") != "required":
        report("metadataOptions.httpTokens is not \"required\"")


@rule("ec2-imds-hop-limit",
      "The metadata response hop limit is 1, so containers on the instance cannot reach it.",
      ADVISORY, Severity.MEDIUM, ["Security Hub EC2.8", "Checkov CKV_AWS_341"],
      "Set metadataOptions.httpPutResponseHopLimit to 1 (envkit's default).")
def ec2_imds_hop_limit(args, report):
    if args.resource_type not in (INSTANCE, LAUNCH_TEMPLATE):
        return
    hops = (args.props.get("metadataOptions") or {}).get("httpPutResponseHopLimit")
    if hops is not None and hops > 1:
        report(f"httpPutResponseHopLimit is {hops}")


def _remediate_encryption(args):
    if args.resource_type != INSTANCE:
        return None
    props = _plain(args.props)
    root = dict(props.get("rootBlockDevice") or {})
    if root.get("encrypted") is True:
        return None
    root["encrypted"] = True
    props["rootBlockDevice"] = root
    return props


@rule("ec2-root-volume-encrypted",
      "Instance root and attached EBS volumes are encrypted.",
      MANDATORY, Severity.HIGH, ["CIS 2.2.1", "Security Hub EC2.3", "Checkov CKV_AWS_8"],
      "Leave root_volume.encrypted at its default (true); with remediation the pack sets it.",
      remediate=_remediate_encryption)
def ec2_root_volume_encrypted(args, report):
    if args.resource_type != INSTANCE:
        return
    root = args.props.get("rootBlockDevice") or {}
    if root.get("encrypted") is not True:
        report("rootBlockDevice.encrypted is not true")
    for i, device in enumerate(_list(args.props.get("ebsBlockDevices"))):
        if not (device or {}).get("encrypted"):
            report(f"ebsBlockDevices[{i}] is not encrypted")


@rule("ec2-ebs-volume-encrypted",
      "Standalone EBS volumes are encrypted.",
      MANDATORY, Severity.HIGH, ["CIS 2.2.1", "Security Hub EC2.3", "Checkov CKV_AWS_3"],
      "Set encrypted: true on the volume (or turn on EBS encryption by default).")
def ec2_ebs_volume_encrypted(args, report):
    if args.resource_type == "aws:ebs/volume:Volume" and args.props.get("encrypted") is not True:
        report("the volume is not encrypted")


ADMIN_PORTS = {22: "SSH", 3389: "RDP"}
WORLD = ("0.0.0.0/0", "::/0")


SG_TYPES = ("aws:ec2/securityGroup:SecurityGroup",
            "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup")
RULE_TYPES = {"aws:ec2/securityGroupRule:SecurityGroupRule",
              "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule",
              "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule"}


def _rules_of(args: Any, direction: str) -> list[dict[str, Any]]:
    """Security-group rules in one shape: protocol, fromPort, toPort, cidrs, description.

    Only the rule properties are read, so an unknown vpcId does not hide the rules."""
    t = args.resource_type
    out = []
    if t in SG_TYPES:
        for r in _plain(args.props.get(direction)) or []:
            r = r or {}
            out.append({"protocol": str(r.get("protocol")), "fromPort": r.get("fromPort"),
                        "toPort": r.get("toPort"), "description": r.get("description"),
                        "cidrs": _list(r.get("cidrBlocks")) + _list(r.get("ipv6CidrBlocks"))})
        return out
    if t not in RULE_TYPES:
        return out
    p = args.props
    if t == "aws:ec2/securityGroupRule:SecurityGroupRule":
        if p.get("type") == direction:
            out.append({"protocol": str(p.get("protocol")), "fromPort": p.get("fromPort"),
                        "toPort": p.get("toPort"), "description": p.get("description"),
                        "cidrs": _list(_plain(p.get("cidrBlocks")))
                        + _list(_plain(p.get("ipv6CidrBlocks")))})
    elif t.endswith("IngressRule") == (direction == "ingress"):
        out.append({"protocol": str(p.get("ipProtocol")), "fromPort": p.get("fromPort"),
                    "toPort": p.get("toPort"), "description": p.get("description"),
                    "cidrs": _list(p.get("cidrIpv4")) + _list(p.get("cidrIpv6"))})
    return out


def _all_ports(r: dict[str, Any]) -> bool:
    return r["protocol"] in ("-1", "all") or (r["fromPort"] in (0, None)
                                              and r["toPort"] in (65535, None, -1))


def _covers(r: dict[str, Any], port: int) -> bool:
    if _all_ports(r):
        return True
    if r["protocol"] not in ("tcp", "6"):
        return False
    return (r["fromPort"] or 0) <= port <= (r["toPort"] or 0)


@rule("ec2-no-public-admin-ingress",
      "No security group lets 0.0.0.0/0 or ::/0 reach SSH (22), RDP (3389) or all ports; "
      "SSH sources stay inside the allowed CIDRs when configured.",
      MANDATORY, Severity.CRITICAL,
      ["CIS 5.2", "CIS 5.3", "Security Hub EC2.13", "Security Hub EC2.14", "Checkov CKV_AWS_24",
       "Checkov CKV_AWS_25", "Checkov CKV_AWS_277"],
      "Restrict the rule's from: to your office or VPN CIDR (ingress {service: ssh, from: "
      "203.0.113.0/24}); use SSM Session Manager instead of open SSH.",
      config={"allowedSshCidrs": {"type": "array", "items": {"type": "string"},
                                  "default": []}})
def ec2_no_public_admin_ingress(args, report):
    allowed = [ipaddress.ip_network(c) for c in _config(args, "allowedSshCidrs", [])]
    for r in _rules_of(args, "ingress"):
        world = [c for c in r["cidrs"] if c in WORLD]
        if world and _all_ports(r):
            report(f"all ports are open to {', '.join(world)}")
            continue
        for port, name in ADMIN_PORTS.items():
            if not _covers(r, port):
                continue
            if world:
                report(f"{name} ({port}) is open to {', '.join(world)}")
            elif allowed and port == 22:
                outside = [c for c in r["cidrs"] if not any(
                    ipaddress.ip_network(c).version == a.version
                    and ipaddress.ip_network(c).subnet_of(a) for a in allowed)]
                if outside:
                    report(f"SSH from {', '.join(outside)} is outside the allowed CIDRs")


@rule("ec2-no-open-egress",
      "Security groups do not allow all traffic out to the internet.",
      ADVISORY, Severity.LOW, ["Checkov CKV_AWS_382"],
      "Allow only the ports instances need out (envkit's default egress is http and https).")
def ec2_no_open_egress(args, report):
    for r in _rules_of(args, "egress"):
        if _all_ports(r) and any(c in WORLD for c in r["cidrs"]):
            report("all ports are open outbound to the internet")


@rule("ec2-security-groups-described",
      "Every security group and every rule has a description.",
      ADVISORY, Severity.LOW, ["Checkov CKV_AWS_23"],
      "Give the group and each rule a description saying who may connect and why.")
def ec2_security_groups_described(args, report):
    if args.resource_type == "aws:ec2/securityGroup:SecurityGroup":
        description = args.props.get("description")
        if not description or description == "Managed by Pulumi":
            report("the security group has no description of its own")
    for direction in ("ingress", "egress"):
        for i, r in enumerate(_rules_of(args, direction)):
            if not r["description"]:
                report(f"{direction}[{i}] has no description")


@rule("ec2-instance-profile",
      "Instances get AWS credentials from an instance profile (a role), not from keys.",
      ADVISORY, Severity.MEDIUM, ["Checkov CKV2_AWS_41"],
      "Give the instance a role trusted by ec2 (instances.NAME.role).")
def ec2_instance_profile(args, report):
    if args.resource_type == INSTANCE and not args.props.get("iamInstanceProfile"):
        report("the instance has no instance profile")


LAB_INSTANCE_TYPES = ["t2.nano", "t2.micro", "t2.small", "t2.medium", "t3.nano", "t3.micro",
                      "t3.small", "t3.medium", "t3a.nano", "t3a.micro", "t3a.small",
                      "t3a.medium", "t4g.nano", "t4g.micro", "t4g.small", "t4g.medium"]


@rule("ec2-allowed-instance-types",
      "Instance types stay within the allowed list (lab-sized by default).",
      ADVISORY, Severity.MEDIUM, ["AWS cost controls"],
      "Choose a type from the allowed list, or widen allowedInstanceTypes in the policy "
      "config.", config={"allowedInstanceTypes": {
          "type": "array", "items": {"type": "string"}, "default": LAB_INSTANCE_TYPES}})
def ec2_allowed_instance_types(args, report):
    if args.resource_type != INSTANCE:
        return
    allowed = _config(args, "allowedInstanceTypes", LAB_INSTANCE_TYPES)
    itype = args.props.get("instanceType")
    if not any(fnmatch.fnmatchcase(str(itype), pattern) for pattern in allowed):
        report(f"instance type {itype} is not in the allowed list")


@rule("ec2-public-ip-only-for-web",
      "Only instances that serve the web (http/https ingress) get a public IP.",
      ADVISORY, Severity.LOW, ["Security Hub EC2.9"],
      "Set public_ip: false for instances that need no inbound internet traffic.",
      kind="stack")
def ec2_public_ip_only_for_web(args, report):
    web_groups = set()
    for r in _by_type(args.resources, "aws:ec2/securityGroup:SecurityGroup"):
        for rule_ in _known(lambda r=r: _rules_of(r, "ingress"), []):
            if _covers(rule_, 80) or _covers(rule_, 443):
                web_groups.add(r.urn)
    for r in _by_type(args.resources, INSTANCE):
        public = _known(lambda r=r: r.props.get("associatePublicIpAddress"))
        if not public:
            continue
        groups = {d.urn for d in r.dependencies}
        if not groups & web_groups:
            report(f"instance '{r.name}' has a public IP but serves no http/https", r.urn)


@rule("ec2-no-unattached-eip",
      "Every elastic IP is attached to an instance or network interface.",
      ADVISORY, Severity.LOW, ["Security Hub EC2.12", "Checkov CKV2_AWS_19"],
      "Attach the address (instances.NAME.elastic_ip) or release it.", kind="stack")
def ec2_no_unattached_eip(args, report):
    associated = set()
    for r in _by_type(args.resources, "aws:ec2/eipAssociation:EipAssociation"):
        associated |= {d.urn for d in r.dependencies}
    for r in _by_type(args.resources, "aws:ec2/eip:Eip"):
        attached = _known(lambda r=r: r.props.get("instance") or r.props.get(
            "networkInterface"), True)
        if not attached and r.urn not in associated:
            report(f"elastic IP '{r.name}' is not attached", r.urn)


@rule("ec2-detailed-monitoring",
      "Instances have detailed (1-minute) CloudWatch monitoring.",
      ADVISORY, Severity.LOW, ["Checkov CKV_AWS_126"],
      "Set monitoring: true on the instance (it costs a little).")
def ec2_detailed_monitoring(args, report):
    if args.resource_type == INSTANCE and not args.props.get("monitoring"):
        report("detailed monitoring is off")


DEFAULT_AMI_OWNERS = ["137112412989", "801119661308", "099720109477", "136693071363",
                      "309956199498", "amazon", "self"]


@rule("ec2-ami-allowed-owner",
      "Instances boot AMIs published by an allowed owner (guards against name-confusion "
      "attacks with look-alike public images).",
      MANDATORY, Severity.HIGH, ["AWS AMI name confusion"],
      "Use an envkit AMI alias (owners pinned) or add the publisher to allowedAmiOwners.",
      config={"allowedAmiOwners": {"type": "array", "items": {"type": "string"},
                                   "default": DEFAULT_AMI_OWNERS}})
def ec2_ami_allowed_owner(args, report):
    if args.resource_type != INSTANCE:
        return
    owner = (_plain(args.props.get("tags")) or {}).get(AMI_OWNER_TAG)
    if owner is None:
        args.not_applicable("the AMI's owner is not recorded (explicit ami- id)")
    allowed = _config(args, "allowedAmiOwners", DEFAULT_AMI_OWNERS)
    if owner not in allowed:
        report(f"AMI owner {owner} is not in the allowed owners")


# --- whole stack ----------------------------------------------------------------------------



@cache
def taggable(type_: str) -> bool:
    """Whether a pulumi-aws resource type takes tags (read from the pulumi_aws class)."""
    package, _, rest = type_.partition(":")
    module, _, name = rest.partition(":")
    if package != "aws" or not name:
        return False
    try:
        cls = getattr(importlib.import_module(f"pulumi_aws.{module.split('/')[0]}"), name)
    except (ImportError, AttributeError):
        return False
    return isinstance(getattr(cls, "tags", None), property)


def _tags(resource: Any) -> dict[str, Any] | None:
    return _known(lambda: _plain(resource.props.get("tags")) or {})


@rule("stack-required-tags",
      "Every taggable resource carries the envkit:environment and envkit:owner tags.",
      MANDATORY, Severity.MEDIUM, ["AWS tagging best practices"],
      "Deploy through envkit (it tags everything) or add the tags to the resource.",
      kind="stack")
def stack_required_tags(args, report):
    for r in args.resources:
        if not taggable(r.resource_type):
            continue
        tags = _tags(r)
        if tags is None:
            continue
        missing = [t for t in (TAG_ENVIRONMENT, TAG_OWNER) if not tags.get(t)]
        if missing:
            report(f"'{r.name}' lacks {', '.join(missing)}", r.urn)


@rule("stack-expiry-tag",
      "An environment with a ttl tags every taggable resource with envkit:expires.",
      ADVISORY, Severity.MEDIUM, ["AWS tagging best practices"],
      "Give the environment a ttl (it is tagged on every resource) so the reaper can find it.",
      kind="stack", config={"requireExpiry": {"type": "boolean", "default": False}})
def stack_expiry_tag(args, report):
    tagged = [(r, _tags(r)) for r in args.resources if taggable(r.resource_type)]
    tagged = [(r, t) for r, t in tagged if t is not None]
    has_expiry = any(t.get(TAG_EXPIRES) for _, t in tagged)
    if not has_expiry and not _config(args, "requireExpiry", False):
        return
    for r, t in tagged:
        if not t.get(TAG_EXPIRES):
            report(f"'{r.name}' lacks {TAG_EXPIRES}", r.urn)


def policy_named(name: str) -> Any:
    """The CrossGuard policy object called ``name``."""
    return next(p for p in POLICIES if p.name == name)


# --- which resource types each resource rule looks at (used by the offline gate) ------------

_IAM_DOCS = frozenset(DOC_TYPES | {"aws:iam/role:Role"})
_SG = frozenset(SG_TYPES) | RULE_TYPES
_INSTANCE = frozenset({INSTANCE})
APPLIES_TO: dict[str, frozenset[str] | None] = {
    "iam-no-admin-wildcard": _IAM_DOCS,
    "iam-no-sensitive-service-wildcard": _IAM_DOCS,
    "iam-no-resource-star-for-scopable-actions": _IAM_DOCS,
    "iam-no-not-action-allow": _IAM_DOCS,
    "iam-no-privilege-escalation": _IAM_DOCS,
    "iam-passrole-restricted": _IAM_DOCS,
    "iam-trust-not-public": frozenset({"aws:iam/role:Role"}),
    "iam-document-well-formed": _IAM_DOCS,
    "iam-no-user-policies": frozenset(USER_POLICY_TYPES
                                      | {"aws:iam/policyAttachment:PolicyAttachment"}),
    "iam-password-policy-cis": frozenset({"aws:iam/accountPasswordPolicy:AccountPasswordPolicy"}),
    "no-secrets-in-user-data-or-tags": lambda t: t in (INSTANCE, LAUNCH_TEMPLATE) or taggable(t),
    "ec2-imdsv2-required": frozenset({INSTANCE, LAUNCH_TEMPLATE}),
    "ec2-imds-hop-limit": frozenset({INSTANCE, LAUNCH_TEMPLATE}),
    "ec2-root-volume-encrypted": _INSTANCE,
    "ec2-ebs-volume-encrypted": frozenset({"aws:ebs/volume:Volume"}),
    "ec2-no-public-admin-ingress": _SG,
    "ec2-no-open-egress": _SG,
    "ec2-security-groups-described": _SG,
    "ec2-instance-profile": _INSTANCE,
    "ec2-allowed-instance-types": _INSTANCE,
    "ec2-detailed-monitoring": _INSTANCE,
    "ec2-ami-allowed-owner": _INSTANCE,
    # Stack rules: the resource types whose properties or links they read.
    "iam-user-in-group": frozenset({"aws:iam/user:User",
                                    "aws:iam/userGroupMembership:UserGroupMembership",
                                    "aws:iam/groupMembership:GroupMembership"}),
    "iam-admin-policies-need-mfa": frozenset({
        "aws:iam/groupPolicyAttachment:GroupPolicyAttachment", "aws:iam/groupPolicy:GroupPolicy",
        "aws:iam/rolePolicyAttachment:RolePolicyAttachment"}),
    "iam-console-users-mfa": frozenset({
        "aws:iam/userLoginProfile:UserLoginProfile", "aws:iam/groupPolicy:GroupPolicy",
        "aws:iam/userGroupMembership:UserGroupMembership",
        "aws:iam/groupMembership:GroupMembership"}),
    "iam-no-access-keys-for-console-admins": frozenset({
        "aws:iam/accessKey:AccessKey", "aws:iam/userLoginProfile:UserLoginProfile",
        "aws:iam/groupPolicyAttachment:GroupPolicyAttachment",
        "aws:iam/userGroupMembership:UserGroupMembership",
        "aws:iam/groupMembership:GroupMembership"}),
    "iam-access-key-age": frozenset({"aws:iam/accessKey:AccessKey"}),
    "ec2-public-ip-only-for-web": frozenset({INSTANCE, *SG_TYPES}),
    "ec2-no-unattached-eip": frozenset({"aws:ec2/eip:Eip",
                                        "aws:ec2/eipAssociation:EipAssociation"}),
    "stack-required-tags": taggable,
    "stack-expiry-tag": taggable,
}
for _meta in RULES:
    _meta.types = APPLIES_TO.get(_meta.name)


# --- classroom rules (issue 12): registered here until they move into the rules package ----
from .classroom_rules import CLASSROOM_RULES  # noqa: E402

for _spec in CLASSROOM_RULES:
    rule(_spec.name, _spec.description, _spec.level, _spec.severity, _spec.controls,
         _spec.remediation, kind=_spec.kind, config=_spec.config)(_spec.validate)
    RULES[-1].types = _spec.types
