"""Every rule, violated and satisfied, through pulumi-policy's analyzer servicer, with
inputs produced by real pulumi_aws resources under Pulumi's mocks (the engine's wire form)."""

from __future__ import annotations

import json
import subprocess
import sys

import pulumi_aws as aws
import pytest

from envkit.planner import run_mocked
from envkit.policy.gate import evaluate
from envkit.policy.rules import POLICIES, RULES

TAGS = {"envkit:environment": "lab", "envkit:owner": "me@example.com"}
ADMIN = "arn:aws:iam::aws:policy/AdministratorAccess"
MFA_DENY = json.dumps({"Version": "2012-10-17", "Statement": [{
    "Effect": "Deny", "NotAction": ["iam:EnableMFADevice"], "Resource": "*",
    "Condition": {"BoolIfExists": {"aws:MultiFactorAuthPresent": "false"}}}]})


def doc(*statements):
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def allow(action, resource, **extra):
    return {"Effect": "Allow", "Action": action, "Resource": resource, **extra}


def findings(body, config=None):
    records, _ = run_mocked("lab", "us-east-1", "us-east-1a", body)
    return evaluate(records, config)


def violations(body, rule, config=None):
    return [f for f in findings(body, config) if f.policy == rule and f.kind == "violation"]


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


def sg(ingress=(), egress=(), description="lab group"):
    return lambda: aws.ec2.SecurityGroup("sg", description=description, ingress=list(ingress),
                                         egress=list(egress), tags=TAGS)


def rule(protocol="tcp", low=22, high=22, cidrs=("10.0.0.0/8",), description="why"):
    out = {"protocol": protocol, "from_port": low, "to_port": high, "cidr_blocks": list(cidrs)}
    if description:
        out["description"] = description
    return out


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


def role(principal):
    return lambda: aws.iam.Role("r", assume_role_policy=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": principal,
                                                "Action": "sts:AssumeRole"}]}), tags=TAGS)


SCOPED = "arn:aws:ec2:us-east-1:123456789012:instance/i-0123456789abcdef0"

