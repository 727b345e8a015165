"""Whole-spec checks: cross-references, account limits and region-dependent AWS facts.

Each problem is reported as (path, message) where path is the tuple of keys leading to
the offending field, so the loader can point at its line.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..limits import clip
from . import catalog
from .amis import AMI_ALIASES
from .models import did_you_mean

if TYPE_CHECKING:
    from .models import EnvironmentSpec

Problem = tuple[tuple, str]

ELASTIC_IP_LIMIT = 5  # AWS's default per-region quota for elastic IPs


def _unknown(kind: str, name: str, known: list[str] | dict) -> str:
    names = sorted(known)
    shown = ", ".join(clip(n) for n in names[:20]) + (f" and {len(names) - 20} more"
                                                      if len(names) > 20 else "")
    return f"unknown {kind} '{clip(name)}'; known {kind}s: {shown or 'none are defined'}"


def check_spec(spec: EnvironmentSpec) -> list[Problem]:
    """Every problem that needs more than one field to see; empty when the spec is sound."""
    problems: list[Problem] = []
    problems += _check_iam(spec)
    problems += _check_ec2(spec)
    if spec.classroom is not None:
        from .classroom import check_classroom

        problems += check_classroom(spec)
    return problems


def _check_policy_refs(path: tuple, policies: list[str]) -> list[Problem]:
    problems = []
    for i, ref in enumerate(policies):
        if ref.startswith("arn:"):
            if ":iam::" not in ref or ":policy/" not in ref:
                problems.append(((*path, i), f"'{clip(ref)}' is not an IAM policy ARN"))
        elif catalog.managed_policy_arn(ref) is None:
            hint = did_you_mean(ref[:128], catalog.managed_policies())
            problems.append(((*path, i), f"no AWS managed policy is named '{clip(ref)}'{hint}"))
    return problems


def _check_iam(spec: EnvironmentSpec) -> list[Problem]:
    iam = spec.iam
    problems: list[Problem] = []
    for name, group in iam.groups.items():
        problems += _check_policy_refs(("iam", "groups", name, "managed_policies"),
                                       group.managed_policies)
        for pname, doc in group.inline_policies.items():
            if len(doc.to_json()) > 5120:
                problems.append((("iam", "groups", name, "inline_policies", pname),
                                 "inline group policies are limited to 5,120 characters"))
    for name, role in iam.roles.items():
        problems += _check_policy_refs(("iam", "roles", name, "managed_policies"),
                                       role.managed_policies)
        for pname, doc in role.inline_policies.items():
            if len(doc.to_json()) > 10240:
                problems.append((("iam", "roles", name, "inline_policies", pname),
                                 "inline role policies are limited to 10,240 characters"))
    for name, user in iam.users.items():
        for i, group in enumerate(user.groups):
            if group not in iam.groups:
                problems.append((("iam", "users", name, "groups", i),
                                 _unknown("group", group, iam.groups)))
    return problems


def _check_ec2(spec: EnvironmentSpec) -> list[Problem]:
    ec2 = spec.ec2
    problems: list[Problem] = []
    zone = ec2.network.availability_zone
    zones = catalog.availability_zones(spec.region)
    if zone is not None and (not zone.startswith(spec.region)
                             or (zones is not None and zone not in zones)):
            known = ", ".join(sorted(zones)) if zones else f"{spec.region}a, {spec.region}b, ..."
            problems.append((("ec2", "network", "availability_zone"),
                             f"'{clip(zone)}' is not an availability zone of {spec.region}; "
                             f"known: {known}"))
    az = spec.availability_zone
    eips = 0
    for name, inst in ec2.instances.items():
        path = ("ec2", "instances", name)
        itype = catalog.instance_types()[inst.type]
        if inst.key_pair is not None and inst.key_pair not in ec2.key_pairs:
            problems.append(((*path, "key_pair"), _unknown("key pair", inst.key_pair,
                                                           ec2.key_pairs)))
        for i, sg in enumerate(inst.security_groups):
            if sg not in ec2.security_groups:
                problems.append(((*path, "security_groups", i),
                                 _unknown("security group", sg, ec2.security_groups)))
        if inst.role is not None:
            role = spec.iam.roles.get(inst.role)
            if role is None:
                problems.append(((*path, "role"), _unknown("role", inst.role, spec.iam.roles)))
            elif not role.instance_profile:
                problems.append(((*path, "role"),
                                 f"role '{inst.role}' has no instance profile: it must be "
                                 "trusted by ec2 (trusted_service: ec2)"))
        enis = 1 + inst.extra_network_interfaces
        if enis > itype.max_network_interfaces:
            problems.append(((*path, "extra_network_interfaces"),
                             f"{inst.type} supports at most {itype.max_network_interfaces} "
                             f"network interfaces; this asks for {enis} "
                             f"(1 primary + {inst.extra_network_interfaces} extra)"))
        if inst.purchase == "spot" and "spot" not in itype.usage_classes:
            problems.append(((*path, "purchase"), f"{inst.type} cannot be bought as spot"))
        alias = AMI_ALIASES.get(inst.ami)
        if alias is not None:
            if alias.architecture not in itype.architectures:
                problems.append(((*path, "type"),
                                 f"{inst.type} ({'/'.join(itype.architectures)}) cannot run "
                                 f"'{inst.ami}', an {alias.architecture} image"))
            key = ec2.key_pairs.get(inst.key_pair or "")
            if alias.platform == "windows" and key is not None and key.type != "rsa":
                problems.append(((*path, "key_pair"),
                                 "Windows instances need an rsa key pair (type: rsa)"))
        offered = catalog.offered_in_zone(inst.type, az)
        if offered is False:
            problems.append(((*path, "type"), f"{inst.type} is not offered in {clip(az)}"))
        if inst.elastic_ip:
            eips += 1
            if eips > ELASTIC_IP_LIMIT:
                problems.append(((*path, "elastic_ip"),
                                 f"more than {ELASTIC_IP_LIMIT} elastic IPs: AWS's default "
                                 "limit per region is 5"))
    return problems
