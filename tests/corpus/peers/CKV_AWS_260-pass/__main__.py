"""Checkov CKV_AWS_260: fail there.
envkit rule ec2-no-public-admin-ingress: pass.

Translated from bridgecrewio/checkov@03d5fda (Apache-2.0)
tests/terraform/checks/resource/aws/example_SecurityGroupUnrestrictedIngress80/main.tf
"""

import pulumi_aws as aws

aws.ec2.SecurityGroup(
    "web",
    description="web",
    ingress=[
        {
            "protocol": "tcp",
            "from_port": 80,
            "to_port": 80,
            "cidr_blocks": ["0.0.0.0/0"],
            "description": "http",
        }
    ],
)
