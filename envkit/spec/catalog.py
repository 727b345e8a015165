"""AWS facts the spec is checked against, read from data that botocore and moto ship.

Nothing here is a hand-typed list of AWS facts: regions come from botocore's endpoint
data, availability zones and instance-type offerings from moto's EC2 offering tables,
instance types (ENI limits, architectures, spot support) from moto's instance-type
catalogue, and AWS managed policy names from moto's copy of the managed-policy set.
Each table is loaded once, on first use, so a spec that never mentions a managed policy
never pays for reading that 4 MB table.
"""

from __future__ import annotations

import gzip
import importlib.util
import json
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path


@dataclass(frozen=True)
class InstanceType:
    """The facts about one EC2 instance type that a lab spec is checked against."""

    name: str
    max_network_interfaces: int
    architectures: tuple[str, ...]
    usage_classes: tuple[str, ...]
    vcpus: int
    memory_mib: int


@cache
def moto_root() -> Path:
    """moto's package folder, found without importing moto (its import costs ~0.15 s and
    only its data files are read here)."""
    spec = importlib.util.find_spec("moto")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError("moto is not installed (pip install 'moto[server]')")
    return Path(next(iter(spec.submodule_search_locations)))


def moto_data(*parts: str) -> Path:
    """A file of moto's EC2 data tables (``moto/ec2/resources/...``)."""
    return moto_root().joinpath("ec2", "resources", *parts)


def _load_gz_json(path) -> object:
    with path.open("rb") as fh:
        return json.loads(gzip.decompress(fh.read()))


@cache
def endpoints() -> dict:
    """botocore's endpoint data: partitions, their DNS suffixes and regions (its own
    data/endpoints.json, read without importing botocore, which costs far more)."""
    import json

    spec = importlib.util.find_spec("botocore")
    if spec is not None and spec.submodule_search_locations:
        path = Path(next(iter(spec.submodule_search_locations))) / "data" / "endpoints.json"
        if path.is_file():
            return json.loads(path.read_text(encoding="utf-8"))
    import botocore.loaders

    return botocore.loaders.Loader().load_data("endpoints")


@cache
def regions() -> frozenset[str]:
    """Every region botocore knows, across partitions."""
    return frozenset(r for p in endpoints()["partitions"] for r in p["regions"])


@cache
def _az_offerings(region: str) -> dict[str, frozenset[str]]:
    path = moto_data("instance_type_offerings", "availability-zone", f"{region}.json.gz")
    if not path.is_file():
        return {}
    zones: dict[str, set[str]] = {}
    for row in _load_gz_json(path):
        zones.setdefault(row["Location"], set()).add(row["InstanceType"])
    return {z: frozenset(t) for z, t in zones.items()}


def availability_zones(region: str) -> frozenset[str] | None:
    """The region's availability zones, or None when the data has no table for it."""
    zones = _az_offerings(region)
    return frozenset(zones) if zones else None


def offered_in_zone(instance_type: str, zone: str) -> bool | None:
    """Whether the type is offered in the zone; None when the zone's offerings are unknown."""
    region = zone[:-1]
    offerings = _az_offerings(region).get(zone)
    if offerings is None:
        return None
    return instance_type in offerings


@cache
def instance_types() -> dict[str, InstanceType]:
    """Every EC2 instance type with the limits envkit checks."""
    out = {}
    for name, row in _load_gz_json(moto_data("instance_types.json.gz")).items():
        net = row.get("NetworkInfo", {})
        out[name] = InstanceType(
            name=name,
            max_network_interfaces=int(net.get("MaximumNetworkInterfaces", 1)),
            architectures=tuple(row.get("ProcessorInfo", {}).get("SupportedArchitectures", [])),
            usage_classes=tuple(row.get("SupportedUsageClasses", [])),
            vcpus=int(row.get("VCpuInfo", {}).get("DefaultVCpus", 0)),
            memory_mib=int(row.get("MemoryInfo", {}).get("SizeInMiB", 0)),
        )
    return out


_POLICY_NAME = re.compile(r'^ "([^"]+)":\{', re.M)
_POLICY_PATH = re.compile(r'^  "Path":"([^"]*)"', re.M)


@cache
def managed_policies() -> dict[str, str]:
    """AWS managed policy name -> its path (``/``, ``/service-role/``, ...)."""
    # moto keeps the set as one string literal in a module; importing that module drags in
    # moto itself, so its source is read as text. A full json.loads of this 4 MB document
    # costs ~0.4 s; the two top-level facts we need sit at fixed indentation, so scan for
    # them, and fall back to importing and parsing if the layout ever drifts.
    source = moto_root().joinpath("iam", "aws_managed_policies.py")
    text = source.read_text(encoding="utf-8") if source.is_file() else ""
    names = _POLICY_NAME.findall(text)
    paths = _POLICY_PATH.findall(text)
    if names and len(names) == len(paths):
        return dict(zip(names, paths, strict=True))
    from moto.iam.aws_managed_policies import aws_managed_policies_data

    return {name: row["Path"] for name, row in json.loads(aws_managed_policies_data).items()}


def managed_policy_arn(name: str, partition: str = "aws") -> str | None:
    """The ARN of the AWS managed policy called ``name``, or None if there is none."""
    path = managed_policies().get(name)
    if path is None:
        return None
    return f"arn:{partition}:iam::aws:policy{path}{name}"


def partition_of(region: str) -> str:
    """The ARN partition of a region (aws, aws-cn, aws-us-gov, ...)."""
    if region.startswith("cn-"):
        return "aws-cn"
    if region.startswith("us-gov-"):
        return "aws-us-gov"
    return "aws"
