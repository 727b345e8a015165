"""Checkov CKV_AWS_352: fail there.
envkit rule ec2-nacl-no-public-admin-ingress: fail.

Translated from bridgecrewio/checkov@03d5fda (Apache-2.0)
tests/terraform/checks/resource/aws/example_NetworkACLUnrestricted/main.tf
"""

import pulumi_aws as aws

# expected: ec2-nacl-no-public-admin-ingress reports this resource
aws.ec2.NetworkAclRule(
    "all-in",
    network_acl_id="acl-0123456789abcdef0",
    rule_number=200,
    egress=False,
    protocol="-1",
    rule_action="allow",
    cidr_block="0.0.0.0/0",
)
