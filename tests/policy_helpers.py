"""Helpers for the policy rule tests: small pulumi_aws programs, run under Pulumi's mocks and
evaluated through pulumi-policy's analyzer servicer, exactly as the gate does."""

from __future__ import annotations

import base64
import gzip
import json

import pulumi
import pulumi_aws as aws

from envkit.planner import run_mocked
from envkit.policy.gate import evaluate

TAGS = {"envkit:environment": "lab", "envkit:owner": "me@example.com"}
ADMIN = "arn:aws:iam::aws:policy/AdministratorAccess"
READ_ONLY = "arn:aws:iam::aws:policy/ReadOnlyAccess"
MFA_DENY = json.dumps({"Version": "2012-10-17", "Statement": [{
    "Effect": "Deny", "NotAction": ["iam:EnableMFADevice"], "Resource": "*",
    "Condition": {"BoolIfExists": {"aws:MultiFactorAuthPresent": "false"}}}]})
SCOPED = "arn:aws:ec2:us-east-1:123456789012:instance/i-0123456789abcdef0"
ACCESS_KEY_LINE = "export AWS_ACCESS_KEY_ID=AKIAABCDEFGHIJKLMNOP\n"
TRUST_EC2 = json.dumps({"Version": "2012-10-17", "Statement": [{
    "Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"},
    "Action": "sts:AssumeRole"}]})


def doc(*statements):
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def allow(action, resource, **extra):
    return {"Effect": "Allow", "Action": action, "Resource": resource, **extra}


def b64(text: str, compress: bool = False) -> str:
    data = text.encode()
    return base64.b64encode(gzip.compress(data) if compress else data).decode()


def findings(body, config=None):
    records, _ = run_mocked("lab", "us-east-1", "us-east-1a", body)
    return evaluate(records, config)


def violations(body, rule, config=None):
    return [f for f in findings(body, config) if f.policy == rule and f.kind == "violation"]


def envkit_made(body):
    """``body`` as a program envkit wrote: it also declares one of envkit's components."""
    def program():
        pulumi.ComponentResource("envkit:iam:IamLab", "lab")
        return body()
    return program


def group_policy(document):
    return lambda: aws.iam.GroupPolicy("p", group="g", policy=document)


def instance(**kwargs):
    args = {"ami": "ami-0d27e0fb3bac4d724", "instance_type": "t3.micro",
            "metadata_options": {"http_tokens": "required", "http_put_response_hop_limit": 1},
            "root_block_device": {"encrypted": True}, "monitoring": True,
            "iam_instance_profile": "profile",
            "tags": {**TAGS, "envkit:ami-owner": "137112412989"}}
    args.update(kwargs)
    return lambda: aws.ec2.Instance("vm", **args)


def launch_template(**kwargs):
    args = {"image_id": "ami-0d27e0fb3bac4d724", "instance_type": "t3.micro",
            "metadata_options": {"http_tokens": "required", "http_put_response_hop_limit": 1},
            "block_device_mappings": [{"device_name": "/dev/xvda",
                                       "ebs": {"encrypted": "true", "volume_size": 8}}],
            "tags": TAGS}
    args.update(kwargs)
    return lambda: aws.ec2.LaunchTemplate("lt", **args)


def launch_configuration(**kwargs):
    args = {"image_id": "ami-0d27e0fb3bac4d724", "instance_type": "t3.micro",
            "metadata_options": {"http_tokens": "required", "http_put_response_hop_limit": 1},
            "root_block_device": {"encrypted": True}}
    args.update(kwargs)
    return lambda: aws.ec2.LaunchConfiguration("lc", **args)


def sg(ingress=(), egress=(), description="lab group"):
    return lambda: aws.ec2.SecurityGroup("sg", description=description, ingress=list(ingress),
                                         egress=list(egress), tags=TAGS)


def rule(protocol="tcp", low=22, high=22, cidrs=("10.0.0.0/8",), description="why"):
    out = {"protocol": protocol, "from_port": low, "to_port": high, "cidr_blocks": list(cidrs)}
    if description:
        out["description"] = description
    return out


def nacl(*ingress):
    return lambda: aws.ec2.NetworkAcl("acl", vpc_id="vpc-1", ingress=list(ingress), tags=TAGS)


def acl_rule(number=100, action="allow", protocol="tcp", low=22, high=22, cidr="0.0.0.0/0"):
    return {"rule_no": number, "action": action, "protocol": protocol, "from_port": low,
            "to_port": high, "cidr_block": cidr}


def users_and_groups(*, admin_mfa=True, console_in_mfa=True, key_for_admin=False,
                     in_group=True, iam_full_on_role=False):
    def body():
        aws.iam.User("u", name="ann", tags=TAGS)
        aws.iam.Group("admins", name="admins")
        aws.iam.GroupPolicyAttachment("a", group="admins", policy_arn=ADMIN)
        if admin_mfa:
            aws.iam.GroupPolicy("mfa", group="admins", policy=MFA_DENY)
        if in_group:
            aws.iam.UserGroupMembership("m", user="ann", groups=["admins"])
        if console_in_mfa:
            aws.iam.UserLoginProfile("c", user="ann")
        else:
            aws.iam.User("v", name="bob", tags=TAGS)
            aws.iam.UserGroupMembership("mb", user="bob", groups=["readers"])
            aws.iam.UserLoginProfile("cb", user="bob")
        if key_for_admin:
            aws.iam.UserLoginProfile("c2", user="ann")
            aws.iam.AccessKey("k", user="ann")
        if iam_full_on_role:
            aws.iam.RolePolicyAttachment(
                "r", role="ops", policy_arn="arn:aws:iam::aws:policy/IAMFullAccess")
    return body


def password_policy(**overrides):
    args = {"minimum_password_length": 14, "password_reuse_prevention": 24,
            "require_symbols": True, "require_numbers": True,
            "require_uppercase_characters": True, "require_lowercase_characters": True,
            "max_password_age": 90}
    args.update(overrides)
    return lambda: aws.iam.AccountPasswordPolicy("pp", **args)


def trust(principal, **extra):
    return json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": principal, "Action": "sts:AssumeRole", **extra}]})


def role(principal, **extra):
    return lambda: aws.iam.Role("r", assume_role_policy=trust(principal, **extra), tags=TAGS)


def check_case(cases, name):
    """A rule flags its violating program and passes its compliant one (under the policy
    config a case names third, for rules that are off by default)."""
    bad, good, *config = cases[name]
    config = config[0] if config else None
    assert violations(bad, name, config), f"{name} missed its violating case"
    assert not violations(good, name, config), f"{name} flagged its compliant case"
