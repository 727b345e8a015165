"""EC2 rules (envkit/policy/rules/ec2.py): instances, launch templates and launch
configurations, each violated and satisfied through the analyzer."""

from __future__ import annotations

import pulumi_aws as aws
import pytest

from .policy_helpers import (
    ACCESS_KEY_LINE,
    TAGS,
    b64,
    check_case,
    envkit_made,
    findings,
    instance,
    launch_configuration,
    launch_template,
    rule,
    sg,
    violations,
)

# rule -> (violating program, compliant program)
CASES = {
    "no-secrets-in-user-data-or-tags": (
        instance(user_data="#!/bin/sh\n" + ACCESS_KEY_LINE),
        instance(user_data="#!/bin/sh\ndnf install -y httpd\n")),
    "ec2-imdsv2-required": (instance(metadata_options={"http_tokens": "optional"}), instance()),
    "ec2-imds-hop-limit": (instance(metadata_options={"http_tokens": "required",
                                                      "http_put_response_hop_limit": 3}),
                           instance()),
    "ec2-root-volume-encrypted": (instance(root_block_device={"encrypted": False}), instance()),
    "ec2-instance-profile": (instance(iam_instance_profile=None), instance()),
    "ec2-allowed-instance-types": (envkit_made(instance(instance_type="p4d.24xlarge")),
                                   envkit_made(instance())),
    "ec2-public-ip-only-for-web": (
        lambda: (sg(ingress=[rule()])(), aws.ec2.Instance(
            "vm", ami="ami-1", instance_type="t3.micro", associate_public_ip_address=True)),
        lambda: aws.ec2.Instance("vm", ami="ami-1", instance_type="t3.micro",
                                 associate_public_ip_address=False)),
    "ec2-no-unattached-eip": (lambda: aws.ec2.Eip("ip", domain="vpc", tags=TAGS),
                              lambda: aws.ec2.Eip("ip", domain="vpc", instance="i-123",
                                                  tags=TAGS)),
    "ec2-detailed-monitoring": (instance(monitoring=False), instance()),
    "ec2-ami-allowed-owner": (instance(tags={**TAGS, "envkit:ami-owner": "666666666666"}),
                              instance()),
    "ec2-ami-encrypted": (
        lambda: aws.ec2.AmiCopy("copy", source_ami_id="ami-1", source_ami_region="us-east-1"),
        lambda: aws.ec2.AmiCopy("copy", source_ami_id="ami-1", source_ami_region="us-east-1",
                                encrypted=True)),
    "ec2-ami-not-public": (
        lambda: aws.ec2.AmiLaunchPermission("p", image_id="ami-1", group="all"),
        lambda: aws.ec2.AmiLaunchPermission("p", image_id="ami-1", account_id="123456789012")),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_rule_flags_the_violation_and_passes_the_fix(name):
    check_case(CASES, name)


# --- launch templates and launch configurations ---------------------------------------------

LAUNCHERS = {"launch template": launch_template, "launch configuration": launch_configuration}


@pytest.mark.parametrize("kind", sorted(LAUNCHERS))
def test_imdsv2_is_required_of_what_launches_instances(kind):
    make = LAUNCHERS[kind]
    assert violations(make(metadata_options={"http_tokens": "optional"}),
                      "ec2-imdsv2-required")
    assert violations(make(metadata_options=None), "ec2-imdsv2-required")
    assert not violations(make(), "ec2-imdsv2-required")
    # No metadata service at all is safe too.
    assert not violations(make(metadata_options={"http_endpoint": "disabled"}),
                          "ec2-imdsv2-required")
    assert violations(make(metadata_options={"http_tokens": "required",
                                             "http_put_response_hop_limit": 2}),
                      "ec2-imds-hop-limit")


def test_launch_configuration_volumes_are_encrypted():
    def lc(**kwargs):
        return violations(launch_configuration(**kwargs), "ec2-root-volume-encrypted")

    assert lc(root_block_device=None)  # AWS would make an unencrypted root volume
    assert lc(root_block_device={"encrypted": False})
    assert lc(ebs_block_devices=[{"device_name": "/dev/sdb", "encrypted": False}])
    assert not lc()
    # A volume made from a snapshot takes the snapshot's encryption.
    assert not lc(ebs_block_devices=[{"device_name": "/dev/sdb", "snapshot_id": "snap-1"}])


def test_launch_template_volumes_are_encrypted():
    def lt(**kwargs):
        return violations(launch_template(**kwargs), "ec2-root-volume-encrypted")

    unencrypted = [{"device_name": "/dev/xvda", "ebs": {"encrypted": "false"}}]
    assert lt(block_device_mappings=unencrypted)
    assert lt(block_device_mappings=None)  # the AMI decides: not provably encrypted
    assert not lt()


def test_remediation_encrypts_a_launch_configurations_root_volume():
    found = findings(launch_configuration(root_block_device={"encrypted": False}),
                     {"ec2-root-volume-encrypted": "remediate"})
    assert {f.kind for f in found if f.policy == "ec2-root-volume-encrypted"} == {"remediation"}


SECRET_SCRIPT = "#!/bin/sh\n" + ACCESS_KEY_LINE
USER_DATA = {
    "instance user_data_base64": instance(user_data_base64=b64(SECRET_SCRIPT)),
    "instance gzip user_data_base64": instance(user_data_base64=b64(SECRET_SCRIPT, True)),
    "launch template user_data (base64)": launch_template(user_data=b64(SECRET_SCRIPT)),
    "launch configuration user_data": launch_configuration(user_data=SECRET_SCRIPT),
    "launch configuration user_data_base64": launch_configuration(
        user_data_base64=b64(SECRET_SCRIPT)),
}


@pytest.mark.parametrize("where", sorted(USER_DATA))
def test_secrets_are_found_in_user_data_however_encoded(where):
    found = violations(USER_DATA[where], "no-secrets-in-user-data-or-tags")
    assert found and "an AWS access key id" in found[0].message


def test_base64_user_data_without_secrets_passes():
    assert not violations(launch_template(user_data=b64("#!/bin/sh\ndnf install -y httpd\n")),
                          "no-secrets-in-user-data-or-tags")


def test_public_ip_on_a_launch_template_without_web_ingress_is_reported():
    body = launch_template(network_interfaces=[{"associate_public_ip_address": "true"}])
    assert violations(body, "ec2-public-ip-only-for-web")


# --- envkit's own conventions on foreign programs -------------------------------------------


def test_envkit_conventions_are_advisory_on_foreign_programs():
    """The AMI-owner rule (an envkit tag) blocks an envkit spec but only advises a program
    envkit did not write; security rules keep their level on both."""
    from envkit.policy.gate import check_spec

    from .conftest import minimal

    config = {"ec2-ami-allowed-owner": {"allowedAmiOwners": ["999999999999"]}}
    spec = minimal(ec2={"network": "default", "instances": {"web": {
        "ami": "amazon-linux-2023", "type": "t3.micro"}}})
    envkit_made = [f for f in check_spec(spec, config).findings
                   if f.policy == "ec2-ami-allowed-owner"]
    assert envkit_made and {f.level for f in envkit_made} == {"mandatory"}

    foreign = violations(instance(tags={**TAGS, "envkit:ami-owner": "666666666666"},
                                  metadata_options={"http_tokens": "optional"}),
                         "ec2-ami-allowed-owner")
    assert foreign and {f.level for f in foreign} == {"advisory"}
    assert violations(instance(metadata_options={"http_tokens": "optional"}),
                      "ec2-imdsv2-required")[0].level == "mandatory"


def test_an_elastic_ip_used_by_a_nat_gateway_is_attached():
    def nat():
        ip = aws.ec2.Eip("ip", domain="vpc", tags=TAGS)
        aws.ec2.NatGateway("nat", subnet_id="subnet-1", allocation_id=ip.id, tags=TAGS)

    assert not violations(nat, "ec2-no-unattached-eip")


def test_an_ami_registered_with_an_unencrypted_volume_is_reported():
    def ami(encrypted):
        return lambda: aws.ec2.Ami("img", name="lab", root_device_name="/dev/xvda",
                                   ebs_block_devices=[{"device_name": "/dev/xvda",
                                                       "volume_size": 8,
                                                       "encrypted": encrypted}])
    assert violations(ami(False), "ec2-ami-encrypted")
    assert not violations(ami(True), "ec2-ami-encrypted")


def test_web_servers_lose_their_public_ip_allowance_when_configured():
    def web():
        group = sg(ingress=[rule("tcp", 443, 443, ["0.0.0.0/0"])])()
        aws.ec2.Instance("vm", ami="ami-1", instance_type="t3.micro",
                         associate_public_ip_address=True, vpc_security_group_ids=[group.id])

    assert not violations(web, "ec2-public-ip-only-for-web")
    strict = {"ec2-public-ip-only-for-web": {"allowPublicIpForWeb": False}}
    [found] = violations(web, "ec2-public-ip-only-for-web", strict)
    assert "serves http/https from a public IP" in found.message


def test_lab_sized_instance_types_are_envkits_convention_not_a_foreign_programs():
    """A program envkit did not write is not held to the lab-sized list; a pipeline's own
    allowedInstanceTypes applies to it."""
    def big():
        return aws.ec2.Instance("kali", ami="ami-0123456789abcdef0",
                                instance_type="i3.16xlarge")

    assert not violations(big, "ec2-allowed-instance-types")
    assert violations(envkit_made(big), "ec2-allowed-instance-types")
    found = violations(big, "ec2-allowed-instance-types",
                       {"ec2-allowed-instance-types": {"allowedInstanceTypes": ["t3.*"]}})
    assert [f.message for f in found] == ["instance type i3.16xlarge is not in the allowed list"]
