"""Checkov CKV_AWS_106: pass there.
envkit rule ec2-ebs-encryption-by-default: pass.

Translated from bridgecrewio/checkov@03d5fda (Apache-2.0)
tests/terraform/checks/resource/aws/example_EBSDefaultEncryption/main.tf
"""

import pulumi_aws as aws

aws.ebs.EncryptionByDefault("on", enabled=True)
