"""Checkov CKV_AWS_24: pass there.
envkit rule ec2-no-public-admin-ingress: pass.

Translated from bridgecrewio/checkov@03d5fda (Apache-2.0)
tests/terraform/checks/resource/aws/example_SecurityGroupUnrestrictedIngress22/main.tf
"""

import pulumi_aws as aws

aws.ec2.SecurityGroup(
    "ssh-office",
    description="ssh",
    ingress=[
        {
            "protocol": "tcp",
            "from_port": 22,
            "to_port": 22,
            "cidr_blocks": ["192.168.0.0/16"],
            "description": "ssh",
        }
    ],
)
