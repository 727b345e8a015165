"""Network rules (envkit/policy/rules/network.py): security groups, network ACLs, subnets,
VPCs, each violated and satisfied through the analyzer."""

from __future__ import annotations

import pulumi_aws as aws
import pytest

from .policy_helpers import (
    TAGS,
    acl_rule,
    check_case,
    nacl,
    rule,
    sg,
    violations,
)


def vpc(*, default_sg=None, flow_log=False):
    def body():
        net = aws.ec2.Vpc("vpc", cidr_block="10.0.0.0/16", tags=TAGS)
        if default_sg is not None:
            aws.ec2.DefaultSecurityGroup("default", vpc_id=net.id, ingress=default_sg,
                                         egress=[], tags=TAGS)
        if flow_log:
            aws.ec2.FlowLog("log", vpc_id=net.id, traffic_type="REJECT",
                            log_destination_type="s3", log_destination="arn:aws:s3:::logs",
                            tags=TAGS)
    return body


def inline_and_standalone(inline):
    def body():
        group = aws.ec2.SecurityGroup("sg", description="web", tags=TAGS,
                                      ingress=[rule()] if inline else [])
        aws.vpc.SecurityGroupIngressRule("r", security_group_id=group.id, ip_protocol="tcp",
                                         from_port=443, to_port=443, cidr_ipv4="10.0.0.0/8",
                                         description="https")
    return body


