"""YAML read with a line for every key path, bounded in size, depth, nodes and aliases.

The spec loader, the gate (Pulumi.yaml and stack files) and the classroom planner read YAML
through here; it imports no models, so reading a project's settings stays cheap.
"""

from __future__ import annotations

import datetime as _dt
from typing import Any

from . import limits
from .errors import SpecError, SpecIssue

Locations = dict[tuple, int]


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
