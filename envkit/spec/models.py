"""The environment spec: pydantic models that are both the YAML format and the Python API.

Field names are the YAML keys. Every model forbids unknown keys (with a did-you-mean),
and every default is the safe choice; docs/README's spec reference lists them all.
Checks that need the whole spec (cross-references, account limits, AWS facts that depend
on the region) live in :mod:`envkit.spec.checks` so they can report exact locations.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any, Literal

from pydantic import (
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from ..limits import (
    clip,
)
from .ec2_models import (
    DEFAULT_EGRESS,
    PROTOCOLS,
    SERVICES,
    USER_DATA_LIMIT,
    WEB_SERVER,
    Ec2Spec,
    InstanceSpec,
    KeyPairSpec,
    NetworkSpec,
    RootVolumeSpec,
    RuleSpec,
    SecurityGroupSpec,
    UserDataSpec,
    web_server_template,
)
from .fields import (
    ACCOUNT_ID_RE,
    ACTION_RE,
    ALIAS_RE,
    ENV_NAME_RE,
    IAM_NAME_RE,
    KEY_NAME_RE,
    RESERVED_TAG_PREFIXES,
    SERVICE_RE,
    SID_RE,
    ConditionValues,
    EnvName,
    GroupName,
    PolicyName,
    ResourceName,
    RoleName,
    StrictModel,
    UserName,
    check_tags,
    did_you_mean,
    empty_entries,
    iam_tag_problem,
    parse_ttl,
)

#: The spec's public names: defined here (IAM, the environment) or in .fields and
#: .ec2_models, and importable from here as before the split.
__all__ = [
    "ACCOUNT_ID_RE",
    "DEFAULT_EGRESS",
    "ENV_NAME_RE",
    "IAM_NAME_RE",
    "KEY_NAME_RE",
    "PROTOCOLS",
    "RESERVED_TAG_PREFIXES",
    "SERVICES",
    "USER_DATA_LIMIT",
    "WEB_SERVER",
    "Ec2Spec",
    "EnvName",
    "EnvironmentSpec",
    "GroupName",
    "GroupSpec",
    "IamSpec",
    "InstanceSpec",
    "KeyPairSpec",
    "NetworkSpec",
    "PasswordPolicySpec",
    "PolicyDocument",
    "PolicyName",
    "PolicyStatement",
    "ResourceName",
    "RoleName",
    "RoleSpec",
    "RootVolumeSpec",
    "RuleSpec",
    "SecurityGroupSpec",
    "StrictModel",
    "UserDataSpec",
    "UserName",
    "UserSpec",
    "did_you_mean",
    "parse_ttl",
    "web_server_template",
]


# --- IAM -----------------------------------------------------------------------------------


class PolicyStatement(StrictModel):
    """One IAM policy statement, with AWS's own key names."""

    Sid: str | None = Field(None, max_length=128)
    Effect: Literal["Allow", "Deny"]
    Principal: Any = None
    NotPrincipal: Any = None
    Action: str | list[str] | None = None
    NotAction: str | list[str] | None = None
    Resource: str | list[str] | None = None
    NotResource: str | list[str] | None = None
    Condition: dict[str, dict[str, ConditionValues]] | None = None

    @field_validator("Sid")
    @classmethod
    def _sid(cls, value: str | None) -> str | None:
        if value is not None and not SID_RE.fullmatch(value):
            raise ValueError(f"'{clip(value)}' is not a valid Sid: IAM takes ASCII letters "
                             "and digits only")
        return value

    @field_validator("Principal", "NotPrincipal")
    @classmethod
    def _no_principal(cls, value: Any, info: ValidationInfo) -> Any:
        if value is not None:
            raise ValueError(f"inline policies are identity policies and AWS refuses a "
                             f"{info.field_name} in them; who may assume a role is its "
                             "trusted_service or trusted_account")
        return value

    @field_validator("Action", "NotAction")
    @classmethod
    def _actions(cls, value: str | list[str] | None) -> str | list[str] | None:
        for action in [value] if isinstance(value, str) else value or []:
            if not ACTION_RE.fullmatch(action):
                raise ValueError(f"'{clip(action)}' is not an IAM action (service:Action or *)")
        if isinstance(value, list) and not value:
            raise ValueError("must name at least one action")
        return value

    @model_validator(mode="after")
    def _complete(self) -> PolicyStatement:
        if (self.Action is None) == (self.NotAction is None):
            raise ValueError("a statement needs exactly one of Action or NotAction")
        if (self.Resource is None) == (self.NotResource is None):
            raise ValueError("a statement needs exactly one of Resource or NotResource")
        return self


