"""What every rule module shares: the rule metadata and its registration, whether a program
is foreign, property readers, and the network-rule readers (protocols and ports as AWS reads
them).

Rules read resource properties as the engine sends them (pulumi-aws wire names:
``metadataOptions.httpTokens``, ``rootBlockDevice.encrypted``...), through the read-only
proxies of pulumi-policy's analyzer.
"""

from __future__ import annotations

import importlib
import importlib.util
import ipaddress
import json
import os
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache, lru_cache
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    PolicyComplianceFramework,
    PolicyConfigSchema,
    ResourceValidationPolicy,
    Severity,
    StackValidationPolicy,
)
from pulumi_policy import proxy as _proxy
from pulumi_policy.proxy import UnknownValueError

# pulumi-policy's proxy classes and unknown sentinels (private; pulumi-policy is pinned).
_DictProxy, _ListProxy = _proxy._DictProxy, _proxy._ListProxy
_UNKNOWNS = frozenset({_proxy.UNKNOWN_BOOLEAN_VALUE, _proxy.UNKNOWN_NUMBER_VALUE,
                       _proxy.UNKNOWN_STRING_VALUE, _proxy.UNKNOWN_ARRAY_VALUE,
                       _proxy.UNKNOWN_ASSET_VALUE, _proxy.UNKNOWN_ARCHIVE_VALUE,
                       _proxy.UNKNOWN_OBJECT_VALUE})

PACK_NAME = "envkit-least-privilege"

MANDATORY = EnforcementLevel.MANDATORY
ADVISORY = EnforcementLevel.ADVISORY
DISABLED = EnforcementLevel.DISABLED

# --- rule metadata and registration ---------------------------------------------------------

#: Resource types a rule can say anything about: a set, a predicate, or None for any type.
Types = frozenset[str] | Callable[[str], bool] | None


@dataclass
class Rule:
    """A rule's metadata (what `envkit policy list` and the README show) and its policy."""

    name: str
    description: str
    level: EnforcementLevel
    severity: Severity
    controls: list[str]
    remediation: str
    kind: str = "resource"
    config: dict[str, dict[str, Any]] = field(default_factory=dict)
    can_remediate: bool = False
    #: Resource types a rule can say anything about (None: any type). The engine runs every
    #: rule on every resource; the offline gate uses this to skip the analyzer calls that
    #: cannot produce a finding, and gives a stack rule only the resources it reads.
    types: Types = None
    #: The level on a foreign program (one not produced from an envkit spec) for rules that
    #: check envkit's own conventions; None: the same level everywhere.
    foreign_level: EnforcementLevel | None = None
    #: Config defaults on a foreign program, where envkit's own default is a lab convention
    #: (the lab-sized instance types): a pipeline's policy config still sets its own.
    foreign_config: dict[str, Any] = field(default_factory=dict)
    #: The service the rule belongs to (iam, ec2, ebs, network, tags, classroom): its module's
    #: name up to the first underscore (iam_principals is iam).
    service: str = ""

    @property
    def summary(self) -> str:
        """The description's first clause without its long asides: one line for
        `envkit policy list` (the description is in `--json`, the docs and SARIF)."""
        text = self.description.split(". ", 1)[0].split("; ", 1)[0].rstrip(".")
        text = re.sub(r" \((?=[^)]{24,}\))[^)]*\)", "", text)
        if len(text) > 100:  # the list after a colon is the detail
            text = text.split(": ", 1)[0]
        return text + "."

    def applies_to(self, type_: str) -> bool:
        """Whether the rule can say anything about resources of ``type_``."""
        if self.types is None:
            return True
        if callable(self.types):
            return self.types(type_)
        return type_ in self.types

    def to_dict(self) -> dict[str, Any]:
        """The rule as JSON-ready data."""
        return {"name": self.name, "summary": self.summary, "description": self.description,
                "level": self.level.value, "severity": self.severity.value,
                "controls": self.controls, "remediation": self.remediation, "kind": self.kind,
                "config": self.config, "remediates": self.can_remediate,
                "foreign_level": self.foreign_level.value if self.foreign_level else None,
                "foreign_config": self.foreign_config, "service": self.service}


#: Every rule's metadata and its CrossGuard policy, in registration order (one list each,
#: index for index; the rule modules register into them when imported).
RULES: list[Rule] = []
POLICIES: list[Any] = []

_FRAMEWORKS = {"CIS": ("CIS AWS Foundations Benchmark", "3.0.0"),
               "Security Hub": ("AWS Security Hub FSBP", "1.0.0"),
               "Checkov": ("Checkov", "3"),
               "trivy": ("trivy-checks", "80e5382"),
               "AWSGuard": ("AWSGuard (pulumi-policy-aws)", "4355f3b"),
               "AWS IAM": ("AWS IAM best practices", "2024")}


