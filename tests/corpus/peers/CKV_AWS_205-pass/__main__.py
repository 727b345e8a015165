"""Checkov CKV_AWS_205: fail there.
envkit rule ec2-ami-not-public: pass.

Translated from bridgecrewio/checkov@03d5fda (Apache-2.0)
tests/terraform/checks/resource/aws/example_AMILaunchIsShared/main.tf
"""

import pulumi_aws as aws

aws.ec2.AmiLaunchPermission(
    "one-account", image_id="ami-0123456789abcdef0", account_id="123456789012"
)