class PolicyDocument(StrictModel):
    """An IAM policy document (inline policies). ``Statement`` may be one object or a list."""

    Version: Literal["2012-10-17", "2008-10-17"] = "2012-10-17"
    Id: str | None = None
    Statement: list[PolicyStatement] = Field(min_length=1)

    @field_validator("Statement", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return [value] if isinstance(value, dict) else value

    def to_json(self) -> str:
        """The document as AWS expects it: AWS key names, nothing that was left unset."""
        return self.model_dump_json(exclude_none=True)


class PasswordPolicySpec(StrictModel):
    """The account password policy. Defaults are CIS AWS Foundations 1.8-1.9 values."""

    minimum_length: int = Field(14, ge=6, le=128)
    require_symbols: bool = True
    require_numbers: bool = True
    require_uppercase: bool = True
    require_lowercase: bool = True
    max_age_days: int | None = Field(90, ge=1, le=1095)
    reuse_prevention: int | None = Field(24, ge=1, le=24)
    allow_users_to_change: bool = True
    hard_expiry: bool = False


class GroupSpec(StrictModel):
    """An IAM group: where permissions live (never on users)."""

    managed_policies: list[str] = Field(default_factory=list, max_length=10)
    inline_policies: dict[PolicyName, PolicyDocument] = Field(default_factory=dict)
    require_mfa: bool = False


class UserSpec(StrictModel):
    """An IAM user: group membership, optional console sign-in and access key."""

    groups: list[str] = Field(default_factory=list, max_length=10)
    console: bool = False
    access_key: bool = False


class RoleSpec(StrictModel):
    """An IAM role trusted by one AWS service (``ec2``) or one account id."""

    trusted_service: str | None = None
    trusted_account: str | None = Field(None, pattern=ACCOUNT_ID_RE)
    managed_policies: list[str] = Field(default_factory=list, max_length=10)
    inline_policies: dict[PolicyName, PolicyDocument] = Field(default_factory=dict)
    instance_profile: bool | None = None
    max_session_hours: int = Field(1, ge=1, le=12)

    @field_validator("trusted_service")
    @classmethod
    def _service(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not SERVICE_RE.fullmatch(value) or len(value) > 128:
            raise ValueError(f"'{clip(value)}' is not a service name such as ec2 or lambda")
        return value if value.endswith(".amazonaws.com") else f"{value}.amazonaws.com"

    @model_validator(mode="after")
    def _one_trust(self) -> RoleSpec:
        if (self.trusted_service is None) == (self.trusted_account is None):
            raise ValueError("a role needs exactly one of trusted_service or trusted_account")
        if self.instance_profile is None:
            self.instance_profile = self.trusted_service == "ec2.amazonaws.com"
        elif self.instance_profile and self.trusted_service != "ec2.amazonaws.com":
            raise ValueError("instance_profile needs a role trusted by ec2")
        return self


class IamSpec(StrictModel):
    """Account-level IAM: alias, password policy, groups, users and roles."""

    account_alias: str | None = Field(None, min_length=3, max_length=63)
    password_policy: PasswordPolicySpec | None = None
    groups: dict[GroupName, GroupSpec] = Field(default_factory=dict)
    users: dict[UserName, UserSpec] = Field(default_factory=dict)
    roles: dict[RoleName, RoleSpec] = Field(default_factory=dict)

    @field_validator("account_alias")
    @classmethod
    def _alias(cls, value: str | None) -> str | None:
        if value is not None and not ALIAS_RE.fullmatch(value):
            raise ValueError(
                f"'{clip(value)}' is not a valid account alias: lowercase letters, digits and "
                "single hyphens, starting and ending with a letter or digit"
            )
        return value

    _null_entries = field_validator("groups", "users", "roles", mode="before")(
        classmethod(lambda cls, value: empty_entries(value)))


# --- the environment -----------------------------------------------------------------------

class EnvironmentSpec(StrictModel):
    """A whole lab environment.

    Build one with :func:`envkit.load_spec` (from a file, YAML text or a dict), which reports
    problems as :class:`envkit.SpecError` with lines; constructing the model directly works
    too and raises pydantic's ``ValidationError``.
    """

    name: EnvName
    region: str = "us-east-1"
    owner: str = Field(min_length=1, max_length=256)  # the envkit:owner tag's value
    ttl: str | None = None
    tags: dict[str, str] = Field(default_factory=dict, max_length=40)
    iam: IamSpec = Field(default_factory=IamSpec)
    ec2: Ec2Spec = Field(default_factory=Ec2Spec)
    classroom: ClassroomSpec | None = None

    @field_validator("ttl", mode="before")
    @classmethod
    def _ttl(cls, value: Any) -> Any:
        if value is not None:
            if not isinstance(value, str):
                raise ValueError(f"ttl must be text such as 8h or 2d, not {clip(value)}")
            parse_ttl(value)
        return value

    @field_validator("region")
    @classmethod
    def _region(cls, value: str) -> str:
        from .catalog import regions

        known = regions()
        if value not in known:
            raise ValueError(f"unknown region '{clip(value)}'{did_you_mean(value[:100], known)}")
        return value

    # Spec tags and the owner land on IAM users and roles too: IAM's character rules apply.
    _checked_tags = field_validator("tags")(classmethod(lambda cls, v: check_tags(v, iam=True)))

    @field_validator("owner")
    @classmethod
    def _owner(cls, value: str) -> str:
        problem = iam_tag_problem(value)
        if problem:
            raise ValueError(f"the owner becomes the envkit:owner tag: {problem}")
        return value

    @model_validator(mode="after")
    def _whole_spec(self, info: ValidationInfo) -> EnvironmentSpec:
        # The loader runs these checks itself so it can point at the offending line.
        if not (info.context or {}).get("defer_checks"):
            from .checks import Problem, check_spec

            problems = check_spec(self)
            if problems:  # a roster CSV's problems are SpecIssues, with the CSV's lines
                raise ValueError("; ".join(
                    f"{'.'.join(map(clip, p.path))}: {p.message}" if isinstance(p, Problem)
                    else str(p) for p in problems[:20]))
        return self

    @property
    def ttl_delta(self) -> timedelta | None:
        """The ttl as a timedelta (None without a ttl)."""
        return parse_ttl(self.ttl) if self.ttl else None

    @property
    def availability_zone(self) -> str:
        """The lab's availability zone (the region's first zone unless the spec names one)."""
        return self.ec2.network.availability_zone or f"{self.region}a"


# The classroom section lives in its own module, which builds on the models above.
from .classroom import ClassroomSpec  # noqa: E402

EnvironmentSpec.model_rebuild()
