"""The environment spec: pydantic models that are both the YAML format and the Python API.

Field names are the YAML keys. Every model forbids unknown keys (with a did-you-mean),
and every default is the safe choice; docs/README's spec reference lists them all.
Checks that need the whole spec (cross-references, account limits, AWS facts that depend
on the region) live in :mod:`envkit.spec.checks` so they can report exact locations.
"""

from __future__ import annotations

import difflib
import functools
import ipaddress
import math
import os
import re
import unicodedata
from datetime import timedelta
from functools import cache
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

from ..limits import (
    MAX_PUBLIC_KEY_BYTES,
    MAX_TTL_DAYS,
    MAX_USER_DATA_BYTES,
    clip,
    read_text,
)
from .amis import AMI_ALIASES

# --- shared pieces -----------------------------------------------------------------------

# pydantic's patterns use Rust's regex ($ is the very end); Python-side patterns are used
# with fullmatch, so a trailing newline never slips through. IAM names are ASCII only.
ENV_NAME_RE = r"^[a-z](?:[a-z0-9-]{0,38}[a-z0-9])?$"
IAM_NAME_RE = r"^[A-Za-z0-9_+=,.@-]+$"
ACCOUNT_ID_RE = r"^[0-9]{12}$"
ALIAS_RE = re.compile(r"[a-z0-9](?:[a-z0-9]|-(?!-))*[a-z0-9]")
KEY_NAME_RE = r"^[A-Za-z0-9._-]+$"
AMI_ID_RE = re.compile(r"ami-(?:[0-9a-f]{8}|[0-9a-f]{17})")
ACTION_RE = re.compile(r"\*|[a-z0-9-]+:[A-Za-z0-9*?]+")
SID_RE = re.compile(r"[A-Za-z0-9]*")
SERVICE_RE = re.compile(r"[a-z0-9-]+(\.[a-z0-9-]+)*")
_TTL_PART = re.compile(r"([0-9]+)([wdhm])")
#: Characters EC2 accepts in a security group's or a rule's description.
SG_DESCRIPTION_CHARS = frozenset(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 ._-:/()#,@[]+=&;{}!$*")
_TTL_MINUTES = {"w": 7 * 24 * 60, "d": 24 * 60, "h": 60, "m": 1}

EnvName = Annotated[str, Field(pattern=ENV_NAME_RE, max_length=40)]
GroupName = Annotated[str, Field(pattern=IAM_NAME_RE, min_length=1, max_length=128)]
UserName = Annotated[str, Field(pattern=IAM_NAME_RE, min_length=1, max_length=64)]
RoleName = Annotated[str, Field(pattern=IAM_NAME_RE, min_length=1, max_length=64)]
PolicyName = Annotated[str, Field(pattern=IAM_NAME_RE, min_length=1, max_length=128)]
ResourceName = Annotated[str, Field(pattern=KEY_NAME_RE, min_length=1, max_length=64)]


def did_you_mean(value: str, choices, n: int = 1) -> str:
    """`` (did you mean 'x'?)`` for the closest choices, or an empty string.

    Bounded in time: a suggestion is computed once per (value, choices), and from a long
    list (instance types, managed policies: hundreds) only the entries sharing the value's
    first two characters are compared, so ten thousand typos cost milliseconds each, not
    difflib over the whole catalogue each time."""
    return _did_you_mean(str(value)[:100], tuple(choices), n)


@functools.lru_cache(maxsize=2048)
def _did_you_mean(value: str, choices: tuple, n: int) -> str:
    pool = choices if len(choices) <= 200 else [
        c for c in choices if str(c)[:2].lower() == value[:2].lower()]
    close = difflib.get_close_matches(value, list(pool), n=n)
    if not close:
        return ""
    return f" (did you mean {' or '.join(repr(c) for c in close)}?)"


class StrictModel(BaseModel):
    """Base of every spec model: unknown keys are errors that suggest the closest known key."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=False)

    @model_validator(mode="before")
    @classmethod
    def _reject_unknown_keys(cls, data: Any) -> Any:
        # Every unknown key of the mapping is one error at its own key, raised together
        # (pydantic keeps the errors of a ValidationError raised here, each at its loc).
        if isinstance(data, dict):
            known = set(cls.model_fields)
            known |= {f.alias for f in cls.model_fields.values() if f.alias}
            errors: list[InitErrorDetails] = []
            for key in data:
                if not isinstance(key, str):
                    error = PydanticCustomError(
                        "unknown_key", "a key must be text, not {kind} {shown}",
                        {"kind": type(key).__name__, "shown": clip(key)})
                elif key not in known:
                    public = sorted(k for k in known if not k.endswith("_") or k == "from_")
                    public = [k.rstrip("_") for k in public]
                    close = difflib.get_close_matches(key[:100], public, n=1)
                    # `meant` lets the loader leave out "this key is required" for that key.
                    error = PydanticCustomError(
                        "unknown_key",
                        "unknown key '{shown}'{hint}; known keys: {known}",
                        {"shown": clip(key), "hint": f" (did you mean {close[0]!r}?)"
                         if close else "", "known": ", ".join(public),
                         "meant": close[0] if close else None},
                    )
                else:
                    continue
                errors.append(InitErrorDetails(
                    type=error, loc=(key if isinstance(key, str) else clip(key),),
                    input=data[key]))
            if errors:
                raise ValidationError.from_exception_data(cls.__name__, errors)
        return data


def _empty_entries(value: Any) -> Any:
    # `dev1:` with nothing under it means "all defaults", as it reads.
    if isinstance(value, dict):
        return {k: ({} if v is None else v) for k, v in value.items()}
    return value


def parse_ttl(value: str) -> timedelta:
    """Parse a ttl such as ``8h``, ``30m``, ``2d``, ``1w`` or ``1d12h`` into a timedelta,
    at most :data:`~envkit.limits.MAX_TTL_DAYS` (365 days)."""
    text = value.strip().lower()
    if not text or len(text) > 64 or _TTL_PART.sub("", text):
        raise ValueError(
            f"cannot parse ttl '{clip(value)}': use a number and a unit, e.g. 8h, 30m, 2d, 1w")
    minutes = sum(int(amount) * _TTL_MINUTES[unit] for amount, unit in _TTL_PART.findall(text))
    if minutes > MAX_TTL_DAYS * _TTL_MINUTES["d"]:
        raise ValueError(f"ttl '{clip(value)}' is longer than the most envkit allows, "
                         f"{MAX_TTL_DAYS} days")
    if minutes <= 0:
        raise ValueError("ttl must be longer than zero")
    return timedelta(minutes=minutes)


def _network(value: Any, what: str) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{what} must be a CIDR string such as 10.0.0.0/16")
    if len(value) > 64:  # longer than any CIDR: not worth parsing or quoting in full
        raise ValueError(f"invalid CIDR '{clip(value)}'")
    try:
        return str(ipaddress.ip_network(value, strict=True))
    except ValueError as exc:
        raise ValueError(f"invalid CIDR '{clip(value)}': {clip(str(exc), 120)}") from None


def _description(value: str | None) -> str | None:
    """EC2's rule for security group and rule descriptions: ASCII from a fixed set."""
    if value is not None:
        bad = sorted({ch for ch in value if ch not in SG_DESCRIPTION_CHARS})
        if bad:
            raise ValueError(
                "EC2 accepts only letters, digits, spaces and ._-:/()#,@[]+=&;{}!$* in a "
                f"description, not {', '.join(repr(clip(c)) for c in bad[:5])}")
    return value


def _iam_tag_text(value: str) -> str | None:
    """What is wrong with ``value`` as an IAM tag key or value (None when it is fine):
    IAM allows Unicode letters, digits and spaces, and _ . : / = + - @."""
    for ch in value:
        category = unicodedata.category(ch)
        if (category[0] not in "LNZ" and ch not in "_.:/=+-@") or category in ("Zl", "Zp"):
            return (f"the character {clip(ch)!r} is not allowed in tags (IAM allows letters, "
                    "digits, spaces and _ . : / = + - @)")
    return None


def check_tags(value: dict[str, str], iam: bool) -> dict[str, str]:
    """AWS's rules for tags: key 1-128 characters without a reserved prefix, value up to 256;
    with ``iam`` (tags that land on IAM resources too) IAM's character set as well."""
    for key, val in value.items():
        if not 1 <= len(key) <= 128:
            raise ValueError(f"tag key '{clip(key)}' must be 1-128 characters")
        if key.lower().startswith(RESERVED_TAG_PREFIXES):
            raise ValueError(f"tag key '{clip(key)}' uses a reserved prefix (aws:, envkit:)")
        if len(val) > 256:
            raise ValueError(f"tag '{clip(key)}' has a value longer than 256 characters")
        problem = (_iam_tag_text(key) or _iam_tag_text(val)) if iam else None
        if problem:
            raise ValueError(f"tag '{clip(key)}': {problem}")
    return value


# IAM compares condition values as text: 3600 and "3600", true and "true" mean the same.
# Numbers and booleans are therefore accepted as AWS accepts them and kept as that text, so
# every reader of the document (parliament, the policy pack, AWS) sees one form.
_INT64 = 2 ** 63


def _condition_scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        if not -_INT64 <= value < _INT64:
            raise ValueError(f"{clip(value)} is out of range for an IAM condition (64-bit)")
        return str(value)
    if isinstance(value, float):
        text = repr(value)
        if not math.isfinite(value) or "e" in text:
            raise ValueError(f"{clip(value)} is not a number an IAM condition takes: write "
                             "a finite decimal such as 3600 or 0.5")
        return text
    if isinstance(value, str):
        return value
    raise ValueError(f"a condition value is text, a number or true/false, not "
                     f"{type(value).__name__} {clip(value)}")


def _condition_values(value: Any) -> Any:
    if isinstance(value, list):
        return [_condition_scalar(v) for v in value]
    return _condition_scalar(value)


ConditionValues = Annotated[str | list[str], BeforeValidator(_condition_values)]


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
        classmethod(lambda cls, value: _empty_entries(value)))


