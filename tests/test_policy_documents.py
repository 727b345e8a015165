"""The documents a pipeline reads from `envkit policy check`: SARIF and JSON sized for what
was found, and written on every ending, a check that could not finish included."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from envkit.errors import SpecError, SpecIssue
from envkit.policy.gate import Finding, PolicyReport, failure_to_dict
from envkit.policy.sarif import failure_sarif, to_sarif

SARIF_SCHEMA = json.loads((Path(__file__).parent / "fixtures" / "sarif-2.1.0-rtm.5.json")
                          .read_text())


def _report(n: int) -> PolicyReport:
    findings = [Finding(policy="iam-no-resource-star-for-scopable-actions", level="mandatory",
                        severity="medium", message=f"policy: Resource \"*\" for s3:GetObject {i}",
                        urn=f"urn:pulumi:dev::p::aws:iam/policy:Policy::p{i}",
                        resource_type="aws:iam/policy:Policy", resource_name=f"p{i}",
                        file="__main__.py", line=10 + i,
                        details={"actions": [f"s3:Action{j}" for j in range(150)]})
                for i in range(n)]
    return PolicyReport(target=".", pack="envkit-least-privilege", resources=n,
                        findings=findings, kind="program")


def test_sarif_grows_with_the_findings_not_with_the_pack():
    one, eight = (json.dumps(to_sarif(_report(n)), indent=2) for n in (1, 8))
    for text in (one, eight):
        jsonschema.validate(json.loads(text), SARIF_SCHEMA)
    assert len(json.loads(one)["runs"][0]["tool"]["driver"]["rules"]) == 1
    assert len(eight) < 10 * 1024  # 80 KB for 8 findings before
    per_finding = (len(eight) - len(one)) / 7
    assert per_finding < 1000 and len(one) < 2500
    assert "s3:Action149" not in eight  # the full action list is JSON's, not SARIF's


def test_json_keeps_the_full_action_list():
    doc = _report(1).to_dict()
    assert doc["verdict"] == "fail"
    assert len(doc["findings"][0]["details"]["actions"]) == 150


@pytest.mark.parametrize("line", [7, None])
def test_a_check_that_could_not_finish_is_still_a_valid_sarif_log(line, tmp_path,
                                                                  monkeypatch):
    monkeypatch.chdir(tmp_path)
    exc = SpecError(SpecIssue("", "the program did not finish: ValueError: boom",
                              file=str(tmp_path / "__main__.py"), line=line))
    log = failure_sarif(str(exc), *_where(exc), exit_code=2)
    jsonschema.validate(log, SARIF_SCHEMA)
    [invocation] = log["runs"][0]["invocations"]
    assert invocation["executionSuccessful"] is False and invocation["exitCode"] == 2
    [note] = invocation["toolExecutionNotifications"]
    assert note["level"] == "error" and "ValueError: boom" in note["message"]["text"]
    physical = note["locations"][0]["physicalLocation"]
    assert physical["artifactLocation"]["uri"] == "__main__.py"
    assert physical.get("region") == ({"startLine": line} if line else None)
    assert log["runs"][0]["results"] == []


def test_a_check_that_could_not_finish_has_a_json_document_that_is_no_pass(tmp_path,
                                                                           monkeypatch):
    monkeypatch.chdir(tmp_path)
    exc = SpecError(SpecIssue("main", "no program at nope.py",
                              file=str(tmp_path / "Pulumi.yaml"), line=3))
    doc = failure_to_dict(".", str(exc), exc, 2)
    assert doc["verdict"] == "error" and doc["exit_code"] == 2 and "summary" not in doc
    assert (doc["error"]["file"], doc["error"]["line"]) == ("Pulumi.yaml", 3)
    assert doc["error"]["issues"][0]["field"] == "main"


def _where(exc):
    from envkit.policy.gate import failure_location

    return failure_location(exc)
