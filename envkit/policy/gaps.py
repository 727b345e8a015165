"""Where a verdict on a Pulumi program is incomplete: what ``--strict`` refuses."""

from __future__ import annotations

from typing import Any


def strict_problems(report: Any) -> list[str]:
    """What ``--strict`` refuses: unexpanded components, lookups whose unknown values
    resources were checked with, and checks that could not judge a value (each with
    where it is)."""
    out = []
    for note in report.not_evaluated:
        where = f" ({note['file']}:{note['line']})" if note.get("file") and \
            note.get("line") else ""
        out.append(f"{note.get('type')} '{note.get('name')}'{where}: not evaluated")
    for note in report.notes:
        if note.get("kind") == "lookup" and note.get("dependents"):
            where = f" ({note['file']}:{note['line']})" if note.get("file") and \
                note.get("line") else ""
            out.append(f"{note.get('token')}{where}: not answerable offline; checked with "
                       f"its values unknown: {', '.join(note['dependents'][:5])}")
    for f in report.findings:
        if f.kind == "notice":
            where = f" ({f.file}:{f.line})" if f.file and f.line else ""
            out.append(f"{f.resource_name or 'stack'}{where}: {f.policy}: {f.message}")
    return out
