"""Checkov CKV_AWS_79: fail there.
envkit rule ec2-imdsv2-required: fail.

Translated from bridgecrewio/checkov@03d5fda (Apache-2.0)
tests/terraform/checks/resource/aws/example_IMDSv1Disabled/main.tf
"""

import pulumi_aws as aws

# expected: ec2-imdsv2-required reports this resource
aws.ec2.LaunchTemplate(
    "imdsv1",
    image_id="ami-0123456789abcdef0",
    metadata_options={"http_endpoint": "enabled", "http_tokens": "optional"},
)
