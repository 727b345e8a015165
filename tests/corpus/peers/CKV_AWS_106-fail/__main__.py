"""Checkov CKV_AWS_106: fail there.
envkit rule ec2-ebs-encryption-by-default: fail.

Translated from bridgecrewio/checkov@03d5fda (Apache-2.0)
tests/terraform/checks/resource/aws/example_EBSDefaultEncryption/main.tf
"""

import pulumi_aws as aws

# expected: ec2-ebs-encryption-by-default reports this resource
aws.ebs.EncryptionByDefault("off", enabled=False)