def _framework(controls: list[str]) -> PolicyComplianceFramework:
    first = controls[0]
    for prefix, (name, version) in _FRAMEWORKS.items():
        if first.startswith(prefix):
            return PolicyComplianceFramework(name=name, version=version,
                                             reference=first[len(prefix):].strip())
    return PolicyComplianceFramework(name=first)


def rule(name: str, description: str, level: EnforcementLevel, severity: Severity,
         controls: list[str], remediation: str, *, types: Types, kind: str = "resource",
         config: dict[str, dict[str, Any]] | None = None,
         remediate: Callable[[Any], Any] | None = None,
         foreign_level: EnforcementLevel | None = None,
         foreign_config: dict[str, Any] | None = None) -> Callable[[Callable], Callable]:
    """Register a validation function as a CrossGuard policy with envkit's metadata.

    ``types`` names the resource types the rule reads (see :attr:`Rule.types`);
    ``foreign_level`` is the rule's level on programs envkit did not write, and
    ``foreign_config`` its config defaults there."""

    def wrap(validate: Callable) -> Callable:
        meta = Rule(name, description, level, severity, controls, remediation, kind,
                    config or {}, remediate is not None, types, foreign_level,
                    dict(foreign_config or {}),
                    validate.__module__.rsplit(".", 1)[-1].split("_")[0])
        common = {
            "name": name, "description": description, "enforcement_level": level,
            "config_schema": PolicyConfigSchema(properties=config) if config else None,
            "severity": severity, "framework": _framework(controls),
            "tags": [c.lower().replace(" ", "-") for c in controls],
            "remediation_steps": remediation,
        }
        if kind == "stack":
            policy = StackValidationPolicy(validate=validate, **common)
        else:
            policy = ResourceValidationPolicy(validate=validate, remediate=remediate, **common)
        RULES.append(meta)
        POLICIES.append(policy)
        return validate

    return wrap


#: Type tokens of envkit's components (envkit:iam:IamLab, envkit:network:LabNetwork ...).
COMPONENT_PREFIX = "envkit:"


def is_foreign(resource_types: Iterable[str]) -> bool:
    """Whether a program is foreign: none of its resources is an envkit component, so it was
    not produced from an envkit spec (nor built with envkit's components in Python)."""
    return not any(t.startswith(COMPONENT_PREFIX) for t in resource_types)


def config_value(args: Any, key: str, default: Any) -> Any:
    """A policy config property, or ``default`` when unset."""
    value = args.get_config().get(key)
    return default if value is None else value


# --- reading properties ---------------------------------------------------------------------


def _items(proxy: Any) -> list[tuple[Any, Any]]:
    """A read-only proxy's (key or index, value) pairs, without its per-item machinery.

    pulumi-policy's proxies check every access for unknown values, and iterating a list proxy
    goes through ``Sequence.__iter__`` (an IndexError per list): together most of the time
    the rules spent reading. The proxies expose their container as ``proxy["__target"]``;
    reading it directly, an unknown value is still re-read through the proxy, so the
    UnknownValueError it raises is the analyzer's own, path included."""
    target = proxy["__target"]
    pairs = list(target.items()) if type(proxy) is _DictProxy else list(enumerate(target))
    for key, value in pairs:
        if type(value) is str and value in _UNKNOWNS:
            proxy[key]  # raises UnknownValueError naming the property
    return pairs


def as_list(value: Any) -> list:
    """A property that may be one value or a list, as a list."""
    if value is None:
        return []
    if type(value) is _ListProxy:
        return [v for _, v in _items(value)]
    if isinstance(value, Sequence) and not isinstance(value, str):
        return list(value)
    return [value]


_SCALARS = frozenset({str, int, float, bool, type(None)})


def plain(value: Any) -> Any:
    """A proxied property as plain dicts and lists (unknown values raise, as they should)."""
    t = type(value)
    if t in _SCALARS:  # most leaves; spares an ABC isinstance check each
        return value
    if t is _DictProxy:
        return {k: plain(v) for k, v in _items(value)}
    if t is _ListProxy:
        return [plain(v) for _, v in _items(value)]
    if isinstance(value, Mapping):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, Sequence) and not isinstance(value, str):
        return [plain(v) for v in value]
    return value


