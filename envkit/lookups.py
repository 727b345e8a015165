"""Offline answers to AWS data-source invokes, as a fresh account in moto would give them.

One module serves both offline runners: ``envkit plan`` (in-process, envkit's own program)
and ``envkit policy check`` on a Pulumi project, whose program runs in a child process
that may live in the project's own virtualenv. That child loads this file by path, so it
imports nothing but the standard library; the facts it needs (zones, partitions, where
moto's AMI tables are) are gathered by the parent with :func:`gather_facts` and handed over
as JSON.

Answers follow the providers' and AWS's own data: ``iam.getPolicyDocument`` is a pure
function of its inputs and is computed exactly as terraform-provider-aws builds it (see
:func:`policy_document`); the account, default VPC, subnets and AMIs are moto's.
"""

from __future__ import annotations

import base64
import fnmatch
import gzip
import hashlib
import ipaddress
import json
import re
import zlib
from collections.abc import Callable, Mapping
from functools import cache
from pathlib import Path
from typing import Any

#: moto's default account (moto/core/models.py DEFAULT_ACCOUNT_ID).
ACCOUNT_ID = "123456789012"
#: What moto's STS answers for a caller it does not know (moto/sts/models.py).
CALLER_USER_ID = "AKIAIOSFODNN7EXAMPLE"
DEFAULT_VPC_ID = "vpc-0default0000000000"
DEFAULT_VPC_CIDR = "172.31.0.0/16"

TOKENS = {
    "policy_document": "aws:iam/getPolicyDocument:getPolicyDocument",
    "availability_zones": "aws:index/getAvailabilityZones:getAvailabilityZones",
    "region": "aws:index/getRegion:getRegion",
    "caller_identity": "aws:index/getCallerIdentity:getCallerIdentity",
    "partition": "aws:index/getPartition:getPartition",
    "ami": "aws:ec2/getAmi:getAmi",
    "vpc": "aws:ec2/getVpc:getVpc",
    "subnet": "aws:ec2/getSubnet:getSubnet",
    "subnets": "aws:ec2/getSubnets:getSubnets",
    "ecr_token": "aws:ecr/getAuthorizationToken:getAuthorizationToken",
    "ecr_credentials": "aws:ecr/getCredentials:getCredentials",
}


class LookupFailure(Exception):
    """The provider itself would reject this invoke (the message is the provider's)."""


# --- facts (gathered in the parent process) -----------------------------------------------


def gather_facts() -> dict[str, Any]:
    """Every region's partition, DNS suffix, description and zones, plus where moto keeps
    its AMI tables: the JSON a child runner answers lookups from.

    Regions and partitions come from botocore's endpoint data; zones (names and ids) from
    moto's zone table, with moto's own rule for regions it does not list.
    """
    from .spec.catalog import endpoints, moto_data

    regions = {name: region_facts(name) for partition in endpoints()["partitions"]
               for name in partition["regions"]}
    # moto serves both tables from DescribeImages (moto/ec2/models/amis.py _load_amis).
    folders = [moto_data("latest_amis"), moto_data("ecs", "optimized_amis")]
    return {"account_id": ACCOUNT_ID, "regions": regions,
            "amis_dirs": [str(f) for f in folders if f.is_dir()]}


@cache
def region_facts(region: str) -> dict[str, Any] | None:
    """One region's entry of :func:`gather_facts` (None for a region botocore does not
    know); what ``envkit plan`` reads, lazily, for its own region."""
    from .spec.catalog import endpoints

    for partition in endpoints()["partitions"]:
        info = partition["regions"].get(region)
        if info is not None:
            return {"partition": partition["partition"], "dns_suffix": partition["dnsSuffix"],
                    "description": info.get("description", region),
                    "zones": _moto_zone_table().get(region) or _regular_zones(region)}
    return None


_ZONE = re.compile(r'Zone\(\s*region_name="([^"]+)",\s*name="([^"]+)",\s*zone_id="([^"]+)"')


