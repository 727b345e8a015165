"""Checkov CKV_AWS_232: fail there.
envkit rule ec2-nacl-no-public-admin-ingress: fail.

Translated from bridgecrewio/checkov@03d5fda (Apache-2.0)
tests/terraform/checks/resource/aws/example_NetworkACLUnrestrictedIngress22/main.tf
"""

import pulumi_aws as aws

vpc = aws.ec2.Vpc("main", cidr_block="10.0.0.0/16")
# expected: ec2-nacl-no-public-admin-ingress reports this resource
aws.ec2.NetworkAcl(
    "acl",
    vpc_id=vpc.id,
    ingress=[
        {
            "protocol": "tcp",
            "rule_no": 100,
            "action": "allow",
            "cidr_block": "0.0.0.0/0",
            "from_port": 22,
            "to_port": 22,
        }
    ],
)