# rule -> (violating program, compliant program)
CASES = {
    "iam-no-admin-wildcard": (group_policy(doc(allow("*", "*"))),
                              group_policy(doc(allow("ec2:StartInstances", SCOPED)))),
    "iam-no-sensitive-service-wildcard": (
        group_policy(doc(allow("iam:*", "*"))), group_policy(doc(allow("iam:GetUser", "*")))),
    "iam-no-resource-star-for-scopable-actions": (
        group_policy(doc(allow(["ec2:StopInstances"], "*"))),
        group_policy(doc(allow(["ec2:StopInstances"], SCOPED)))),
    "iam-no-not-action-allow": (
        group_policy(doc({"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"})),
        group_policy(doc({"Effect": "Deny", "NotAction": "iam:*", "Resource": "*"}))),
    "iam-no-privilege-escalation": (
        group_policy(doc(allow(["iam:CreatePolicyVersion"], "arn:aws:iam::*:policy/*"))),
        group_policy(doc(allow(["iam:ChangePassword"],
                               "arn:aws:iam::*:user/${aws:username}")))),
    "iam-passrole-restricted": (
        group_policy(doc(allow("iam:PassRole", "*"))),
        group_policy(doc(allow("iam:PassRole", "*", Condition={
            "StringEquals": {"iam:PassedToService": "ec2.amazonaws.com"}})))),
    "iam-trust-not-public": (role({"AWS": "*"}), role({"Service": "ec2.amazonaws.com"})),
    "iam-document-well-formed": (
        lambda: aws.iam.GroupPolicy("p", group="g", policy=json.dumps({"Statement": [
            allow("ec2:StartInstancez", SCOPED)]})),
        group_policy(doc(allow("ec2:StartInstances", SCOPED)))),
    "iam-no-user-policies": (
        lambda: aws.iam.UserPolicyAttachment("x", user="ann", policy_arn=ADMIN),
        lambda: aws.iam.GroupPolicyAttachment("x", group="g", policy_arn=ADMIN)),
    "iam-user-in-group": (users_and_groups(in_group=False), users_and_groups()),
    "iam-admin-policies-need-mfa": (users_and_groups(admin_mfa=False), users_and_groups()),
    "iam-console-users-mfa": (users_and_groups(console_in_mfa=False), users_and_groups()),
    "iam-no-access-keys-for-console-admins": (users_and_groups(key_for_admin=True),
                                              users_and_groups()),
    "iam-password-policy-cis": (password_policy(minimum_password_length=8),
                                password_policy()),
    "no-secrets-in-user-data-or-tags": (
        instance(user_data="#!/bin/sh\nexport AWS_ACCESS_KEY_ID=AKIAABCDEFGHIJKLMNOP\n"),
        instance(user_data="#!/bin/sh\ndnf install -y httpd\n")),
    "ec2-imdsv2-required": (instance(metadata_options={"http_tokens": "optional"}), instance()),
    "ec2-imds-hop-limit": (instance(metadata_options={"http_tokens": "required",
                                                      "http_put_response_hop_limit": 3}),
                           instance()),
    "ec2-root-volume-encrypted": (instance(root_block_device={"encrypted": False}), instance()),
    "ec2-ebs-volume-encrypted": (
        lambda: aws.ebs.Volume("v", availability_zone="us-east-1a", size=8, tags=TAGS),
        lambda: aws.ebs.Volume("v", availability_zone="us-east-1a", size=8, encrypted=True,
                               tags=TAGS)),
    "ec2-no-public-admin-ingress": (sg(ingress=[rule(cidrs=["0.0.0.0/0"])]),
                                    sg(ingress=[rule(cidrs=["203.0.113.0/24"])])),
    "ec2-no-open-egress": (sg(egress=[rule("-1", 0, 0, ["0.0.0.0/0"])]),
                           sg(egress=[rule("tcp", 443, 443, ["0.0.0.0/0"])])),
    "ec2-security-groups-described": (sg(ingress=[rule(description=None)]),
                                      sg(ingress=[rule()])),
    "ec2-instance-profile": (instance(iam_instance_profile=None), instance()),
    "ec2-allowed-instance-types": (instance(instance_type="p4d.24xlarge"), instance()),
    "ec2-public-ip-only-for-web": (
        lambda: (sg(ingress=[rule()])(), aws.ec2.Instance(
            "vm", ami="ami-1", instance_type="t3.micro", associate_public_ip_address=True)),
        lambda: aws.ec2.Instance("vm", ami="ami-1", instance_type="t3.micro",
                                 associate_public_ip_address=False)),
    "ec2-no-unattached-eip": (lambda: aws.ec2.Eip("ip", domain="vpc", tags=TAGS),
                              lambda: aws.ec2.Eip("ip", domain="vpc", instance="i-123",
                                                  tags=TAGS)),
    "ec2-detailed-monitoring": (instance(monitoring=False), instance()),
    "ec2-ami-allowed-owner": (instance(tags={**TAGS, "envkit:ami-owner": "666666666666"}),
                              instance()),
    "stack-required-tags": (lambda: aws.iam.User("u", name="ann"),
                            lambda: aws.iam.User("u", name="ann", tags=TAGS)),
    "stack-expiry-tag": (
        lambda: (aws.iam.User("u", name="ann", tags={**TAGS, "envkit:expires": "2030-01-01"}),
                 aws.iam.User("v", name="bob", tags=TAGS)),
        lambda: aws.iam.User("u", name="ann", tags={**TAGS, "envkit:expires": "2030-01-01"})),
}


def test_at_least_25_rules_each_with_metadata():
    assert len(RULES) >= 25 and len({r.name for r in RULES}) == len(RULES)
    for r, p in zip(RULES, POLICIES, strict=True):
        assert r.name == p.name and r.name == r.name.lower() and " " not in r.name
        assert r.description and r.remediation and r.controls and p.framework is not None
        assert p.severity is not None and p.enforcement_level is not None
        assert p.remediation_steps == r.remediation and p.tags


