"""What every rule module shares: the rule metadata and its registration, property readers,
parliament access and the security-group rule reader.

Rules read resource properties as the engine sends them (pulumi-aws wire names:
``metadataOptions.httpTokens``, ``rootBlockDevice.encrypted``...), through the read-only
proxies of pulumi-policy's analyzer.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import sys
import types
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    PolicyComplianceFramework,
    PolicyConfigSchema,
    ResourceValidationPolicy,
    Severity,
    StackValidationPolicy,
)
from pulumi_policy.proxy import UnknownValueError

PACK_NAME = "envkit-least-privilege"

MANDATORY = EnforcementLevel.MANDATORY
ADVISORY = EnforcementLevel.ADVISORY

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

    def applies_to(self, type_: str) -> bool:
        """Whether the rule can say anything about resources of ``type_``."""
        if self.types is None:
            return True
        if callable(self.types):
            return self.types(type_)
        return type_ in self.types

    def to_dict(self) -> dict[str, Any]:
        """The rule as JSON-ready data."""
        return {"name": self.name, "description": self.description,
                "level": self.level.value, "severity": self.severity.value,
                "controls": self.controls, "remediation": self.remediation, "kind": self.kind,
                "config": self.config, "remediates": self.can_remediate}


#: Every rule's metadata and its CrossGuard policy, in registration order (one list each,
#: index for index; the rule modules register into them when imported).
RULES: list[Rule] = []
POLICIES: list[Any] = []

_FRAMEWORKS = {"CIS": ("CIS AWS Foundations Benchmark", "3.0.0"),
               "Security Hub": ("AWS Security Hub FSBP", "1.0.0"),
               "Checkov": ("Checkov", "3"),
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
         remediate: Callable[[Any], Any] | None = None) -> Callable[[Callable], Callable]:
    """Register a validation function as a CrossGuard policy with envkit's metadata.

    ``types`` names the resource types the rule reads (see :attr:`Rule.types`)."""

    def wrap(validate: Callable) -> Callable:
        meta = Rule(name, description, level, severity, controls, remediation, kind,
                    config or {}, remediate is not None, types)
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


def policy_named(name: str) -> Any:
    """The CrossGuard policy object called ``name``."""
    return next(p for p in POLICIES if p.name == name)


def config_value(args: Any, key: str, default: Any) -> Any:
    """A policy config property, or ``default`` when unset."""
    value = args.get_config().get(key)
    return default if value is None else value


# --- reading properties ---------------------------------------------------------------------


def as_list(value: Any) -> list:
    """A property that may be one value or a list, as a list."""
    # The analyzer hands properties over as read-only Sequence/Mapping proxies.
    if value is None:
        return []
    if isinstance(value, Sequence) and not isinstance(value, str):
        return list(value)
    return [value]


_SCALARS = frozenset({str, int, float, bool, type(None)})


def plain(value: Any) -> Any:
    """A proxied property as plain dicts and lists (unknown values raise, as they should)."""
    if type(value) in _SCALARS:  # most leaves; spares an ABC isinstance check each
        return value
    if isinstance(value, Mapping):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, Sequence) and not isinstance(value, str):
        return [plain(v) for v in value]
    return value


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
def taggable(type_: str) -> bool:
    """Whether a pulumi-aws resource type takes tags (read from the pulumi_aws class)."""
    package, _, rest = type_.partition(":")
    module, _, name = rest.partition(":")
    if package != "aws" or not name:
        return False
    try:
        cls = getattr(importlib.import_module(f"pulumi_aws.{module.split('/')[0]}"), name)
    except (ImportError, AttributeError):
        return False
    return isinstance(getattr(cls, "tags", None), property)


def tags_of(resource: Any) -> dict[str, Any] | None:
    """A stack resource's tags; None while they are unknown."""
    return known(lambda: plain(resource.props.get("tags")) or {})


# --- parliament -------------------------------------------------------------------------------


