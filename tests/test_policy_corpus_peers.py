"""The peers' own fixture cases (Checkov, trivy, AWSGuard), written as small Pulumi Python
programs under tests/corpus/peers/: the gate gives each the verdict its manifest records."""

from __future__ import annotations

import json

import pytest

from envkit.policy.gate import check_project
from envkit.policy.rules import RULES

from .conftest import ROOT

PEERS = ROOT / "tests" / "corpus" / "peers"
MANIFEST = json.loads((PEERS / "manifest.json").read_text())


def test_manifest_names_real_programs_rules_and_explains_every_disagreement():
    rules = {r.name for r in RULES}
    assert len(MANIFEST) >= 30
    assert sorted(p.name for p in PEERS.iterdir() if p.is_dir()) == sorted(
        c["dir"] for c in MANIFEST)
    for case in MANIFEST:
        assert case["rule"] in rules, case
        assert case["verdict"] in ("pass", "fail") and case["peer_verdict"] in ("pass", "fail")
        assert (PEERS / case["dir"] / "Pulumi.yaml").is_file()
        if case["verdict"] != case["peer_verdict"]:
            assert case.get("note"), f"{case['dir']}: a disagreement needs its reason"
        if case["verdict"] == "fail":
            program = (PEERS / case["dir"] / "__main__.py").read_text().splitlines()
            assert program[case["line"] - 2].startswith(f"# expected: {case['rule']}")


@pytest.mark.parametrize("case", MANIFEST, ids=[c["dir"] for c in MANIFEST])
def test_peer_fixture_gets_the_expected_verdict(case):
    report = check_project(PEERS / case["dir"])
    hits = [f for f in report.findings if f.policy == case["rule"] and f.kind == "violation"]
    if case["verdict"] == "fail":
        assert hits, f"{case['rule']} missed {case['peer_id']}'s failing case"
    else:
        assert not hits, f"{case['rule']} flagged {case['peer_id']}'s passing case: {hits}"
