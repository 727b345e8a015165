"""Checkov CKV_AWS_8: fail there.
envkit rule ec2-root-volume-encrypted: fail.

Translated from bridgecrewio/checkov@03d5fda (Apache-2.0)
tests/terraform/checks/resource/aws/example_LaunchConfigurationEBSEncryption/main.tf
"""

import pulumi_aws as aws

# expected: ec2-root-volume-encrypted reports this resource
aws.ec2.LaunchConfiguration(
    "unencrypted",
    image_id="ami-0123456789abcdef0",
    instance_type="t3.micro",
    root_block_device={"encrypted": False},
)
