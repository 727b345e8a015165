"""Checkov CKV_AWS_352: pass there.
envkit rule ec2-nacl-no-public-admin-ingress: pass.

Translated from bridgecrewio/checkov@03d5fda (Apache-2.0)
tests/terraform/checks/resource/aws/example_NetworkACLUnrestricted/main.tf
"""

import pulumi_aws as aws

aws.ec2.NetworkAclRule(
    "https-in",
    network_acl_id="acl-0123456789abcdef0",
    rule_number=200,
    egress=False,
    protocol="tcp",
    rule_action="allow",
    cidr_block="0.0.0.0/0",
    from_port=443,
    to_port=443,
)
