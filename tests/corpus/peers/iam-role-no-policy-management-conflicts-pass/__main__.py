"""AWSGuard iam-role-no-policy-management-conflicts: pass there.
envkit rule iam-role-no-policy-management-conflicts: pass.

Translated from pulumi/pulumi-policy-aws@4355f3b (Apache-2.0)
src/iam.ts
"""

import json

import pulumi_aws as aws

role = aws.iam.Role(
    "app",
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
aws.iam.RolePolicyAttachment(
    "app-ssm", role=role.name, policy_arn="arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore"
)
