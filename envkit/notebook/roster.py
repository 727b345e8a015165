"""The roster widget: one row per student with their stack's state, and a per-student reveal.

Secrets stay hidden until the instructor reveals one student's row, which then shows only
that student's sign-in details (the same page ``envkit class handout`` writes); hiding the
row again removes them from the widget.
"""

from __future__ import annotations

import html
from typing import Any

from ..errors import EnvkitError
from .views import _STYLE


def _e(value: Any) -> str:
    return html.escape("-" if value is None else str(value))


class RosterWidget:
    """``RosterWidget(classroom)`` (or ``classroom.widget()``): the class at a glance."""

    def __init__(self, classroom: Any) -> None:
        import ipywidgets as w

        self.classroom = classroom
        self.header = w.HTML()
        self.rows: dict[str, dict[str, Any]] = {}
        self.status: dict[str, dict[str, Any]] = {}
        self.note: str | None = None
        #: Column titles and widths; the header row and every student's row share them.
        columns = {"who": ("student", "220px"), "state": ("state", "140px"),
                   "resources": ("resources", "90px"), "expires": ("lease ends", "170px"),
                   "reveal": ("sign-in details", "130px")}
        self.column_header = w.HBox([
            w.HTML(f"<b>{title}</b>", layout=w.Layout(width=width))
            for title, width in columns.values()])
        self.column_header.add_class("envkit-roster-header")
        boxes = []
        for student in classroom.selected:
            cells = {
                **{k: w.HTML(layout=w.Layout(width=columns[k][1]))
                   for k in ("who", "state", "resources", "expires")},
                "reveal": w.ToggleButton(description="Reveal", icon="eye-slash",
                                         layout=w.Layout(width="90px")),
                "details": w.HTML(),
            }
            cells["reveal"].observe(lambda change, sid=student.id: self.reveal(
                sid, change["new"]), names="value")
            self.rows[student.id] = cells
            boxes.append(w.VBox([w.HBox([cells[k] for k in ("who", "state", "resources",
                                                              "expires", "reveal")]),
                                 cells["details"]]))
        self.refresh_button = w.Button(description="Refresh", icon="refresh")
        self.refresh_button.on_click(lambda _b: self.refresh())
        self.widget = w.VBox([self.header, self.refresh_button, self.column_header, *boxes])
        self.widget.add_class("envkit-roster")
        self.refresh()

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any]:
        bundle = dict(self.widget._repr_mimebundle_(**kwargs) or {})
        bundle["text/plain"] = repr(self)
        return bundle

    def refresh(self) -> None:
        """Read the class's status again (this machine's record, the backend when the Pulumi
        CLI is there) and redraw every row."""
        status = self.classroom.status()
        self.status = {row["student"]: row for row in status["stacks"] if row["student"]}
        self.note = status.get("note")
        note = f" · {_e(status['note'])}" if status.get("note") else ""
        self.header.value = (f"{_STYLE}<div class='envkit'><b>{_e(self.classroom.name)}</b>: "
                             f"{len(self.rows)} students{note}</div>")
        for student in self.classroom.selected:
            row, cells = self.status.get(student.id, {}), self.rows[student.id]
            name = f" ({_e(student.name)})" if student.name else ""
            cells["who"].value = f"<b>{_e(student.id)}</b>{name}"
            cells["state"].value = _e(row.get("state", "not deployed"))
            cells["resources"].value = _e(row.get("resources"))
            cells["expires"].value = _e(row.get("expires"))

    def reveal(self, student_id: str, shown: bool) -> None:
        """Show (or hide) one student's sign-in details."""
        cells = self.rows[student_id]
        cells["reveal"].icon = "eye" if shown else "eye-slash"
        if not shown:
            cells["details"].value = ""
            return
        cells["details"].value = f"{_STYLE}<div class='envkit'>{self._details(student_id)}</div>"

    def _details(self, student_id: str) -> str:
        from ..classroom.handout import render_student

        student = next(s for s in self.classroom.selected if s.id == student_id)
        if self.status.get(student_id, {}).get("state") not in ("deployed", "unchanged"):
            return f"<span class='muted'>{_e(student_id)} is not deployed yet</span>"
        try:
            outputs = self.classroom._env(student).outputs(show_secrets=True)
        except EnvkitError as exc:
            return f"<span class='bad'>{_e(str(exc).splitlines()[0])}</span>"
        _, page, _ = render_student(self.classroom.name, student, outputs)
        lines = [line for line in page.splitlines() if line.strip()]
        body = "".join(f"<li>{_e(line.lstrip('- ').replace('**', ''))}</li>"
                       for line in lines[1:])
        return f"<ul>{body}</ul>"

    def __repr__(self) -> str:
        lines = [f"Roster of {self.classroom.name}: {len(self.rows)} students"]
        if self.note:
            lines.append(f"  ({self.note})")
        for student in self.classroom.selected:
            row = self.status.get(student.id, {})
            lines.append(f"  {student.id:<20} {row.get('state', 'not deployed'):<14} "
                         f"resources {row.get('resources') or '-':<4} "
                         f"expires {row.get('expires') or '-'}  [Reveal]")
        return "\n".join(lines)
