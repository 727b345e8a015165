"""Loading a spec from a file, YAML text or a mapping, with errors that point at lines.

YAML is read with ruamel.yaml's round-trip loader, which keeps each key's line and
refuses duplicate keys; the document is then turned into plain Python values plus a map
from key paths to line numbers, validated by the pydantic models, and checked as a whole.
pydantic's, ruamel's and the checks' complaints all leave here as one :class:`SpecError`.
"""

from __future__ import annotations

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
    """Parse YAML (1.2) into plain values and a map of key path -> 1-based line.

    ruamel.yaml composes the node graph (every node carries its position); the values are
    built from it here. Composing with the safe loader is about a third faster than the
    round-trip loader, whose comment bookkeeping a spec does not need.
    """
    from ruamel.yaml import YAML
    from ruamel.yaml.error import YAMLError

    yaml = YAML(typ="safe", pure=True)
    try:
        node = yaml.compose(text)
        locations: Locations = {}
        data = _NodeReader(yaml.constructor, line_offset).value(node, (), locations)
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
    except RecursionError:
        raise SpecError(SpecIssue("", "the spec nests too deeply or refers to itself",
                                  file=filename)) from None
    except (ValueError, TypeError) as exc:
        raise SpecError(SpecIssue("", f"malformed YAML: {exc}", file=filename)) from None
    return data, locations


_MERGE = "tag:yaml.org,2002:merge"
_STR = "tag:yaml.org,2002:str"


class _NodeReader:
    """Plain values from ruamel's composed nodes, recording a line per key path.

    Scalars are built by the safe constructor (YAML 1.2 core types plus timestamps, which
    become ISO strings); a scalar with an application tag (``!Ref x``) is its text. Keys must
    be unique within a mapping; ``<<`` merges are applied as YAML defines them.
    """

    def __init__(self, constructor: Any, offset: int) -> None:
        self.constructor = constructor
        self.offset = offset
        self.seen: dict[int, Any] = {}

    def line(self, node: Any) -> int:
        return node.start_mark.line + 1 + self.offset

    def value(self, node: Any, path: tuple, locs: Locations) -> Any:
        from ruamel.yaml.nodes import MappingNode, SequenceNode

        if node is None:
            return None
        if id(node) in self.seen:  # YAML aliases: share the converted value, never loop
            return self.seen[id(node)]
        if isinstance(node, MappingNode):
            out: dict = {}
            self.seen[id(node)] = out
            locs.setdefault(path, self.line(node))
            explicit: set = set()
            for key_node, value_node in node.value:
                if key_node.tag == _MERGE:
                    self._merge(value_node, out, explicit, path, locs)
                    continue
                key = self.key(key_node)
                if key in explicit:
                    from ruamel.yaml.constructor import DuplicateKeyError

                    raise DuplicateKeyError(
                        "while constructing a mapping", node.start_mark,
                        f'found duplicate key "{key}"', key_node.start_mark)
                explicit.add(key)
                child = (*path, key)
                locs[child] = self.line(key_node)
                out[key] = self.value(value_node, child, locs)
            return out
        if isinstance(node, SequenceNode):
            items: list = []
            self.seen[id(node)] = items
            for i, item in enumerate(node.value):
                locs[(*path, i)] = self.line(item)
                items.append(self.value(item, (*path, i), locs))
            return items
        return self.scalar(node)

    def key(self, node: Any) -> Any:
        from ruamel.yaml.nodes import ScalarNode

        if not isinstance(node, ScalarNode):  # a complex key: its text, as a string
            return str(self.value(node, (), {}))
        key = self.scalar(node)
        return key if isinstance(key, (str, int, float, bool)) or key is None else str(key)

    def scalar(self, node: Any) -> Any:
        if node.tag == _STR:  # most scalars: the text is the value
            return node.value
        if not node.tag.startswith("tag:yaml.org,2002:"):
            return str(node.value)
        value = self.constructor.construct_object(node, deep=True)
        if isinstance(value, (_dt.date, _dt.datetime)):
            return value.isoformat()
        if isinstance(value, bytes):
            return value.decode("utf-8", "replace")
        return value

    def _merge(self, node: Any, out: dict, explicit: set, path: tuple, locs: Locations
               ) -> None:
        """``<<: *base`` (or a list of them): keys not written explicitly come from base."""
        from ruamel.yaml.nodes import MappingNode, SequenceNode

        sources = node.value if isinstance(node, SequenceNode) else [node]
        for source in sources:
            if not isinstance(source, MappingNode):
                from ruamel.yaml.constructor import ConstructorError

                raise ConstructorError("while constructing a mapping", None,
                                       "a merge (<<) needs a mapping or a list of mappings",
                                       source.start_mark)
            merged = self.value(source, path, {})
            for key_node, _ in source.value:
                key = self.key(key_node) if key_node.tag != _MERGE else None
                if key is not None and key not in explicit and key not in out:
                    locs[(*path, key)] = self.line(key_node)
            for key, val in merged.items():
                if key not in explicit and key not in out:
                    out[key] = val


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