def document(value: Any) -> dict[str, Any] | None:
    """A policy document from a JSON string or a mapping; None when unreadable."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return None
    value = plain(value)
    return value if isinstance(value, dict) else None


def known(fn: Callable[[], Any], default: Any = None) -> Any:
    """``fn()``, or ``default`` when it reads a value unknown before deployment."""
    try:
        return fn()
    except UnknownValueError:
        return default


def by_type(resources: list, type_: str) -> list:
    """The stack resources of one type."""
    return [r for r in resources if r.resource_type == type_]


@cache
@cache
def taggable(type_: str) -> bool:
    """Whether a pulumi-aws resource type takes tags: its class in the installed pulumi_aws
    has a ``tags`` output. Read from the class's source file, which costs a file read
    where importing the module costs up to a tenth of a second (``pulumi_aws.ec2``)."""
    package, _, rest = type_.partition(":")
    module, _, name = rest.partition(":")
    if package != "aws" or not name or not name.isidentifier():
        return False
    folder, _, member = module.partition("/")
    found = _sdk_source(folder, member, name)
    if found is not None:
        return found
    try:
        cls = getattr(importlib.import_module(f"pulumi_aws.{folder}"), name)
    except (ImportError, AttributeError):
        return False
    return isinstance(getattr(cls, "tags", None), property)


def _sdk_source(folder: str, member: str, name: str) -> bool | None:
    """Whether the generated class ``name`` in pulumi_aws/FOLDER/MEMBER.py declares a
    ``tags`` output getter; None where the file or the class is not where the SDK's
    generator puts them (then the caller imports the module)."""
    if not (folder.isidentifier() and member.isidentifier()):
        return None
    spec = importlib.util.find_spec("pulumi_aws")
    locations = list(spec.submodule_search_locations or []) if spec else []
    snake = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", member).lower()
    # Python keywords get a trailing underscore (``lambda`` is ``pulumi_aws/lambda_``).
    for location, directory in [(p, d) for p in locations for d in (folder, folder + "_")]:
        path = os.path.join(location, directory, f"{snake}.py")
        try:
            with open(path, encoding="utf-8") as handle:
                text = handle.read(4 * 1024 * 1024)
        except OSError:
            continue
        start = text.find(f"\nclass {name}(pulumi.CustomResource):")
        if start < 0:
            return None
        return "def tags(self) -> pulumi.Output[" in text[start:]
    return None


def tags_of(resource: Any) -> dict[str, Any] | None:
    """A stack resource's tags; None while they are unknown."""
    return known(lambda: plain(resource.props.get("tags")) or {})


# --- network rules, read as AWS reads them ------------------------------------------------

ADMIN_PORTS = {22: "SSH", 3389: "RDP"}

SG_TYPES = ("aws:ec2/securityGroup:SecurityGroup",
            "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup")
RULE_TYPES = {"aws:ec2/securityGroupRule:SecurityGroupRule",
              "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule",
              "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule"}
NACL_TYPES = ("aws:ec2/networkAcl:NetworkAcl", "aws:ec2/defaultNetworkAcl:DefaultNetworkAcl")
NACL_RULE = "aws:ec2/networkAclRule:NetworkAclRule"

# AWS's protocol names for the numbers it also accepts; -1 (or "all") is every protocol.
_PROTOCOLS = {"-1": "all", "all": "all", "6": "tcp", "17": "udp", "1": "icmp", "58": "icmpv6"}


def protocol(value: Any) -> str:
    """A protocol as AWS reads it, whatever the program wrote: ``-1``, ``"-1"``, ``-1.0``
    (numbers arrive as floats), ``"all"`` and ``"ALL"`` are ``"all"``; ``6`` and ``"TCP"``
    are ``"tcp"``; ``17`` is ``"udp"``; anything else is its lowercase text."""
    text = str(value).strip().lower()
    try:
        number = float(text)
    except ValueError:
        return _PROTOCOLS.get(text, text)
    return _PROTOCOLS.get(str(int(number)), text) if number.is_integer() else text


def _port(value: Any) -> int | None:
    try:
        return int(float(value))
    except (TypeError, ValueError):
        return None


@dataclass(frozen=True)
class Flow:
    """One security-group or network-ACL rule in AWS's terms.

    ``ports`` is the inclusive TCP/UDP port range the rule opens: every port for protocol
    ``all``, and for tcp/udp when a bound is missing or ``-1``; None for protocols without
    ports (icmp...)."""

    protocol: str
    ports: tuple[int, int] | None
    cidrs: tuple[str, ...]
    description: str | None = None
    allow: bool = True
    number: int | None = None

    @property
    def all_ports(self) -> bool:
        """Whether the rule lets every port (of every protocol, or of tcp/udp) through."""
        return self.protocol == "all" or (self.protocol in ("tcp", "udp")
                                          and self.ports == (0, 65535))

    def covers(self, port: int) -> bool:
        """Whether the rule lets TCP ``port`` through."""
        if self.protocol == "all":
            return True
        return self.protocol == "tcp" and self.ports is not None \
            and self.ports[0] <= port <= self.ports[1]

    @property
    def world(self) -> list[str]:
        """The rule's CIDRs that are the whole internet (0.0.0.0/0, ::/0)."""
        return [c for c in self.cidrs if is_world(c)]


