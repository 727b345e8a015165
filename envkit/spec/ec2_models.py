"""The spec's EC2 part: security groups and their rules, key pairs, instances (root volume,
user data) and the network.
"""

from __future__ import annotations

import ipaddress
import os
import re
from functools import cache
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from ..limits import (
    MAX_PUBLIC_KEY_BYTES,
    MAX_USER_DATA_BYTES,
    clip,
    read_text,
)
from .amis import AMI_ALIASES
from .fields import (
    AMI_ID_RE,
    ResourceName,
    StrictModel,
    check_description,
    check_network,
    check_tags,
    did_you_mean,
    empty_entries,
)

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

    _described = field_validator("description")(classmethod(lambda cls, v: check_description(v)))

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
        return [check_network(v, "a source or destination") for v in items]

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

    _described = field_validator("description")(classmethod(lambda cls, v: check_description(v)))

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
        cidr = check_network(value, "vpc_cidr")
        net = ipaddress.ip_network(cidr)
        if net.version != 4 or not 16 <= net.prefixlen <= 28:
            raise ValueError("a VPC CIDR must be IPv4 with a prefix between /16 and /28")
        return cidr

    @field_validator("subnet_cidr")
    @classmethod
    def _subnet(cls, value: str | None) -> str | None:
        return None if value is None else check_network(value, "subnet_cidr")

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
        classmethod(lambda cls, value: empty_entries(value)))