# rule -> (violating program, compliant program)
CASES = {
    "ec2-no-public-admin-ingress": (sg(ingress=[rule(cidrs=["0.0.0.0/0"])]),
                                    sg(ingress=[rule(cidrs=["203.0.113.0/24"])])),
    "ec2-no-open-egress": (sg(egress=[rule("-1", 0, 0, ["0.0.0.0/0"])]),
                           sg(egress=[rule("tcp", 443, 443, ["10.0.0.0/8"])])),
    "ec2-security-group-attached": (
        sg(), lambda: aws.ec2.Instance("vm", ami="ami-1", instance_type="t3.micro",
                                       vpc_security_group_ids=[sg()().id])),
    "ec2-nacl-no-all-ports": (nacl(acl_rule(protocol="-1", low=0, high=0, cidr="10.0.0.0/8")),
                              nacl(acl_rule(low=443, high=443, cidr="10.0.0.0/8"))),
    "ec2-nacl-attached": (
        lambda: aws.ec2.NetworkAcl("acl", vpc_id="vpc-1", tags=TAGS),
        lambda: aws.ec2.NetworkAclAssociation(
            "a", subnet_id="subnet-1",
            network_acl_id=aws.ec2.NetworkAcl("acl", vpc_id="vpc-1", tags=TAGS).id)),
    "ec2-security-groups-described": (sg(ingress=[rule(description=None)]),
                                      sg(ingress=[rule()])),
    "ec2-default-security-group-closed": (vpc(), vpc(default_sg=[])),
    "ec2-no-security-group-rule-conflicts": (inline_and_standalone(True),
                                             inline_and_standalone(False)),
    "ec2-nacl-no-public-admin-ingress": (nacl(acl_rule()), nacl(acl_rule(cidr="10.0.0.0/8"))),
    "ec2-subnet-no-public-ip-on-launch": (
        lambda: aws.ec2.Subnet("s", vpc_id="vpc-1", cidr_block="10.0.1.0/24",
                               map_public_ip_on_launch=True, tags=TAGS),
        lambda: aws.ec2.Subnet("s", vpc_id="vpc-1", cidr_block="10.0.1.0/24", tags=TAGS)),
    "ec2-vpc-flow-logs": (vpc(default_sg=[]), vpc(default_sg=[], flow_log=True)),
    "ec2-no-default-vpc": (lambda: aws.ec2.DefaultVpc("default", tags=TAGS),
                           lambda: aws.ec2.Vpc("vpc", cidr_block="10.0.0.0/16", tags=TAGS)),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_rule_flags_the_violation_and_passes_the_fix(name):
    check_case(CASES, name)


# --- protocols and ports as AWS reads them ---------------------------------------------------


@pytest.mark.parametrize("protocol", [-1, "-1", -1.0, "all", "ALL"])
def test_every_spelling_of_all_protocols_opens_all_ports(protocol):
    assert violations(sg(ingress=[rule(protocol, 0, 0, ["0.0.0.0/0"])]),
                      "ec2-no-public-admin-ingress")
    assert violations(sg(egress=[rule(protocol, 0, 0, ["0.0.0.0/0"])]), "ec2-no-open-egress")
    assert violations(nacl(acl_rule(protocol=protocol, low=0, high=0)),
                      "ec2-nacl-no-public-admin-ingress")


@pytest.mark.parametrize("protocol, low, high", [
    ("TCP", 22, 22), ("6", 22, 22), (6, 22, 22), ("tcp", -1, -1), ("tcp", 0, 65535)])
def test_tcp_spellings_and_port_ranges_reach_ssh(protocol, low, high):
    assert violations(sg(ingress=[rule(protocol, low, high, ["0.0.0.0/0"])]),
                      "ec2-no-public-admin-ingress")
    assert violations(nacl(acl_rule(protocol=protocol, low=low, high=high)),
                      "ec2-nacl-no-public-admin-ingress")


def test_open_world_all_ports_and_rdp():
    for bad in (rule("-1", 0, 0, ["0.0.0.0/0"]), rule("tcp", 3389, 3389, ["::/0"]),
                rule("tcp", 0, 65535, ["0.0.0.0/0"])):
        assert violations(sg(ingress=[bad]), "ec2-no-public-admin-ingress")
    for fine in (rule("tcp", 80, 80, ["0.0.0.0/0"]), rule("udp", 53, 53, ["0.0.0.0/0"]),
                 rule("icmp", -1, -1, ["0.0.0.0/0"])):
        assert not violations(sg(ingress=[fine]), "ec2-no-public-admin-ingress")


def test_standalone_rule_resources_are_checked():
    def body():
        aws.vpc.SecurityGroupIngressRule("r", security_group_id="sg-1", ip_protocol="-1",
                                         cidr_ipv6="::/0")
    assert violations(body, "ec2-no-public-admin-ingress")


# --- network ACLs -----------------------------------------------------------------------------


def test_nacl_rules_are_read_in_rule_number_order():
    deny_first = nacl(acl_rule(200, "allow", "-1", 0, 0), acl_rule(100, "deny", "-1", 0, 0))
    assert not violations(deny_first, "ec2-nacl-no-public-admin-ingress")
    ssh_denied = nacl(acl_rule(100, "deny"), acl_rule(110, "allow", low=32768, high=65535))
    assert not violations(ssh_denied, "ec2-nacl-no-public-admin-ingress")
    allow_first = nacl(acl_rule(100, "allow", low=3389, high=3389), acl_rule(200, "deny"))
    found = violations(allow_first, "ec2-nacl-no-public-admin-ingress")
    assert found and "RDP (3389)" in found[0].message


def test_nacl_ftp_ports_ipv6_standalone_and_default_acls():
    assert violations(nacl(acl_rule(low=20, high=21)), "ec2-nacl-no-public-admin-ingress")
    v6 = {"rule_no": 100, "action": "allow", "protocol": "tcp", "from_port": 22,
          "to_port": 22, "ipv6_cidr_block": "::/0"}
    assert violations(nacl(v6), "ec2-nacl-no-public-admin-ingress")

    def standalone(egress):
        return lambda: aws.ec2.NetworkAclRule(
            "r", network_acl_id="acl-1", rule_number=100, egress=egress, protocol="tcp",
            rule_action="allow", cidr_block="0.0.0.0/0", from_port=22, to_port=22)
    assert violations(standalone(False), "ec2-nacl-no-public-admin-ingress")
    assert not violations(standalone(True), "ec2-nacl-no-public-admin-ingress")
    default = lambda: aws.ec2.DefaultNetworkAcl(  # noqa: E731
        "d", default_network_acl_id="acl-1", ingress=[acl_rule(protocol="-1", low=0, high=0)])
    assert violations(default, "ec2-nacl-no-public-admin-ingress")


# --- default security groups ----------------------------------------------------------------


def test_an_adopted_default_security_group_with_rules_is_reported():
    found = violations(vpc(default_sg=[rule()]), "ec2-default-security-group-closed")
    assert found and "keeps 1 ingress" in found[0].message


def test_egress_open_to_the_world_on_named_ports_is_reported_unless_allowed():
    https_out = sg(egress=[rule("tcp", 443, 443, ["0.0.0.0/0"])])
    [found] = violations(https_out, "ec2-no-open-egress")
    assert found.message == "open outbound to the internet: tcp 443 to 0.0.0.0/0"
    allowed = {"ec2-no-open-egress": {"allowedWorldEgressPorts": [80, 443]}}
    assert not violations(https_out, "ec2-no-open-egress", allowed)
    wide = sg(egress=[rule("tcp", 440, 450, ["::/0"]), rule("udp", 53, 53, ["0.0.0.0/0"])])
    assert [f.message for f in violations(wide, "ec2-no-open-egress", allowed)] == [
        "open outbound to the internet: tcp 440-450 to ::/0, udp 53 to 0.0.0.0/0"]


def test_a_security_group_used_by_a_component_or_interface_is_attached():
    import pulumi

    def by_component():
        group = sg()()
        pulumi.ComponentResource("awsx:ec2:Vpc", "net", opts=pulumi.ResourceOptions(
            depends_on=[group]))

    assert not violations(by_component, "ec2-security-group-attached")
    # A rule of the group, or another group naming it as a source, does not attach it.
    def rules_only():
        group = sg()()
        aws.vpc.SecurityGroupIngressRule("r", security_group_id=group.id, ip_protocol="tcp",
                                         from_port=443, to_port=443, cidr_ipv4="10.0.0.0/8")
    assert violations(rules_only, "ec2-security-group-attached")


def test_default_subnets_and_ipv6_on_creation_are_public():
    assert violations(lambda: aws.ec2.DefaultSubnet("d", availability_zone="us-east-1a"),
                      "ec2-subnet-no-public-ip-on-launch")
    assert not violations(lambda: aws.ec2.DefaultSubnet(
        "d", availability_zone="us-east-1a", map_public_ip_on_launch=False),
        "ec2-subnet-no-public-ip-on-launch")
    assert violations(lambda: aws.ec2.Subnet(
        "s", vpc_id="vpc-1", cidr_block="10.0.1.0/24", ipv6_cidr_block="2600:1f18::/64",
        assign_ipv6_address_on_creation=True), "ec2-subnet-no-public-ip-on-launch")


def test_nacl_deny_rules_and_inline_subnets():
    deny_all = nacl(acl_rule(action="deny", protocol="-1", low=0, high=0))
    assert not violations(deny_all, "ec2-nacl-no-all-ports")
    assert not violations(lambda: aws.ec2.NetworkAcl("acl", vpc_id="vpc-1",
                                                     subnet_ids=["subnet-1"]),
                          "ec2-nacl-attached")