@cache
def _moto_zone_table() -> dict[str, list[list[str]]]:
    """moto's explicit zone table, read as text (importing it imports boto3 and moto)."""
    from .spec.catalog import moto_root

    source = moto_root() / "ec2" / "models" / "availability_zones_and_regions.py"
    text = source.read_text(encoding="utf-8") if source.is_file() else ""
    table: dict[str, list[list[str]]] = {}
    for region, name, zone_id in _ZONE.findall(text):
        table.setdefault(region, []).append([name, zone_id])
    return table


def _regular_zones(region: str) -> list[list[str]]:
    """moto's zones for a region its table does not list: a, b, c with ids az1..az3."""
    parts = region.split("-")
    short = "usg" if region.startswith("us-gov") else parts[0]
    for cardinal in ("north", "south", "central", "east", "west"):
        if cardinal in region:
            short += cardinal[0]
    short += parts[-1]
    return [[f"{region}{letter}", f"{short}-az{i}"] for i, letter in enumerate("abc", 1)]


# --- answering ------------------------------------------------------------------------------


class OfflineAws:
    """Answers the data sources real programs use, offline, from ``facts``.

    ``facts`` is :func:`gather_facts`'s JSON, or a callable returning one region's entry
    (``envkit plan`` reads only its own region, lazily).
    """

    def __init__(self, region: str, facts: Mapping[str, Any] | None = None,
                 region_info: Callable[[str], Mapping[str, Any] | None] | None = None,
                 amis: Callable[[str], list[dict[str, Any]]] | None = None) -> None:
        self.region = region
        self._facts = facts or {}
        self._region_info = region_info
        self._amis = amis
        self.answers: dict[str, Callable[[dict[str, Any], str], dict[str, Any]]] = {
            TOKENS["policy_document"]: lambda args, _region: policy_document(args),
            TOKENS["availability_zones"]: self._availability_zones,
            TOKENS["region"]: self._region_answer,
            TOKENS["caller_identity"]: self._caller_identity,
            TOKENS["partition"]: self._partition,
            TOKENS["ami"]: self._ami,
            TOKENS["vpc"]: self._vpc,
            TOKENS["subnet"]: self._subnet,
            TOKENS["subnets"]: self._subnets,
            TOKENS["ecr_token"]: self._ecr_token,
            TOKENS["ecr_credentials"]: self._ecr_token,
        }

    def can_answer(self, token: str, args: Mapping[str, Any]) -> bool:
        """Whether ``token`` with these arguments has a faithful offline answer."""
        if token not in self.answers:
            return False
        if token == TOKENS["vpc"]:
            # Only the default VPC exists in a fresh account.
            return bool(args.get("default")) or not any(
                args.get(k) for k in ("id", "cidrBlock", "filters", "tags", "state"))
        if token == TOKENS["subnets"]:
            return self._default_vpc_filter(args)
        return True

    def answer(self, token: str, args: Mapping[str, Any], region: str | None = None
               ) -> dict[str, Any]:
        """The invoke's result, as the provider returns it (camelCase wire names).

        Raises :class:`LookupFailure` when the provider would reject the arguments."""
        return self.answers[token](dict(args), args.get("region") or region or self.region)

    # --- facts for one region ---

    def _info(self, region: str) -> Mapping[str, Any]:
        info = (self._facts.get("regions") or {}).get(region)
        if info is None and self._region_info is not None:
            info = self._region_info(region)
        if info is None:
            raise LookupFailure(f"invalid AWS Region: {region}")
        return info

    def _zones(self, region: str) -> list[list[str]]:
        return [list(z) for z in self._info(region).get("zones") or []]

    def _account(self) -> str:
        return str(self._facts.get("account_id") or ACCOUNT_ID)

    # --- answers ---

    def _availability_zones(self, args: dict[str, Any], region: str) -> dict[str, Any]:
        zones = self._zones(region)
        exclude_names = set(args.get("excludeNames") or [])
        exclude_ids = set(args.get("excludeZoneIds") or [])
        wanted = {f["name"]: set(f.get("values") or []) for f in args.get("filters") or []}
        kept = [(n, i) for n, i in zones if n not in exclude_names and i not in exclude_ids
                and n in wanted.get("zone-name", {n}) and i in wanted.get("zone-id", {i})]
        return {**args, "id": region, "region": region, "names": [n for n, _ in kept],
                "zoneIds": [i for _, i in kept], "groupNames": [region] if kept else [],
                "state": args.get("state")}

    def _region_answer(self, args: dict[str, Any], region: str) -> dict[str, Any]:
        info = self._info(region)
        return {**args, "id": region, "name": region, "region": region,
                "description": info.get("description", region),
                "endpoint": f"ec2.{region}.{info.get('dns_suffix', 'amazonaws.com')}"}

    def _caller_identity(self, args: dict[str, Any], region: str) -> dict[str, Any]:
        partition = self._info(region).get("partition", "aws")
        account = self._account()
        return {**args, "id": account, "accountId": account, "userId": CALLER_USER_ID,
                "arn": f"arn:{partition}:sts::{account}:user/moto"}

    def _ecr_token(self, args: dict[str, Any], region: str) -> dict[str, Any]:
        # As moto's ECR answers GetAuthorizationToken (moto/ecr/responses.py): the token is
        # base64 of "AWS:<registry>-auth-token", which programs decode to log in to the
        # registry; the proxy endpoint is the registry's. No real credential is involved.
        registry = str(args.get("registryId") or self._account())
        password = f"{registry}-auth-token"
        token = base64.b64encode(f"AWS:{password}".encode()).decode()
        suffix = self._info(region).get("dns_suffix", "amazonaws.com")
        return {**args, "id": region, "authorizationToken": token,
                "expiresAt": "2015-01-01T00:00:00Z", "userName": "AWS", "password": password,
                "proxyEndpoint": f"https://{registry}.dkr.ecr.{region}.{suffix}",
                "registryId": registry}

    def _partition(self, args: dict[str, Any], region: str) -> dict[str, Any]:
        info = self._info(region)
        suffix = info.get("dns_suffix", "amazonaws.com")
        return {**args, "id": info.get("partition", "aws"),
                "partition": info.get("partition", "aws"), "dnsSuffix": suffix,
                "reverseDnsPrefix": ".".join(reversed(suffix.split(".")))}

    def _ami(self, args: dict[str, Any], region: str) -> dict[str, Any]:
        wanted = {f["name"]: list(f.get("values") or []) for f in args.get("filters") or []}
        image = lookup_ami(self._ami_table(region), region,
                           (wanted.get("name") or ["*"])[0],
                           tuple(sorted(args.get("owners") or [])),
                           (wanted.get("architecture") or [None])[0], args.get("nameRegex"))
        return {**args, **image, "region": region}

    def _ami_table(self, region: str) -> list[dict[str, Any]]:
        if self._amis is not None:
            return self._amis(region)
        return [image for folder in self._facts.get("amis_dirs") or []
                for image in _read_amis(str(Path(folder) / f"{region}.json.gz"))]

    def _vpc(self, args: dict[str, Any], region: str) -> dict[str, Any]:
        return {**args, "id": DEFAULT_VPC_ID, "cidrBlock": DEFAULT_VPC_CIDR, "default": True,
                "region": region, "state": "available", "instanceTenancy": "default",
                "enableDnsSupport": True, "enableDnsHostnames": True,
                "ownerId": self._account(),
                "arn": f"arn:{self._info(region).get('partition', 'aws')}:ec2:{region}:"
                       f"{self._account()}:vpc/{DEFAULT_VPC_ID}"}

    def _default_subnets(self, region: str) -> list[dict[str, Any]]:
        # moto gives the default VPC one /20 per zone, in zone order (subnets.py
        # create_default_subnet).
        blocks = list(ipaddress.ip_network(DEFAULT_VPC_CIDR).subnets(new_prefix=20))
        return [{"id": f"subnet-0default{i:09d}", "cidrBlock": str(blocks[i]),
                 "availabilityZone": name, "availabilityZoneId": zone_id,
                 "vpcId": DEFAULT_VPC_ID, "defaultForAz": True, "mapPublicIpOnLaunch": True,
                 "state": "available", "region": region}
                for i, (name, zone_id) in enumerate(self._zones(region)[:len(blocks)])]

    def _subnet(self, args: dict[str, Any], region: str) -> dict[str, Any]:
        subnets = self._default_subnets(region)
        zone = args.get("availabilityZone")
        chosen = next((s for s in subnets if s["availabilityZone"] == zone), None)
        if chosen is None:
            index = ord(zone[-1]) - ord("a") if zone and zone[-1].isalpha() else 0
            chosen = {**(subnets[0] if subnets else {}), "availabilityZone": zone or "",
                      "id": f"subnet-0default{max(index, 0):09d}"}
        return {**args, **chosen, "vpcId": args.get("vpcId") or DEFAULT_VPC_ID}

    def _default_vpc_filter(self, args: Mapping[str, Any]) -> bool:
        filters = args.get("filters") or []
        return bool(filters) and all(
            f.get("name") in ("vpc-id", "default-for-az")
            and all(v in (DEFAULT_VPC_ID, "true") for v in f.get("values") or [])
            for f in filters) and not args.get("tags")

    def _subnets(self, args: dict[str, Any], region: str) -> dict[str, Any]:
        return {**args, "id": region, "region": region,
                "ids": [s["id"] for s in self._default_subnets(region)]}


