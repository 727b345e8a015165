"""What a class operation reports (events, per-stack states, the result) and what this
machine records of a class (ENVKIT_HOME/classes/NAME.json, read as hostile input)."""

from __future__ import annotations

import json
import math
import threading
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from .. import home
from ..errors import SpecError, SpecIssue
from ..events import Event

# --- events ------------------------------------------------------------------------------------


@dataclass
class StackEvent:
    """An engine event of one stack of the class, tagged with its student (None: shared)."""

    student: str | None
    stack: str
    event: Event

    @property
    def kind(self) -> str:
        """The engine event's kind."""
        return self.event.kind

    def to_dict(self) -> dict[str, Any]:
        """One NDJSON line: the event's fields plus ``student`` and ``stack``."""
        return {**self.event.to_dict(), "student": self.student, "stack": self.stack}


@dataclass
class StackState:
    """A stack of the class changed state (queued, running, done, skipped, failed...)."""

    student: str | None
    stack: str
    state: str
    planned: int = 0
    elapsed_s: float = 0.0
    changes: dict[str, int] = field(default_factory=dict)
    error: str | None = None
    kind: str = field(default="stack_state", init=False)
    timestamp: float = field(default_factory=time.time)

    def to_dict(self) -> dict[str, Any]:
        """One NDJSON line."""
        return asdict(self)


@dataclass
class ClassResult:
    """What a class operation did to each stack."""

    operation: str
    name: str
    target: str
    stacks: dict[str, StackState] = field(default_factory=dict)
    removed: list[str] = field(default_factory=list)

    @property
    def failed(self) -> list[StackState]:
        """Stacks whose operation failed."""
        return [s for s in self.stacks.values() if s.state == "failed"]

    def counts(self) -> dict[str, int]:
        """Stacks per final state."""
        out: dict[str, int] = {}
        for s in self.stacks.values():
            out[s.state] = out.get(s.state, 0) + 1
        return dict(sorted(out.items()))

    def to_dict(self) -> dict[str, Any]:
        """The JSON result document (the last NDJSON line)."""
        return {"kind": "class_result", "operation": self.operation, "class": self.name,
                "target": self.target, "counts": self.counts(), "removed": self.removed,
                "stacks": {k: v.to_dict() for k, v in self.stacks.items()}}


# --- the local record of a class ---------------------------------------------------------------
#
# The record is a cache (the backend stays the source of truth), but it is read by `class plan`,
# `class status`, `class up` and the reaper, so it is read as hostile input: through the bounded
# reader (a regular file of at most MAX_RECORD_BYTES, never through a link out of ENVKIT_HOME,
# so a FIFO cannot hang a reaper that holds its lock), and checked field by field. A damaged
# record is a SpecError (exit 2) naming the file and the key; reading never creates a folder.

#: Largest class record: about 300 bytes per stack, for 5,000 students, with room to spare.
MAX_RECORD_BYTES = 8 * 1024 * 1024

#: The fields of one stack's entry and the JSON types each may hold (None is always allowed).
_STACK_FIELDS: dict[str, tuple[type, ...]] = {
    "fingerprint": (str,), "state": (str,), "resources": (int,), "expires": (str,),
    "error": (str,), "elapsed_s": (int, float), "student": (str,), "updated": (str,)}
#: The class's own fields.
_CLASS_FIELDS: dict[str, tuple[type, ...]] = {"target": (str,), "spec": (str,),
                                              "backend": (str,)}
_JSON_NAMES = {str: "a string", int: "a number", float: "a number", dict: "an object",
               list: "a list", bool: "true or false"}


def _kind(value: Any) -> str:
    if isinstance(value, float) and value in (float("inf"), float("-inf")):
        return "a number too long to read"
    return "null" if value is None else _JSON_NAMES.get(type(value), type(value).__name__)


def validate_record(data: Any, file: str) -> dict[str, Any]:
    """``data`` as a class record, or a SpecError listing every damaged key of ``file``."""
    if not isinstance(data, dict):
        raise SpecError(SpecIssue("", f"is not a class record: expected an object, found "
                                      f"{_kind(data)}", file=file))
    issues: list[SpecIssue] = []

    def check(where: str, value: Any, types: tuple[type, ...]) -> None:
        if value is None or (isinstance(value, types) and not isinstance(value, bool)
                             and not (isinstance(value, float) and not math.isfinite(value))):
            return
        want = " or ".join(dict.fromkeys(_JSON_NAMES[t] for t in types))
        issues.append(SpecIssue(where, f"expected {want}, found {_kind(value)}", file=file))

    for key, types in _CLASS_FIELDS.items():
        check(key, data.get(key), types)
    stacks = data.get("stacks", {})
    if not isinstance(stacks, dict):
        issues.append(SpecIssue("stacks", f"expected an object of stacks, found "
                                          f"{_kind(stacks)}", file=file))
    else:
        for stack, entry in stacks.items():
            if not isinstance(entry, dict):
                issues.append(SpecIssue(f"stacks.{stack}", f"expected an object, found "
                                                           f"{_kind(entry)}", file=file))
                continue
            for key, types in _STACK_FIELDS.items():
                check(f"stacks.{stack}.{key}", entry.get(key), types)
    if issues:
        raise SpecError(issues)
    return {**data, "stacks": dict(stacks)}


def read_record_file(path: Path) -> dict[str, Any]:
    """A class record file, validated (``{"stacks": {}}`` when there is none)."""
    try:
        data = home.read_json(path, "class record", MAX_RECORD_BYTES)
    except SpecError as exc:
        if not path.exists() and not path.is_symlink():
            return {"stacks": {}}
        raise exc from None
    return validate_record(data, str(path))


def recorded_spec(name: str) -> str | None:
    """The spec a class of this name was deployed from on this machine (None if unknown)."""
    path = home.location() / "classes" / f"{name}.json"
    return read_record_file(path).get("spec")


class ClassRecord:
    """What this machine knows of a class (ENVKIT_HOME/classes/NAME.json): per stack the
    fingerprint, state, resources, elapsed time, expiry and last error. The backend stays
    the source of truth; the record lets ``up`` skip unchanged students without asking it."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.path = home.location() / "classes" / f"{name}.json"
        self._lock = threading.Lock()

    def read(self) -> dict[str, Any]:
        """The whole record (SpecError, exit 2, when it is damaged)."""
        return read_record_file(self.path)

    def stack(self, stack: str) -> dict[str, Any]:
        """One stack's entry (empty when unknown)."""
        return dict(self.read()["stacks"].get(stack) or {})

    def update(self, stack: str | None = None, **fields: Any) -> None:
        """Merge ``fields`` into a stack's entry (or the class's own when ``stack`` is None)."""
        folder = home.subdir("classes")
        with self._lock, home.locked(f"class-{self.name}"):
            data = self.read()
            if stack is None:
                data.update(fields)
            else:
                data["stacks"].setdefault(stack, {}).update(
                    fields, updated=datetime.now(timezone.utc).isoformat(timespec="seconds"))
            home.write_private(folder / self.path.name, json.dumps(data, indent=1,
                                                                   sort_keys=True))
