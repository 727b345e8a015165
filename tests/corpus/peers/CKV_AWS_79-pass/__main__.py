"""Checkov CKV_AWS_79: pass there.
envkit rule ec2-imdsv2-required: pass.

Translated from bridgecrewio/checkov@03d5fda (Apache-2.0)
tests/terraform/checks/resource/aws/example_IMDSv1Disabled/main.tf
"""

import pulumi_aws as aws

aws.ec2.LaunchTemplate(
    "imdsv2",
    image_id="ami-0123456789abcdef0",
    metadata_options={"http_endpoint": "enabled", "http_tokens": "required"},
)
