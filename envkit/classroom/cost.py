"""What a class costs: hourly prices from AWS's Price List, applied to the planned resources.

Prices come from, in order: a saved price table (``--prices FILE``), the cache in
ENVKIT_HOME (each price with the date it was fetched), and the AWS Price List Query API
(boto3 ``pricing``; spot prices from EC2's ``DescribeSpotPriceHistory``) when AWS credentials
are available. A price that none of them has is never guessed: the estimate is then
"unknown", with the reason.

What is counted, per hour: each instance (on-demand by type, operating system and tenancy,
or the current spot price in the lab's zone), its root EBS volume (GB-month price / 730,
the hours AWS's pricing calculator takes for a month, plus provisioned IOPS for io1/io2 and
gp3 above its free 3,000), and each public IPv4 address (an elastic IP, or an instance's
public IP when it has no elastic IP). Data transfer and snapshots are not estimated.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import math
import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ..errors import SpecError, SpecIssue

PRICE_FORMAT = "envkit-prices/1"
HOURS_PER_MONTH = 730
MAX_PRICE_FILE = 1024 * 1024
GP3_FREE_IOPS = 3000
PRICING_REGION = "us-east-1"  # one of the Price List Query API's endpoints
_KEY = re.compile(r"^(ec2:[a-z0-9.-]+:(Linux|RHEL|Windows):(Shared|Dedicated)"
                  r"|spot:[a-z0-9.-]+:[a-z0-9*-]+|ebs:[a-z0-9]+|ebs-iops:[a-z0-9]+|ipv4)$")
_UNITS = {"ec2": "Hrs", "spot": "Hrs", "ebs": "GB-Mo", "ebs-iops": "IOPS-Mo", "ipv4": "Hrs"}

# The Price List's values for the operating systems envkit's AMI aliases boot, by AMI owner.
_OS_BY_OWNER = {"801119661308": "Windows", "309956199498": "RHEL"}


@dataclass(frozen=True)
class Price:
    """One price: US dollars per unit, the unit, and the date it was fetched (if known)."""

    usd: float
    unit: str
    date: str | None = None


class PriceTable:
    """Prices by region and key (``ec2:t3.micro:Linux:Shared``, ``ebs:gp3``, ``ipv4``...)."""

    def __init__(self, prices: dict[str, dict[str, Price]] | None = None, source: str = "",
                 note: str | None = None) -> None:
        self.prices = prices or {}
        self.source = source
        #: Why a price source was set aside (a damaged cache), for the user to read.
        self.note = note

    def get(self, region: str, key: str) -> Price | None:
        """The price of ``key`` in ``region``; ``spot:TYPE:*`` takes the dearest zone."""
        table = self.prices.get(region, {})
        if key.startswith("spot:") and key.endswith(":*"):
            prefix = key[:-1]
            found = [p for k, p in table.items() if k.startswith(prefix)]
            return max(found, key=lambda p: p.usd) if found else None
        return table.get(key)

    def merged(self, other: PriceTable) -> PriceTable:
        """This table with ``other``'s prices added (other's win)."""
        out = {r: dict(t) for r, t in self.prices.items()}
        for region, table in other.prices.items():
            out.setdefault(region, {}).update(table)
        return PriceTable(out, other.source or self.source, self.note or other.note)

    def dates(self) -> list[str]:
        """The dates the prices were fetched, oldest first."""
        return sorted({p.date for t in self.prices.values() for p in t.values() if p.date})

    def to_dict(self) -> dict[str, Any]:
        """The table in the file format ``--prices`` reads and the cache is written in."""
        return {"format": PRICE_FORMAT, "currency": "USD", "prices": {
            region: {k: {"usd": p.usd, "unit": p.unit, **({"date": p.date} if p.date else {})}
                     for k, p in sorted(table.items())}
            for region, table in sorted(self.prices.items())}}


def parse_price_table(data: Any, file: str, source: str) -> PriceTable:
    """Validate a price table document; every problem names the file and the key."""
    issues = []
    if not isinstance(data, dict) or data.get("format") != PRICE_FORMAT:
        raise SpecError(SpecIssue("format", f"not an envkit price table (expected \"format\": "
                                            f"\"{PRICE_FORMAT}\")", file=file))
    if data.get("currency", "USD") != "USD":
        issues.append(SpecIssue("currency", "only USD prices are supported", file=file))
    regions = data.get("prices")
    if not isinstance(regions, dict):
        raise SpecError(SpecIssue("prices", "expected a mapping of region -> prices", file=file))
    out: dict[str, dict[str, Price]] = {}
    for region, table in regions.items():
        if not isinstance(region, str) or not re.fullmatch(r"[a-z]{2}(-[a-z]+)+-\d", region) \
                or not isinstance(table, dict):
            issues.append(SpecIssue(f"prices.{str(region)[:40]}", "expected a region with a "
                                                                   "mapping of prices", file=file))
            continue
        for key, entry in table.items():
            where = f"prices.{region}.{str(key)[:80]}"
            if not isinstance(key, str) or not _KEY.match(key):
                issues.append(SpecIssue(where, "unknown price key (ec2:TYPE:OS:TENANCY, "
                                               "spot:TYPE:ZONE, ebs:TYPE, ebs-iops:TYPE, ipv4)",
                                        file=file))
                continue
            usd = entry.get("usd") if isinstance(entry, dict) else None
            if not _plausible_usd(usd):
                issues.append(SpecIssue(where, "usd must be a non-negative number below "
                                               "1,000,000", file=file))
                continue
            unit = _UNITS[key.split(":", 1)[0]]
            if entry.get("unit", unit) != unit:
                issues.append(SpecIssue(where, f"the unit of this price is {unit}", file=file))
                continue
            date = entry.get("date")
            if date is not None and not (isinstance(date, str) and _DATE.fullmatch(date)):
                issues.append(SpecIssue(where, "date must be an ISO date such as 2025-01-15",
                                        file=file))
                continue
            out.setdefault(region, {})[key] = Price(float(usd), unit, date)
    if issues:
        raise SpecError(issues)
    return PriceTable(out, source)


def _plausible_usd(usd: Any) -> bool:
    """A price: a number, not a flag, finite, from 0 to below a million (a 400-digit
    integer is refused without being converted)."""
    if isinstance(usd, bool) or not isinstance(usd, (int, float)):
        return False
    if isinstance(usd, int):
        return 0 <= usd < 1_000_000
    return math.isfinite(usd) and 0 <= usd < 1e6


#: A price's date: what envkit writes (an ISO date), optionally with a time.
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}:\d{2})?)?")


def load_price_file(path: str | os.PathLike[str]) -> PriceTable:
    """A saved price table (``--prices FILE``): read with the bounded reader (a regular file,
    at most MAX_PRICE_FILE bytes, bounded depth and numbers); SpecError (exit 2) naming the
    file and the key otherwise."""
    from ..limits import read_json

    data = read_json(path, "price table", MAX_PRICE_FILE)
    return parse_price_table(data, os.fspath(path), f"price table {os.fspath(path)}")


def _cache_path() -> Path:
    from .. import home

    return home.location() / "prices.json"


def load_cache() -> PriceTable:
    """The prices fetched earlier on this machine (empty when there are none). A damaged
    cache (not a price table, too large, a FIFO, a link out of ENVKIT_HOME) is set aside
    with a note in the table's ``note``: a cache never breaks a plan."""
    from .. import home

    path = _cache_path()
    if not path.exists() and not path.is_symlink():
        return PriceTable({}, "cache")
    try:
        data = home.read_json(path, "price cache", MAX_PRICE_FILE)
        return parse_price_table(data, str(path), "cache")
    except SpecError as exc:
        first = exc.issues[0] if exc.issues else None
        why = f"{first.field + ': ' if first and first.field else ''}" \
              f"{first.message if first else exc}"
        return PriceTable({}, "cache", note=f"the price cache {path} was ignored ({why}); "
                                            "delete it or pass --refresh-prices")


