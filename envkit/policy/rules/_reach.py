"""Every principal a student can reach, read from a Pulumi resource graph.

A student is an IAM user tagged ``envkit:student``. What they hold or can obtain:

- their user: the policies of every group they join (inline, AWS managed, customer managed),
  their own inline and attached policies, and their permissions boundary;
- the role of every instance tagged ``envkit:student`` = their id (they can log in to it and
  read its credentials from the metadata service);
- every role their user may pass (``iam:PassRole``) or assume (``sts:AssumeRole``).

AWS managed policies are read from moto's copy of the managed-policy set; a policy envkit
cannot read is taken as allowing everything, so it can only add findings.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from ._common import as_list, by_type, document, known, plain
from ._isolation import Lab, Principal

STUDENT_TAG = "envkit:student"
CLASS_TAG = "envkit:class"
USER = "aws:iam/user:User"
ROLE = "aws:iam/role:Role"
POLICY = "aws:iam/policy:Policy"
INSTANCE = "aws:ec2/instance:Instance"
PROFILE = "aws:iam/instanceProfile:InstanceProfile"
_UNREADABLE = {"Version": "2012-10-17",
               "Statement": [{"Sid": "Unreadable", "Effect": "Allow", "Action": "*",
                              "Resource": "*"}]}


@dataclass
class Graph:
    """The principals of the students found in a graph, and the lab they belong to."""

    principals: list[Principal]
    lab: Lab
    #: (principal label, urn) to report a finding against.
    urns: dict[str, str]
    #: (policy label, urn of the resource that holds it): a finding names the spec line.
    sources: dict[str, str]


def _name(r: Any) -> str:
    name = known(lambda: r.props.get("name"))
    return name if isinstance(name, str) and name else r.name


def _tags(r: Any) -> dict[str, Any]:
    tags = known(lambda: plain(r.props.get("tags")), {})
    return tags if isinstance(tags, dict) else {}


def _linked(r: Any, prop: str, type_: str) -> list[str]:
    """The names ``prop`` holds: linked resources of ``type_`` and literal names."""
    linked = [_name(d) for d in (r.dependencies or []) if d.resource_type == type_]
    values = known(lambda: as_list(r.props.get(prop)), [])
    return linked + [v for v in values if isinstance(v, str) and v not in linked]


def _managed(r: Any, arn: Any, customer: dict[str, tuple[str, dict[str, Any]]]
             ) -> tuple[str, dict[str, Any]]:
    """(label, document) of an attached policy ARN: AWS managed from moto's set, customer
    managed from the graph (by name, or by the Policy resource the attachment depends on)."""
    from .classroom import managed_policy_document

    for d in r.dependencies or []:
        if d.urn in customer:
            return customer[d.urn]
    if isinstance(arn, str):
        doc = managed_policy_document(arn)
        if doc is not None:
            return f"managed policy {arn.rsplit('/', 1)[-1]}", doc
        for label, doc in customer.values():
            if label.endswith(f"'{arn.rsplit('/', 1)[-1]}'"):
                return label, doc
    return f"policy {arn if isinstance(arn, str) else '(unknown)'} (unreadable)", _UNREADABLE


def _attached(resources: list, kind: str, type_: str,
              customer: dict[str, tuple[str, dict[str, Any]]], sources: dict[str, str]
              ) -> dict[str, list[tuple[str, dict[str, Any]]]]:
    """name of a user/group/role -> its inline and attached policies (label, document)."""
    owner_type = {"user": USER, "group": "aws:iam/group:Group", "role": ROLE}[kind]
    out: dict[str, list[tuple[str, dict[str, Any]]]] = {}
    cap = kind.capitalize()
    for r in by_type(resources, f"aws:iam/{kind}Policy:{cap}Policy"):
        doc = document(known(lambda r=r: r.props.get("policy")))
        for who in _linked(r, kind, owner_type):
            out.setdefault(who, []).append(
                (f"{type_} '{who}' policy '{_name(r)}'", doc or _UNREADABLE))
            sources[f"{type_} '{who}' policy '{_name(r)}'"] = r.urn
    for r in by_type(resources, f"aws:iam/{kind}PolicyAttachment:{cap}PolicyAttachment"):
        label, doc = _managed(r, known(lambda r=r: r.props.get("policyArn")), customer)
        for who in _linked(r, kind, owner_type):
            out.setdefault(who, []).append((f"{type_} '{who}' {label}", doc))
            sources[f"{type_} '{who}' {label}"] = r.urn
    for r in by_type(resources, "aws:iam/policyAttachment:PolicyAttachment"):
        label, doc = _managed(r, known(lambda r=r: r.props.get("policyArn")), customer)
        for who in _linked(r, f"{kind}s", owner_type):
            out.setdefault(who, []).append((f"{type_} '{who}' {label}", doc))
    if kind == "role":
        for r in by_type(resources, ROLE):
            for i, inline in enumerate(known(lambda r=r: as_list(r.props.get("inlinePolicies")),
                                             [])):
                doc = document((inline or {}).get("policy"))
                if doc is not None:
                    out.setdefault(_name(r), []).append(
                        (f"role '{_name(r)}' inlinePolicies[{i}]", doc))
    return out


def _groups_of_users(resources: list) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for r in by_type(resources, "aws:iam/userGroupMembership:UserGroupMembership"):
        for user in _linked(r, "user", USER):
            out.setdefault(user, set()).update(_linked(r, "groups", "aws:iam/group:Group"))
    for r in by_type(resources, "aws:iam/groupMembership:GroupMembership"):
        for group in _linked(r, "group", "aws:iam/group:Group"):
            for user in _linked(r, "users", USER):
                out.setdefault(user, set()).add(group)
    return out


def _boundary(user: Any, customer: dict[str, tuple[str, dict[str, Any]]]
              ) -> tuple[str, dict[str, Any]] | None:
    arn = known(lambda: user.props.get("permissionsBoundary"), "unknown")
    if arn is None or arn == "":
        return None
    label, doc = _managed(user, arn, customer)
    return f"permissions boundary ({label})", doc


def read_graph(resources: list) -> Graph | None:
    """The students' principals in ``resources`` (None when no user is a student)."""
    students: dict[str, Any] = {}
    for r in by_type(resources, USER):
        student = _tags(r).get(STUDENT_TAG)
        if isinstance(student, str) and student:
            students[_name(r)] = r
    if not students:
        return None
    customer = {p.urn: (f"customer policy '{_name(p)}'",
                        document(known(lambda p=p: p.props.get("policy"))) or _UNREADABLE)
                for p in by_type(resources, POLICY)}
    sources: dict[str, str] = {}
    group_policies = _attached(resources, "group", "group", customer, sources)
    user_policies = _attached(resources, "user", "user", customer, sources)
    role_policies = _attached(resources, "role", "role", customer, sources)
    memberships = _groups_of_users(resources)
    roles = {_name(r): r for r in by_type(resources, ROLE)}
    profiles = {_name(p): _linked(p, "role", ROLE) for p in by_type(resources, PROFILE)}
    principals: list[Principal] = []
    urns: dict[str, str] = {}
    for name, user in sorted(students.items()):
        student = str(_tags(user)["envkit:student"])
        policies = list(user_policies.get(name, []))
        for group in sorted(memberships.get(name, set())):
            policies += group_policies.get(group, [])
        label = f"student '{student}' (user {name})"
        principal = Principal(label, student, policies, _boundary(user, customer),
                              {"aws:username": name, **_principal_tags(user)}, is_user=True)
        principals.append(principal)
        urns[label] = user.urn
        for role_name, why in _reachable_roles(principal, roles, resources, profiles, student):
            role = roles[role_name]
            rlabel = f"role '{role_name}' ({why} of student '{student}')"
            principals.append(Principal(rlabel, student, role_policies.get(role_name, []),
                                        _boundary(role, customer), _principal_tags(role)))
            urns[rlabel] = role.urn
    return Graph(principals, _lab(resources), urns, sources)


