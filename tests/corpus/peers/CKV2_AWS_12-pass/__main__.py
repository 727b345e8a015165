"""Checkov CKV2_AWS_12: pass there.
envkit rule ec2-default-security-group-closed: pass.

Translated from bridgecrewio/checkov@03d5fda (Apache-2.0)
tests/terraform/graph/checks/resources/VPCHasRestrictedSG/main.tf
"""

import pulumi_aws as aws

vpc = aws.ec2.Vpc("main", cidr_block="10.0.0.0/16")
aws.ec2.DefaultSecurityGroup("default", vpc_id=vpc.id)
