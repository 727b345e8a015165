"""Loading a spec from a file, YAML text or a mapping, with errors that point at lines.

YAML is read with ruamel.yaml's round-trip loader, which keeps each key's line and
refuses duplicate keys; the document is then turned into plain Python values plus a map
from key paths to line numbers, validated by the pydantic models, and checked as a whole.
pydantic's, ruamel's and the checks' complaints all leave here as one :class:`SpecError`,
every problem of the document at once, in file order.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any, NamedTuple

from pydantic import ValidationError

from .. import limits
from ..errors import SpecError, SpecIssue
from ..yamlsrc import Locations, _field, _kind, _kind_of, _line_for, parse_yaml  # noqa: F401
from .checks import Problem, SetAside, check_spec
from .models import (
    ACCOUNT_ID_RE,
    ENV_NAME_RE,
    IAM_NAME_RE,
    KEY_NAME_RE,
    EnvironmentSpec,
    StrictModel,
)

_MESSAGES = {
    "missing": "this key is required",
    "dict_type": "expected a mapping (key: value)",
    "model_type": "expected a mapping (key: value)",
    "list_type": "expected a list",
    "string_type": "expected a string",
    "int_type": "expected a whole number",
    "int_parsing": "expected a whole number",
    "int_from_float": "expected a whole number",
    "bool_type": "expected true or false",
    "bool_parsing": "expected true or false",
}
#: The errors that say the value has the wrong type (what "expected ..." names).
_TYPE_KINDS = frozenset(_MESSAGES) - {"missing"}


def load_spec(
    source: str | os.PathLike[str] | Mapping[str, Any] | EnvironmentSpec,
) -> EnvironmentSpec:
    """Load and validate a spec from a path, YAML text, a mapping or a spec.

    A ``str`` that names an existing file, or any ``Path``, is read as a file; any other
    ``str`` is YAML text. Raises :class:`SpecError` for every problem found, each naming
    the file, line and field. A file must be a regular file of at most
    :data:`~envkit.limits.MAX_SPEC_BYTES`; text has the same limit.
    """
    if isinstance(source, EnvironmentSpec):
        return source
    if isinstance(source, Mapping):
        return _validate(dict(source), {}, None, None)
    if isinstance(source, os.PathLike) or (
        isinstance(source, str) and "\n" not in source
        and (source.endswith((".yaml", ".yml")) or os.path.lexists(source))
    ):
        path = Path(source)
        text = limits.read_text(path, "spec")
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


class _Error(NamedTuple):
    """One of pydantic's errors, in envkit's words, at a path of YAML keys."""

    path: tuple
    message: str
    missing: bool = False  # a required key is missing
    meant: tuple | None = None  # an unknown key: the path of the known key it resembles


def _errors(exc: ValidationError, data: Any) -> list[_Error]:
    """pydantic's errors about the document ``data``, each once, in pydantic's order, at
    paths as the document writes them. Every input quoted in a message goes through
    :func:`envkit.limits.clip` first.

    pydantic tries each member of a union (``str | list[str]``) and reports every member that
    failed, under a tag naming it. A member the input matched in shape failed deeper (an item
    of the list): its errors are the ones that count. Members that failed on the type alone
    make one error, "expected a string or a list"."""
    raw = exc.errors(include_url=False, include_input=True)
    sites = [_union_site(err["loc"]) for err in raw]
    matched = {site for site, err in zip(sites, raw, strict=True)
               if site is not None and len(err["loc"]) > len(site) + 1}
    expected: dict[tuple, list[str]] = {}  # union -> what each member failed on type expects
    for site, err in zip(sites, raw, strict=True):
        if site is not None and site not in matched and err["type"] in _TYPE_KINDS:
            expected.setdefault(site, []).append(_MESSAGES[err["type"]])
    found: dict[tuple[tuple, str], _Error] = {}
    for site, err in zip(sites, raw, strict=True):
        if site in matched and len(err["loc"]) == len(site) + 1:
            continue  # another member of the union matched the input's shape
        loc = _as_written(tuple(_yaml_key(p) for p in err["loc"] if not _is_tag(p)), data)
        kind, ctx, value = err["type"], err.get("ctx", {}), err.get("input")
        shown = limits.clip(value)
        message = _MESSAGES.get(kind, err["msg"])
        if site in expected and kind in _TYPE_KINDS:
            message = "expected " + " or ".join(
                dict.fromkeys(m.removeprefix("expected ") for m in expected[site]))
        if message.startswith("Value error, "):
            message = message[len("Value error, "):]
        if kind == "string_pattern_mismatch":
            message = _PATTERNS.get(ctx["pattern"], message)
            message = f"'{shown}' is not a valid name: {message}"
        if kind in _BOUNDS:
            message = _BOUNDS[kind].format(input=shown, **ctx)
        if kind in ("literal_error", "enum"):
            message = f"'{shown}' is not allowed; expected {ctx['expected']}"
        if kind in ("finite_number", "float_parsing", "float_type"):
            message = f"expected a finite number, got {shown}"
        if kind in _MESSAGES and kind != "missing":
            message = f"{message}, got {_kind(value)} {shown}"
        meant = (*loc[:-1], ctx["meant"]) if kind == "unknown_key" and ctx.get("meant") \
            else None
        found.setdefault((loc, message), _Error(loc, message, kind == "missing", meant))
    return list(found.values())


def _as_written(path: tuple, data: Any) -> tuple:
    """pydantic's path through a shorthand, as the document writes it: ``roster: [ann]``
    is read as ``roster: {students: [ann]}``, and one ``Statement: {...}`` as a list of one."""
    out: list = []
    node = data
    for part in path:
        if (part == "students" and out[-1:] == ["roster"] and isinstance(node, list)) or \
                (part == 0 and out[-1:] == ["Statement"] and isinstance(node, dict)):
            continue
        out.append(part)
        if isinstance(node, dict):
            node = node.get(part)
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            node = node[part]
        else:
            node = None
    return tuple(out)


def _union_site(loc: tuple) -> tuple | None:
    """The part of pydantic's ``loc`` before a union member's tag (None: no union)."""
    for i, part in enumerate(loc):
        if _is_tag(part):
            return loc[:i]
    return None


def _is_tag(part: Any) -> bool:
    """Whether a part of pydantic's ``loc`` names a union member (``str``, ``list[str]``,
    a model) rather than a key."""
    return isinstance(part, str) and ("[" in part or part in _TYPE_WORDS
                                      or part in _model_names())


@cache
def _model_names() -> frozenset[str]:
    """The spec's model classes, which pydantic names as union members (RosterEntry)."""
    models, todo = set(), [StrictModel]
    while todo:
        cls = todo.pop()
        models.add(cls.__name__)
        todo += cls.__subclasses__()
    return frozenset(models)