@cache
def _read_amis(path: str) -> list[dict[str, Any]]:
    file = Path(path)
    if not file.is_file():
        return []
    with file.open("rb") as fh:
        return json.loads(gzip.decompress(fh.read()))


def lookup_ami(table: list[dict[str, Any]], region: str, pattern: str,
               owners: tuple[str, ...], arch: str | None, name_regex: str | None = None
               ) -> dict[str, Any]:
    """The newest image in moto's table matching an AMI lookup.

    With no published image in moto's table for the region, a stable stand-in id, marked
    as such in its name, keeps a plan readable and deterministic."""
    # moto loads its AMI tables with owner alias "amazon" (moto/ec2/models/amis.py
    # _load_amis), so owners=["amazon"] matches them, as it matches Amazon's images on AWS.
    matches = [a for a in table
               if (not owners or a["owner_id"] in owners or "amazon" in owners)
               and fnmatch.fnmatchcase(a["name"], pattern)
               and (arch is None or a["architecture"] == arch)
               and (not name_regex or re.search(name_regex, a["name"]))]
    if matches:
        best = max(matches, key=lambda a: a["name"])
        return {"id": best["ami_id"], "imageId": best["ami_id"], "name": best["name"],
                "architecture": best["architecture"], "ownerId": best["owner_id"],
                "rootDeviceName": best["root_device_name"],
                "rootDeviceType": best.get("root_device_type"),
                "virtualizationType": best.get("virtualization_type"),
                "description": best.get("description"), "public": best.get("public"),
                "state": best.get("state"), "hypervisor": best.get("hypervisor")}
    digest = hashlib.sha256(f"{region}:{pattern}".encode()).hexdigest()[:17]
    return {"id": f"ami-{digest}", "imageId": f"ami-{digest}",
            "name": pattern.replace("*", "<latest>"), "architecture": arch or "x86_64",
            "ownerId": next(iter(owners), "self"), "rootDeviceName": "/dev/xvda"}