# --- EC2 -----------------------------------------------------------------------------------

SERVICES: dict[str, tuple[str, int, int]] = {
    "ssh": ("tcp", 22, 22),
    "http": ("tcp", 80, 80),
    "https": ("tcp", 443, 443),
    "rdp": ("tcp", 3389, 3389),
    "mysql": ("tcp", 3306, 3306),
    "postgresql": ("tcp", 5432, 5432),
    "ping": ("icmp", 8, -1),
}
PROTOCOLS = {"tcp": "tcp", "udp": "udp", "icmp": "icmp", "all": "-1", "-1": "-1"}


class RuleSpec(StrictModel):
    """A security-group rule: a named service, or a protocol and port range; CIDR sources."""

    service: str | None = None
    protocol: str | None = None
    ports: int | str | None = None
    from_: str | list[str] | None = Field(None, alias="from")
    to: str | list[str] | None = None
    description: str | None = Field(None, max_length=255)

    _described = field_validator("description")(classmethod(lambda cls, v: _description(v)))

    @field_validator("service")
    @classmethod
    def _known_service(cls, value: str | None) -> str | None:
        if value is not None and value not in SERVICES:
            raise ValueError(f"unknown service '{clip(value)}'{did_you_mean(value, SERVICES)}; "
                             f"known: {', '.join(SERVICES)}")
        return value

    @field_validator("protocol")
    @classmethod
    def _known_protocol(cls, value: str | None) -> str | None:
        if value is not None and str(value).lower() not in PROTOCOLS:
            raise ValueError(f"unknown protocol '{clip(value)}'; known: tcp, udp, icmp, all")
        return None if value is None else str(value).lower()

    @field_validator("ports")
    @classmethod
    def _port_range(cls, value: int | str | None) -> int | str | None:
        if value is not None:
            _parse_ports(value)
        return value

    @field_validator("from_", "to")
    @classmethod
    def _cidrs(cls, value: str | list[str] | None) -> list[str] | None:
        if value is None:
            return None
        items = [value] if isinstance(value, str) else value
        if not items:
            raise ValueError("name at least one CIDR")
        return [_network(v, "a source or destination") for v in items]

    @model_validator(mode="after")
    def _service_or_protocol(self) -> RuleSpec:
        if self.service and (self.protocol or self.ports is not None):
            raise ValueError("give either service, or protocol and ports, not both")
        if not self.service and not self.protocol:
            raise ValueError("a rule needs a service (ssh, http, ...) or a protocol")
        if self.protocol in ("tcp", "udp") and self.ports is None:
            raise ValueError(f"a {self.protocol} rule needs ports (e.g. 8080 or 8080-8081)")
        return self

    @property
    def cidrs(self) -> list[str]:
        """The rule's CIDRs, whichever direction it faces."""
        return list(self.from_ or self.to or [])

    def resolved(self) -> tuple[str, int, int]:
        """(protocol, from_port, to_port) as the EC2 API takes them."""
        if self.service:
            return SERVICES[self.service]
        protocol = PROTOCOLS[self.protocol or "tcp"]
        if protocol == "-1":
            return "-1", 0, 0
        if protocol == "icmp":
            low, high = _parse_ports(self.ports) if self.ports is not None else (-1, -1)
            return "icmp", low, high
        low, high = _parse_ports(self.ports)
        return protocol, low, high

    def label(self) -> str:
        """A short human description: ``ssh``, ``tcp 8080-8081``, ``all traffic``."""
        if self.service:
            return self.service
        protocol, low, high = self.resolved()
        if protocol == "-1":
            return "all traffic"
        return f"{protocol} {low}" if low == high else f"{protocol} {low}-{high}"


