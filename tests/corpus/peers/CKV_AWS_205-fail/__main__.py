"""Checkov CKV_AWS_205: fail there.
envkit rule ec2-ami-not-public: fail.

Translated from bridgecrewio/checkov@03d5fda (Apache-2.0)
tests/terraform/checks/resource/aws/example_AMILaunchIsShared/main.tf
"""

import pulumi_aws as aws

# expected: ec2-ami-not-public reports this resource
aws.ec2.AmiLaunchPermission("public", image_id="ami-0123456789abcdef0", group="all")
