"""The live terminal view of a class operation: one row per student, fed by class events."""

from __future__ import annotations

import threading
import time
from typing import Any

from rich.console import Group
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from ..events import ResourceFinished
from .driver import StackEvent, StackState

_SHOWN_ROWS = 25
_STYLES = {"deployed": "green", "destroyed": "green", "unchanged": "dim", "failed": "red",
           "running": "yellow", "queued": "dim", "cancelled": "red", "kept": "yellow"}


class ClassProgress:
    """A row per stack (student, state, resources done/planned, elapsed) and the totals.

    With many students the running ones come first, then failures, then the most recently
    finished, so the view stays one screen; the totals line counts every stack.
    """

    def __init__(self, title: str) -> None:
        self.title = title
        self.rows: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()

    def __call__(self, event: Any) -> None:
        with self._lock:
            if isinstance(event, StackState):
                row = self.rows.setdefault(event.stack, {
                    "student": event.student or "(shared)", "done": 0, "start": None,
                    "end": None})
                row["state"] = event.state
                row["planned"] = event.planned or row.get("planned", 0)
                row["error"] = event.error
                if event.state == "running":
                    row["start"] = time.monotonic()
                elif event.state != "queued":
                    row["end"] = time.monotonic()
            elif isinstance(event, StackEvent) and isinstance(event.event, ResourceFinished):
                row = self.rows.get(event.stack)
                if row is not None and event.event.ok:
                    row["done"] += 1

    def counts(self) -> dict[str, int]:
        """Stacks per state."""
        out: dict[str, int] = {}
        for row in self.rows.values():
            out[row.get("state", "queued")] = out.get(row.get("state", "queued"), 0) + 1
        return out

    def __rich__(self) -> Group:
        with self._lock:
            table = Table(show_edge=False, title=self.title, title_justify="left")
            for col in ("student", "state", "resources", "elapsed"):
                table.add_column(col, justify="right" if col in ("resources", "elapsed")
                                 else "left")
            table.add_column("error", overflow="fold")
            now = time.monotonic()
            order = {"running": 0, "failed": 1}
            rows = sorted(self.rows.values(), key=lambda r: (
                order.get(r.get("state", ""), 2), -(r.get("end") or 0)))
            for row in rows[:_SHOWN_ROWS]:
                state = row.get("state", "queued")
                style = _STYLES.get(state, "")
                start = row.get("start")
                elapsed = f"{(row.get('end') or now) - start:.0f}s" if start else "-"
                table.add_row(escape(row["student"]), f"[{style}]{state}[/{style}]",
                              f"{row['done']}/{row.get('planned') or '?'}", elapsed,
                              escape((row.get("error") or "").splitlines()[0][:120]
                                     if row.get("error") else ""))
            totals = ", ".join(f"{n} {state}" for state, n in sorted(self.counts().items()))
            hidden = len(rows) - _SHOWN_ROWS
            line = Text(f" {len(self.rows)} stacks: {totals}"
                        + (f" ({hidden} more not shown)" if hidden > 0 else ""))
            return Group(table, line)
