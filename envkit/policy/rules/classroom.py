"""The classroom rules: students reach only their own resources, never escalate, and a class
stays within its budget.

Each rule is a short validation function with its metadata beside it, registered like every
other rule of the pack (and so run by the engine too).

Who is a student: an IAM user tagged ``envkit:student``. What a student can do: every
statement of the policies of the groups such users join (inline, and AWS managed policies,
whose documents come from moto's copy of the managed-policy set). IAM facts (which actions
exist, which can be scoped to resources, their access level, escalation combinations) come
from parliament's IAM knowledge base, never from a hand-kept list.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cache
from typing import Any

from pulumi_policy import EnforcementLevel, Severity

from ._common import plain, rule

STUDENT_TAG = "envkit:student"
OWN = "${aws:username}"
_IDENTITY_TYPES = frozenset({
    "aws:iam/user:User", "aws:iam/userGroupMembership:UserGroupMembership",
    "aws:iam/groupMembership:GroupMembership", "aws:iam/groupPolicy:GroupPolicy",
    "aws:iam/groupPolicyAttachment:GroupPolicyAttachment"})
#: What the isolation proof reads: identities, every kind of policy, roles, instances.
_REACH_TYPES = _IDENTITY_TYPES | frozenset({
    "aws:iam/userPolicy:UserPolicy", "aws:iam/userPolicyAttachment:UserPolicyAttachment",
    "aws:iam/policyAttachment:PolicyAttachment", "aws:iam/policy:Policy", "aws:iam/role:Role",
    "aws:iam/rolePolicy:RolePolicy", "aws:iam/rolePolicyAttachment:RolePolicyAttachment",
    "aws:iam/instanceProfile:InstanceProfile", "aws:ec2/instance:Instance",
    "aws:iam/group:Group", "pulumi:providers:aws"})
_COST_TYPES = frozenset({"aws:ec2/instance:Instance", "aws:ec2/eip:Eip"})
_PRICED = ("instanceType", "tenancy", "instanceMarketOptions", "rootBlockDevice",
           "associatePublicIpAddress", "tags")


# --- what students can do --------------------------------------------------------------------


def _plain(value: Any) -> Any:
    return plain(value)


def _known(fn: Callable[[], Any], default: Any = None) -> Any:
    from ._common import known

    return known(fn, default)


@dataclass
class Grant:
    """One student-reachable policy: where it is attached and its document."""

    label: str
    urn: str
    document: dict[str, Any]
    raw: str


def _student_grants(resources: list) -> Iterator[Grant]:
    """Every policy document attached to a group that a user tagged envkit:student joins."""
    from ._common import by_type as _by_type
    from .iam import document as _document
    from .iam_principals import _groups_of_users

    students = set()
    for r in _by_type(resources, "aws:iam/user:User"):
        tags = _known(lambda r=r: _plain(r.props.get("tags")) or {}, {})
        if tags.get(STUDENT_TAG):
            students.add(str(_known(lambda r=r: r.props.get("name"), r.name)))
    if not students:
        return
    groups = set()
    for user, joined in _groups_of_users(resources).items():
        if user in students:
            groups |= joined
    for r in _by_type(resources, "aws:iam/groupPolicy:GroupPolicy"):
        group = str(_known(lambda r=r: r.props.get("group")))
        if group not in groups:
            continue
        raw = _known(lambda r=r: r.props.get("policy"))
        doc = _document(raw) if raw is not None else None
        if doc is not None:
            name = _known(lambda r=r: r.props.get("name"), r.name)
            yield Grant(f"group '{group}' policy '{name}'", r.urn, doc,
                        raw if isinstance(raw, str) else json.dumps(doc))
    for r in _by_type(resources, "aws:iam/groupPolicyAttachment:GroupPolicyAttachment"):
        group = str(_known(lambda r=r: r.props.get("group")))
        arn = str(_known(lambda r=r: r.props.get("policyArn"), ""))
        if group not in groups:
            continue
        doc = managed_policy_document(arn)
        label = f"group '{group}' managed policy {arn.rsplit('/', 1)[-1]}"
        if doc is None:
            yield Grant(label, r.urn, {"Statement": [{"Effect": "Allow", "Action": "*",
                                                      "Resource": "*", "Sid": "unknown"}]},
                        "")
        else:
            yield Grant(label, r.urn, doc, json.dumps(doc))


@cache
def managed_policy_document(arn: str) -> dict[str, Any] | None:
    """The document of an AWS managed policy (from moto's copy of the set), or None for a
    policy envkit cannot read (a customer policy ARN): treated as allowing anything."""
    if ":iam::aws:policy/" not in arn:
        return None
    row = _managed_set().get(arn.rsplit("/", 1)[-1])
    return row.get("Document") if isinstance(row, dict) else None


@cache
def _managed_set() -> dict[str, Any]:
    """moto's managed-policy set, read as text (importing it drags in moto itself)."""
    from ...spec.catalog import moto_root

    source = moto_root().joinpath("iam", "aws_managed_policies.py")
    text = source.read_text(encoding="utf-8") if source.is_file() else ""
    start, end = text.find('"""'), text.rfind('"""')
    try:
        return json.loads(text[start + 3:end]) if 0 <= start < end else {}
    except ValueError:
        return {}


def _list(value: Any) -> list:
    if value is None:
        return []
    return list(value) if isinstance(value, (list, tuple)) else [value]


def _privileges(action: str) -> list[tuple[str, dict[str, Any] | None]]:
    """(action, parliament's privilege info or None when unknown) for an action pattern."""
    from ._iamdata import import_parliament as _import_parliament

    parliament = _import_parliament()
    from parliament.statement import get_privilege_info

    if action == "*":
        return [("*", None)]
    try:
        expanded = parliament.expand_action(action)
    except Exception:  # noqa: BLE001 - parliament raises its own error for unknown actions
        return [(action, None)]
    out = []
    for item in expanded:
        name = f"{item['service']}:{item['action']}"
        try:
            out.append((name, get_privilege_info(item["service"], item["action"])))
        except Exception:  # noqa: BLE001
            out.append((name, None))
    return out


@rule("classroom-student-scope",
      "A classroom's students are isolated, proved for every request: for every principal a "
      "student can reach (their user with its groups, boundary and policies; the roles of "
      "their instances; roles they can pass or assume), no request acts on another "
      "student's, the shared or an untagged resource, writes IAM beyond their own password "
      "and MFA, changes envkit:* tags after creation, reads parameters or secrets outside "
      "their scope, launches outside the lab's types and regions or creates untagged "
      "resources; and each student can still do what the lab intends.",
      EnforcementLevel.MANDATORY, Severity.HIGH,
      ["AWS IAM ABAC", "AWS IAM least privilege"],
      "Tie each statement to the student: Condition StringEquals "
      "aws:ResourceTag/envkit:student = ${aws:username} (not ...IfExists), resources "
      "user/envkit/${aws:username} (nothing after the variable), tags only at creation "
      "(aws:RequestTag + aws:TagKeys + ec2:CreateAction); instance roles scoped with "
      "${aws:PrincipalTag/envkit:student}. docs/classroom-isolation.md says what is proved.",
      types=_REACH_TYPES, kind="stack")
def classroom_student_scope(args, report):
    from ._isolation import DESCRIPTIONS, prove_all
    from ._reach import read_graph

    graph = read_graph(args.resources)
    if graph is None:
        return
    seen = set()
    for v in prove_all(graph.principals, graph.lab):
        key = (v.principal, v.prop)
        if key in seen:
            continue
        seen.add(key)
        if dict(v.context).get("unproved"):
            message = (f"{v.principal} may {DESCRIPTIONS[v.prop].replace('s ', ' ', 1)}: "
                       f"the solver found no answer for {_spell(v.action)} and the actions "
                       f"after it ({dict(v.context)['unproved']}), so it is not proved")
        elif v.prop == "intended":
            message = (f"{v.principal} {DESCRIPTIONS[v.prop]}: {_spell(v.action)} on "
                       f"{v.resource} is not allowed")
        else:
            message = (f"{v.principal} {DESCRIPTIONS[v.prop]}: {v.statement} allows "
                       f"{_spell(v.action)}{v.request()[len(v.action):]}")
        source = next((urn for label, urn in graph.sources.items()
                       if f"{label}, statement" in v.statement), None)
        report(message, source or graph.urns.get(v.principal))
    for label, principal in ((p.label, p) for p in graph.principals if not p.is_user):
        if "(on instance " in label and not _pinned(principal.policies):
            report(f"{label} is not pinned to its instance: add the Deny statements on "
                   "aws:EC2InstanceSourceVPC and aws:EC2InstanceSourcePrivateIPv4 "
                   "(envkit adds them to the roles of student instances)",
                   graph.urns.get(label))


def _spell(action: str) -> str:
    from ._iamdata import spelled

    return spelled([action])[0]


def _pinned(policies: list) -> bool:
    """Whether a role's policies deny use of its credentials away from their instance."""
    keys = set()
    for _, doc in policies:
        for s in _list(doc.get("Statement")):
            if isinstance(s, dict) and s.get("Effect") == "Deny":
                text = json.dumps(s.get("Condition") or {}).lower()
                keys |= {k for k in ("aws:ec2instancesourcevpc",
                                     "aws:ec2instancesourceprivateipv4") if k in text}
    return len(keys) == 2


@rule("classroom-no-privilege-escalation",
      "A classroom's students get no privilege-escalation path: no permissions-management "
      "action and none of the escalation combinations parliament knows.",
      EnforcementLevel.MANDATORY, Severity.CRITICAL,
      ["Checkov CKV_AWS_286", "AWS IAM privilege escalation"],
      "Remove the permissions-management actions (iam:Attach*, iam:Put*Policy, "
      "iam:CreatePolicyVersion, ...) and the escalation combinations from the student "
      "permissions.", types=_IDENTITY_TYPES, kind="stack")
def classroom_no_privilege_escalation(args, report):
    for grant in _student_grants(args.resources):
        found = set()
        for statement in _list(grant.document.get("Statement")):
            if not isinstance(statement, dict) or statement.get("Effect") != "Allow":
                continue
            for pattern in _list(statement.get("Action")):
                for action, info in _privileges(str(pattern)):
                    if action == "*" or (info or {}).get("access_level") == \
                            "Permissions management":
                        found.add(action)
        found |= {f"{name} (parliament)" for name in _escalations(grant.raw)} if grant.raw \
            else set()
        if found:
            shown = sorted(found)
            report(f"{grant.label}: {', '.join(shown[:8])}"
                   + (f" and {len(shown) - 8} more" if len(shown) > 8 else ""), grant.urn)


@cache
def _escalations(raw: str) -> tuple[str, ...]:
    """The privilege-escalation combinations parliament's auditor finds in a document."""
    from ._iamdata import import_parliament as _import_parliament

    policy = _import_parliament().analyze_policy_string(raw, include_community_auditors=True)
    return tuple(sorted({str((f.location or {}).get("type", "escalation")) for f in
                         policy.findings if f.issue == "PRIVILEGE_ESCALATION"}))


@rule("classroom-max-hourly-cost",
      "A class (every stack checked together) costs at most maxClassHourlyCost US dollars an "
      "hour at current prices; with a budget set, a cost that cannot be estimated fails too.",
      EnforcementLevel.MANDATORY, Severity.MEDIUM, ["AWS cost controls"],
      "Use smaller instance types, spot, fewer elastic IPs or fewer students, or raise "
      "maxClassHourlyCost; pass --prices FILE when AWS's Price List cannot be reached.",
      config={"maxClassHourlyCost": {"type": "number", "minimum": 0}}, types=_COST_TYPES,
      kind="stack")
def classroom_max_hourly_cost(args, report):
    budget = args.get_config().get("maxClassHourlyCost")
    if budget is None:
        return
    from ...classroom import cost

    records = []
    regions = set()
    for r in args.resources:
        if r.resource_type not in _COST_TYPES:
            continue
        # Read the priced properties one by one: an unknown id elsewhere hides nothing.
        props = {key: _known(lambda r=r, key=key: _plain(r.props.get(key)))
                 for key in _PRICED}
        records.append((r.urn, r.resource_type, r.name, props,
                        [d.urn for d in (r.dependencies or [])]))
        region = _known(lambda r=r: (r.provider.props or {}).get("region") if r.provider
                        else None)
        if region:
            regions.add(str(region))
    if not records:
        return
    table = cost.active_prices()
    candidates = sorted(regions) or sorted(table.prices)
    if not candidates:
        report(f"the class's cost cannot be estimated (no prices: pass --prices FILE or let "
               f"envkit reach AWS's Price List), so the budget of ${budget}/hour cannot be "
               "checked")
        return
    usage = cost.usages(records)
    estimates = [cost.estimate(usage, table, region) for region in candidates]
    unknown = [e for e in estimates if e.hourly is None]
    if unknown:
        report(f"the class's cost cannot be estimated ({unknown[0].reason}), so the budget of "
               f"${budget}/hour cannot be checked")
        return
    hourly = max(e.hourly for e in estimates)  # type: ignore[type-var]
    if hourly > float(budget):
        report(f"the class costs ${hourly:.4f}/hour, over the budget of "
               f"maxClassHourlyCost ${float(budget):.4f}/hour")
