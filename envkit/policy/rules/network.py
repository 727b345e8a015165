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
    as_list,
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
      "Security groups do not let traffic out to the whole internet: not on all ports, and "
      "not on the ports they name unless allowedWorldEgressPorts lists them.",
      ADVISORY, Severity.LOW, ["Checkov CKV_AWS_382", "trivy AVD-AWS-0104"],
      "Send traffic out to the CIDRs it needs (a proxy, a VPC endpoint, a package mirror); "
      "list the ports you accept to the internet (envkit's default egress is http and https) "
      "in allowedWorldEgressPorts.",
      types=_SG,
      config={"allowedWorldEgressPorts": {"type": "array", "items": {"type": "integer"},
                                          "default": []}})
def ec2_no_open_egress(args, report):
    allowed = {int(p) for p in config_value(args, "allowedWorldEgressPorts", [])}
    opened = []  # one finding per group: "tcp 80 to 0.0.0.0/0, tcp 443 to 0.0.0.0/0"
    for r in sg_rules(args, "egress"):
        world = r.world
        if not world:
            continue
        if r.all_ports:
            report("all ports are open outbound to the internet")
        elif r.ports is None:
            opened.append(f"{r.protocol} to {', '.join(world)}")
        elif any(p not in allowed for p in range(r.ports[0], r.ports[1] + 1)):
            ports = f"{r.ports[0]}" if r.ports[0] == r.ports[1] else f"{r.ports[0]}-{r.ports[1]}"
            opened.append(f"{r.protocol} {ports} to {', '.join(world)}")
    if opened:
        report(f"open outbound to the internet: {', '.join(opened)}")


#: Security groups a resource of these types uses are still unattached: rules belong to the
#: group, and a group that names another as a source does not put anything in it.
_NOT_ATTACHING = frozenset({*SG_TYPES, *RULE_TYPES})


@rule("ec2-security-group-attached",
      "Every security group is used by something in the program (an instance, launch "
      "template, network interface, load balancer, database, function or component).",
      ADVISORY, Severity.LOW, ["Checkov CKV2_AWS_5"],
      "Delete the unused group, or attach it where it is meant to be used; a group used by "
      "another stack is best created there.",
      kind="stack", types=None)
def ec2_security_group_attached(args, report):
    used = {d.urn for r in args.resources if r.resource_type not in _NOT_ATTACHING
            for d in r.dependencies}
    for group in by_type(args.resources, SECURITY_GROUP):
        if group.urn not in used:
            report(f"security group '{group.name}' is attached to nothing in this program",
                   group.urn)


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


@rule("ec2-nacl-no-all-ports",
      "No network ACL rule allows every protocol, or every port, in either direction.",
      ADVISORY, Severity.MEDIUM, ["Checkov CKV_AWS_352", "trivy AVD-AWS-0102"],
      "Allow the protocols and port ranges the subnet serves (tcp 443, the ephemeral range "
      "1024-65535 for replies) instead of protocol -1 or 0-65535.",
      types=frozenset({*NACL_TYPES, NACL_RULE}))
def ec2_nacl_no_all_ports(args, report):
    for direction in ("ingress", "egress"):
        for f in nacl_rules(args, direction):
            if f.allow and f.all_ports:
                what = "every protocol" if f.protocol == "all" else f"every {f.protocol} port"
                report(f"{direction} rule {f.number} allows {what} from "
                       f"{', '.join(f.cidrs) or 'anywhere'}")


NACL_ASSOCIATION = "aws:ec2/networkAclAssociation:NetworkAclAssociation"


@rule("ec2-nacl-attached",
      "Every network ACL is associated with a subnet (subnet_ids or a NetworkAclAssociation).",
      ADVISORY, Severity.LOW, ["Checkov CKV2_AWS_1"],
      "Give the ACL subnet_ids, or associate it (aws.ec2.NetworkAclAssociation); delete an ACL "
      "that guards nothing.",
      kind="stack", types=frozenset({"aws:ec2/networkAcl:NetworkAcl", NACL_ASSOCIATION}))
def ec2_nacl_attached(args, report):
    associated = {d.urn for a in by_type(args.resources, NACL_ASSOCIATION)
                  for d in a.dependencies}
    for acl in by_type(args.resources, "aws:ec2/networkAcl:NetworkAcl"):
        subnets = known(lambda acl=acl: as_list(acl.props.get("subnetIds")), ["unknown"])
        if not subnets and acl.urn not in associated:
            report(f"network ACL '{acl.name}' is associated with no subnet", acl.urn)


# --- subnets, VPCs --------------------------------------------------------------------------


@rule("ec2-subnet-no-public-ip-on-launch",
      "Subnets do not give every instance a public address: map_public_ip_on_launch (which an "
      "adopted default subnet keeps on unless set to false) or "
      "assign_ipv6_address_on_creation.",
      ADVISORY, Severity.MEDIUM,
      ["Security Hub EC2.15", "Checkov CKV_AWS_130", "trivy AVD-AWS-0164"],
      "Set map_public_ip_on_launch=False and give a public IP (or an elastic IP) only to the "
      "instances that serve the internet.",
      types=frozenset(SUBNETS))
def ec2_subnet_no_public_ip_on_launch(args, report):
    if args.resource_type not in SUBNETS:
        return
    public = args.props.get("mapPublicIpOnLaunch")
    if public is True:
        report("map_public_ip_on_launch is true")
    elif public is None and args.resource_type == "aws:ec2/defaultSubnet:DefaultSubnet":
        # AWS's default subnets map public IPs; adopting one without the setting keeps it.
        report("the default subnet keeps AWS's map_public_ip_on_launch=true (not set to false)")
    if args.props.get("assignIpv6AddressOnCreation") is True:
        report("assign_ipv6_address_on_creation is true: every instance gets an IPv6 address "
               "the internet can reach through an internet gateway")


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
