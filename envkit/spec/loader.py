"""Loading a spec from a file, YAML text or a mapping, with errors that point at lines.

YAML is read with ruamel.yaml's round-trip loader, which keeps each key's line and
refuses duplicate keys; the document is then turned into plain Python values plus a map
from key paths to line numbers, validated by the pydantic models, and checked as a whole.
pydantic's, ruamel's and the checks' complaints all leave here as one :class:`SpecError`.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from ..errors import SpecError, SpecIssue
from .checks import check_spec
from .models import EnvironmentSpec

Locations = dict[tuple, int]

_MESSAGES = {
    "missing": "this key is required",
    "dict_type": "expected a mapping (key: value)",
    "list_type": "expected a list",
    "string_type": "expected a string",
    "int_type": "expected a whole number",
    "int_parsing": "expected a whole number",
    "int_from_float": "expected a whole number",
    "bool_type": "expected true or false",
    "bool_parsing": "expected true or false",
}


def load_spec(
    source: str | os.PathLike[str] | Mapping[str, Any] | EnvironmentSpec,
) -> EnvironmentSpec:
    """Load and validate a spec from a path, YAML text, a mapping or a spec.

    A ``str`` that names an existing file, or any ``Path``, is read as a file; any other
    ``str`` is YAML text. Raises :class:`SpecError` for every problem found, each naming
    the file, line and field.
    """
    if isinstance(source, EnvironmentSpec):
        return source
    if isinstance(source, Mapping):
        return _validate(dict(source), {}, None, None)
    if isinstance(source, os.PathLike) or (
        isinstance(source, str) and "\n" not in source
        and (source.endswith((".yaml", ".yml")) or os.path.isfile(source))
    ):
        path = Path(source)
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise SpecError(SpecIssue("", "no such spec file", file=str(path))) from None
        except (OSError, UnicodeDecodeError) as exc:
            raise SpecError(SpecIssue("", f"cannot read the spec: {exc}", file=str(path))) from None
        return load_spec_text(text, filename=str(path), base_dir=path.resolve().parent)
    if isinstance(source, str):
        return load_spec_text(source)
    raise SpecError(f"cannot load a spec from {type(source).__name__}")


def load_spec_text(
    text: str, filename: str | None = None, base_dir: Path | None = None,
    line_offset: int = 0,
) -> EnvironmentSpec:
    """Validate YAML text; ``line_offset`` shifts reported lines (for a spec inside a cell)."""
    data, locations = parse_yaml(text, filename, line_offset)
    if data is None:
        raise SpecError(SpecIssue("", "the spec is empty: it needs at least name and owner",
                                  file=filename))
    if not isinstance(data, dict):
        raise SpecError(SpecIssue("", f"the spec must be a mapping (key: value), "
                                      f"not a {_kind(data)}", file=filename,
                                  line=locations.get((), 1)))
    return _validate(data, locations, filename, base_dir)


def parse_yaml(text: str, filename: str | None = None, line_offset: int = 0
               ) -> tuple[Any, Locations]:
    """Parse YAML into plain values and a map of key path -> 1-based line."""
    from ruamel.yaml import YAML
    from ruamel.yaml.error import YAMLError

    yaml = YAML(typ="rt", pure=True)
    yaml.allow_duplicate_keys = False
    try:
        node = yaml.load(text)
    except YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        line = mark.line + 1 + line_offset if mark is not None else None
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        context = getattr(exc, "context", None)
        if "duplicate key" in (problem or ""):
            message = problem.split(" with value")[0]
        else:
            message = f"malformed YAML: {problem}" + (f" ({context})" if context else "")
        raise SpecError(SpecIssue("", message, file=filename, line=line)) from None
    except (ValueError, TypeError, RecursionError) as exc:
        raise SpecError(SpecIssue("", f"malformed YAML: {exc}", file=filename)) from None
    locations: Locations = {}
    try:
        data = _plain(node, (), locations, {}, line_offset)
    except RecursionError:
        raise SpecError(SpecIssue("", "the spec nests too deeply or refers to itself",
                                  file=filename)) from None
    return data, locations


def _plain(node: Any, path: tuple, locs: Locations, seen: dict, offset: int) -> Any:
    """Turn ruamel's round-trip nodes into plain values, recording lines per key path."""
    from ruamel.yaml.comments import CommentedMap, CommentedSeq, TaggedScalar

    if id(node) in seen:  # YAML aliases: share the converted value, never loop forever
        return seen[id(node)]
    if isinstance(node, CommentedMap):
        out: dict = {}
        seen[id(node)] = out
        if path not in locs and getattr(node, "lc", None) is not None and node.lc.line is not None:
            locs[path] = node.lc.line + 1 + offset
        for key, value in node.items():
            key = _plain(key, (), {}, seen, offset) if isinstance(key, (CommentedMap,
                                                                      CommentedSeq)) else key
            if isinstance(key, (dict, list)):
                key = str(key)
            try:
                line = node.lc.key(key)[0] + 1 + offset
            except (KeyError, TypeError, AttributeError):
                line = locs.get(path)
            child = (*path, key)
            if line is not None:
                locs[child] = line
            out[key] = _plain(value, child, locs, seen, offset)
        return out
    if isinstance(node, CommentedSeq):
        items: list = []
        seen[id(node)] = items
        for i, value in enumerate(node):
            with contextlib.suppress(KeyError, TypeError, AttributeError, IndexError):
                locs[(*path, i)] = node.lc.item(i)[0] + 1 + offset
            items.append(_plain(value, (*path, i), locs, seen, offset))
        return items
    if isinstance(node, TaggedScalar):
        return str(node.value)
    if isinstance(node, bool) or node is None:
        return node
    if isinstance(node, int):
        return int(node)
    if isinstance(node, float):
        return float(node)
    if isinstance(node, str):
        return str(node)
    if isinstance(node, (_dt.date, _dt.datetime)):
        return node.isoformat()
    return node


