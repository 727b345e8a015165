"""Checkov CKV2_AWS_12: fail there.
envkit rule ec2-default-security-group-closed: fail.

Translated from bridgecrewio/checkov@03d5fda (Apache-2.0)
tests/terraform/graph/checks/resources/VPCHasRestrictedSG/main.tf
"""

import pulumi_aws as aws

# expected: ec2-default-security-group-closed reports this resource
aws.ec2.Vpc("main", cidr_block="10.0.0.0/16")