def _parse_ports(value: int | str) -> tuple[int, int]:
    if isinstance(value, bool):
        raise ValueError("ports must be a number or a range such as 8080-8081")
    text = str(value).strip() if not isinstance(value, int) or abs(value) < 10 ** 9 else "?"
    match = re.fullmatch(r"(-?[0-9]{1,9}) *(?:- *([0-9]{1,9}))?", text)
    if not match:
        raise ValueError(f"'{clip(value)}' is not a port or a port range such as 8080-8081")
    low = int(match.group(1))
    high = int(match.group(2)) if match.group(2) else low
    for port in (low, high):
        if not 0 <= port <= 65535:
            raise ValueError(f"port {port} is outside 0-65535")
    if low > high:
        raise ValueError(f"port range {low}-{high} is written backwards; use {high}-{low}")
    return low, high


# Egress when a group does not say: the web (package repositories, updates) and nothing else.
# DNS to the VPC resolver and NTP to the link-local time service are never filtered by
# security groups, so a lab instance still resolves names and keeps time.
DEFAULT_EGRESS = [
    {"service": "http", "to": "0.0.0.0/0", "description": "package repositories over http"},
    {"service": "https", "to": "0.0.0.0/0", "description": "package repositories over https"},
]


class SecurityGroupSpec(StrictModel):
    """A security group. Egress defaults to http and https only (not all traffic)."""

    description: str | None = Field(None, max_length=255)
    ingress: list[RuleSpec] = Field(default_factory=list, max_length=60)
    egress: list[RuleSpec] = Field(
        default_factory=lambda: [RuleSpec.model_validate(r) for r in DEFAULT_EGRESS],
        max_length=60,
    )

    _described = field_validator("description")(classmethod(lambda cls, v: _description(v)))

    @model_validator(mode="after")
    def _directions(self) -> SecurityGroupSpec:
        for rule in self.ingress:
            if rule.from_ is None or rule.to is not None:
                raise ValueError("ingress rules take 'from' (source CIDRs), not 'to'")
        for rule in self.egress:
            if rule.to is None or rule.from_ is not None:
                raise ValueError("egress rules take 'to' (destination CIDRs), not 'from'")
        return self