# --- aws.iam.get_policy_document --------------------------------------------------------------
#
# terraform-provider-aws builds the document (internal/service/iam/
# policy_document_data_source.go and policy_model.go); pulumi-aws serves that data source.
# Its rules, reproduced here:
# - statements keep their order; Sid must be alphanumeric and unique; Effect defaults to
#   Allow and must be Allow or Deny; Version defaults to 2012-10-17.
# - actions, not_actions, resources, not_resources and principal identifiers are sets: a
#   single element is written as a string, several as a list sorted in reverse; "&{" in
#   resources, identifiers and condition values becomes "${".
# - principals of one type merge into one key; the one principal {type "*", ["*"]} is
#   written as "*"; condition values keep their order, a single value becomes a string.
# - source_policy_documents are merged first (their Sids must be unique), then the
#   statements, then override_policy_documents: a statement whose Sid is already present
#   replaces it, any other is appended; the Id is adopted and the Version only upgraded.
# - documents read from JSON keep Action/Resource as written; their principal lists are
#   sorted, a string Principal reads as "*", condition booleans become strings and numeric
#   condition values are dropped (the provider's UnmarshalJSON).
# - "json" is Go's json.MarshalIndent with two spaces (struct fields in declaration order,
#   map keys sorted, <, > and & escaped), "minifiedJson" is json.Marshal, and the id is the
#   CRC-32 of "json".

