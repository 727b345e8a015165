"""Whole-spec checks: cross-references, account limits and region-dependent AWS facts.

Each problem is a :class:`Problem`: the path of keys leading to the offending field (so the
loader can point at its line), the message, and the other parts of the spec the check read.
When some parts of a spec fail validation, the loader sets them aside and runs these checks
over the rest; :class:`SetAside` then drops every problem that read a part set aside, whose
value in the model is a default the user never wrote.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, NamedTuple

from ..limits import clip
from . import catalog
from .amis import AMI_ALIASES

if TYPE_CHECKING:
    from ..errors import SpecIssue
    from .models import EnvironmentSpec


class Problem(NamedTuple):
    """One whole-spec problem, reported at ``path`` (a tuple of YAML keys and list indexes).

    ``reads`` names the parts of the spec the conclusion rests on; None means the reported
    field alone. A problem about a name (an unknown group) reads the entry the name would be.
    """

    path: tuple
    message: str
    reads: tuple[tuple, ...] | None = None


class SetAside:
    """The parts of a spec (paths of YAML keys) that failed validation and were removed, or
    replaced by a stand-in, before the whole-spec checks ran."""

    def __init__(self, paths: Iterable[tuple] = ()) -> None:
        self.paths = frozenset(paths)
        self._holders = {path[:end] for path in self.paths for end in range(len(path) + 1)}

    def __bool__(self) -> bool:
        return bool(self.paths)

    def touches(self, path: tuple) -> bool:
        """Whether ``path``, a part that holds it, or a part inside it was set aside."""
        return path in self._holders or any(path[:end] in self.paths
                                            for end in range(len(path)))

    def keeps(self, problem: Problem) -> bool:
        """Whether every part ``problem`` read came through validation as written."""
        reads = (problem.path,) if problem.reads is None else problem.reads
        return not any(self.touches(path) for path in reads)


ELASTIC_IP_LIMIT = 5  # AWS's default per-region quota for elastic IPs


def _unknown(kind: str, name: str, known: list[str] | dict) -> str:
    names = sorted(known)
    shown = ", ".join(clip(n) for n in names[:20]) + (f" and {len(names) - 20} more"
                                                      if len(names) > 20 else "")
    return f"unknown {kind} '{clip(name)}'; known {kind}s: {shown or 'none are defined'}"


def check_spec(spec: EnvironmentSpec, set_aside: SetAside | None = None
               ) -> list[Problem | SpecIssue]:
    """Every problem that needs more than one field to see; empty when the spec is sound.

    ``set_aside`` lists the parts of the document that failed validation (``spec`` is the
    rest): problems that read one of them are left out. A roster CSV's own problems come
    back as SpecIssues naming the CSV and its lines."""
    problems: list[Problem | SpecIssue] = []
    problems += _check_iam(spec)
    problems += _check_ec2(spec)
    if spec.classroom is not None:
        from .classroom import check_classroom

        problems += check_classroom(spec)
    if set_aside:
        problems = [p for p in problems if not isinstance(p, Problem) or set_aside.keeps(p)]
    return problems


def _check_policy_refs(path: tuple, policies: list[str]) -> list[Problem]:
    problems = []
    for i, ref in enumerate(policies):
        if ref.startswith("arn:"):
            if ":iam::" not in ref or ":policy/" not in ref:
                problems.append(Problem((*path, i), f"'{clip(ref)}' is not an IAM policy ARN"))
        elif catalog.managed_policy_arn(ref) is None:
            from .models import did_you_mean  # models imports classroom, which imports this

            hint = did_you_mean(ref[:128], catalog.managed_policies())
            problems.append(Problem((*path, i),
                                    f"no AWS managed policy is named '{clip(ref)}'{hint}"))
    return problems


def _inline_size(path: tuple, kind: str, policies: dict) -> list[Problem]:
    """IAM limits the aggregate of a principal's inline policies, white space not counted
    (envkit/spec/iam_limits.py cites the quota page)."""
    from .iam_limits import INLINE_POLICY_SIZE, policy_size

    total = sum(policy_size(doc.to_json()) for doc in policies.values())
    limit = INLINE_POLICY_SIZE[kind]
    if total <= limit:
        return []
    return [Problem(path, f"the inline policies of this {kind} come to {total:,} characters "
                          f"(without white space); IAM takes at most {limit:,} per {kind}")]


def _check_iam(spec: EnvironmentSpec) -> list[Problem]:
    iam = spec.iam
    problems: list[Problem] = []
    for name, group in iam.groups.items():
        problems += _check_policy_refs(("iam", "groups", name, "managed_policies"),
                                       group.managed_policies)
        problems += _inline_size(("iam", "groups", name, "inline_policies"), "group",
                                 group.inline_policies)
    for name, role in iam.roles.items():
        problems += _check_policy_refs(("iam", "roles", name, "managed_policies"),
                                       role.managed_policies)
        problems += _inline_size(("iam", "roles", name, "inline_policies"), "role",
                                 role.inline_policies)
    for name, user in iam.users.items():
        for i, group in enumerate(user.groups):
            if group not in iam.groups:
                path = ("iam", "users", name, "groups", i)
                problems.append(Problem(path, _unknown("group", group, iam.groups),
                                        (path, ("iam", "groups", group))))
    return problems


def _check_ec2(spec: EnvironmentSpec) -> list[Problem]:
    ec2 = spec.ec2
    problems: list[Problem] = []
    zone = ec2.network.availability_zone
    zones = catalog.availability_zones(spec.region)
    zone_path = ("ec2", "network", "availability_zone")
    if zone is not None and (not zone.startswith(spec.region)
                             or (zones is not None and zone not in zones)):
            known = ", ".join(sorted(zones)) if zones else f"{spec.region}a, {spec.region}b, ..."
            problems.append(Problem(zone_path,
                                    f"'{clip(zone)}' is not an availability zone of "
                                    f"{spec.region}; known: {known}",
                                    (zone_path, ("region",))))
    az = spec.availability_zone
    eips = 0
    for name, inst in ec2.instances.items():
        path = ("ec2", "instances", name)
        itype = catalog.instance_types()[inst.type]
        type_path = (*path, "type")
        if inst.key_pair is not None and inst.key_pair not in ec2.key_pairs:
            problems.append(Problem((*path, "key_pair"),
                                    _unknown("key pair", inst.key_pair, ec2.key_pairs),
                                    ((*path, "key_pair"), ("ec2", "key_pairs", inst.key_pair))))
        for i, sg in enumerate(inst.security_groups):
            if sg not in ec2.security_groups:
                problems.append(Problem((*path, "security_groups", i),
                                        _unknown("security group", sg, ec2.security_groups),
                                        ((*path, "security_groups", i),
                                         ("ec2", "security_groups", sg))))
        if inst.role is not None:
            role = spec.iam.roles.get(inst.role)
            # The whole role is read: whether it has an instance profile depends on its trust.
            reads = ((*path, "role"), ("iam", "roles", inst.role))
            if role is None:
                problems.append(Problem((*path, "role"),
                                        _unknown("role", inst.role, spec.iam.roles), reads))
            elif not role.instance_profile:
                problems.append(Problem((*path, "role"),
                                        f"role '{inst.role}' has no instance profile: it must "
                                        "be trusted by ec2 (trusted_service: ec2)", reads))
        enis = 1 + inst.extra_network_interfaces
        if enis > itype.max_network_interfaces:
            problems.append(Problem((*path, "extra_network_interfaces"),
                                    f"{inst.type} supports at most "
                                    f"{itype.max_network_interfaces} network interfaces; this "
                                    f"asks for {enis} (1 primary + "
                                    f"{inst.extra_network_interfaces} extra)",
                                    ((*path, "extra_network_interfaces"), type_path)))
        if inst.purchase == "spot" and "spot" not in itype.usage_classes:
            problems.append(Problem((*path, "purchase"), f"{inst.type} cannot be bought as spot",
                                    ((*path, "purchase"), type_path)))
        alias = AMI_ALIASES.get(inst.ami)
        if alias is not None:
            if alias.architecture not in itype.architectures:
                problems.append(Problem(type_path,
                                        f"{inst.type} ({'/'.join(itype.architectures)}) cannot "
                                        f"run '{inst.ami}', an {alias.architecture} image",
                                        (type_path, (*path, "ami"))))
            key = ec2.key_pairs.get(inst.key_pair or "")
            if alias.platform == "windows" and key is not None and key.type != "rsa":
                problems.append(Problem((*path, "key_pair"),
                                        "Windows instances need an rsa key pair (type: rsa)",
                                        ((*path, "key_pair"), (*path, "ami"),
                                         ("ec2", "key_pairs", inst.key_pair or ""))))
        offered = catalog.offered_in_zone(inst.type, az)
        if offered is False:
            problems.append(Problem(type_path, f"{inst.type} is not offered in {clip(az)}",
                                    (type_path, ("region",), zone_path)))
        if inst.elastic_ip:
            eips += 1
            if eips > ELASTIC_IP_LIMIT:
                # Instances set aside only hide elastic IPs: the count stands without them.
                problems.append(Problem((*path, "elastic_ip"),
                                        f"more than {ELASTIC_IP_LIMIT} elastic IPs: AWS's "
                                        "default limit per region is 5"))
    return problems
