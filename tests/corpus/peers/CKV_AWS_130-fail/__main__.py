"""Checkov CKV_AWS_130: fail there.
envkit rule ec2-subnet-no-public-ip-on-launch: fail.

Translated from bridgecrewio/checkov@03d5fda (Apache-2.0)
tests/terraform/checks/resource/aws/test_SubnetPublicIP.py
"""

import pulumi_aws as aws

# expected: ec2-subnet-no-public-ip-on-launch reports this resource
aws.ec2.Subnet(
    "public", vpc_id="vpc-0123456789abcdef0", cidr_block="10.0.1.0/24", map_public_ip_on_launch=True
)
