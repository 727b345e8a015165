"""Checkov CKV_AWS_24: fail there.
envkit rule ec2-no-public-admin-ingress: fail.

Translated from bridgecrewio/checkov@03d5fda (Apache-2.0)
tests/terraform/checks/resource/aws/example_SecurityGroupUnrestrictedIngress22/main.tf
"""

import pulumi_aws as aws

# expected: ec2-no-public-admin-ingress reports this resource
aws.ec2.SecurityGroup(
    "ssh-world",
    description="ssh",
    ingress=[
        {
            "protocol": "tcp",
            "from_port": 22,
            "to_port": 22,
            "cidr_blocks": ["0.0.0.0/0"],
            "description": "ssh",
        }
    ],
)
