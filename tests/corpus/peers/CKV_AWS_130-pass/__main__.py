"""Checkov CKV_AWS_130: pass there.
envkit rule ec2-subnet-no-public-ip-on-launch: pass.

Translated from bridgecrewio/checkov@03d5fda (Apache-2.0)
tests/terraform/checks/resource/aws/test_SubnetPublicIP.py
"""

import pulumi_aws as aws

aws.ec2.Subnet(
    "private",
    vpc_id="vpc-0123456789abcdef0",
    cidr_block="10.0.1.0/24",
    map_public_ip_on_launch=False,
)
