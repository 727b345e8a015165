"""The live terminal view of an engine operation, fed by envkit events."""

from __future__ import annotations

import threading
import time
from typing import Any

from rich.console import Console, Group
from rich.markup import escape
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from .events import Diagnostic, Event, PolicyViolation, ResourceFinished, ResourceStarted, Summary

_SHOWN_ROWS = 14


class LiveProgress:
    """Per-resource rows (operation, status, elapsed) and an overall bar.

    Call it with each event (from any thread); render it with ``rich.live.Live``.
    """

    def __init__(self, console: Console, total: int, title: str) -> None:
        self.console = console
        self.total = max(total, 1)
        self.title = title
        self.rows: dict[str, dict[str, Any]] = {}
        self.failed = 0
        self.summary: Summary | None = None
        self._lock = threading.Lock()

    def __call__(self, event: Event) -> None:
        with self._lock:
            if isinstance(event, ResourceStarted):
                self.rows[event.urn] = {"name": event.name, "type": event.type, "op": event.op,
                                        "status": "running", "start": time.monotonic(),
                                        "end": None}
            elif isinstance(event, ResourceFinished):
                row = self.rows.setdefault(event.urn, {
                    "name": event.name, "type": event.type, "op": event.op,
                    "start": time.monotonic()})
                row["status"] = "done" if event.ok else "failed"
                row["end"] = time.monotonic()
                self.failed += 0 if event.ok else 1
            elif isinstance(event, Diagnostic) and event.severity in ("warning", "error"):
                self.console.print(f"[yellow]{event.severity}:[/yellow] {escape(event.message)}")
            elif isinstance(event, PolicyViolation):
                self.console.print(f"[red]policy {escape(event.policy)} ({event.level}):[/red] "
                                   f"{escape(event.message)}")
            elif isinstance(event, Summary):
                self.summary = event

    @property
    def done(self) -> int:
        """Resources whose operation has finished."""
        return sum(1 for r in self.rows.values() if r.get("end") is not None)

    def __rich__(self) -> Group:
        with self._lock:
            table = Table(show_edge=False, title=self.title, title_justify="left")
            for col in ("resource", "type", "operation", "status"):
                table.add_column(col)
            table.add_column("elapsed", justify="right")
            now = time.monotonic()
            running = [r for r in self.rows.values() if r.get("end") is None]
            finished = [r for r in self.rows.values() if r.get("end") is not None]
            for row in (running + finished[::-1])[:_SHOWN_ROWS]:
                elapsed = (row["end"] or now) - row["start"]
                style = {"failed": "red", "done": "green"}.get(row["status"], "yellow")
                table.add_row(escape(row["name"]), row["type"], row["op"],
                              f"[{style}]{row['status']}[/{style}]", f"{elapsed:.0f}s")
            done = self.done
            bar = ProgressBar(total=max(self.total, done), completed=done, width=40)
            line = Text(f" {done}/{max(self.total, done)} resources")
            if self.failed:
                line.append(f", {self.failed} failed", style="red")
            return Group(table, Group(bar, line))
