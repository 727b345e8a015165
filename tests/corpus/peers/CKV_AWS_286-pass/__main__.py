"""Checkov CKV_AWS_286: pass there.
envkit rule iam-no-privilege-escalation: pass.

Translated from bridgecrewio/checkov@03d5fda (Apache-2.0)
tests/terraform/checks/resource/aws/example_IAMPrivilegeEscalation/main.tf
"""

import json

import pulumi_aws as aws

aws.iam.GroupPolicy(
    "start-stop",
    group="developers",
    policy=json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Action": ["ec2:StartInstances", "ec2:StopInstances"],
                    "Resource": "arn:aws:ec2:*:*:instance/*",
                }
            ],
        }
    ),
)
