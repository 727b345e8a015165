"""Checkov CKV_AWS_61: fail there.
envkit rule iam-trust-account-needs-condition: pass.

Translated from bridgecrewio/checkov@03d5fda (Apache-2.0)
tests/terraform/checks/resource/aws/example_IAMRoleAllowAssumeFromAccount/main.tf
"""

import json

import pulumi_aws as aws

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
                    "Condition": {"StringEquals": {"sts:ExternalId": "partner-7f3a"}},
                }
            ],
        }
    ),
)