def _kind(value: Any) -> str:
    return {list: "list", str: "string", int: "number", float: "number", bool: "boolean"}.get(
        type(value), type(value).__name__)


def _line_for(path: tuple, locations: Locations) -> int | None:
    for end in range(len(path), -1, -1):
        if path[:end] in locations:
            return locations[path[:end]]
    return None


def _field(path: tuple) -> str:
    return ".".join(str(p).rstrip("_") if isinstance(p, str) else f"[{p}]" for p in path
                    ).replace(".[", "[")


def issues_from_validation(exc: ValidationError, locations: Locations | None = None,
                           filename: str | None = None) -> list[SpecIssue]:
    """Translate pydantic's errors into SpecIssues with file, line and dotted field."""
    issues = []
    seen = set()
    for err in exc.errors(include_url=False):
        loc = tuple(_yaml_key(p) for p in err["loc"])
        # pydantic reports which member of a union failed (`str`, `list[str]`...): not a key.
        loc = tuple(p for p in loc if not (isinstance(p, str) and ("[" in p or p in _TYPE_WORDS)))
        if err["type"] == "unknown_key":
            loc = (*loc, err["ctx"]["key"])
        message = _MESSAGES.get(err["type"], err["msg"])
        if message.startswith("Value error, "):
            message = message[len("Value error, "):]
        if err["type"] == "string_pattern_mismatch":
            message = _PATTERNS.get(err["ctx"]["pattern"], message)
            message = f"'{err['input']}' is not a valid name: {message}"
        if err["type"] in _BOUNDS:
            message = _BOUNDS[err["type"]].format(input=err["input"], **err.get("ctx", {}))
        if err["type"] in ("literal_error", "enum"):
            message = f"'{err['input']}' is not allowed; expected {err['ctx']['expected']}"
        if err["type"] in _MESSAGES and err["type"] != "missing":
            message = f"{message}, got {_kind(err['input'])} {err['input']!r}"[:200]
        key = (loc, message)
        if key in seen:
            continue
        seen.add(key)
        line = _line_for(loc, locations or {})
        issues.append(SpecIssue(_field(loc), message, file=filename, line=line))
    return issues


_PATTERNS = {
    r"^[a-z](?:[a-z0-9-]{0,38}[a-z0-9])?$":
        "use lowercase letters, digits and '-', starting with a letter (at most 40)",
    r"^[\w+=,.@-]+$": "use letters, digits and + = , . @ _ - only",
    r"^[A-Za-z0-9._-]+$": "use letters, digits and . _ - only",
    r"^\d{12}$": "an AWS account id is 12 digits",
}
_BOUNDS = {
    "less_than_equal": "must be at most {le}, got {input!r}",
    "greater_than_equal": "must be at least {ge}, got {input!r}",
    "too_long": "may have at most {max_length} entries",
    "too_short": "needs at least {min_length} entry",
    "string_too_long": "may be at most {max_length} characters long",
    "string_too_short": "needs at least {min_length} characters",
}

_TYPE_WORDS = {"str", "int", "bool", "float", "list", "dict", "none", "function-after",
               "function-before", "function-wrap", "json-or-python", "lax-or-strict"}


def _yaml_key(part: Any) -> Any:
    return "from" if part == "from_" else part


def _validate(data: dict, locations: Locations, filename: str | None,
              base_dir: Path | None) -> EnvironmentSpec:
    context = {"defer_checks": True, "base_dir": base_dir or Path.cwd()}
    try:
        spec = EnvironmentSpec.model_validate(data, context=context)
    except ValidationError as exc:
        raise SpecError(issues_from_validation(exc, locations, filename)) from None
    except RecursionError:
        raise SpecError(SpecIssue("", "the spec refers to itself", file=filename)) from None
    problems = check_spec(spec)
    if problems:
        raise SpecError([
            SpecIssue(_field(tuple(_yaml_key(p) for p in path)), message, file=filename,
                      line=_line_for(path, locations))
            for path, message in problems
        ])
    return spec
