"""Network: security groups (world-open admin ports, egress, descriptions, the default
group, rule-management conflicts), network ACLs, subnets, VPC flow logs, the default VPC.

Every rule reads protocols and ports through one normaliser (:func:`._common.flow`), so
``-1``, ``"-1"``, ``-1.0``, ``"all"`` and ``"TCP"`` mean what they mean to AWS."""

from __future__ import annotations

import ipaddress
from typing import Any

from pulumi_policy import Severity

from ...limits import plural
from ._common import (
    ADMIN_PORTS,
    ADVISORY,
    MANDATORY,
    NACL_RULE,
    NACL_TYPES,
    RULE_TYPES,
    SG_TYPES,
    Flow,
    by_type,
    config_value,
    known,
    nacl_rules,
    rule,
    sg_rules,
)

SECURITY_GROUP = "aws:ec2/securityGroup:SecurityGroup"
DEFAULT_SG = "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup"
VPC = "aws:ec2/vpc:Vpc"
FLOW_LOG = "aws:ec2/flowLog:FlowLog"
SUBNETS = ("aws:ec2/subnet:Subnet", "aws:ec2/defaultSubnet:DefaultSubnet")
_SG = frozenset(SG_TYPES) | RULE_TYPES


# --- security groups ------------------------------------------------------------------------


@rule("ec2-no-public-admin-ingress",
      "No security group lets 0.0.0.0/0 or ::/0 reach SSH (22), RDP (3389) or all ports; "
      "SSH sources stay inside the allowed CIDRs when configured.",
      MANDATORY, Severity.CRITICAL,
      ["CIS 5.2", "CIS 5.3", "Security Hub EC2.13", "Security Hub EC2.14", "Checkov CKV_AWS_24",
       "Checkov CKV_AWS_25", "Checkov CKV_AWS_277", "trivy AVD-AWS-0107"],
      "Restrict the rule's from: to your office or VPN CIDR (ingress {service: ssh, from: "
      "203.0.113.0/24}); use SSM Session Manager instead of open SSH.",
      types=_SG,
      config={"allowedSshCidrs": {"type": "array", "items": {"type": "string"},
                                  "default": []}})
def ec2_no_public_admin_ingress(args, report):
    allowed = [ipaddress.ip_network(c) for c in config_value(args, "allowedSshCidrs", [])]
    for r in sg_rules(args, "ingress"):
        world = r.world
        if world and r.all_ports:
            report(f"all ports are open to {', '.join(world)}")
            continue
        for port, name in ADMIN_PORTS.items():
            if not r.covers(port):
                continue
            if world:
                report(f"{name} ({port}) is open to {', '.join(world)}")
            elif allowed and port == 22:
                outside = [c for c in r.cidrs if not _inside(c, allowed)]
                if outside:
                    report(f"SSH from {', '.join(outside)} is outside the allowed CIDRs")


def _inside(cidr: str, allowed: list[Any]) -> bool:
    try:
        net = ipaddress.ip_network(cidr, strict=False)
    except ValueError:
        return False
    return any(net.version == a.version and net.subnet_of(a) for a in allowed)


@rule("ec2-no-open-egress",
      "Security groups do not allow all traffic out to the internet.",
      ADVISORY, Severity.LOW, ["Checkov CKV_AWS_382", "trivy AVD-AWS-0104"],
      "Allow only the ports instances need out (envkit's default egress is http and https).",
      types=_SG)
def ec2_no_open_egress(args, report):
    for r in sg_rules(args, "egress"):
        if r.all_ports and r.world:
            report("all ports are open outbound to the internet")


@rule("ec2-security-groups-described",
      "Every security group and every rule has a description.",
      ADVISORY, Severity.LOW, ["Checkov CKV_AWS_23", "trivy AVD-AWS-0099", "trivy AVD-AWS-0124"],
      "Give the group and each rule a description saying who may connect and why.",
      types=_SG)
def ec2_security_groups_described(args, report):
    if args.resource_type == SECURITY_GROUP:
        description = args.props.get("description")
        if not description or description == "Managed by Pulumi":
            report("the security group has no description of its own")
    for direction in ("ingress", "egress"):
        for i, r in enumerate(sg_rules(args, direction)):
            if not r.description:
                report(f"{direction}[{i}] has no description")


def _linked(resource: Any, type_: str) -> list[Any]:
    """The resources of ``type_`` a stack resource depends on."""
    return [d for d in resource.dependencies if d.resource_type == type_]


@rule("ec2-default-security-group-closed",
      "Every VPC's default security group is adopted and left without rules (AWS's default "
      "lets members talk to each other and everything out).",
      ADVISORY, Severity.MEDIUM,
      ["CIS 5.4", "Security Hub EC2.2", "Checkov CKV2_AWS_12", "trivy AVD-AWS-0173"],
      "Add aws.ec2.DefaultSecurityGroup(vpc_id=vpc.id) with no ingress and no egress (envkit's "
      "dedicated network does), and put instances in groups of their own.",
      kind="stack", types=frozenset({VPC, DEFAULT_SG, *RULE_TYPES}))
def ec2_default_security_group_closed(args, report):
    defaults = by_type(args.resources, DEFAULT_SG)
    adopted = {v.urn for d in defaults for v in _linked(d, VPC)}
    for d in defaults:
        counts = [len(known(lambda d=d, w=w: sg_rules(d, w), [])) for w in ("ingress", "egress")]
        if any(counts):
            report(f"default security group '{d.name}' keeps {counts[0]} ingress and "
                   f"{plural(counts[1], 'egress rule')}", d.urn)
    for r in args.resources:
        if r.resource_type in RULE_TYPES and any(_linked(r, DEFAULT_SG)):
            report(f"'{r.name}' adds a rule to a default security group", r.urn)
    for vpc in by_type(args.resources, VPC):
        if vpc.urn not in adopted:
            report(f"VPC '{vpc.name}' leaves its default security group open (not adopted "
                   "by an aws.ec2.DefaultSecurityGroup)", vpc.urn)