def save_cache(table: PriceTable) -> str | None:
    """Merge ``table`` into the cache (written atomically, never through a link); a cache
    that cannot be written (a read-only ENVKIT_HOME) is not an error: returns why."""
    from .. import home
    from ..errors import EnvkitError

    current = load_cache()
    merged = (PriceTable({}, "cache") if current.note else current).merged(table)
    try:
        home.write_private(home.home() / "prices.json", json.dumps(merged.to_dict(), indent=1),
                           mode=0o644)
    except (OSError, EnvkitError) as exc:
        return f"the prices were not cached: {getattr(exc, 'strerror', None) or exc}"
    return None


# --- what the resources use ---------------------------------------------------------------------


@dataclass(frozen=True)
class Usage:
    """One thing that is billed: a price key, how many of its units per hour, and for what."""

    key: str
    per_hour: float
    what: str


def _get(props: dict[str, Any], *path: str) -> Any:
    for part in path:
        if not isinstance(props, dict):
            return None
        props = props.get(part)  # type: ignore[assignment]
    return props


def usages(resources: Iterable[tuple[str, str, str, dict[str, Any], list[str]]],
           zone: str | None = None) -> list[Usage]:
    """What ``(urn, type, name, inputs, dependency urns)`` records are billed for, per hour.

    Inputs are in the engine's wire names (``instanceType``, ``rootBlockDevice``...).
    """
    records = list(resources)
    with_eip = {dep for _, type_, _, _, deps in records if type_ == "aws:ec2/eip:Eip"
                for dep in deps}
    out: list[Usage] = []
    for urn, type_, name, props, _ in records:
        if type_ == "aws:ec2/eip:Eip":
            out.append(Usage("ipv4", 1.0, name))
            continue
        if type_ != "aws:ec2/instance:Instance":
            continue
        itype = props.get("instanceType")
        owner = (_get(props, "tags") or {}).get("envkit:ami-owner")
        os_name = _OS_BY_OWNER.get(str(owner), "Linux")
        tenancy = "Dedicated" if props.get("tenancy") == "dedicated" else "Shared"
        if _get(props, "instanceMarketOptions", "marketType") == "spot":
            out.append(Usage(f"spot:{itype}:{zone or '*'}", 1.0, name))
        else:
            out.append(Usage(f"ec2:{itype}:{os_name}:{tenancy}", 1.0, name))
        disk = _get(props, "rootBlockDevice") or {}
        vtype = disk.get("volumeType") or "gp3"
        size = float(disk.get("volumeSize") or 8)
        out.append(Usage(f"ebs:{vtype}", size / HOURS_PER_MONTH, f"{name} root volume"))
        iops = float(disk.get("iops") or 0)
        if vtype == "gp3":
            iops = max(0.0, iops - GP3_FREE_IOPS)
        if iops and vtype in ("gp3", "io1", "io2"):
            out.append(Usage(f"ebs-iops:{vtype}", iops / HOURS_PER_MONTH,
                             f"{name} provisioned IOPS"))
        if props.get("associatePublicIpAddress") and urn not in with_eip:
            out.append(Usage("ipv4", 1.0, f"{name} public IP"))
    return out


