"""Checkov CKV_AWS_355: pass there.
envkit rule iam-no-resource-star-for-scopable-actions: pass.

Translated from bridgecrewio/checkov@03d5fda (Apache-2.0)
tests/terraform/checks/resource/aws/example_IAMStarResourcePolicyDocument/main.tf
"""

import json

import pulumi_aws as aws

aws.iam.GroupPolicy(
    "list-buckets",
    group="developers",
    policy=json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": ["s3:ListAllMyBuckets"], "Resource": "*"}],
        }
    ),
)
