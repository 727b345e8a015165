"""Checkov CKV_AWS_274: fail there.
envkit rule iam-no-admin-for-roles-or-users: fail.

Translated from bridgecrewio/checkov@03d5fda (Apache-2.0)
tests/terraform/checks/resource/aws/example_IAMManagedAdminPolicy/IAMManagedAdminPolicy.tf
"""

import json

import pulumi_aws as aws

role = aws.iam.Role(
    "ops",
    assume_role_policy=json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"Service": "ec2.amazonaws.com"},
                    "Action": "sts:AssumeRole",
                }
            ],
        }
    ),
)
# expected: iam-no-admin-for-roles-or-users reports this resource
aws.iam.RolePolicyAttachment(
    "ops-admin", role=role.name, policy_arn="arn:aws:iam::aws:policy/AdministratorAccess"
)