@dataclass
class Estimate:
    """An hourly cost, or None with the reason it is unknown."""

    hourly: float | None
    lines: list[dict[str, Any]] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    reason: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {"hourly_usd": None if self.hourly is None else round(self.hourly, 6),
                "missing_prices": self.missing, "reason": self.reason, "lines": self.lines}


def estimate(items: list[Usage], table: PriceTable, region: str, why_missing: str = ""
             ) -> Estimate:
    """The hourly cost of ``items`` at ``table``'s prices in ``region``."""
    lines, missing, total = [], [], 0.0
    for usage in items:
        price = table.get(region, usage.key)
        if price is None:
            missing.append(usage.key)
            continue
        hourly = usage.per_hour * price.usd
        total += hourly
        lines.append({"what": usage.what, "price": usage.key, "usd_per_unit": price.usd,
                      "unit": price.unit, "hourly_usd": round(hourly, 6)})
    if missing:
        names = ", ".join(sorted(set(missing)))
        return Estimate(None, lines, sorted(set(missing)),
                        f"no price for {names} in {region}" + (f": {why_missing}"
                                                               if why_missing else ""))
    return Estimate(total, lines)


# --- the prices in effect (for the maxClassHourlyCost policy) -----------------------------------

_ACTIVE: contextvars.ContextVar[PriceTable | None] = contextvars.ContextVar(
    "envkit_prices", default=None)


@contextlib.contextmanager
def prices_in_effect(table: PriceTable) -> Iterator[None]:
    """Make ``table`` the prices the budget policy reads while the block runs."""
    token = _ACTIVE.set(table)
    try:
        yield
    finally:
        _ACTIVE.reset(token)


def active_prices() -> PriceTable:
    """The prices set by :func:`prices_in_effect`, else the cache (the engine's policy pack
    runs in its own process, where only the cache is there)."""
    return _ACTIVE.get() or load_cache()


# --- fetching from AWS ---------------------------------------------------------------------------


def _term_match(**fields: str) -> list[dict[str, str]]:
    return [{"Type": "TERM_MATCH", "Field": k, "Value": v} for k, v in fields.items()]


def _products(client: Any, service: str, filters: list[dict[str, str]]) -> Iterator[dict]:
    """Price List items (their JSON decoded), at most five pages."""
    token = None
    for _ in range(5):
        kwargs: dict[str, Any] = {"ServiceCode": service, "Filters": filters,
                                  "FormatVersion": "aws_v1", "MaxResults": 100}
        if token:
            kwargs["NextToken"] = token
        page = client.get_products(**kwargs)
        for item in page.get("PriceList", []):
            yield json.loads(item) if isinstance(item, str) else item
        token = page.get("NextToken")
        if not token:
            return


def _on_demand(item: dict, unit: str) -> float | None:
    """The first on-demand price per ``unit`` of a Price List item (from its first tier)."""
    for term in (item.get("terms", {}).get("OnDemand") or {}).values():
        for dim in (term.get("priceDimensions") or {}).values():
            if dim.get("unit") == unit and str(dim.get("beginRange", "0")) == "0":
                usd = (dim.get("pricePerUnit") or {}).get("USD")
                if usd is not None:
                    return float(usd)
    return None


