"""Loading a spec from a file, YAML text or a mapping, with errors that point at lines.

YAML is read with ruamel.yaml's round-trip loader, which keeps each key's line and
refuses duplicate keys; the document is then turned into plain Python values plus a map
from key paths to line numbers, validated by the pydantic models, and checked as a whole.
pydantic's, ruamel's and the checks' complaints all leave here as one :class:`SpecError`,
every problem of the document at once, in file order.
"""

from __future__ import annotations

import datetime as _dt
import os
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any, NamedTuple

from pydantic import ValidationError

from .. import limits
from ..errors import SpecError, SpecIssue
from .checks import Problem, SetAside, check_spec
from .models import (
    ACCOUNT_ID_RE,
    ENV_NAME_RE,
    IAM_NAME_RE,
    KEY_NAME_RE,
    EnvironmentSpec,
    StrictModel,
)

Locations = dict[tuple, int]

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


class _LimitError(Exception):
    """A document over one of envkit's limits (see :mod:`envkit.limits`), at a node."""

    def __init__(self, message: str, node: Any = None, path: tuple = ()) -> None:
        super().__init__(message)
        self.mark = getattr(node, "start_mark", None)
        self.path = path


def parse_yaml(text: str, filename: str | None = None, line_offset: int = 0
               ) -> tuple[Any, Locations]:
    """Parse YAML (1.2) into plain values and a map of key path -> 1-based line.

    ruamel.yaml composes the node graph (every node carries its position); the values are
    built from it here. Composing with the safe loader is about a third faster than the
    round-trip loader, whose comment bookkeeping a spec does not need.

    The limits of :mod:`envkit.limits` hold while loading: the text's size, the nesting
    depth and the number of composed nodes (in the composer), the entries of one
    collection and the values the document holds once its aliases are expanded (counted
    here, never expanded), so an alias bomb stops in milliseconds.
    """
    from ruamel.yaml import YAML
    from ruamel.yaml.composer import MaxDepthExceededError
    from ruamel.yaml.error import YAMLError

    limits.check_text_size(text, "spec", filename)
    yaml = YAML(typ="safe", pure=True)
    yaml.max_depth = limits.MAX_DEPTH
    yaml.Composer = _bounded_composer()
    try:
        node = yaml.compose(text)
        locations: Locations = {}
        data = _NodeReader(yaml.constructor, line_offset).value(node, (), locations)
    except MaxDepthExceededError as exc:
        raise SpecError(SpecIssue("", f"the spec nests deeper than {limits.MAX_DEPTH} levels",
                                  file=filename, line=_mark_line(exc.problem_mark, line_offset))
                        ) from None
    except _LimitError as exc:
        raise SpecError(SpecIssue(_field(exc.path), str(exc), file=filename,
                                  line=_mark_line(exc.mark, line_offset))) from None
    except YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        context = getattr(exc, "context", None)
        if "duplicate key" in (problem or ""):
            message = problem
        else:
            message = f"malformed YAML: {limits.clip(problem, 200)}" + (
                f" ({limits.clip(context, 200)})" if context else "")
        raise SpecError(SpecIssue("", message, file=filename,
                                  line=_mark_line(mark, line_offset))) from None
    except RecursionError:
        raise SpecError(SpecIssue("", "the spec nests too deeply or refers to itself",
                                  file=filename)) from None
    except (ValueError, TypeError, OverflowError) as exc:
        raise SpecError(SpecIssue("", f"malformed YAML: {limits.clip(exc, 200)}",
                                  file=filename)) from None
    return data, locations


def _mark_line(mark: Any, offset: int) -> int | None:
    return mark.line + 1 + offset if mark is not None else None


def _bounded_composer() -> type:
    """ruamel's composer, counting the nodes it builds (aliases are not new nodes)."""
    from ruamel.yaml.composer import Composer
    from ruamel.yaml.events import AliasEvent

    class BoundedComposer(Composer):
        composed = 0

        def __init__(self, loader: Any = None) -> None:
            super().__init__(loader)
            # YAML lets an anchor name be reused (the later one wins); ruamel warns on each
            # reuse, which would print a line per anchor of the user's text.
            self.warn_double_anchors = False

        def compose_node(self, parent: Any, index: Any) -> Any:
            if not self.parser.check_event(AliasEvent):
                self.composed += 1
                if self.composed > limits.MAX_NODES:
                    raise _LimitError(f"the spec has more than {limits.MAX_NODES:,} values",
                                      self.parser.peek_event())
            return super().compose_node(parent, index)

    return BoundedComposer


_MERGE = "tag:yaml.org,2002:merge"
_STR = "tag:yaml.org,2002:str"


