"""What holds for every rule of the pack, through pulumi-policy's analyzer servicer, with
inputs produced by real pulumi_aws resources under Pulumi's mocks (the engine's wire form).

Each rule's violating and compliant cases live with its service: test_policy_rules_iam.py,
_ec2.py, _ebs.py, _network.py, _tags.py (the ``CASES`` table there is keyed by rule name)."""

from __future__ import annotations

import subprocess
import sys

import pulumi_aws as aws

from envkit.planner import run_mocked
from envkit.policy.gate import evaluate
from envkit.policy.rules import POLICIES, RULES

from . import (
    test_policy_rules_ebs,
    test_policy_rules_ec2,
    test_policy_rules_iam,
    test_policy_rules_network,
    test_policy_rules_tags,
)
from .policy_helpers import (
    TAGS,
    acl_rule,
    allow,
    doc,
    envkit_made,
    findings,
    group_policy,
    instance,
    launch_template,
    nacl,
    password_policy,
    rule,
    sg,
    users_and_groups,
    violations,
)

SERVICE_CASES = [test_policy_rules_iam.CASES, test_policy_rules_ec2.CASES,
                 test_policy_rules_ebs.CASES, test_policy_rules_network.CASES,
                 test_policy_rules_tags.CASES]


def test_at_least_25_rules_each_with_metadata():
    assert len(RULES) >= 25 and len({r.name for r in RULES}) == len(RULES)
    for r, p in zip(RULES, POLICIES, strict=True):
        assert r.name == p.name and r.name == r.name.lower() and " " not in r.name
        assert r.description and r.remediation and r.controls and p.framework is not None
        assert p.severity is not None and p.enforcement_level is not None
        assert p.remediation_steps == r.remediation and p.tags


def test_every_rule_has_a_case_in_its_services_test_module():
    # iam-access-key-age reads an output (createDate): its cases are in their own test.
    # The classroom rules read a whole class: their cases are in test_classroom_plan.py.
    classroom = {r.name for r in RULES if r.service == "classroom"}
    named = [name for cases in SERVICE_CASES for name in cases]
    assert len(named) == len(set(named))
    assert set(named) | {"iam-access-key-age"} | classroom == {r.name for r in RULES}
    for r in RULES:  # a rule's cases sit in the test module of its service
        if r.service == "classroom":
            continue
        cases = sys.modules[f"{__package__}.test_policy_rules_{r.service}"].CASES
        assert r.name in cases or r.name == "iam-access-key-age", (r.name, r.service)


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
    big = envkit_made(instance(instance_type="m5.large"))
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


def test_component_documents_pass_parliament(basics_plan):
    """Every IAM document envkit generates passes parliament, except one explained finding."""
    from envkit.policy.rules._iamdata import import_parliament

    analyze_policy_string = import_parliament().analyze_policy_string
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
           users_and_groups(admin_mfa=False, console_in_mfa=False, key_for_admin=True,
                            iam_full_on_role=True),
           sg(ingress=[rule(cidrs=["0.0.0.0/0"], description=None)]),
           nacl(acl_rule()), launch_template(metadata_options=None),
           *test_policy_rules_iam.ADMIN_PATHS.values(),
           *(cases[0] for cases in (test_policy_rules_network.CASES[name] for name in (
               "ec2-default-security-group-closed", "ec2-no-security-group-rule-conflicts",
               "ec2-vpc-flow-logs"))),
           test_policy_rules_iam.CASES["iam-one-active-access-key-per-user"][0],
           test_policy_rules_iam.CASES["iam-role-no-policy-management-conflicts"][0]]
    for body in bad:
        recs, _ = run_mocked("lab", "us-east-1", "us-east-1a", body)
        assert sorted(map(key, evaluate(recs))) == sorted(map(key, evaluate(recs, routed=False)))


def test_parliament_loads_without_leaving_a_pkg_resources_stand_in():
    code = ("import sys; from envkit.policy.rules import _iamdata; "
            "found = _iamdata.parliament_findings('{\"Statement\": [{\"Effect\": \"Allow\", "
            "\"Action\": \"s3:GetObject\", \"Resource\": \"*\"}]}'); "
            "print(sorted(i for i, _ in found), 'pkg_resources' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["['NO_VERSION',", "'RESOURCE_STAR']", "False"]


def test_numbers_and_booleans_in_condition_values_are_read_as_aws_reads_them():
    """Valid IAM JSON from a Pulumi program: 3600 and true are condition values AWS takes
    (as the text "3600" and "true"); the rules judge the document instead of failing."""
    numeric = doc(allow("s3:GetObject", "arn:aws:s3:::lab-bucket/*", Condition={
        "NumericLessThan": {"aws:MultiFactorAuthAge": 3600},
        "Bool": {"aws:SecureTransport": True}}))
    found = findings(group_policy(numeric))
    assert not [f for f in found if f.policy == "iam-document-well-formed"]
    as_text = findings(group_policy(numeric.replace("3600", '"3600"').replace("true", '"true"')))
    assert sorted((f.policy, f.kind) for f in found) == \
        sorted((f.policy, f.kind) for f in as_text)