_PATTERNS = {
    ENV_NAME_RE: "use lowercase letters, digits and '-', starting with a letter (at most 40)",
    IAM_NAME_RE: "use ASCII letters, digits and + = , . @ _ - only",
    KEY_NAME_RE: "use letters, digits and . _ - only",
    ACCOUNT_ID_RE: "an AWS account id is 12 digits",
}
_BOUNDS = {
    "less_than_equal": "must be at most {le}, got {input}",
    "greater_than_equal": "must be at least {ge}, got {input}",
    "less_than": "must be less than {lt}, got {input}",
    "greater_than": "must be more than {gt}, got {input}",
    "too_long": "may have at most {max_length} entries",
    "too_short": "needs at least {min_length} entry",
    "string_too_long": "may be at most {max_length} characters long",
    "string_too_short": "needs at least {min_length} characters",
}

_TYPE_WORDS = {"str", "int", "bool", "float", "list", "dict", "none", "function-after",
               "function-before", "function-wrap", "json-or-python", "lax-or-strict"}


def _yaml_key(part: Any) -> Any:
    return "from" if part == "from_" else part


#: Required keys that get a stand-in when their value fails validation, so that the section
#: holding them (the whole spec, for name and owner) is still checked as a whole.
_STAND_INS: dict[tuple, Any] = {
    ("name",): "spec", ("owner",): "nobody", ("classroom", "roster"): {"students": []}}
#: How often a spec with errors is validated again with the failed parts set aside. Each pass
#: sets aside more (a value, then the entry that misses it...); real specs need two or three.
_MAX_PASSES = 8
_DROP = object()


