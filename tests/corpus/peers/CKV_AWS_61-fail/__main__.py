"""Checkov CKV_AWS_61: fail there.
envkit rule iam-trust-account-needs-condition: fail.

Translated from bridgecrewio/checkov@03d5fda (Apache-2.0)
tests/terraform/checks/resource/aws/example_IAMRoleAllowAssumeFromAccount/main.tf
"""

import json

import pulumi_aws as aws

# expected: iam-trust-account-needs-condition reports this resource
aws.iam.Role(
    "cross-account",
    assume_role_policy=json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"AWS": "arn:aws:iam::123456789012:root"},
                    "Action": "sts:AssumeRole",
                }
            ],
        }
    ),
)