@rule("ec2-no-security-group-rule-conflicts",
      "A security group's rules are managed in one place: inline ingress/egress or "
      "standalone rule resources, not both (they overwrite each other on every update).",
      ADVISORY, Severity.LOW, ["AWSGuard security-group-no-rule-management-conflicts"],
      "Move the inline rules into standalone rule resources, or the other way round.",
      kind="stack", types=frozenset({*SG_TYPES, *RULE_TYPES}))
def ec2_no_security_group_rule_conflicts(args, report):
    for r in args.resources:
        if r.resource_type not in RULE_TYPES:
            continue
        groups = [d for d in r.dependencies if d.resource_type in SG_TYPES]
        # A rule that references a second group (its source) depends on both; with no
        # property dependencies to tell them apart, such a rule is not judged.
        if len(groups) != 1:
            continue
        direction = known(lambda r=r: r.props.get("type")) \
            if r.resource_type == "aws:ec2/securityGroupRule:SecurityGroupRule" \
            else "ingress" if r.resource_type.endswith("IngressRule") else "egress"
        inline = known(lambda g=groups[0], w=direction: g.props.get(w), None)
        if inline:
            report(f"'{r.name}' adds {direction} rules to security group '{groups[0].name}', "
                   f"which also declares them inline", r.urn)


# --- network ACLs ---------------------------------------------------------------------------

NACL_ADMIN_PORTS = {20: "FTP data", 21: "FTP", 22: "SSH", 3389: "RDP"}


def _decides(rules: list[Flow], port: int | None) -> Flow | None:
    """The rule that lets traffic from anywhere reach ``port`` (None: every port), walking
    the rules in AWS's order: the first world-wide rule that matches decides."""
    for f in rules:
        if f.world and (f.all_ports if port is None else f.covers(port)):
            return f if f.allow else None
    return None


@rule("ec2-nacl-no-public-admin-ingress",
      "No network ACL lets 0.0.0.0/0 or ::/0 in to FTP (20, 21), SSH (22), RDP (3389) or "
      "all ports.",
      MANDATORY, Severity.HIGH,
      ["CIS 5.1", "Security Hub EC2.21", "Checkov CKV_AWS_229", "Checkov CKV_AWS_230",
       "Checkov CKV_AWS_231", "Checkov CKV_AWS_232", "Checkov CKV_AWS_352",
       "trivy AVD-AWS-0105", "trivy AVD-AWS-0102"],
      "Allow admin ports only from your office or VPN CIDR, or put a deny rule for 0.0.0.0/0 "
      "on those ports before the allow rules; security groups do the fine-grained work.",
      types=frozenset({*NACL_TYPES, NACL_RULE}))
def ec2_nacl_no_public_admin_ingress(args, report):
    rules = nacl_rules(args, "ingress")
    everything = _decides(rules, None)
    if everything is not None:
        report(f"rule {everything.number} allows all ports from {', '.join(everything.world)}")
        return
    for port, name in NACL_ADMIN_PORTS.items():
        open_ = _decides(rules, port)
        if open_ is not None:
            report(f"rule {open_.number} allows {name} ({port}) from "
                   f"{', '.join(open_.world)}")


# --- subnets, VPCs --------------------------------------------------------------------------


@rule("ec2-subnet-no-public-ip-on-launch",
      "Subnets do not give every instance a public IP (map_public_ip_on_launch).",
      ADVISORY, Severity.MEDIUM,
      ["Security Hub EC2.15", "Checkov CKV_AWS_130", "trivy AVD-AWS-0164"],
      "Set map_public_ip_on_launch=False and give a public IP (or an elastic IP) only to the "
      "instances that serve the internet.",
      types=frozenset(SUBNETS))
def ec2_subnet_no_public_ip_on_launch(args, report):
    if args.resource_type in SUBNETS and args.props.get("mapPublicIpOnLaunch") is True:
        report("map_public_ip_on_launch is true")


@rule("ec2-vpc-flow-logs",
      "Every VPC has a flow log (aws.ec2.FlowLog pointing at it).",
      ADVISORY, Severity.MEDIUM,
      ["CIS 3.7", "Security Hub EC2.6", "Checkov CKV2_AWS_11", "trivy AVD-AWS-0178"],
      "A lab's VPC has no flow-log setting yet: keep this advisory, or turn it off for short "
      "labs with {\"ec2-vpc-flow-logs\": \"disabled\"} in a policy config.",
      kind="stack", types=frozenset({VPC, FLOW_LOG}))
def ec2_vpc_flow_logs(args, report):
    logged = {v.urn for f in by_type(args.resources, FLOW_LOG) for v in _linked(f, VPC)}
    for vpc in by_type(args.resources, VPC):
        if vpc.urn not in logged:
            report(f"VPC '{vpc.name}' has no flow log", vpc.urn)


@rule("ec2-no-default-vpc",
      "Programs do not adopt the account's default VPC (aws.ec2.DefaultVpc): its subnets "
      "give every instance a public IP.",
      ADVISORY, Severity.LOW, ["Checkov CKV_AWS_148", "trivy AVD-AWS-0101"],
      "Create a VPC of your own (ec2.network.vpc_cidr in a spec).",
      types=frozenset({"aws:ec2/defaultVpc:DefaultVpc"}))
def ec2_no_default_vpc(args, report):
    if args.resource_type == "aws:ec2/defaultVpc:DefaultVpc":
        report("the program manages the default VPC")