def _validate(data: dict, locations: Locations, filename: str | None,
              base_dir: Path | None) -> EnvironmentSpec:
    """Validate, then check the spec as a whole; raise every problem at once, in file order.

    When fields fail validation, the parts holding them are set aside (removed, or given a
    stand-in) and the rest is validated again: that finds what the failed parts hid (a
    model stops at its first unknown key) and gives the cross-reference checks a model of
    everything that is sound. Problems that read a part set aside are not reported: that
    part's value in the model is not what the user wrote.
    """
    context = {"defer_checks": True, "base_dir": base_dir or Path.cwd()}
    found: list[_Error] = []
    aside: dict[tuple, Any] = {}
    meant: set[tuple] = set()  # keys an unknown key resembles: "required" would repeat it
    spec: EnvironmentSpec | None = None
    for _ in range(_MAX_PASSES):
        try:
            spec = EnvironmentSpec.model_validate(data, context=context)
            break
        except ValidationError as exc:
            errors = _errors(exc, data)
        except RecursionError:
            raise SpecError(SpecIssue("", "the spec refers to itself", file=filename)) from None
        # An error at, in or around a part set aside is the setting aside's doing (the
        # first pass sets nothing aside: every error it finds is reported).
        done = SetAside(aside)
        found += [e for e in errors
                  if not done.touches(e.path) and not (e.missing and e.path in meant)]
        meant |= {e.meant for e in errors if e.meant}
        cuts = {_cut(e.path, data) for e in errors}
        if None in cuts or cuts <= aside.keys():
            break  # nothing (more) can be set aside: no model for the checks
        new = {cut: _STAND_INS.get(cut, _DROP) for cut in cuts if cut is not None}
        aside.update(new)
        data = _set_aside(data, new)
    problems = check_spec(spec, SetAside(aside)) if spec is not None else []
    if spec is None or found or problems:
        raise SpecError(_in_file_order(found, problems, locations, filename))
    return spec


def _cut(path: tuple, data: Any) -> tuple | None:
    """The part of the document to set aside for an error at ``path``: the deepest mapping
    key on the way that the document has (a list goes whole: removing one item would
    renumber the others), or a missing required key that has a stand-in. None when the
    error is about the document as a whole."""
    node, cut = data, None
    for depth, part in enumerate(path):
        if isinstance(node, dict):
            if part not in node:
                return path[:depth + 1] if path[:depth + 1] in _STAND_INS else cut
            cut = path[:depth + 1]
            node = node[part]
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            node = node[part]
        else:
            break
    return cut


class _Cut:
    """A leaf of the tree :func:`_set_aside` rebuilds: what replaces the part (or _DROP)."""

    def __init__(self, value: Any) -> None:
        self.value = value


def _set_aside(data: Any, cuts: dict[tuple, Any]) -> Any:
    """The document without the parts at ``cuts`` (or with their stand-ins). Only the
    collections on the way are copied: an alias's value is shared by every place it
    stands, and the others keep it whole."""
    tree: dict = {}
    for path, value in sorted(cuts.items(), key=lambda item: len(item[0])):
        node: Any = tree
        for part in path[:-1]:
            node = node.setdefault(part, {})
            if isinstance(node, _Cut):
                break  # a part holding this one is set aside already
        else:
            node[path[-1]] = _Cut(value)
    return _rebuild(data, tree)


def _rebuild(node: Any, tree: dict) -> Any:
    out = dict(node) if isinstance(node, dict) else list(node)
    for part, sub in tree.items():
        if not isinstance(sub, _Cut):
            out[part] = _rebuild(node[part], sub)
        elif sub.value is _DROP:
            del out[part]
        else:
            out[part] = sub.value
    return out


def _in_file_order(found: list[_Error], problems: list[Problem | SpecIssue],
                   locations: Locations, filename: str | None) -> list[SpecIssue]:
    """Field errors and whole-spec problems as SpecIssues, sorted by line, then field; a
    roster CSV's issues sit where the spec names the CSV, in the CSV's own line order."""
    keyed: dict[SpecIssue, tuple] = {}
    csv_line = locations.get(("classroom", "roster", "csv")) or 0
    for path, message in [*((e.path, e.message) for e in found),
                          *((p.path, p.message) for p in problems if isinstance(p, Problem))]:
        path = tuple(_yaml_key(p) for p in path)
        issue = SpecIssue(_field(path), message, file=filename,
                          line=_line_for(path, locations))
        keyed.setdefault(issue, (issue.line or 0, 0, issue.field))
    for issue in problems:
        if isinstance(issue, SpecIssue):
            keyed.setdefault(issue, (csv_line, issue.line or 0, issue.field))
    return sorted(keyed, key=keyed.__getitem__)
