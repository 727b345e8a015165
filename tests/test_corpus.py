"""The corpus (tests/corpus/manifest.yaml): public Pulumi programs and peers' cases, each
run through the gate in a real child process, held to its expected verdict, findings
(rule, resource, file, line, level) and notices; no hang, no internal error."""

from __future__ import annotations

import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import yaml

from envkit.policy.gate import PolicyReport, check, load_config

CORPUS = Path(__file__).parent / "corpus"
MANIFEST = yaml.safe_load((CORPUS / "manifest.yaml").read_text())
ENTRIES = {e["id"]: e for e in MANIFEST["programs"]}


@pytest.fixture(scope="module")
def outcomes() -> dict[str, Any]:
    """Every entry checked once; two children at a time (the check is mostly the child)."""
    config = load_config(CORPUS / "policy-config.json")

    def run(entry: dict[str, Any]) -> Any:
        try:
            return check(CORPUS / "programs" / entry["id"], config,
                         stack=entry.get("stack"), config=entry.get("config") or [],
                         timeout=120, python=sys.executable)  # the pins are envkit's own
        except Exception as exc:  # noqa: BLE001 - reported per entry below
            return exc

    with ThreadPoolExecutor(max_workers=2) as pool:
        return dict(zip(ENTRIES, pool.map(run, ENTRIES.values()), strict=True))


def test_manifest_records_where_each_program_comes_from():
    for entry in MANIFEST["programs"]:
        folder = CORPUS / "programs" / entry["id"]
        vendored = sorted(str(p.relative_to(folder)) for p in folder.rglob("*")
                          if p.is_file() and "__pycache__" not in p.parts)
        assert vendored == sorted(entry["files"]), entry["id"]
        source = entry.get("source") or {}
        peer = entry.get("peer") or {}
        assert (source.get("repo") and source.get("path") and len(source.get("commit", "")) == 40
                and source.get("license")) or (peer.get("tool") and peer.get("id")), entry["id"]
        assert entry["verdict"] in ("pass", "fail"), entry["id"]
    assert (CORPUS / "LICENSE.pulumi-examples").read_text().lstrip().startswith("Apache License")


def _relative(file: str | None, program: Path) -> str | None:
    if file is None:
        return None
    path = Path(file)
    path = path if path.is_absolute() else Path.cwd() / path
    return str(path.resolve().relative_to(program.resolve()))


def _problems(entry: dict[str, Any], report: PolicyReport, pending: bool) -> list[str]:
    """What in the entry's expectations does not hold (only those marked pending, or only
    those not marked)."""
    program = CORPUS / "programs" / entry["id"]
    reported = {(f.policy, f.resource_name, _relative(f.file, program), f.line, f.level)
                for f in report.findings if f.kind == "violation"}
    names = {(f.policy, f.resource_name) for f in report.findings if f.kind == "violation"}
    problems = []
    if bool(entry.get("verdict_pending")) == pending:
        verdict = "fail" if report.mandatory else "pass"
        if verdict != entry["verdict"]:
            problems.append(f"verdict {verdict}, expected {entry['verdict']} "
                            f"({sorted({f.policy for f in report.mandatory})})")
    for f in entry.get("findings") or []:
        key = (f["rule"], f["resource"], f["file"], f["line"], f["level"])
        if bool(f.get("pending")) == pending and key not in reported:
            problems.append(f"missing {key}")
    for f in entry.get("absent") or []:
        if bool(f.get("pending")) == pending and (f["rule"], f["resource"]) in names:
            problems.append(f"unexpected {f['rule']} on {f['resource']}")
    tokens = {n.get("token") for n in report.notes if n.get("kind") == "lookup"}
    if not pending and set(entry.get("notes") or []) - tokens:
        problems.append(f"missing lookup notices {set(entry['notes']) - tokens}")
    return problems


@pytest.mark.parametrize("entry_id", list(ENTRIES))
def test_corpus_program_gets_its_expected_verdict_and_findings(outcomes, entry_id):
    entry = ENTRIES[entry_id]
    report = outcomes[entry_id]
    assert isinstance(report, PolicyReport), f"the gate did not finish: {report!r}"
    assert _problems(entry, report, pending=False) == []
    pending = [entry.get("verdict_pending")] + [
        f.get("pending") for f in (entry.get("findings") or []) + (entry.get("absent") or [])]
    if any(pending):
        open_ = _problems(entry, report, pending=True)
        if not open_:
            pytest.fail(f"{entry_id}: the pending expectations now hold; drop their `pending`")
        reasons = "; ".join(dict.fromkeys(filter(None, pending)))
        pytest.xfail(f"pending ({reasons}): {'; '.join(open_)}")