def test_every_rule_has_a_case():
    # iam-access-key-age reads an output (createDate): its cases are in their own test.
    # The classroom rules read a whole class: their cases are in test_classroom_plan.py.
    from envkit.policy.classroom_rules import CLASSROOM_RULES

    classroom = {r.name for r in CLASSROOM_RULES}
    assert set(CASES) | {"iam-access-key-age"} | classroom == {r.name for r in RULES}


@pytest.mark.parametrize("name", sorted(CASES))
def test_rule_flags_the_violation_and_passes_the_fix(name):
    bad, good = CASES[name]
    assert violations(bad, name), f"{name} missed its violating case"
    assert not violations(good, name), f"{name} flagged its compliant case"


def test_access_key_age_uses_outputs():
    """The age is an output (createDate): unknown in a preview, checked when known."""
    from types import SimpleNamespace

    from envkit.policy.gate import evaluate as run

    def key(created):
        return SimpleNamespace(type="aws:iam/accessKey:AccessKey", name="k", urn="urn:k",
                               parent=None, dependencies=[], custom=True,
                               wire_inputs={"user": "ann", "createDate": created})

    old = [f for f in run([key("2020-01-01T00:00:00Z")]) if f.policy == "iam-access-key-age"]
    assert old and "days old" in old[0].message
    assert not [f for f in run([key("2999-01-01T00:00:00Z")]) if f.policy ==
                "iam-access-key-age"]
    tight = run([key("2020-01-01T00:00:00Z")], {"iam-access-key-age": {
        "maxAccessKeyAgeDays": 100000}})
    assert not [f for f in tight if f.policy == "iam-access-key-age"]


def test_unknown_values_become_a_notice_not_a_crash():
    def body():
        vpc = aws.ec2.Vpc("v", cidr_block="10.0.0.0/16", tags=TAGS)
        aws.ec2.SecurityGroup("sg", description="d", vpc_id=vpc.id,
                              ingress=[{"protocol": "tcp", "from_port": 22, "to_port": 22,
                                        "ipv6_cidr_blocks": [vpc.ipv6_cidr_block],
                                        "description": "x"}],
                              tags=TAGS)
    found = findings(body)
    notices = [f for f in found if f.kind == "notice"]
    assert notices and all("cannot check during preview" in f.message for f in notices)
    assert all(f.level == "advisory" for f in notices)


def test_enforcement_level_overrides():
    bad = instance(monitoring=False)
    assert violations(bad, "ec2-detailed-monitoring")[0].level == "advisory"
    raised = violations(bad, "ec2-detailed-monitoring", {"ec2-detailed-monitoring": "mandatory"})
    assert raised[0].level == "mandatory"
    assert not violations(bad, "ec2-detailed-monitoring",
                          {"ec2-detailed-monitoring": {"enforcementLevel": "disabled"}})
    everything = violations(bad, "ec2-detailed-monitoring", {"all": "mandatory"})
    assert everything[0].level == "mandatory"


def test_config_thresholds():
    big = instance(instance_type="m5.large")
    assert violations(big, "ec2-allowed-instance-types")
    assert not violations(big, "ec2-allowed-instance-types", {
        "ec2-allowed-instance-types": {"allowedInstanceTypes": ["m5.*"]}})
    short = password_policy(minimum_password_length=12)
    assert violations(short, "iam-password-policy-cis")
    assert not violations(short, "iam-password-policy-cis", {
        "iam-password-policy-cis": {"minimumPasswordLength": 12}})
    office = sg(ingress=[rule(cidrs=["198.51.100.0/24"])])
    assert not violations(office, "ec2-no-public-admin-ingress")
    assert violations(office, "ec2-no-public-admin-ingress", {
        "ec2-no-public-admin-ingress": {"allowedSshCidrs": ["203.0.113.0/24"]}})


def test_remediation_fixes_imds_and_encryption():
    bad = instance(metadata_options={"http_tokens": "optional"},
                   root_block_device={"encrypted": False})
    config = {"ec2-imdsv2-required": "remediate", "ec2-root-volume-encrypted": "remediate"}
    found = findings(bad, config)
    fixed = {f.policy for f in found if f.kind == "remediation"}
    assert fixed == {"ec2-imdsv2-required", "ec2-root-volume-encrypted"}
    assert not [f for f in found if f.kind == "violation" and f.policy in fixed]


