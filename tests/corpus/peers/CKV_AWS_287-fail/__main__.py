"""Checkov CKV_AWS_287: fail there.
envkit rule iam-no-credentials-exposure: fail.

Translated from bridgecrewio/checkov@03d5fda (Apache-2.0)
tests/terraform/checks/resource/aws/example_IAMCredentialsExposure/main.tf
"""

import json

import pulumi_aws as aws

# expected: iam-no-credentials-exposure reports this resource
aws.iam.GroupPolicy(
    "assume-anything",
    group="developers",
    policy=json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Action": ["sts:AssumeRole", "iam:CreateAccessKey"],
                    "Resource": "*",
                }
            ],
        }
    ),
)