class KeyPairSpec(StrictModel):
    """A key pair: generated per environment (default), or an existing public key."""

    type: Literal["ed25519", "rsa"] = "ed25519"
    public_key: str | None = Field(None, max_length=MAX_PUBLIC_KEY_BYTES)
    public_key_file: Path | None = None

    @field_validator("public_key")
    @classmethod
    def _openssh(cls, value: str | None) -> str | None:
        if value is not None:
            _check_public_key(value.encode())
        return value

    @field_validator("public_key_file")
    @classmethod
    def _file(cls, value: Path | None, info: ValidationInfo) -> Path | None:
        if value is None:
            return None
        path = _resolve(value, info)
        _check_public_key(_read_user_file(path, value, "public key",
                                          MAX_PUBLIC_KEY_BYTES).encode())
        return path

    @model_validator(mode="after")
    def _one_source(self) -> KeyPairSpec:
        if self.public_key and self.public_key_file:
            raise ValueError("give public_key or public_key_file, not both")
        return self

    @property
    def generated(self) -> bool:
        """Whether envkit generates this key (no public key given)."""
        return self.public_key is None and self.public_key_file is None

    def public_key_text(self) -> str | None:
        """The given public key, read from the file if needed."""
        if self.public_key_file is not None:
            return read_text(self.public_key_file, "public key", MAX_PUBLIC_KEY_BYTES).strip()
        return self.public_key