def _principal_tags(r: Any) -> dict[str, str]:
    return {f"aws:PrincipalTag/{k}": str(v) for k, v in _tags(r).items()
            if isinstance(v, (str, int, float))}


def _reachable_roles(principal: Principal, roles: dict[str, Any], resources: list,
                     profiles: dict[str, list[str]], student: str
                     ) -> Iterator[tuple[str, str]]:
    """Roles on the student's instances, and roles the student may pass or assume."""
    seen = set()
    for inst in by_type(resources, INSTANCE):
        if _tags(inst).get(STUDENT_TAG) != student:
            continue
        for profile in _linked(inst, "iamInstanceProfile", PROFILE):
            for role in profiles.get(profile, []):
                if role in roles and role not in seen:
                    seen.add(role)
                    yield role, f"on instance '{_name(inst)}'"
    from ._isolation import _Query

    lab = Lab("", "aws", frozenset(), frozenset())
    query = _Query(principal, lab)
    for name, role in roles.items():
        if name in seen:
            continue
        path = known(lambda role=role: role.props.get("path")) or "/"
        arn = f"arn:*:iam::*:role{path if isinstance(path, str) else '/'}{name}"
        for action, why in (("sts:AssumeRole", "assumable"), ("iam:PassRole", "passable")):
            # An action no statement may grant needs no solver (most students have neither).
            if action.lower() in query.candidates and query.possible(action, arn, None):
                seen.add(name)
                yield name, why
                break


def _lab(resources: list) -> Lab:
    """The class, partition, instance types and regions the graph's lab uses."""
    from ...spec.catalog import partition_of

    classes = {str(_tags(r).get(CLASS_TAG)) for r in resources if _tags(r).get(CLASS_TAG)}
    types = set()
    regions = set()
    for r in by_type(resources, INSTANCE):
        t = known(lambda r=r: r.props.get("instanceType"))
        if isinstance(t, str):
            types.add(t)
    for r in resources:
        if r.resource_type == "pulumi:providers:aws":
            region = known(lambda r=r: r.props.get("region"))
        else:
            region = known(lambda r=r: (r.provider.props or {}).get("region") if r.provider
                           else None)
        if isinstance(region, str) and region:
            regions.add(region)
    partition = partition_of(sorted(regions)[0]) if regions else "aws"
    return Lab(sorted(classes)[0] if len(classes) == 1 else "*", partition,
               frozenset(types), frozenset(regions))