class _NodeReader:
    """Plain values from ruamel's composed nodes, recording a line per key path.

    Scalars are built by the safe constructor (YAML 1.2 core types plus timestamps, which
    become ISO strings); a scalar with an application tag (``!Ref x``) is its text. Keys must
    be unique strings within a mapping; ``<<`` merges are applied as YAML defines them.

    An alias shares the value already built for its anchor (nothing is copied), but counts
    for every value it stands for: the running count is the size of the document as a
    consumer that walks it would see it, and it is capped while reading.
    """

    def __init__(self, constructor: Any, offset: int) -> None:
        self.constructor = constructor
        self.offset = offset
        self.built: dict[int, Any] = {}  # node id -> value
        self.sizes: dict[int, tuple[int, int]] = {}  # node id -> (values, characters) it
        self.open: set[int] = set()  # stands for, expanded; nodes being built (cycles)
        self.count = 0
        self.chars = 0

    def line(self, node: Any) -> int:
        return node.start_mark.line + 1 + self.offset

    def spend(self, values: int, chars: int, node: Any) -> None:
        self.count += values
        self.chars += chars
        if self.count > limits.MAX_NODES:
            raise _LimitError(f"the spec holds more than {limits.MAX_NODES:,} values once its "
                              "aliases (*name) are expanded", node)
        if self.chars > limits.MAX_EXPANDED_CHARS:
            raise _LimitError(f"the spec holds more than {limits.MAX_EXPANDED_CHARS:,} "
                              "characters of text once its aliases (*name) are expanded", node)

    def value(self, node: Any, path: tuple, locs: Locations) -> Any:
        from ruamel.yaml.nodes import MappingNode, SequenceNode

        if node is None:
            return None
        ident = id(node)
        if ident in self.built:  # an alias: share the value, count what it stands for
            self.spend(*self.sizes[ident], node)
            return self.built[ident]
        if ident in self.open:
            raise _LimitError("an alias (*name) refers to a collection that contains it",
                              node)
        if isinstance(node, (MappingNode, SequenceNode)) and \
                len(node.value) > limits.MAX_COLLECTION:
            raise _LimitError(f"a {'mapping' if isinstance(node, MappingNode) else 'list'} may "
                              f"have at most {limits.MAX_COLLECTION:,} entries", node, path)
        before = (self.count, self.chars)
        self.spend(1, len(node.value) if isinstance(node.value, str) else 0, node)
        self.open.add(ident)
        if isinstance(node, MappingNode):
            result: Any = self.mapping(node, path, locs)
        elif isinstance(node, SequenceNode):
            result = []
            for i, item in enumerate(node.value):
                locs[(*path, i)] = self.line(item)
                result.append(self.value(item, (*path, i), locs))
        else:
            result = self.scalar(node)
        self.open.discard(ident)
        self.built[ident] = result
        self.sizes[ident] = (self.count - before[0], self.chars - before[1])
        return result

    def mapping(self, node: Any, path: tuple, locs: Locations) -> dict:
        out: dict = {}
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
                    f'found duplicate key "{limits.clip(key)}"', key_node.start_mark)
            explicit.add(key)
            child = (*path, key)
            locs[child] = self.line(key_node)
            out[key] = self.value(value_node, child, locs)
        return out

    def key(self, node: Any) -> str:
        """A mapping key: a string. Anything else has its own message (YAML reads ``1:``,
        ``true:`` and ``null:`` as a number, a boolean and null, not as text)."""
        from ruamel.yaml.nodes import MappingNode, ScalarNode

        if not isinstance(node, ScalarNode):
            kind = "mapping" if isinstance(node, MappingNode) else "list"
            raise _LimitError(f"a key must be text, not a {kind}", node)
        self.spend(1, len(node.value), node)
        key = self.scalar(node)
        if isinstance(key, str) and node.tag == _STR:
            return key
        if isinstance(key, str):  # a timestamp, or an application tag: YAML did not say text
            if node.tag.startswith("tag:yaml.org,2002:"):
                raise _LimitError(f"the key {limits.clip(node.value)!r} reads as a date, not "
                                  f"text: quote it (\"{limits.clip(node.value)}\")", node)
            return key
        if key is None:
            raise _LimitError("a key is empty (null): write a name", node)
        raise _LimitError(f"the key {limits.clip(node.value)} reads as {_kind_of(key)}, not "
                          f"text: quote it (\"{limits.clip(node.value)}\") if it is a name",
                          node)

    def scalar(self, node: Any) -> Any:
        text = node.value
        if isinstance(text, str) and not text.isascii():
            try:  # a YAML escape such as "\ud800" makes a lone surrogate: not Unicode text
                text.encode("utf-8")
            except UnicodeEncodeError as exc:
                raise _LimitError(f"{text[exc.start]!r} (a lone UTF-16 surrogate) is not a "
                                  "character: write the character itself", node) from None
        if node.tag == _STR:  # most scalars: the text is the value
            return text
        if not node.tag.startswith("tag:yaml.org,2002:"):
            return str(text)
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


def _kind_of(value: Any) -> str:
    return {bool: "a boolean", int: "a number", float: "a number"}.get(type(value),
                                                                       type(value).__name__)


def _kind(value: Any) -> str:
    return {list: "list", str: "string", int: "number", float: "number", bool: "boolean"}.get(
        type(value), type(value).__name__)


def _line_for(path: tuple, locations: Locations) -> int | None:
    for end in range(len(path), -1, -1):
        if path[:end] in locations:
            return locations[path[:end]]
    return None


def _field(path: tuple) -> str:
    return ".".join(limits.clip(p).rstrip("_") if isinstance(p, str) else f"[{limits.clip(p)}]"
                    for p in path).replace(".[", "[")


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