def import_parliament() -> Any:
    """Import parliament without pkg_resources.

    parliament's ``__init__`` imports the deprecated ``pkg_resources`` (about 90 ms, half the
    cost of parliament itself) only to call ``resource_filename`` for two of its own data
    files. While parliament is imported, and only then, ``sys.modules`` holds a stand-in with
    that one function; nothing else in the process ever sees it.
    """
    if "parliament" in sys.modules or "pkg_resources" in sys.modules:
        import parliament

        return parliament
    shim = types.ModuleType("pkg_resources")

    def resource_filename(package: str, name: str) -> str:
        spec = importlib.util.find_spec(package)
        return str(Path(spec.origin).parent / name)  # type: ignore[union-attr, arg-type]

    shim.resource_filename = resource_filename  # type: ignore[attr-defined]
    sys.modules["pkg_resources"] = shim
    try:
        import parliament
    finally:
        if sys.modules.get("pkg_resources") is shim:
            del sys.modules["pkg_resources"]
    return parliament


@cache
def parliament_findings(raw: str) -> tuple[tuple[str, str], ...]:
    """parliament's findings (issue, detail) for one document, community auditors included."""
    analyze_policy_string = import_parliament().analyze_policy_string

    policy = analyze_policy_string(raw, include_community_auditors=True)
    return tuple((f.issue, json.dumps(f.detail, default=str) if not isinstance(f.detail, str)
                  else f.detail) for f in policy.findings)


# --- security-group rules -------------------------------------------------------------------

ADMIN_PORTS = {22: "SSH", 3389: "RDP"}
WORLD = ("0.0.0.0/0", "::/0")

SG_TYPES = ("aws:ec2/securityGroup:SecurityGroup",
            "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup")
RULE_TYPES = {"aws:ec2/securityGroupRule:SecurityGroupRule",
              "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule",
              "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule"}


def sg_rules(args: Any, direction: str) -> list[dict[str, Any]]:
    """Security-group rules in one shape: protocol, fromPort, toPort, cidrs, description.

    Only the rule properties are read, so an unknown vpcId does not hide the rules."""
    t = args.resource_type
    out = []
    if t in SG_TYPES:
        for r in plain(args.props.get(direction)) or []:
            r = r or {}
            out.append({"protocol": str(r.get("protocol")), "fromPort": r.get("fromPort"),
                        "toPort": r.get("toPort"), "description": r.get("description"),
                        "cidrs": as_list(r.get("cidrBlocks")) + as_list(r.get("ipv6CidrBlocks"))})
        return out
    if t not in RULE_TYPES:
        return out
    p = args.props
    if t == "aws:ec2/securityGroupRule:SecurityGroupRule":
        if p.get("type") == direction:
            out.append({"protocol": str(p.get("protocol")), "fromPort": p.get("fromPort"),
                        "toPort": p.get("toPort"), "description": p.get("description"),
                        "cidrs": as_list(plain(p.get("cidrBlocks")))
                        + as_list(plain(p.get("ipv6CidrBlocks")))})
    elif t.endswith("IngressRule") == (direction == "ingress"):
        out.append({"protocol": str(p.get("ipProtocol")), "fromPort": p.get("fromPort"),
                    "toPort": p.get("toPort"), "description": p.get("description"),
                    "cidrs": as_list(p.get("cidrIpv4")) + as_list(p.get("cidrIpv6"))})
    return out


def all_ports(r: dict[str, Any]) -> bool:
    """Whether a rule lets every port through."""
    return r["protocol"] in ("-1", "all") or (r["fromPort"] in (0, None)
                                              and r["toPort"] in (65535, None, -1))


def covers(r: dict[str, Any], port: int) -> bool:
    """Whether a rule lets TCP ``port`` through."""
    if all_ports(r):
        return True
    if r["protocol"] not in ("tcp", "6"):
        return False
    return (r["fromPort"] or 0) <= port <= (r["toPort"] or 0)
