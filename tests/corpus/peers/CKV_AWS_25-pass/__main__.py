"""Checkov CKV_AWS_25: pass there.
envkit rule ec2-no-public-admin-ingress: pass.

Translated from bridgecrewio/checkov@03d5fda (Apache-2.0)
tests/terraform/checks/resource/aws/example_SecurityGroupUnrestrictedIngress3389/main.tf
"""

import pulumi_aws as aws

group = aws.ec2.SecurityGroup("rdp", description="rdp")
aws.vpc.SecurityGroupIngressRule(
    "rdp-office",
    security_group_id=group.id,
    ip_protocol="TCP",
    from_port=3389,
    to_port=3389,
    cidr_ipv4="10.0.0.0/8",
)
