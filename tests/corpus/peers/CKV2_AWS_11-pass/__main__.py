"""Checkov CKV2_AWS_11: pass there.
envkit rule ec2-vpc-flow-logs: pass.

Translated from bridgecrewio/checkov@03d5fda (Apache-2.0)
tests/terraform/graph/checks/resources/VPCHasFlowLog/main.tf
"""

import pulumi_aws as aws

vpc = aws.ec2.Vpc("main", cidr_block="10.0.0.0/16")
aws.ec2.FlowLog(
    "rejects",
    vpc_id=vpc.id,
    traffic_type="REJECT",
    log_destination_type="s3",
    log_destination="arn:aws:s3:::flow-logs",
)
