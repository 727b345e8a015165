"""Checkov CKV_AWS_277: pass there.
envkit rule ec2-no-public-admin-ingress: pass.

Translated from bridgecrewio/checkov@03d5fda (Apache-2.0)
tests/terraform/checks/resource/aws/example_SecurityGroupUnrestrictedIngressAny/main.tf
"""

import pulumi_aws as aws

aws.ec2.SecurityGroup(
    "https",
    description="https",
    ingress=[
        {
            "protocol": "tcp",
            "from_port": 443,
            "to_port": 443,
            "cidr_blocks": ["0.0.0.0/0"],
            "description": "https",
        }
    ],
)
