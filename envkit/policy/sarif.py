"""SARIF 2.1.0 output for `envkit policy check --format sarif` (code-scanning UIs).

The log stays proportional to what was found: a run carries the metadata of the rules its
results name, not of the whole pack, and a run that could not finish (bad input, a program
that did not return) is still a log, with ``executionSuccessful: false`` and the reason as a
tool execution notification at the program's file and line."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .gate import PolicyReport

SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
_LEVEL = {"mandatory": "error", "advisory": "warning", "remediate": "note", "disabled": "none"}
_SECURITY_SEVERITY = {"critical": "9.5", "high": "8.0", "medium": "5.5", "low": "3.0"}


def _driver(rules: list[dict[str, Any]]) -> dict[str, Any]:
    from .. import __version__

    return {"driver": {"name": "envkit", "version": __version__, "rules": rules}}


def to_sarif(report: PolicyReport, minimum: str = "advisory") -> dict[str, Any]:
    """The report as a SARIF log: one run, one result per finding, and the metadata of the
    rules those results name."""
    from .program_fixes import program_remediation
    from .rules import RULES

    shown = [f for f in report.filtered(minimum)
             if not (f.kind == "notice" and minimum == "mandatory")]
    named = {f.policy for f in shown}
    rules = []
    for r in RULES:
        if r.name not in named:
            continue
        # The fix speaks the target's language: spec keys, or pulumi_aws arguments.
        fix = program_remediation(r) if report.kind == "program" else r.remediation
        rules.append({
            "id": r.name,
            "shortDescription": {"text": r.description},
            "help": {"text": f"Fix: {fix}"},
            "defaultConfiguration": {"level": _LEVEL[r.level.value]},
            "properties": {"tags": ["security", *r.controls],
                           "security-severity": _SECURITY_SEVERITY[r.severity.value]},
        })
    index = {r["id"]: i for i, r in enumerate(rules)}
    results = []
    for f in shown:
        result: dict[str, Any] = {
            "ruleId": f.policy,
            "level": "note" if f.kind != "violation" else _LEVEL.get(f.level, "warning"),
            "message": {"text": (f"{f.resource_name}: " if f.resource_name else "") + f.message},
        }
        if f.policy in index:
            result["ruleIndex"] = index[f.policy]
        if f.kind != "violation":
            result["properties"] = {"kind": f.kind}
        if f.placeholders:
            result.setdefault("properties", {})["dependsOnPlaceholders"] = list(f.placeholders)
        location: dict[str, Any] = {}
        if f.file:
            location["physicalLocation"] = _physical(f.file, f.line)
        if f.urn:
            location["logicalLocations"] = [{"name": f.resource_name or f.urn,
                                             "fullyQualifiedName": f.urn, "kind": "resource"}]
        if location:
            result["locations"] = [location]
        results.append(result)
    run: dict[str, Any] = {"tool": _driver(rules), "results": results}
    if report.notes:
        # What the gate could not do offline is about the run, not a rule's result.
        run["invocations"] = [{"executionSuccessful": True, "toolExecutionNotifications": [
            _notification(note) for note in report.notes]}]
    return {"$schema": SCHEMA, "version": "2.1.0", "runs": [run]}


def failure_sarif(message: str, file: str | None = None, line: int | None = None,
                  exit_code: int = 2) -> dict[str, Any]:
    """A SARIF log for a check that could not finish: no results, and an invocation that
    was not successful, with the reason at ``file:line``."""
    notification = _notification({"message": message, "file": file, "line": line})
    notification["level"] = "error"
    return {"$schema": SCHEMA, "version": "2.1.0", "runs": [{
        "tool": _driver([]), "results": [],
        "invocations": [{"executionSuccessful": False, "exitCode": exit_code,
                         "toolExecutionNotifications": [notification]}]}]}


def _physical(file: str, line: int | None) -> dict[str, Any]:
    physical: dict[str, Any] = {"artifactLocation": {"uri": Path(file).as_posix()}}
    if line:
        physical["region"] = {"startLine": line}
    return physical


def _notification(note: dict[str, Any]) -> dict[str, Any]:
    # A component left unexpanded is a gap in the verdict, not a remark about the run.
    level = "warning" if note.get("kind") == "component" and not note.get("evaluated") \
        else "note"
    out: dict[str, Any] = {"level": level, "message": {"text": note["message"]}}
    if note.get("file"):
        out["locations"] = [{"physicalLocation": _physical(note["file"], note.get("line"))}]
    return out