def test_open_world_all_ports_and_rdp():
    for bad in (rule("-1", 0, 0, ["0.0.0.0/0"]), rule("tcp", 3389, 3389, ["::/0"]),
                rule("tcp", 0, 65535, ["0.0.0.0/0"])):
        assert violations(sg(ingress=[bad]), "ec2-no-public-admin-ingress")
    assert not violations(sg(ingress=[rule("tcp", 80, 80, ["0.0.0.0/0"])]),
                          "ec2-no-public-admin-ingress")


def test_standalone_rule_resources_are_checked():
    def body():
        aws.vpc.SecurityGroupIngressRule("r", security_group_id="sg-1", ip_protocol="tcp",
                                         from_port=22, to_port=22, cidr_ipv4="0.0.0.0/0")
    assert violations(body, "ec2-no-public-admin-ingress")


def test_component_documents_pass_parliament(basics_plan):
    """Every IAM document envkit generates passes parliament, except one explained finding."""
    from parliament import analyze_policy_string

    known_false_positive = {
        # The require-MFA policy lets a user manage their own MFA device and password; they
        # are scoped to arn:...:user/${aws:username}, which parliament cannot see through.
        ("aws-basics-group-administrators-require-mfa", "PERMISSIONS_MANAGEMENT_ACTIONS"),
        # Trust policies are resource policies (Principal, no Resource); parliament only
        # knows identity policies and calls any such document MALFORMED.
        ("aws-basics-role-web-server", "MALFORMED"),
    }
    checked = 0
    for r in basics_plan.resources:
        for key in ("policy", "assumeRolePolicy"):
            raw = r.inputs.get(key)
            if not isinstance(raw, str):
                continue
            checked += 1
            issues = {f.issue for f in analyze_policy_string(
                raw, include_community_auditors=True).findings}
            assert {(r.name, i) for i in issues} <= known_false_positive, (r.name, issues)
    assert checked >= 3


def test_shipped_labs_have_no_mandatory_violations():
    from envkit.policy.gate import check

    from .conftest import LABS

    for lab in sorted(LABS.glob("*.yaml")):
        report = check(lab)
        assert not report.mandatory, (lab.name, [f.to_dict() for f in report.mandatory])


def test_policy_pack_main_only_builds_the_pack():
    from .conftest import ROOT

    text = (ROOT / "policies" / "__main__.py").read_text()
    assert "from envkit.policy.rules import PACK_NAME, POLICIES" in text
    assert "def " not in text
    assert (ROOT / "policies" / "PulumiPolicy.yaml").is_file()
    assert (ROOT / "policies" / "requirements.txt").is_file()


def test_routing_gives_the_engines_verdicts(basics_plan):
    """The gate skips analyzer calls that cannot produce findings; the verdicts must equal
    sending every resource to every policy, as the engine does."""
    def key(f):
        return (f.policy, f.urn, f.kind, f.level, f.message)

    resources = basics_plan.resources
    assert sorted(map(key, evaluate(resources))) == sorted(
        map(key, evaluate(resources, routed=False)))
    bad = [instance(metadata_options={"http_tokens": "optional"}, monitoring=False),
           users_and_groups(admin_mfa=False, console_in_mfa=False, key_for_admin=True),
           sg(ingress=[rule(cidrs=["0.0.0.0/0"], description=None)])]
    for body in bad:
        recs, _ = run_mocked("lab", "us-east-1", "us-east-1a", body)
        assert sorted(map(key, evaluate(recs))) == sorted(map(key, evaluate(recs, routed=False)))


def test_parliament_loads_without_leaving_a_pkg_resources_stand_in():
    code = ("import sys; from envkit.policy import rules; "
            "found = rules._parliament('{\"Statement\": [{\"Effect\": \"Allow\", "
            "\"Action\": \"s3:GetObject\", \"Resource\": \"*\"}]}'); "
            "print(sorted(i for i, _ in found), 'pkg_resources' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["['NO_VERSION',", "'RESOURCE_STAR']", "False"]
