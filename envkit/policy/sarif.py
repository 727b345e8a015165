"""SARIF 2.1.0 output for `envkit policy check --format sarif` (code-scanning UIs)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .gate import PolicyReport

SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
_LEVEL = {"mandatory": "error", "advisory": "warning", "remediate": "note", "disabled": "none"}
_SECURITY_SEVERITY = {"critical": "9.5", "high": "8.0", "medium": "5.5", "low": "3.0"}


def to_sarif(report: PolicyReport, minimum: str = "advisory") -> dict[str, Any]:
    """The report as a SARIF log: one run, every rule's metadata, one result per finding."""
    from .. import __version__
    from .program_fixes import program_remediation
    from .rules import RULES

    rules = []
    for r in RULES:
        # The fix speaks the target's language: spec keys, or pulumi_aws arguments.
        fix = program_remediation(r) if report.kind == "program" else r.remediation
        rules.append({
            "id": r.name,
            "name": "".join(part.capitalize() for part in r.name.split("-")),
            "shortDescription": {"text": r.description},
            "fullDescription": {"text": r.description},
            "help": {"text": fix, "markdown": f"**Fix:** {fix}\n\n"
                     f"Controls: {', '.join(r.controls)}"},
            "defaultConfiguration": {"level": _LEVEL[r.level.value]},
            "properties": {"tags": ["security", *r.controls], "severity": r.severity.value,
                           "security-severity": _SECURITY_SEVERITY[r.severity.value]},
        })
    index = {r["id"]: i for i, r in enumerate(rules)}
    results = []
    for f in report.filtered(minimum):
        if f.kind == "notice" and minimum == "mandatory":
            continue
        result: dict[str, Any] = {
            "ruleId": f.policy,
            "ruleIndex": index.get(f.policy, 0),
            "level": "note" if f.kind != "violation" else _LEVEL.get(f.level, "warning"),
            "message": {"text": (f"{f.resource_name}: " if f.resource_name else "") + f.message},
            "properties": {"kind": f.kind, "enforcementLevel": f.level},
        }
        if f.placeholders:
            result["properties"]["dependsOnPlaceholders"] = list(f.placeholders)
        location: dict[str, Any] = {}
        if f.file:
            physical: dict[str, Any] = {"artifactLocation": {"uri": Path(f.file).as_posix()}}
            if f.line:
                physical["region"] = {"startLine": f.line}
            location["physicalLocation"] = physical
        if f.urn:
            location["logicalLocations"] = [{"name": f.resource_name or f.urn,
                                             "fullyQualifiedName": f.urn, "kind": "resource"}]
        if location:
            result["locations"] = [location]
        results.append(result)
    run: dict[str, Any] = {
        "tool": {"driver": {"name": "envkit", "version": __version__, "rules": rules}},
        "results": results,
    }
    if report.notes:
        # What the gate could not do offline is about the run, not a rule's result.
        run["invocations"] = [{"executionSuccessful": True, "toolExecutionNotifications": [
            _notification(note) for note in report.notes]}]
    return {"$schema": SCHEMA, "version": "2.1.0", "runs": [run]}


def _notification(note: dict[str, Any]) -> dict[str, Any]:
    # A component left unexpanded is a gap in the verdict, not a remark about the run.
    level = "warning" if note.get("kind") == "component" else "note"
    out: dict[str, Any] = {"level": level, "message": {"text": note["message"]}}
    if note.get("file"):
        physical: dict[str, Any] = {"artifactLocation": {"uri": Path(note["file"]).as_posix()}}
        if note.get("line"):
            physical["region"] = {"startLine": note["line"]}
        out["locations"] = [{"physicalLocation": physical}]
    return out