def _check_public_key(data: bytes) -> None:
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives.serialization import load_ssh_public_key

    try:
        load_ssh_public_key(data.strip())
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise ValueError(f"not an OpenSSH public key: {clip(str(exc), 120)}") from None


def _resolve(path: Path, info: ValidationInfo) -> Path:
    """A spec's path, relative to the spec's folder (the working folder for text or a
    mapping), made absolute so every later use and message names the same file."""
    base = (info.context or {}).get("base_dir") or Path.cwd()
    path = Path(path).expanduser()
    if not path.is_absolute():
        path = Path(base) / path
    return Path(os.path.normpath(path))


def _read_user_file(path: Path, written: Any, what: str, limit: int) -> str:
    """A file the spec names, read through the bounded reader; problems as ValueError."""
    from ..errors import SpecError

    if len(str(written)) > 1024:
        raise ValueError(f"{what} file '{clip(written)}' is not a usable path")
    if not os.path.lexists(path):
        raise ValueError(f"{what} file '{clip(written)}' does not exist (looked for "
                         f"{clip(str(path), 120)})")
    try:
        return read_text(path, what, limit)
    except SpecError as exc:
        reason = exc.issues[0].message if exc.issues else str(exc)
        raise ValueError(f"{what} file '{clip(written)}' ({clip(str(path), 120)}) {reason}"
                         ) from None


class RootVolumeSpec(StrictModel):
    """The root EBS volume: encrypted unless ``encrypted: false``."""

    size_gb: int = Field(8, ge=1, le=16384)
    type: Literal["gp3", "gp2", "io1", "io2", "standard"] = "gp3"
    encrypted: bool = True
    iops: int | None = Field(None, ge=100, le=256000)


WEB_SERVER = "web-server"
USER_DATA_LIMIT = MAX_USER_DATA_BYTES


@cache
def web_server_template() -> str:
    """The built-in ``web-server`` user-data script (``__INDEX_HTML__`` marks the page)."""
    from importlib import resources

    return resources.files("envkit").joinpath("templates", "web-server.sh").read_text()


class UserDataSpec(StrictModel):
    """User data: the built-in ``web-server`` template, or a script file."""

    template: Literal["web-server"] | None = None
    file: Path | None = None
    index_html: str | None = None

    @field_validator("file")
    @classmethod
    def _exists(cls, value: Path | None, info: ValidationInfo) -> Path | None:
        if value is None:
            return None
        path = _resolve(value, info)
        _read_user_file(path, value, "user-data", USER_DATA_LIMIT)  # UTF-8, EC2's 16 KiB
        return path

    @model_validator(mode="after")
    def _one(self) -> UserDataSpec:
        if (self.template is None) == (self.file is None):
            raise ValueError("user_data needs exactly one of template or file")
        if self.index_html is not None and self.template != WEB_SERVER:
            raise ValueError("index_html only applies to the web-server template")
        if self.index_html is not None:
            size = len(web_server_template().replace("__INDEX_HTML__", self.index_html)
                       .encode("utf-8", "surrogatepass"))
            if size > USER_DATA_LIMIT:
                raise ValueError(f"index_html makes the user data {size:,} bytes; EC2 takes "
                                 f"at most {USER_DATA_LIMIT // 1024} KiB")
        return self

    def text(self) -> str:
        """The user-data file's text (a file given in the spec; read within the limits)."""
        if self.file is None:
            raise ValueError("this user data is a template, not a file")
        return read_text(self.file, "user-data", USER_DATA_LIMIT)


