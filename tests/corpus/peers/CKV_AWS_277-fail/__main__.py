"""Checkov CKV_AWS_277: fail there.
envkit rule ec2-no-public-admin-ingress: fail.

Translated from bridgecrewio/checkov@03d5fda (Apache-2.0)
tests/terraform/checks/resource/aws/example_SecurityGroupUnrestrictedIngressAny/main.tf
"""

import pulumi_aws as aws

# protocol -1 given as a number, as many programs do
# expected: ec2-no-public-admin-ingress reports this resource
aws.ec2.SecurityGroup(
    "all-open",
    description="everything",
    ingress=[
        {
            "protocol": -1,
            "from_port": 0,
            "to_port": 0,
            "cidr_blocks": ["0.0.0.0/0"],
            "description": "all",
        }
    ],
)
