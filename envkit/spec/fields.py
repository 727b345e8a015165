"""What the spec's models share: name patterns, the strict base model (unknown keys get a
did-you-mean), ttl parsing, tag and condition-value checks.
"""

from __future__ import annotations

import difflib
import functools
import ipaddress
import math
import re
import unicodedata
from datetime import timedelta
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

from ..limits import (
    MAX_TTL_DAYS,
    clip,
)

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


#: Tag key prefixes a spec may not set (AWS reserves aws:, envkit sets envkit:).
RESERVED_TAG_PREFIXES = ("aws:", "envkit:")


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


def empty_entries(value: Any) -> Any:
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


def check_network(value: Any, what: str) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{what} must be a CIDR string such as 10.0.0.0/16")
    if len(value) > 64:  # longer than any CIDR: not worth parsing or quoting in full
        raise ValueError(f"invalid CIDR '{clip(value)}'")
    try:
        return str(ipaddress.ip_network(value, strict=True))
    except ValueError as exc:
        raise ValueError(f"invalid CIDR '{clip(value)}': {clip(str(exc), 120)}") from None


def check_description(value: str | None) -> str | None:
    """EC2's rule for security group and rule descriptions: ASCII from a fixed set."""
    if value is not None:
        bad = sorted({ch for ch in value if ch not in SG_DESCRIPTION_CHARS})
        if bad:
            raise ValueError(
                "EC2 accepts only letters, digits, spaces and ._-:/()#,@[]+=&;{}!$* in a "
                f"description, not {', '.join(repr(clip(c)) for c in bad[:5])}")
    return value


def iam_tag_problem(value: str) -> str | None:
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
        problem = (iam_tag_problem(key) or iam_tag_problem(val)) if iam else None
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