def _fetch_one(key: str, region: str, pricing: Any, ec2: Any) -> float | None:
    kind, _, rest = key.partition(":")
    if kind == "ec2":
        itype, os_name, tenancy = rest.split(":")
        filters = _term_match(instanceType=itype, regionCode=region, operatingSystem=os_name,
                              tenancy=tenancy, preInstalledSw="NA", capacitystatus="Used",
                              licenseModel="No License required")
        for item in _products(pricing, "AmazonEC2", filters):
            usd = _on_demand(item, "Hrs")
            if usd is not None:
                return usd
        return None
    if kind == "ebs":
        for item in _products(pricing, "AmazonEC2", _term_match(
                productFamily="Storage", volumeApiName=rest, regionCode=region)):
            usd = _on_demand(item, "GB-Mo")
            if usd is not None:
                return usd
        return None
    if kind == "ebs-iops":
        for item in _products(pricing, "AmazonEC2", _term_match(
                productFamily="System Operation", group="EBS IOPS", volumeApiName=rest,
                regionCode=region)):
            usd = _on_demand(item, "IOPS-Mo")
            if usd is not None:
                return usd
        return None
    if kind == "ipv4":
        for item in _products(pricing, "AmazonVPC", _term_match(regionCode=region)):
            usage = str(item.get("product", {}).get("attributes", {}).get("usagetype", ""))
            if usage.endswith("PublicIPv4:InUseAddress"):
                usd = _on_demand(item, "Hrs")
                if usd is not None:
                    return usd
        return None
    if kind == "spot":
        itype, _, zone = rest.partition(":")
        kwargs: dict[str, Any] = {"InstanceTypes": [itype],
                                  "ProductDescriptions": ["Linux/UNIX"],
                                  "StartTime": datetime.now(timezone.utc), "MaxResults": 100}
        if zone and zone != "*":
            kwargs["AvailabilityZone"] = zone
        history = ec2.describe_spot_price_history(**kwargs).get("SpotPriceHistory", [])
        prices = [float(h["SpotPrice"]) for h in history if h.get("SpotPrice")]
        return max(prices) if prices else None
    return None


def fetch_prices(region: str, keys: Iterable[str], session: Any) -> tuple[PriceTable, str | None]:
    """Ask AWS for ``keys`` in ``region``; returns what was found and, when something could
    not be fetched, why. ``session`` is a boto3 Session (or anything with ``client``)."""
    from botocore.exceptions import BotoCoreError, ClientError

    today = datetime.now(timezone.utc).date().isoformat()
    found: dict[str, Price] = {}
    problem = None
    try:
        pricing = session.client("pricing", region_name=PRICING_REGION)
        ec2 = session.client("ec2", region_name=region)
        for key in sorted(set(keys)):
            usd = _fetch_one(key, region, pricing, ec2)
            if usd is None:
                problem = problem or f"the Price List has no {key} in {region}"
                continue
            found[key] = Price(usd, _UNITS[key.split(":", 1)[0]], today)
    except ClientError as exc:
        problem = f"AWS refused the price query ({exc.response['Error'].get('Code')})"
    except BotoCoreError as exc:
        problem = f"the price query failed ({type(exc).__name__}: {exc})"
    table = PriceTable({region: found} if found else {}, "AWS Price List API")
    return table, problem


def prices_for(keys: Iterable[str], region: str, *, prices_file: str | os.PathLike | None = None,
               session: Any = None, refresh: bool = False) -> tuple[PriceTable, str | None]:
    """The prices to estimate with, and (when some are missing) why.

    ``prices_file`` wins; otherwise the cache, completed from the Price List API when AWS
    credentials are there (what is fetched is cached with its date).
    """
    wanted = set(keys)
    if prices_file is not None:
        table = load_price_file(prices_file)
        absent = [k for k in wanted if table.get(region, k) is None]
        return table, (f"the price table {prices_file} has no {', '.join(sorted(absent))} for "
                       f"{region}" if absent else None)
    table = load_cache()
    absent = wanted if refresh else {k for k in wanted if table.get(region, k) is None}
    if not absent:
        return table, None
    if session is None:
        from ..targets import aws_credentials_available

        try:
            available = aws_credentials_available()
        except Exception:  # noqa: BLE001 - a broken profile only means no prices
            available = False
        if not available:
            return table, ("offline: no AWS credentials for the Price List API and no cached "
                           "price (pass --prices FILE with a saved price table)")
        import boto3

        session = boto3.session.Session()
    fetched, problem = fetch_prices(region, absent, session)
    if fetched.prices:
        unsaved = save_cache(fetched)
        note = table.note
        table = table.merged(fetched)
        table.note = "; ".join(n for n in (note, unsaved) if n) or None
    return table, problem
