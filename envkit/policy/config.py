"""Policy pack configs: read a `--policy-pack-config` file as hostile input (bounded, plain
JSON), check it against the pack's rules and their schemas, and merge it over the pack's
defaults (a foreign program is not asked for envkit's own conventions).
"""

from __future__ import annotations

import difflib
import json
import os
from pathlib import Path
from typing import Any

from ..errors import SpecError, SpecIssue

#: A policy's enforcement levels, as pulumi-policy names them.
LEVELS = ("advisory", "mandatory", "remediate", "disabled")


def load_config(path: str | os.PathLike[str] | None) -> dict[str, Any]:
    """Read a policy pack config file (the `pulumi preview --policy-pack-config` format)."""
    from ..limits import MAX_DEPTH, clip, read_text

    if path is None:
        return {}
    path = Path(path)
    text = read_text(path, "policy config")  # a regular file, at most MAX_SPEC_BYTES
    try:
        data = json.loads(text)
    except RecursionError:
        raise SpecError(SpecIssue("", f"nests deeper than {MAX_DEPTH} levels",
                                  file=str(path))) from None
    except ValueError as exc:
        raise SpecError(SpecIssue("", f"not valid JSON: {clip(str(exc), 200)}",
                                  file=str(path))) from None
    if not isinstance(data, dict):
        raise SpecError(SpecIssue("", "a policy config is a JSON object", file=str(path)))
    if _depth(data) > MAX_DEPTH:
        raise SpecError(SpecIssue("", f"nests deeper than {MAX_DEPTH} levels", file=str(path)))
    return _validate_config(data, str(path))


def _depth(value: Any) -> int:
    """How deeply JSON data nests (iteratively: the data may be deeper than the stack)."""
    deepest, todo = 0, [(value, 1)]
    while todo:
        item, level = todo.pop()
        children = item.values() if isinstance(item, dict) else item \
            if isinstance(item, list) else ()
        if children:
            deepest = max(deepest, level)
        todo.extend((child, level + 1) for child in children)
    return deepest


def _validate_config(data: dict[str, Any], file: str | None) -> dict[str, Any]:
    import jsonschema

    from .rules import POLICIES

    by_name = {p.name: p for p in POLICIES}
    issues = []
    for key, value in data.items():
        if key != "all" and key not in by_name:
            close = difflib.get_close_matches(key, by_name, n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            issues.append(SpecIssue(key, f"no policy is named '{key}'{hint}", file=file))
            continue
        level = value if isinstance(value, str) else (value or {}).get("enforcementLevel") \
            if isinstance(value, dict) else None
        if not isinstance(value, (str, dict)):
            issues.append(SpecIssue(key, "expected a level or an object", file=file))
            continue
        if level is not None and level not in LEVELS:
            issues.append(SpecIssue(key, f"unknown enforcement level '{level}'; "
                                         f"use one of {', '.join(LEVELS)}", file=file))
        if isinstance(value, dict) and key != "all":
            props = {k: v for k, v in value.items() if k != "enforcementLevel"}
            schema = by_name[key].config_schema
            known = schema.properties if schema else {}
            for prop in props:
                if prop not in known:
                    issues.append(SpecIssue(f"{key}.{prop}", "this policy takes no such setting"
                                            + (f"; settings: {', '.join(known)}" if known else ""),
                                            file=file))
            try:
                jsonschema.validate(props, {"type": "object", "properties": known})
            except jsonschema.ValidationError as exc:
                issues.append(SpecIssue(f"{key}.{'.'.join(map(str, exc.path))}", exc.message,
                                        file=file))
    if issues:
        raise SpecError(issues)
    return data


def merged_config(user: dict[str, Any], foreign: bool = False
                  ) -> dict[str, tuple[str, dict[str, Any]]]:
    """Per policy: (enforcement level, properties), as the engine merges them: the policy's
    default level unless ``all`` or the policy's own entry says otherwise; schema defaults
    overlaid by the user's properties. On a ``foreign`` program (not produced from an envkit
    spec) envkit-only conventions default to their ``foreign_level``, and config defaults
    that are lab conventions to the rule's ``foreign_config``."""
    from .rules import POLICIES, RULES

    foreign_levels = {r.name: r.foreign_level.value for r in RULES if foreign and r.foreign_level}
    foreign_defaults = {r.name: r.foreign_config for r in RULES if foreign and r.foreign_config}

    everyone = user.get("all")
    everyone = everyone if isinstance(everyone, str) else (everyone or {}).get("enforcementLevel")
    out = {}
    for policy in POLICIES:
        entry = user.get(policy.name)
        level = foreign_levels.get(policy.name, policy.enforcement_level.value)
        if everyone:
            level = everyone
        props: dict[str, Any] = {}
        if policy.config_schema:
            props = {k: v["default"] for k, v in policy.config_schema.properties.items()
                     if "default" in v}
            props.update(foreign_defaults.get(policy.name, {}))
        if isinstance(entry, str):
            level = entry
        elif isinstance(entry, dict):
            level = entry.get("enforcementLevel", level)
            props.update({k: v for k, v in entry.items() if k != "enforcementLevel"})
        out[policy.name] = (level, props)
    return out
