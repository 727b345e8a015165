"""The public corpus (tests/corpus/public/manifest.json): programs nobody here wrote, with
their source recorded (repository, commit, path, license, pins) and their findings judged by
hand. The programs are not vendored; the gate runs on the `fast` ones when a git copy of
their repositories is at hand (ENVKIT_CORPUS_MIRRORS), and is held to the verdict and every
hand-judged finding: each true positive reported, no judged false positive, nothing
reported that nobody has judged."""

from __future__ import annotations

import importlib.util
import os
import re
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("corpus_accuracy",
                                               ROOT / "bench" / "corpus_accuracy.py")
corpus_accuracy = importlib.util.module_from_spec(_spec)
sys.modules["corpus_accuracy"] = corpus_accuracy
_spec.loader.exec_module(corpus_accuracy)

MANIFEST = corpus_accuracy.load_manifest()
PROGRAMS = {p["name"]: p for p in MANIFEST["programs"]}
FAST = [name for name, p in PROGRAMS.items() if p["fast"]]
_RULE = re.compile(r"^[a-z0-9-]+$")


def test_the_corpus_records_forty_public_programs_with_source_pins_and_judgement():
    assert len(PROGRAMS) == len(MANIFEST["programs"]) >= 40
    for p in MANIFEST["programs"]:
        name = p["name"]
        assert re.fullmatch(r"[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+", p["repo"]), name
        assert re.fullmatch(r"[0-9a-f]{40}", p["commit"]), name
        assert p["path"] and not p["path"].startswith("/") and ".." not in p["path"], name
        assert p["license"], name
        assert isinstance(p["requirements"], list) and isinstance(p["needs_install"], bool)
        assert p["expected_verdict"] in ("pass", "fail", None), name
        assert not (p["fast"] and p["needs_install"]), f"{name}: a fast program runs as is"
        for f in p["findings"]:
            assert _RULE.match(f["rule"]) and f["resource"], name
            assert f["judgement"] in ("TP", "FP") and f["peers"], name
        for m in p["missed"]:
            assert m["resource"] and m["what"] and m["peers"], name


def test_no_public_program_is_already_in_the_vendored_corpus():
    vendored = yaml.safe_load((ROOT / "tests" / "corpus" / "manifest.yaml").read_text())
    taken = {(e["source"]["repo"], e["source"]["path"])
             for e in vendored["programs"] if e.get("source")}
    public = {(p["repo"], p["path"]) for p in MANIFEST["programs"]}
    assert not taken & public


def _mirrors() -> Path:
    root = os.environ.get("ENVKIT_CORPUS_MIRRORS")
    if not root:
        pytest.skip("ENVKIT_CORPUS_MIRRORS is not set: the public corpus is not vendored; "
                    "point it at git copies of its repositories (OWNER+NAME) to run it")
    missing = sorted({PROGRAMS[n]["repo"] for n in FAST
                      if corpus_accuracy.git_dir(Path(root), PROGRAMS[n]["repo"]) is None})
    if missing:
        pytest.skip(f"no git copy of {', '.join(missing)} under {root}")
    return Path(root)


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Any]:
    """Each fast program taken out at its commit and checked once, two at a time."""
    mirrors = _mirrors()
    into = tmp_path_factory.mktemp("public-corpus")

    def one(name: str) -> dict[str, Any]:
        folder = corpus_accuracy.materialize(PROGRAMS[name], mirrors, into)
        return corpus_accuracy.run_gate(folder, PROGRAMS[name], timeout=120)

    with ThreadPoolExecutor(max_workers=2) as pool:
        return dict(zip(FAST, pool.map(one, FAST), strict=True))


@pytest.mark.parametrize("name", FAST)
def test_public_program_gets_its_hand_judged_verdict_and_findings(runs, name):
    program = PROGRAMS[name]
    run = runs[name]
    assert run["exit"] in (0, 4), corpus_accuracy.failure_reason(run)
    scored = corpus_accuracy.score(program, run, set(MANIFEST["conventions"]))
    assert scored["verdict"] == program["expected_verdict"]
    assert scored["fp"] == 0
    assert scored["missed"] == [], "true findings the gate no longer reports"
    assert scored["unjudged"] == [], ("new findings: judge them in "
                                      "tests/corpus/public/manifest.json")