_SID = re.compile(r"^[a-zA-Z0-9]*$")
_VERSIONS = ("2008-10-17", "2012-10-17")


def policy_document(args: Mapping[str, Any]) -> dict[str, Any]:
    """``aws.iam.get_policy_document``'s result for invoke arguments in wire form."""
    version = args.get("version") or "2012-10-17"
    if version not in _VERSIONS:
        raise LookupFailure(f"version: expected one of {', '.join(_VERSIONS)}, got {version}")
    for legacy in ("sourceJson", "overrideJson"):
        if args.get(legacy):
            raise LookupFailure(f"{legacy} is no longer used: use "
                                f"{legacy.replace('Json', 'PolicyDocuments')}")
    merged: dict[str, Any] = {"Version": "", "Id": "", "Statement": []}
    seen: set[str] = set()
    for i, text in enumerate(args.get("sourcePolicyDocuments") or []):
        if text is None:
            continue
        doc = _read_document(text, f"merging source document {i}")
        for j, statement in enumerate(doc["Statement"]):
            sid = statement.get("Sid") or ""
            if sid and sid in seen:
                raise LookupFailure(
                    f"merging source document {i}: duplicate Sid ({sid}) in "
                    f"source_policy_documents (statement {j}). Remove the Sid or ensure Sids "
                    "are unique.")
            if sid:
                seen.add(sid)
        _merge(merged, doc)
    own: dict[str, Any] = {"Version": version, "Id": args.get("policyId") or "",
                           "Statement": []}
    sids: set[str] = set()
    for i, raw in enumerate(args.get("statements") or []):
        own["Statement"].append(_statement(raw or {}, i, version, sids))
    _merge(merged, own)
    for i, text in enumerate(args.get("overridePolicyDocuments") or []):
        if text is not None:
            _merge(merged, _read_document(text, f"merging override document {i}"))
    document = _document_json(merged)
    pretty = _go_json(document, indent=True)
    return {**{k: v for k, v in args.items() if v is not None},
            "version": version, "json": pretty, "minifiedJson": _go_json(document),
            "id": str(zlib.crc32(pretty.encode()))}


def _statement(raw: Mapping[str, Any], index: int, version: str, sids: set[str]
               ) -> dict[str, Any]:
    where = f"statements[{index}]"
    sid = raw.get("sid") or ""
    if not _SID.match(sid):
        raise LookupFailure(f"{where}.sid: must only include alphanumeric characters")
    if sid in sids:
        raise LookupFailure(f"duplicate Sid ({sid}). Remove the Sid or ensure the Sid is "
                            "unique.")
    if sid:
        sids.add(sid)
    effect = raw.get("effect") or "Allow"
    if effect not in ("Allow", "Deny"):
        raise LookupFailure(f"{where}.effect: expected one of Allow, Deny, got {effect}")
    statement: dict[str, Any] = {"Sid": sid, "Effect": effect}
    for key, field, variables in (("Action", "actions", False),
                                  ("NotAction", "notActions", False),
                                  ("Resource", "resources", True),
                                  ("NotResource", "notResources", True)):
        values = _set_of_strings(raw.get(field))
        if values:
            statement[key] = _vars(_decode(values), version) if variables else _decode(values)
    for key, field in (("Principal", "principals"), ("NotPrincipal", "notPrincipals")):
        principals = [(p.get("type", ""), _vars(_decode(_set_of_strings(p.get("identifiers"))),
                                                version))
                      for p in raw.get(field) or [] if p is not None]
        if principals:
            statement[key] = principals
    conditions = []
    for c in raw.get("conditions") or []:
        if c is None:
            continue
        values = _vars([_text(v) for v in c.get("values") or []], version)
        conditions.append((c.get("test", ""), c.get("variable", ""),
                           values[0] if len(values) == 1 else values))
    if conditions:
        statement["Condition"] = conditions
    return statement


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _set_of_strings(values: Any) -> list[str]:
    """A Terraform set of strings: duplicates collapse."""
    if values is None:
        return []
    out: list[str] = []
    for v in values if isinstance(values, list) else [values]:
        text = _text(v)
        if text not in out:
            out.append(text)
    return out


