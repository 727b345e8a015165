"""Checkov CKV_AWS_25: fail there.
envkit rule ec2-no-public-admin-ingress: fail.

Translated from bridgecrewio/checkov@03d5fda (Apache-2.0)
tests/terraform/checks/resource/aws/example_SecurityGroupUnrestrictedIngress3389/main.tf
"""

import pulumi_aws as aws

group = aws.ec2.SecurityGroup("rdp", description="rdp")
# expected: ec2-no-public-admin-ingress reports this resource
aws.vpc.SecurityGroupIngressRule(
    "rdp-world",
    security_group_id=group.id,
    ip_protocol="TCP",
    from_port=3389,
    to_port=3389,
    cidr_ipv4="0.0.0.0/0",
)
