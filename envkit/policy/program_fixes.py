"""How to fix each rule's finding in a Pulumi Python program: the pulumi_aws argument to set.

A rule's own ``remediation`` speaks the envkit spec's language (spec keys such as
``iam.password_policy`` or ``instances.NAME.role``); a finding on a Pulumi program points
at a pulumi_aws call instead, so the gate shows the text below. A rule may also carry its
own ``program_remediation`` attribute, which wins; a rule with neither falls back to its
``remediation``.
"""

from __future__ import annotations

from typing import Any

PROGRAM_REMEDIATION: dict[str, str] = {
    "iam-no-admin-wildcard":
        'Replace Action "*" on Resource "*" with the actions and resource ARNs the workload '
        'needs (aws.iam.get_policy_document(statements=[{"actions": [...], "resources": '
        "[...]}])); for administrators attach arn:aws:iam::aws:policy/AdministratorAccess to "
        "a group that enforces MFA.",
    "iam-no-sensitive-service-wildcard":
        'List the individual actions ("iam:GetUser", "kms:Decrypt", ...) in the statement\'s '
        'actions instead of "iam:*", "sts:*", "kms:*" or "organizations:*".',
    "iam-no-resource-star-for-scopable-actions":
        'Give the statement resources=[...] ARNs (bucket.arn, f"{table.arn}/*") or '
        'conditions=[...] instead of resources=["*"].',
    "iam-no-not-action-allow":
        "Replace not_actions / not_resources / not_principals in Allow statements with "
        "explicit actions and resources.",
    "iam-no-privilege-escalation":
        "Remove the escalation actions from the statement, or set its resources to "
        '"arn:aws:iam::*:user/${aws:username}".',
    "iam-passrole-restricted":
        'Give the iam:PassRole statement resources=[role.arn], or conditions=[{"test": '
        '"StringEquals", "variable": "iam:PassedToService", "values": '
        '["ec2.amazonaws.com"]}].',
    "iam-trust-not-public":
        "In aws.iam.Role(assume_role_policy=...), name the principal: "
        '{"Service": "ec2.amazonaws.com"} or {"AWS": "arn:aws:iam::ACCOUNT:root"} with a '
        'condition, never "*".',
    "iam-document-well-formed":
        'Add "Version": "2012-10-17" to the policy JSON, fix misspelled actions and use '
        "resource ARNs of each action's resource type.",
    "iam-no-user-policies":
        "Attach the policy to a group (aws.iam.GroupPolicyAttachment(group=..., "
        "policy_arn=...)) and add the user with aws.iam.UserGroupMembership, instead of "
        "aws.iam.UserPolicy / UserPolicyAttachment.",
    "iam-user-in-group":
        "Add the user to a group that carries its permissions: "
        "aws.iam.UserGroupMembership(user=user.name, groups=[group.name]).",
    "iam-admin-policies-need-mfa":
        "Attach admin policies only to a group that also has an aws.iam.GroupPolicy denying "
        'everything unless "aws:MultiFactorAuthPresent" is true, or attach a narrower policy.',
    "iam-console-users-mfa":
        "Put users that have an aws.iam.UserLoginProfile in a group whose aws.iam.GroupPolicy "
        'denies everything unless "aws:MultiFactorAuthPresent" is true.',
    "iam-no-access-keys-for-console-admins":
        "Remove the aws.iam.AccessKey of console administrators; they use the console or "
        "short-lived credentials (SSO, sts:AssumeRole).",
    "iam-access-key-age":
        "Rotate the key: create a new aws.iam.AccessKey, switch to it, delete the old one.",
    "iam-password-policy-cis":
        "aws.iam.AccountPasswordPolicy(minimum_password_length=14, require_symbols=True, "
        "require_numbers=True, require_uppercase_characters=True, "
        "require_lowercase_characters=True, password_reuse_prevention=24, "
        "max_password_age=90).",
    "no-secrets-in-user-data-or-tags":
        "Take the credentials out of user_data and tags: give the instance "
        "iam_instance_profile=... and read secrets from Secrets Manager or SSM Parameter "
        "Store at boot.",
    "ec2-imdsv2-required":
        'aws.ec2.Instance(metadata_options={"http_tokens": "required"}) (the same argument '
        "on aws.ec2.LaunchTemplate).",
    "ec2-imds-hop-limit":
        'metadata_options={"http_put_response_hop_limit": 1} on the instance or launch '
        "template.",
    "ec2-root-volume-encrypted":
        'aws.ec2.Instance(root_block_device={"encrypted": True}).',
    "ec2-ebs-volume-encrypted":
        "aws.ebs.Volume(encrypted=True), or turn on aws.ebs.EncryptionByDefault(enabled=True).",
    "ec2-no-public-admin-ingress":
        'Narrow the rule\'s cidr_blocks (ingress=[{..., "cidr_blocks": ["203.0.113.0/24"]}], '
        "or cidr_ipv4 on aws.vpc.SecurityGroupIngressRule) to your office or VPN range; use "
        "SSM Session Manager instead of open SSH or RDP.",
    "ec2-no-open-egress":
        'Replace the all-traffic egress (protocol "-1" to 0.0.0.0/0) with the ports '
        'instances need: egress=[{"protocol": "tcp", "from_port": 443, "to_port": 443, '
        '"cidr_blocks": ["0.0.0.0/0"]}].',
    "ec2-security-groups-described":
        "Give aws.ec2.SecurityGroup(description=...) and each rule's description the reason "
        "it exists.",
    "ec2-instance-profile":
        "aws.ec2.Instance(iam_instance_profile=profile.name), with an "
        "aws.iam.InstanceProfile for a role that ec2.amazonaws.com may assume.",
    "ec2-allowed-instance-types":
        "Set instance_type to an allowed type, or widen allowedInstanceTypes with "
        "--policy-config.",
    "ec2-public-ip-only-for-web":
        "aws.ec2.Instance(associate_public_ip_address=False) for instances that serve "
        "nothing to the internet.",
    "ec2-no-unattached-eip":
        "Attach the address (aws.ec2.Eip(instance=...) or aws.ec2.EipAssociation) or remove "
        "it.",
    "ec2-detailed-monitoring":
        "aws.ec2.Instance(monitoring=True).",
    "ec2-ami-allowed-owner":
        "Look the image up with aws.ec2.get_ami(owners=[...]) from an allowed publisher, or "
        "add its owner to allowedAmiOwners with --policy-config.",
    "stack-required-tags":
        'Tag every resource with "envkit:environment" and "envkit:owner": tags={...} on each '
        'resource, or once with aws.Provider(default_tags={"tags": {...}}).',
    "stack-expiry-tag":
        'Tag every resource with "envkit:expires" (an ISO date), e.g. once with '
        'aws.Provider(default_tags={"tags": {"envkit:expires": "..."}}).',
    "iam-no-service-wildcard":
        'List the actions the workload calls ("s3:GetObject", "s3:PutObject", ...) in the '
        'statement\'s actions instead of "s3:*".',
    "iam-no-credentials-exposure":
        "Give the statement resources=[...] naming the roles, users or keys it may touch "
        '(role.arn), or conditions=[...], instead of resources=["*"].',
    "iam-trust-account-needs-condition":
        "In aws.iam.Role(assume_role_policy=...), trust the role or user that needs it "
        '({"AWS": other_role.arn}), or add "Condition": {"StringEquals": '
        '{"sts:ExternalId": ...}}; list your own accounts in the trustedAccounts config.',
    "iam-no-admin-for-roles-or-users":
        "Give the aws.iam.Role or aws.iam.User a policy with the actions it needs instead of "
        "AdministratorAccess (managed_policy_arns, RolePolicyAttachment, inline policies); "
        "people who administer the account get it through a group that enforces MFA.",
    "iam-one-active-access-key-per-user":
        'Keep one active aws.iam.AccessKey per user; set status="Inactive" on the key being '
        "rotated out, then delete it.",
    "iam-role-no-policy-management-conflicts":
        "Keep the role's policies either on aws.iam.Role (managed_policy_arns, "
        "inline_policies) or in aws.iam.RolePolicy / RolePolicyAttachment resources, not both.",
    "ec2-ami-not-public":
        "Give aws.ec2.AmiLaunchPermission an account_id (or organization_arn) instead of "
        'group="all".',
    "ec2-ebs-encryption-by-default":
        "Set enabled=True on aws.ebs.EncryptionByDefault (or drop the resource: the "
        "account's own setting then stays as it is).",
    "ec2-default-security-group-closed":
        "Add aws.ec2.DefaultSecurityGroup(vpc_id=vpc.id) with no ingress and no egress, and "
        "put instances in security groups of their own.",
    "ec2-no-security-group-rule-conflicts":
        "Move the aws.ec2.SecurityGroup's inline ingress/egress into aws.vpc."
        "SecurityGroupIngressRule / SecurityGroupEgressRule resources, or the other way round.",
    "ec2-nacl-no-public-admin-ingress":
        "In the aws.ec2.NetworkAcl / NetworkAclRule, allow admin ports only from your office "
        "or VPN cidr_block, or add a deny rule for 0.0.0.0/0 on those ports with a lower "
        "rule_number than the allow rules.",
    "ec2-subnet-no-public-ip-on-launch":
        "Set map_public_ip_on_launch=False on aws.ec2.Subnet and give a public IP "
        "(associate_public_ip_address=True or an aws.ec2.Eip) only to instances that serve "
        "the internet.",
    "ec2-vpc-flow-logs":
        'Add aws.ec2.FlowLog(vpc_id=vpc.id, traffic_type="REJECT", log_destination=...) '
        "to CloudWatch Logs or S3.",
    "ec2-no-default-vpc":
        "Create an aws.ec2.Vpc of your own (with its subnets) instead of adopting "
        "aws.ec2.DefaultVpc.",
    "iam-github-oidc-trust-scoped":
        'In the role\'s assume_role_policy, add conditions=[{"test": "StringLike", '
        '"variable": "token.actions.githubusercontent.com:sub", "values": '
        '["repo:OWNER/REPO:ref:refs/heads/main"]}] (and :aud = sts.amazonaws.com).',
    "iam-group-has-users":
        "Add the group's users with aws.iam.GroupMembership(group=group.name, users=[...]) "
        "or aws.iam.UserGroupMembership, or delete the aws.iam.Group.",
    "iam-no-root-access-keys":
        'Create the aws.iam.AccessKey for an IAM user (user=user.name), not user="root"; '
        "better, give the workload a role.",
    "ec2-security-group-attached":
        "Pass the group to what uses it (vpc_security_group_ids=[group.id] on aws.ec2.Instance "
        "or LaunchTemplate, security_groups on a NetworkInterface), or delete it.",
    "ec2-nacl-no-all-ports":
        'Give each aws.ec2.NetworkAcl / NetworkAclRule allow rule a protocol ("tcp") and '
        "the from_port/to_port it needs instead of protocol \"-1\" or 0-65535.",
    "ec2-nacl-attached":
        "Set subnet_ids=[subnet.id] on the aws.ec2.NetworkAcl or add an "
        "aws.ec2.NetworkAclAssociation, or delete the ACL.",
    "ec2-ami-encrypted":
        "Set encrypted=True on aws.ec2.AmiCopy, and on every ebs_block_devices entry of "
        "aws.ec2.Ami.",
    "ec2-ebs-customer-managed-key":
        "Create an aws.kms.Key(enable_key_rotation=True) and pass kms_key_id=key.arn to the "
        "volume, snapshot copy, AMI copy or the instance's block devices.",
    "classroom-student-scope":
        "Add conditions=[{\"test\": \"StringEquals\", \"variable\": "
        '"aws:ResourceTag/envkit:student", "values": ["${aws:username}"]}] to the students\' '
        "statements on instances, name their own user as "
        'arn:aws:iam::*:user/envkit/${aws:username}, and drop write actions that cannot be '
        "scoped.",
    "classroom-no-privilege-escalation":
        "Remove the permissions-management actions (iam:Attach*, iam:Put*Policy, "
        "iam:CreatePolicyVersion, ...) and the escalation combinations from the policies of "
        "the students' groups.",
    "classroom-max-hourly-cost":
        "Use smaller instance_type values, spot (instance_market_options), fewer aws.ec2.Eip "
        "or fewer students, or raise maxClassHourlyCost in the policy config.",
}


def program_remediation(rule: Any) -> str:
    """The fix for ``rule`` in a Pulumi program's terms (pulumi_aws arguments)."""
    own = getattr(rule, "program_remediation", None)
    if own:
        return str(own)
    return PROGRAM_REMEDIATION.get(rule.name, rule.remediation)