def flow(protocol_value: Any, from_port: Any, to_port: Any, cidrs: Any, *,
         description: Any = None, allow: bool = True, number: Any = None) -> Flow:
    """A :class:`Flow` from the properties a program wrote, normalised as AWS does."""
    proto = protocol(protocol_value)
    low, high = _port(from_port), _port(to_port)
    ports: tuple[int, int] | None = None
    if proto == "all" or (proto in ("tcp", "udp") and (low in (None, -1) or high in (None, -1))):
        ports = (0, 65535)
    elif proto in ("tcp", "udp") and low is not None and high is not None:
        ports = (low, high)
    return Flow(proto, ports, tuple(str(c) for c in as_list(plain(cidrs)) if c),
                description if isinstance(description, str) else None, allow, _port(number))


@lru_cache(maxsize=1024)
def is_world(cidr: str) -> bool:
    """Whether a CIDR is every address (0.0.0.0/0, ::/0, however written)."""
    try:
        return ipaddress.ip_network(cidr.strip(), strict=False).prefixlen == 0
    except ValueError:
        return False


def sg_rules(args: Any, direction: str) -> list[Flow]:
    """A security group's rules of one direction (``ingress``/``egress``), inline or
    standalone (SecurityGroupRule, vpc.SecurityGroupIngressRule/EgressRule).

    Only the rule properties are read, so an unknown vpcId does not hide the rules."""
    t = args.resource_type
    if t in SG_TYPES:
        return [flow(r.get("protocol"), r.get("fromPort"), r.get("toPort"),
                     as_list(r.get("cidrBlocks")) + as_list(r.get("ipv6CidrBlocks")),
                     description=r.get("description"))
                for r in (plain(args.props.get(direction)) or []) if isinstance(r, dict)]
    p = args.props
    if t == "aws:ec2/securityGroupRule:SecurityGroupRule":
        if p.get("type") != direction:
            return []
        return [flow(p.get("protocol"), p.get("fromPort"), p.get("toPort"),
                     as_list(plain(p.get("cidrBlocks"))) + as_list(plain(p.get("ipv6CidrBlocks"))),
                     description=p.get("description"))]
    if t in RULE_TYPES and t.endswith("IngressRule") == (direction == "ingress"):
        return [flow(p.get("ipProtocol"), p.get("fromPort"), p.get("toPort"),
                     as_list(p.get("cidrIpv4")) + as_list(p.get("cidrIpv6")),
                     description=p.get("description"))]
    return []


def nacl_rules(args: Any, direction: str) -> list[Flow]:
    """A network ACL's rules of one direction, inline or a standalone NetworkAclRule, in
    the order AWS evaluates them (rule number)."""
    t = args.resource_type
    out = []
    if t in NACL_TYPES:
        out = [flow(r.get("protocol"), r.get("fromPort"), r.get("toPort"),
                    [r.get("cidrBlock"), r.get("ipv6CidrBlock")],
                    allow=str(r.get("action")).lower() == "allow", number=r.get("ruleNo"))
               for r in (plain(args.props.get(direction)) or []) if isinstance(r, dict)]
    elif t == NACL_RULE and bool(args.props.get("egress")) == (direction == "egress"):
        p = args.props
        out = [flow(p.get("protocol"), p.get("fromPort"), p.get("toPort"),
                    [p.get("cidrBlock"), p.get("ipv6CidrBlock")],
                    allow=str(p.get("ruleAction")).lower() == "allow",
                    number=p.get("ruleNumber"))]
    return sorted(out, key=lambda f: f.number if f.number is not None else 32767)


# --- details of a finding -------------------------------------------------------------------

#: How many findings' details are kept between a rule's report and the gate reading them.
_DETAILS_KEPT = 4096
_DETAILS: dict[str, dict[str, Any]] = {}


def with_details(message: str, details: dict[str, Any]) -> str:
    """``message``, remembering ``details`` (the full data a summarised message stands for,
    such as every action of a long list) for the gate's JSON output.

    pulumi-policy's report carries a message only; the engine shows that message, the gate
    adds the details to the finding whose message it is (see :func:`details_of`)."""
    if len(_DETAILS) >= _DETAILS_KEPT:
        del _DETAILS[next(iter(_DETAILS))]
    _DETAILS[message.strip()] = details
    return message


def details_of(message: str) -> dict[str, Any] | None:
    """The details remembered for a reported message, if any."""
    return _DETAILS.get(message.strip())