def _decode(values: list[str]) -> str | list[str]:
    """policyDecodeConfigStrings: one element as a string, else sorted in reverse."""
    if len(values) == 1:
        return values[0]
    return sorted(values, reverse=True)


def _vars(value: Any, version: str) -> Any:
    """``&{...}`` is how Terraform users write IAM's ``${...}`` policy variables."""
    if isinstance(value, list):
        return [_vars(v, version) for v in value]
    if version == "2008-10-17" and "&{" in value:
        raise LookupFailure(f"found &{{ sequence in ({value}), which is not supported in "
                            "document version 2008-10-17")
    return value.replace("&{", "${")


def _read_document(text: Any, context: str) -> dict[str, Any]:
    """A source/override document as the provider's UnmarshalJSON reads it."""
    try:
        data = json.loads(text) if isinstance(text, str) else None
    except ValueError as exc:
        raise LookupFailure(f"{context}: {exc}") from None
    if not isinstance(data, dict):
        raise LookupFailure(f"{context}: not a JSON object")
    raw_statements = data.get("Statement") or []
    if isinstance(raw_statements, dict):
        raise LookupFailure(f"{context}: json: cannot unmarshal object into Go struct field "
                            "Statement of type []*iam.iamPolicyStatement")
    statements = []
    for raw in raw_statements:
        if not isinstance(raw, dict):
            continue
        statement: dict[str, Any] = {"Sid": _str(raw.get("Sid")),
                                     "Effect": _str(raw.get("Effect"))}
        for key in ("Action", "NotAction", "Resource", "NotResource"):
            if raw.get(key) is not None:
                statement[key] = raw[key]
        for key in ("Principal", "NotPrincipal"):
            if key in raw and raw[key] is not None:
                principals = _read_principals(raw[key], context)
                if principals:
                    statement[key] = principals
        if isinstance(raw.get("Condition"), dict):
            conditions = _read_conditions(raw["Condition"], context)
            if conditions:
                statement["Condition"] = conditions
        statements.append(statement)
    return {"Version": _str(data.get("Version")), "Id": _str(data.get("Id")),
            "Statement": statements}


