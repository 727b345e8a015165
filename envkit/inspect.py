"""Live inspection of an environment with boto3: what really exists on the target.

Resources are found by the ``envkit:environment`` tag (instances, security groups) and
by the ``/envkit/`` IAM path plus the same tag (users), so inspection needs no Pulumi CLI
and works on whatever the engine left behind.
"""

from __future__ import annotations

import urllib.error
import urllib.request
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from typing import Any

from .tagnames import TAG_ENVIRONMENT


@dataclass
class InstanceInfo:
    """One instance as EC2 reports it."""

    name: str
    id: str
    state: str
    type: str
    private_ip: str | None
    public_ip: str | None
    public_dns: str | None
    security_groups: dict[str, list[str]] = field(default_factory=dict)
    network_interfaces: list[str] = field(default_factory=list)
    web: dict[str, Any] | None = None


@dataclass
class UserInfo:
    """One IAM user as IAM reports it."""

    name: str
    groups: list[str]
    console: bool
    mfa_devices: int
    access_key_ages_days: list[int]


@dataclass
class Inspection:
    """The live view of one environment."""

    environment: str
    target: str
    instances: list[InstanceInfo] = field(default_factory=list)
    users: list[UserInfo] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """The inspection as JSON-ready data."""
        return asdict(self)


def _tag(tags: list[dict[str, str]] | None, key: str) -> str | None:
    return next((t["Value"] for t in tags or [] if t["Key"] == key), None)


def _rule_text(rule: dict[str, Any]) -> str:
    proto = rule.get("IpProtocol", "-1")
    if proto == "-1":
        ports = "all traffic"
    else:
        low, high = rule.get("FromPort"), rule.get("ToPort")
        ports = f"{proto} {low}" if low == high else f"{proto} {low}-{high}"
    sources = [r["CidrIp"] for r in rule.get("IpRanges", [])]
    sources += [r["CidrIpv6"] for r in rule.get("Ipv6Ranges", [])]
    return f"{ports} from {', '.join(sources) or 'groups'}"


def check_url(url: str, timeout: float = 5.0) -> dict[str, Any]:
    """GET ``url``: the HTTP status, or the error that stopped it."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return {"url": url, "status": response.status, "ok": 200 <= response.status < 400}
    except urllib.error.HTTPError as exc:
        return {"url": url, "status": exc.code, "ok": False}
    except (urllib.error.URLError, OSError) as exc:
        return {"url": url, "status": None, "ok": False,
                "error": str(getattr(exc, "reason", exc))}


def inspect_environment(environment: str, target: Any, check_web: bool = False,
                        web_urls: dict[str, str] | None = None) -> Inspection:
    """Read the live environment from ``target`` (a :class:`envkit.targets.Target`).

    ``web_urls`` (instance name -> URL, from the stack outputs) marks the web servers;
    with ``check_web`` each is fetched. The local emulator runs no real machines, so
    there web checks are reported as skipped rather than sent anywhere.
    """
    result = Inspection(environment=environment, target=target.kind)
    ec2 = target.client("ec2")
    iam = target.client("iam")
    flt = [{"Name": f"tag:{TAG_ENVIRONMENT}", "Values": [environment]}]

    groups = {g["GroupId"]: g for g in ec2.describe_security_groups(Filters=flt)
              .get("SecurityGroups", [])}
    pages = ec2.get_paginator("describe_instances").paginate(Filters=flt)
    for page in pages:
        for reservation in page.get("Reservations", []):
            for inst in reservation.get("Instances", []):
                state = inst.get("State", {}).get("Name", "unknown")
                if state == "terminated":
                    continue
                full_name = _tag(inst.get("Tags"), "Name") or inst["InstanceId"]
                short = full_name.removeprefix(f"{environment}-")
                sg_rules = {}
                for sg in inst.get("SecurityGroups", []):
                    known = groups.get(sg["GroupId"])
                    if known is None:
                        known = (ec2.describe_security_groups(GroupIds=[sg["GroupId"]])
                                 ["SecurityGroups"][0])
                    sg_rules[sg.get("GroupName", sg["GroupId"])] = [
                        _rule_text(r) for r in known.get("IpPermissions", [])]
                info = InstanceInfo(
                    name=short, id=inst["InstanceId"], state=state,
                    type=inst.get("InstanceType", ""),
                    private_ip=inst.get("PrivateIpAddress"),
                    public_ip=inst.get("PublicIpAddress"),
                    public_dns=inst.get("PublicDnsName") or None,
                    security_groups=sg_rules,
                    network_interfaces=[n["NetworkInterfaceId"]
                                        for n in inst.get("NetworkInterfaces", [])])
                url = (web_urls or {}).get(short)
                if url:
                    if not check_web:
                        info.web = {"url": url}
                    elif target.kind == "local":
                        info.web = {"url": url, "ok": None,
                                    "skipped": "the local emulator runs no real instances"}
                    else:
                        info.web = check_url(url)
                result.instances.append(info)

    now = datetime.now(timezone.utc)
    for page in iam.get_paginator("list_users").paginate(PathPrefix="/envkit/"):
        for user in page.get("Users", []):
            name = user["UserName"]
            tags = iam.list_user_tags(UserName=name).get("Tags", [])
            if _tag(tags, TAG_ENVIRONMENT) != environment:
                continue
            try:
                iam.get_login_profile(UserName=name)
                console = True
            except iam.exceptions.NoSuchEntityException:
                console = False
            keys = iam.list_access_keys(UserName=name).get("AccessKeyMetadata", [])
            result.users.append(UserInfo(
                name=name,
                groups=[g["GroupName"] for g in iam.list_groups_for_user(UserName=name)
                        .get("Groups", [])],
                console=console,
                mfa_devices=len(iam.list_mfa_devices(UserName=name).get("MFADevices", [])),
                access_key_ages_days=[(now - k["CreateDate"]).days for k in keys]))
    if not result.instances and not result.users:
        result.notes.append(f"nothing tagged {TAG_ENVIRONMENT}={environment} exists on the "
                            f"{target.kind} target")
    return result
