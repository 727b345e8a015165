"""Network: security groups (world-open admin ports, egress, descriptions)."""

from __future__ import annotations

import ipaddress

from pulumi_policy import Severity

from ._common import (
    ADMIN_PORTS,
    ADVISORY,
    MANDATORY,
    RULE_TYPES,
    SG_TYPES,
    WORLD,
    all_ports,
    config_value,
    covers,
    rule,
    sg_rules,
)

_SG = frozenset(SG_TYPES) | RULE_TYPES


@rule("ec2-no-public-admin-ingress",
      "No security group lets 0.0.0.0/0 or ::/0 reach SSH (22), RDP (3389) or all ports; "
      "SSH sources stay inside the allowed CIDRs when configured.",
      MANDATORY, Severity.CRITICAL,
      ["CIS 5.2", "CIS 5.3", "Security Hub EC2.13", "Security Hub EC2.14", "Checkov CKV_AWS_24",
       "Checkov CKV_AWS_25", "Checkov CKV_AWS_277"],
      "Restrict the rule's from: to your office or VPN CIDR (ingress {service: ssh, from: "
      "203.0.113.0/24}); use SSM Session Manager instead of open SSH.",
      types=_SG,
      config={"allowedSshCidrs": {"type": "array", "items": {"type": "string"},
                                  "default": []}})
def ec2_no_public_admin_ingress(args, report):
    allowed = [ipaddress.ip_network(c) for c in config_value(args, "allowedSshCidrs", [])]
    for r in sg_rules(args, "ingress"):
        world = [c for c in r["cidrs"] if c in WORLD]
        if world and all_ports(r):
            report(f"all ports are open to {', '.join(world)}")
            continue
        for port, name in ADMIN_PORTS.items():
            if not covers(r, port):
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
      "Allow only the ports instances need out (envkit's default egress is http and https).",
      types=_SG)
def ec2_no_open_egress(args, report):
    for r in sg_rules(args, "egress"):
        if all_ports(r) and any(c in WORLD for c in r["cidrs"]):
            report("all ports are open outbound to the internet")


@rule("ec2-security-groups-described",
      "Every security group and every rule has a description.",
      ADVISORY, Severity.LOW, ["Checkov CKV_AWS_23"],
      "Give the group and each rule a description saying who may connect and why.",
      types=_SG)
def ec2_security_groups_described(args, report):
    if args.resource_type == "aws:ec2/securityGroup:SecurityGroup":
        description = args.props.get("description")
        if not description or description == "Managed by Pulumi":
            report("the security group has no description of its own")
    for direction in ("ingress", "egress"):
        for i, r in enumerate(sg_rules(args, direction)):
            if not r["description"]:
                report(f"{direction}[{i}] has no description")
