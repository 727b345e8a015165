"""Checkov CKV_AWS_286: fail there.
envkit rule iam-no-privilege-escalation: fail.

Translated from bridgecrewio/checkov@03d5fda (Apache-2.0)
tests/terraform/checks/resource/aws/example_IAMPrivilegeEscalation/main.tf
"""

import json

import pulumi_aws as aws

# expected: iam-no-privilege-escalation reports this resource
aws.iam.GroupPolicy(
    "escalate",
    group="developers",
    policy=json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Action": ["iam:PassRole", "ec2:RunInstances"], "Resource": "*"}
            ],
        }
    ),
)
