"""Checkov CKV2_AWS_11: fail there.
envkit rule ec2-vpc-flow-logs: fail.

Translated from bridgecrewio/checkov@03d5fda (Apache-2.0)
tests/terraform/graph/checks/resources/VPCHasFlowLog/main.tf
"""

import pulumi_aws as aws

# expected: ec2-vpc-flow-logs reports this resource
aws.ec2.Vpc("main", cidr_block="10.0.0.0/16")