def _str(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _read_principals(value: Any, context: str) -> list[tuple[str, Any]]:
    if isinstance(value, str):
        return [("*", ["*"])]
    if not isinstance(value, dict):
        raise LookupFailure(f"{context}: Unsupported data type for "
                            "IAMPolicyStatementPrincipalSet")
    out: list[tuple[str, Any]] = []
    for key, ids in value.items():
        if isinstance(ids, str):
            out.append((key, ids))
        elif isinstance(ids, list):
            if not all(isinstance(i, str) for i in ids):
                raise LookupFailure(f"{context}: principal {key}: identifiers must be strings")
            out.append((key, sorted(ids)))
        else:
            raise LookupFailure(f"{context}: Unsupported data type for "
                                "IAMPolicyStatementPrincipalSet.Identifiers")
    return out


def _read_conditions(value: dict[str, Any], context: str) -> list[tuple[str, str, Any]]:
    out: list[tuple[str, str, Any]] = []
    for test, variables in value.items():
        if not isinstance(variables, dict):
            raise LookupFailure(f"{context}: condition {test}: expected an object")
        for variable, values in variables.items():
            if isinstance(values, str):
                out.append((test, variable, [values]))
            elif isinstance(values, bool):
                out.append((test, variable, "true" if values else "false"))
            elif isinstance(values, list):
                if not all(isinstance(v, str) for v in values):
                    raise LookupFailure(f"{context}: condition {test} {variable}: values "
                                        "must be strings")
                out.append((test, variable, list(values)))
            # Any other type (a number) is skipped by the provider's UnmarshalJSON.
    return out


def _merge(into: dict[str, Any], doc: dict[str, Any]) -> None:
    if doc["Id"]:
        into["Id"] = doc["Id"]
    if doc["Version"] > into["Version"]:
        into["Version"] = doc["Version"]
    for statement in doc["Statement"]:
        sid = statement.get("Sid") or ""
        if sid:
            for i, existing in enumerate(into["Statement"]):
                if existing.get("Sid") == sid:
                    into["Statement"][i] = statement
                    break
            else:
                into["Statement"].append(statement)
        else:
            into["Statement"].append(statement)


def _document_json(doc: dict[str, Any]) -> dict[str, Any]:
    """The merged document as the provider marshals it (omitempty fields dropped)."""
    out: dict[str, Any] = {}
    if doc["Version"]:
        out["Version"] = doc["Version"]
    if doc["Id"]:
        out["Id"] = doc["Id"]
    statements = []
    for s in doc["Statement"]:
        item: dict[str, Any] = {}
        for key in ("Sid", "Effect"):
            if s.get(key):
                item[key] = s[key]
        for key in ("Action", "NotAction", "Resource", "NotResource"):
            if s.get(key) is not None:
                item[key] = s[key]
        for key in ("Principal", "NotPrincipal"):
            if s.get(key):
                item[key] = _principals_json(s[key])
        if s.get("Condition"):
            item["Condition"] = _conditions_json(s["Condition"])
        statements.append(item)
    if statements:
        out["Statement"] = statements
    return out


def _principals_json(principals: list[tuple[str, Any]]) -> Any:
    if len(principals) == 1 and principals[0][0] == "*" and principals[0][1] in ("*", ["*"]):
        return "*"
    raw: dict[str, Any] = {}
    for type_, ids in principals:
        current = raw.get(type_)
        if isinstance(ids, list):
            base = [] if current is None else ([current] if isinstance(current, str)
                                                else current)
            raw[type_] = base + sorted(ids, reverse=True)
        elif current is None:
            raw[type_] = ids
        elif isinstance(current, str):
            raw[type_] = [current, ids]
        else:
            raw[type_] = [*current, ids]
    return {k: raw[k] for k in sorted(raw)}


def _conditions_json(conditions: list[tuple[str, str, Any]]) -> dict[str, Any]:
    raw: dict[str, dict[str, list[str]]] = {}
    for test, variable, values in conditions:
        bucket = raw.setdefault(test, {}).setdefault(variable, [])
        bucket.extend(values if isinstance(values, list) else [values])
    return {test: {var: (vals[0] if len(vals) == 1 else vals)
                   for var, vals in sorted(raw[test].items())}
            for test in sorted(raw)}


_GO_ESCAPES = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028",
               "\u2029": "\\u2029"}
_GO_ESCAPED = re.compile("[<>&\u2028\u2029]")


def _go_json(value: Any, indent: bool = False) -> str:
    """Go's encoding/json output: HTML-safe escapes, no ASCII escaping, integral floats
    without a fraction."""
    text = json.dumps(_integral(value), ensure_ascii=False,
                      indent=2 if indent else None,
                      separators=None if indent else (",", ":"))
    return _GO_ESCAPED.sub(lambda m: _GO_ESCAPES[m.group()], text)


def _integral(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: _integral(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_integral(v) for v in value]
    return value
