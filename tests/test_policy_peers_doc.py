"""docs/policy-peers.md: each peer check in scope, the envkit rule that covers it, and the
coverage the document claims, counted from its own tables."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from envkit.policy.rules import RULES

DOC = Path(__file__).resolve().parents[1] / "docs" / "policy-peers.md"
PEERS = {"AWSGuard": "AWSGuard", "Checkov": "Checkov", "trivy": "trivy"}
COVERAGE = ("full", "setting", "partial", "none")
CLAIM = re.compile(r"\*\*Coverage: (\d+) checks in scope; (\d+) full \(([\d.]+)%\), (\d+) full "
                   r"with a setting, (\d+) partial, (\d+) none\.\*\*")


def _sections() -> dict[str, str]:
    parts = re.split(r"^## ", DOC.read_text(), flags=re.M)
    return {p.split("\n", 1)[0].strip(): p for p in parts[1:]}


def _rows(section: str) -> list[list[str]]:
    return [[cell.strip() for cell in line.strip().strip("|").split("|")]
            for line in section.splitlines() if line.startswith("| `")]


def _checks() -> list[tuple[str, str, list[str], str, str]]:
    """(peer, check, envkit rules, coverage, note) for every counted row."""
    out = []
    sections = _sections()
    for peer in PEERS:
        for check, _what, rules, coverage, note in _rows(sections[peer]):
            out.append((peer, check.strip("`"), re.findall(r"`([^`]+)`", rules), coverage,
                        note))
    return out


def test_the_claimed_counts_are_the_tables_counts():
    checks = _checks()
    claim = CLAIM.search(DOC.read_text())
    assert claim, "the coverage line is missing or reworded"
    total, full, share, setting, partial, none = claim.groups()
    counts = {c: sum(row[3] == c for row in checks) for c in COVERAGE}
    assert int(total) == len(checks)
    assert (int(full), int(setting), int(partial), int(none)) == tuple(
        counts[c] for c in COVERAGE)
    assert float(share) == round(100 * counts["full"] / len(checks), 1)


def test_at_least_80_percent_of_the_peers_checks_are_covered_fully():
    checks = _checks()
    assert sum(row[3] == "full" for row in checks) / len(checks) >= 0.80


def test_every_check_is_listed_once_with_a_known_coverage():
    checks = _checks()
    keys = [(peer, check) for peer, check, *_ in checks]
    assert len(keys) == len(set(keys))
    assert {row[3] for row in checks} <= set(COVERAGE)
    outside = set(re.findall(r"`(AVD-AWS-\d+|CKV2?_AWS_\d+)`",
                             _sections()["Outside the count: the account's live state"]))
    assert outside and not outside & {check for _, check, *_ in checks}


@pytest.mark.parametrize("peer", sorted(PEERS))
def test_each_rule_named_exists_and_lists_the_check_among_its_controls(peer):
    by_name = {r.name: r for r in RULES}
    for row_peer, check, rules, coverage, note in _checks():
        if row_peer != peer:
            continue
        if coverage == "none":
            assert not rules and note, f"{check}: 'none' names no rule and says why"
            continue
        assert rules, f"{check}: {coverage} without a rule"
        missing = [r for r in rules if r not in by_name]
        assert not missing, f"{check}: no rule named {missing}"
        if coverage != "full":
            assert note, f"{check}: {coverage} coverage says what is left out"
        control = f"{PEERS[peer]} {check}"
        assert any(control in by_name[r].controls for r in rules), (
            f"{check}: none of {rules} lists '{control}' among its controls")


def test_the_documented_policy_config_is_one_the_gate_accepts(tmp_path):
    from envkit.policy.gate import load_config

    block = re.search(r"```json\n(.*?)```", DOC.read_text(), re.S)
    assert block, "the settings example is missing"
    path = tmp_path / "policy-config.json"
    path.write_text(block.group(1))
    config = load_config(path)
    assert config["stack-required-tags"]["requiredTags"] == ["team", "cost-center"]
