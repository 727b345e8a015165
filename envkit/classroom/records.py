"""What a class operation reports (events, per-stack states, the result) and what this
machine records of a class (ENVKIT_HOME/classes/NAME.json)."""

from __future__ import annotations

import json
import os
import threading
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from typing import Any

from .. import home
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


class ClassRecord:
    """What this machine knows of a class (ENVKIT_HOME/classes/NAME.json): per stack the
    fingerprint, state, resources, elapsed time, expiry and last error. The backend stays
    the source of truth; the record lets ``up`` skip unchanged students without asking it."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.path = home.subdir("classes") / f"{name}.json"
        self._lock = threading.Lock()

    def read(self) -> dict[str, Any]:
        """The whole record."""
        try:
            data = json.loads(self.path.read_text())
        except (OSError, ValueError):
            return {"stacks": {}}
        return data if isinstance(data, dict) and isinstance(data.get("stacks"), dict) \
            else {"stacks": {}}

    def stack(self, stack: str) -> dict[str, Any]:
        """One stack's entry (empty when unknown)."""
        return dict(self.read()["stacks"].get(stack) or {})

    def update(self, stack: str | None = None, **fields: Any) -> None:
        """Merge ``fields`` into a stack's entry (or the class's own when ``stack`` is None)."""
        with self._lock, home.locked(f"class-{self.name}"):
            data = self.read()
            if stack is None:
                data.update(fields)
            else:
                data["stacks"].setdefault(stack, {}).update(
                    fields, updated=datetime.now(timezone.utc).isoformat(timespec="seconds"))
            tmp = self.path.with_name(f".{self.name}.{os.getpid()}.{threading.get_ident()}")
            tmp.write_text(json.dumps(data, indent=1, sort_keys=True))
            tmp.replace(self.path)