class InstanceSpec(StrictModel):
    """An EC2 instance with envkit's secure defaults (IMDSv2, encrypted root volume)."""

    ami: str = "amazon-linux-2023"
    type: str = "t3.micro"
    key_pair: str | None = None
    security_groups: list[str] = Field(default_factory=list, max_length=5)
    role: str | None = None
    user_data: UserDataSpec | None = None
    elastic_ip: bool = False
    public_ip: bool = True
    extra_network_interfaces: int = Field(0, ge=0, le=100)
    root_volume: RootVolumeSpec = Field(default_factory=RootVolumeSpec)
    purchase: Literal["on-demand", "spot"] = "on-demand"
    tenancy: Literal["default", "dedicated"] = "default"
    imdsv2: bool = True
    monitoring: bool = False
    tags: dict[str, str] = Field(default_factory=dict, max_length=40)

    _checked_tags = field_validator("tags")(classmethod(lambda cls, v: check_tags(v, iam=False)))

    @field_validator("ami")
    @classmethod
    def _ami(cls, value: str) -> str:
        if value in AMI_ALIASES or AMI_ID_RE.match(value):
            return value
        raise ValueError(
            f"unknown AMI alias '{clip(value)}'{did_you_mean(value[:100], AMI_ALIASES)}; "
            "use an ami-... id or one of: "
            + ", ".join(AMI_ALIASES)
        )

    @field_validator("user_data", mode="before")
    @classmethod
    def _template_shorthand(cls, value: Any) -> Any:
        if isinstance(value, str):
            if value != WEB_SERVER:
                raise ValueError(
                    f"unknown user_data template '{clip(value)}'; known: {WEB_SERVER}; "
                    "for a script write user_data: {file: PATH}"
                )
            return {"template": value}
        return value

    @field_validator("type")
    @classmethod
    def _type(cls, value: str) -> str:
        from .catalog import instance_types

        known = instance_types()
        if value not in known:
            raise ValueError(f"unknown instance type '{clip(value)}'"
                             f"{did_you_mean(value[:100], known, 3)}")
        return value


class NetworkSpec(StrictModel):
    """Where instances live: the default VPC, or a dedicated lab VPC with a public subnet."""

    vpc_cidr: str = "default"
    subnet_cidr: str | None = None
    availability_zone: str | None = Field(None, max_length=32)

    @field_validator("vpc_cidr")
    @classmethod
    def _vpc(cls, value: str) -> str:
        if value == "default":
            return value
        cidr = _network(value, "vpc_cidr")
        net = ipaddress.ip_network(cidr)
        if net.version != 4 or not 16 <= net.prefixlen <= 28:
            raise ValueError("a VPC CIDR must be IPv4 with a prefix between /16 and /28")
        return cidr

    @field_validator("subnet_cidr")
    @classmethod
    def _subnet(cls, value: str | None) -> str | None:
        return None if value is None else _network(value, "subnet_cidr")

    @model_validator(mode="after")
    def _subnet_inside(self) -> NetworkSpec:
        if self.vpc_cidr == "default":
            if self.subnet_cidr:
                raise ValueError("subnet_cidr needs a dedicated VPC (vpc_cidr), not the default")
            return self
        vpc = ipaddress.ip_network(self.vpc_cidr)
        if self.subnet_cidr is None:
            # The first /24 (or the whole VPC when it is smaller).
            self.subnet_cidr = str(next(vpc.subnets(new_prefix=max(24, vpc.prefixlen))))
        elif not ipaddress.ip_network(self.subnet_cidr).subnet_of(vpc):  # type: ignore[arg-type]
            raise ValueError(f"subnet {self.subnet_cidr} is not inside the VPC {self.vpc_cidr}")
        return self

    @property
    def dedicated(self) -> bool:
        """Whether envkit creates a VPC (True) or uses the account's default VPC."""
        return self.vpc_cidr != "default"


class Ec2Spec(StrictModel):
    """EC2: network, key pairs, security groups and instances."""

    network: NetworkSpec = Field(default_factory=NetworkSpec)
    key_pairs: dict[ResourceName, KeyPairSpec] = Field(default_factory=dict)
    security_groups: dict[ResourceName, SecurityGroupSpec] = Field(default_factory=dict)
    instances: dict[ResourceName, InstanceSpec] = Field(default_factory=dict)

    @field_validator("network", mode="before")
    @classmethod
    def _default_shorthand(cls, value: Any) -> Any:
        return {"vpc_cidr": "default"} if value == "default" else value

    _null_entries = field_validator("key_pairs", "security_groups", "instances", mode="before")(
        classmethod(lambda cls, value: _empty_entries(value)))


# --- the environment -----------------------------------------------------------------------

RESERVED_TAG_PREFIXES = ("aws:", "envkit:")


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
        problem = _iam_tag_text(value)
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
