"""Checkov CKV_AWS_287: pass there.
envkit rule iam-no-credentials-exposure: pass.

Translated from bridgecrewio/checkov@03d5fda (Apache-2.0)
tests/terraform/checks/resource/aws/example_IAMCredentialsExposure/main.tf
"""

import json

import pulumi_aws as aws

aws.iam.GroupPolicy(
    "assume-deployer",
    group="developers",
    policy=json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Action": "sts:AssumeRole",
                    "Resource": "arn:aws:iam::123456789012:role/deployer",
                }
            ],
        }
    ),
)
