"""Checkov CKV_AWS_8: pass there.
envkit rule ec2-root-volume-encrypted: pass.

Translated from bridgecrewio/checkov@03d5fda (Apache-2.0)
tests/terraform/checks/resource/aws/example_LaunchConfigurationEBSEncryption/main.tf
"""

import pulumi_aws as aws

aws.ec2.LaunchConfiguration(
    "encrypted",
    image_id="ami-0123456789abcdef0",
    instance_type="t3.micro",
    root_block_device={"encrypted": True},
    ebs_block_devices=[{"device_name": "/dev/sdb", "encrypted": True}],
)
