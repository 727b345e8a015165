"""IamLab: account alias, password policy, groups, users and roles of one lab.

Permissions are attached to groups and roles only, never to users. Users in a
``require_mfa`` group get AWS's documented "deny everything but MFA self-service until
signed in with MFA" policy through that group. Console passwords and access keys are
Pulumi secrets.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import pulumi
import pulumi_aws as aws

from ..spec import catalog
from ..spec.models import EnvironmentSpec
from .base import IAM_PATH, _output, named

# AWS's documented policy "Allows MFA-authenticated IAM users to manage their own
# credentials", minus console-page conveniences: without MFA a user may only set up MFA
# and change their own password (needed for the reset at first sign-in).
_MFA_SELF_SERVICE = [
    "iam:CreateVirtualMFADevice", "iam:EnableMFADevice", "iam:GetUser",
    "iam:ListMFADevices", "iam:ListVirtualMFADevices", "iam:ResyncMFADevice",
    "iam:ChangePassword", "iam:GetAccountPasswordPolicy", "sts:GetSessionToken",
]


def require_mfa_policy(partition: str = "aws") -> dict[str, Any]:
    """The deny-unless-MFA document attached to ``require_mfa`` groups."""
    # The user's own ARN carries the path envkit gives every user (user/envkit/NAME); the
    # documented example's user/${aws:username} would match none of them.
    own_user = f"arn:{partition}:iam::*:user{IAM_PATH}${{aws:username}}"
    own_mfa = f"arn:{partition}:iam::*:mfa/*"
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "AllowOwnMfaAndPassword",
                "Effect": "Allow",
                "Action": [
                    "iam:CreateVirtualMFADevice", "iam:EnableMFADevice", "iam:ResyncMFADevice",
                    "iam:ListMFADevices", "iam:GetUser", "iam:ChangePassword",
                ],
                "Resource": [own_user, own_mfa],
            },
            {
                "Sid": "AllowListVirtualMfaAndPasswordPolicy",
                "Effect": "Allow",
                "Action": ["iam:ListVirtualMFADevices", "iam:GetAccountPasswordPolicy"],
                "Resource": "*",
            },
            {
                "Sid": "DenyAllExceptMfaSetupUnlessSignedInWithMfa",
                "Effect": "Deny",
                "NotAction": _MFA_SELF_SERVICE,
                "Resource": "*",
                "Condition": {"BoolIfExists": {"aws:MultiFactorAuthPresent": "false"}},
            },
        ],
    }


def trust_policy(service: str | None, account: str | None, partition: str = "aws") -> str:
    """The assume-role document for one service or one account (never ``*``)."""
    principal = ({"Service": service} if service
                 else {"AWS": f"arn:{partition}:iam::{account}:root"})
    return json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": principal, "Action": "sts:AssumeRole"}],
    })


def policy_arn(ref: str, partition: str) -> str:
    """An AWS managed policy name or a policy ARN, as an ARN."""
    if ref.startswith("arn:"):
        return ref
    arn = catalog.managed_policy_arn(ref, partition)
    if arn is None:  # the spec checks reject this earlier; stay loud if bypassed
        raise ValueError(f"no AWS managed policy is named '{ref}'")
    return arn


def _attach_policies(prefix: str, holder: Any, partition: str, attachment: type,
                     inline: type, owner: dict[str, Any], opts: pulumi.ResourceOptions) -> None:
    """Attach a group's or role's managed policies and create its inline ones."""
    for ref in holder.managed_policies:
        attachment(f"{prefix}-{ref.rsplit('/', 1)[-1]}", policy_arn=policy_arn(ref, partition),
                   opts=opts, **owner)
    for pname, doc in holder.inline_policies.items():
        inline(f"{prefix}-{pname}", name=pname, policy=doc.to_json(), opts=opts, **owner)


class IamLab(pulumi.ComponentResource):
    """The IAM half of a lab (type ``envkit:iam:IamLab``).

    Outputs: ``sign_in_url``, ``users`` (name -> {name, arn, console, groups}),
    ``groups`` and ``roles`` (name -> ARN), ``instance_profiles`` (role -> profile name),
    ``passwords`` (secret; user -> initial console password), ``access_keys`` (secret;
    user -> {id, secret}).

    ``force_destroy`` (default True) lets deleting a user also remove what the user added
    by hand (MFA devices, SSH keys, signing certificates, service credentials), as labs on
    AWS need. The provider then calls ``ListServiceSpecificCredentials``, which the local
    emulator (moto) does not implement, so envkit passes False for the local target.
    """

    # The outputs are built on first access from ``exports``: the stack program exports the
    # leaves directly, so a plan or deployment never pays for these aggregate Outputs.
    sign_in_url = _output("sign_in_url")
    users = _output("users")
    groups = _output("groups")
    roles = _output("roles")
    instance_profiles = _output("instance_profiles")
    passwords = _output("passwords", secret=True)
    access_keys = _output("access_keys", secret=True)

    def __init__(self, name: str, spec: EnvironmentSpec, tags: dict[str, str],
                 opts: pulumi.ResourceOptions | None = None,
                 existing_groups: Mapping[str, Any] | None = None,
                 min_password_length: int | None = None, *,
                 force_destroy: bool = True, permissions_boundary: Any = None,
                 boundary_policy: Mapping[str, Any] | None = None) -> None:
        """``existing_groups`` (spec group name -> IAM group name) are groups made elsewhere
        (a classroom's shared stack) that this lab's users may join; ``min_password_length``
        is the account password policy's minimum when that policy is made elsewhere.
        ``boundary_policy`` (a document) is created as the managed policy
        ``<lab>-student-boundary`` (output ``student_boundary``, its ARN);
        ``permissions_boundary`` (an ARN) is set as every user's permissions boundary."""
        super().__init__("envkit:iam:IamLab", name, None, opts)
        iam = spec.iam
        env = spec.name
        partition = catalog.partition_of(spec.region)
        child = pulumi.ResourceOptions(parent=self)

        if iam.account_alias:
            aws.iam.AccountAlias(f"{env}-alias", account_alias=iam.account_alias, opts=child)
            sign_in_url = f"https://{iam.account_alias}.signin.aws.amazon.com/console"
        else:
            sign_in_url = None

        pp = iam.password_policy
        if pp is not None:
            aws.iam.AccountPasswordPolicy(
                f"{env}-password-policy",
                minimum_password_length=pp.minimum_length,
                require_symbols=pp.require_symbols,
                require_numbers=pp.require_numbers,
                require_uppercase_characters=pp.require_uppercase,
                require_lowercase_characters=pp.require_lowercase,
                max_password_age=pp.max_age_days,
                password_reuse_prevention=pp.reuse_prevention,
                allow_users_to_change_password=pp.allow_users_to_change,
                hard_expiry=pp.hard_expiry,
                opts=child,
            )

        groups: dict[str, aws.iam.Group] = {}
        for gname, group in iam.groups.items():
            g = aws.iam.Group(f"{env}-group-{gname}", name=f"{env}-{gname}", path=IAM_PATH,
                              opts=child)
            groups[gname] = g
            gopts = pulumi.ResourceOptions(parent=g)
            _attach_policies(f"{env}-group-{gname}", group, partition,
                             aws.iam.GroupPolicyAttachment, aws.iam.GroupPolicy,
                             {"group": g.name}, gopts)
            if group.require_mfa:
                aws.iam.GroupPolicy(f"{env}-group-{gname}-require-mfa", group=g.name,
                                    name="envkit-require-mfa",
                                    policy=json.dumps(require_mfa_policy(partition)), opts=gopts)

        boundary_arn = None
        if boundary_policy is not None:
            boundary_arn = aws.iam.Policy(
                f"{env}-student-boundary", name=f"{env}-student-boundary", path=IAM_PATH,
                description="envkit: the most any student of this class may do",
                policy=json.dumps(boundary_policy), tags=named(tags, "student-boundary"),
                opts=child).arn
        group_names: dict[str, Any] = {**(existing_groups or {}),
                                       **{n: g.name for n, g in groups.items()}}
        users_out: dict[str, Any] = {}
        passwords: dict[str, Any] = {}
        keys: dict[str, Any] = {}
        for uname, user in iam.users.items():
            u = aws.iam.User(f"{env}-user-{uname}", name=uname, path=IAM_PATH,
                             force_destroy=force_destroy, tags=named(tags, uname),
                             permissions_boundary=permissions_boundary, opts=child)
            uopts = pulumi.ResourceOptions(parent=u)
            if user.groups:
                aws.iam.UserGroupMembership(
                    f"{env}-user-{uname}-groups", user=u.name,
                    groups=[group_names[g] for g in user.groups], opts=uopts)
            if user.console:
                length = max(20, pp.minimum_length if pp else (min_password_length or 14))
                profile = aws.iam.UserLoginProfile(
                    f"{env}-user-{uname}-console", user=u.name, password_length=length,
                    password_reset_required=True, opts=uopts)
                passwords[uname] = profile.password
            if user.access_key:
                key = aws.iam.AccessKey(f"{env}-user-{uname}-key", user=u.name, opts=uopts)
                keys[uname] = {"id": key.id, "secret": key.secret}
            users_out[uname] = {"name": u.name, "arn": u.arn, "console": user.console,
                                "groups": [f"{env}-{g}" if g in groups else group_names[g]
                                           for g in user.groups]}

        roles_out: dict[str, Any] = {}
        profiles: dict[str, Any] = {}
        self._instance_profiles: dict[str, aws.iam.InstanceProfile] = {}
        for rname, role in iam.roles.items():
            r = aws.iam.Role(
                f"{env}-role-{rname}", name=f"{env}-{rname}", path=IAM_PATH,
                assume_role_policy=trust_policy(role.trusted_service, role.trusted_account,
                                                partition),
                max_session_duration=role.max_session_hours * 3600,
                tags=named(tags, rname), opts=child)
            ropts = pulumi.ResourceOptions(parent=r)
            _attach_policies(f"{env}-role-{rname}", role, partition,
                             aws.iam.RolePolicyAttachment, aws.iam.RolePolicy,
                             {"role": r.name}, ropts)
            if role.instance_profile:
                ip = aws.iam.InstanceProfile(f"{env}-role-{rname}-profile", name=f"{env}-{rname}",
                                             path=IAM_PATH, role=r.name,
                                             tags=named(tags, rname), opts=ropts)
                self._instance_profiles[rname] = ip
                profiles[rname] = ip.name
            roles_out[rname] = r.arn

        #: The stack outputs this component contributes, leaf by leaf (an offline plan
        #: shows each leaf that is already known).
        self.exports: dict[str, Any] = {
            "sign_in_url": sign_in_url, "users": users_out,
            "groups": {n: g.arn for n, g in groups.items()}, "roles": roles_out,
            "instance_profiles": profiles, "passwords": passwords, "access_keys": keys,
        }
        if boundary_arn is not None:
            self.exports["student_boundary"] = boundary_arn
        # Done registering children. The outputs are the stack's (see stack_program):
        # registering them here too would keep a second copy of every secret in state.
        self.register_outputs({})

    def instance_profile(self, role: str) -> aws.iam.InstanceProfile:
        """The instance profile made for ``role`` (roles trusted by ec2 have one)."""
        return self._instance_profiles[role]
