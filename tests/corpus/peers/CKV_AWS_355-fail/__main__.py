"""Checkov CKV_AWS_355: fail there.
envkit rule iam-no-resource-star-for-scopable-actions: fail.

Translated from bridgecrewio/checkov@03d5fda (Apache-2.0)
tests/terraform/checks/resource/aws/example_IAMStarResourcePolicyDocument/main.tf
"""

import json

import pulumi_aws as aws

# expected: iam-no-resource-star-for-scopable-actions reports this resource
aws.iam.GroupPolicy(
    "describe-everything",
    group="developers",
    policy=json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": ["ec2:Describe*"], "Resource": "*"}],
        }
    ),
)
