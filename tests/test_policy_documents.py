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


# --- the CLI: every ending writes its document -------------------------------------------------

ROOT = Path(__file__).resolve().parents[1]
ENDS_EARLY = Path(__file__).parent / "fixtures" / "programs" / "ends-early"


def envkit(*args: str, cwd=ROOT, **env_extra: str):
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(PATH=os.path.dirname(sys.executable) + ":/usr/bin:/bin", COLUMNS="200",
               **env_extra)
    return subprocess.run([sys.executable, "-m", "envkit.cli", *args], capture_output=True,
                          text=True, cwd=cwd, env=env, timeout=180)


def test_a_program_that_raises_still_gets_its_sarif_file(tmp_path):
    out = tmp_path / "report.sarif"
    done = envkit("policy", "check", str(ENDS_EARLY), "--format", "sarif", "-o", str(out),
                  ENDING="exception")
    assert done.returncode == 2
    assert "the bucket name is taken" in done.stderr and "report written to" in done.stderr
    log = json.loads(out.read_text())
    jsonschema.validate(log, SARIF_SCHEMA)
    [invocation] = log["runs"][0]["invocations"]
    assert invocation["executionSuccessful"] is False
    [note] = invocation["toolExecutionNotifications"]
    assert "ValueError: the bucket name is taken" in note["message"]["text"]
    assert "\x1b" not in note["message"]["text"]
    physical = note["locations"][0]["physicalLocation"]
    assert physical["artifactLocation"]["uri"].endswith("ends-early/__main__.py")
    source = (ENDS_EARLY / "__main__.py").read_text().splitlines()
    assert "raise ValueError" in source[physical["region"]["startLine"] - 1]


@pytest.mark.parametrize("flag", [["--format", "json"], ["--json"]])
def test_bad_input_still_prints_one_json_document(flag, tmp_path):
    done = envkit("policy", "check", str(ROOT / "labs" / "aws-basics.yaml"), *flag,
                  "--policy-config", str(tmp_path / "nope.json"))
    assert done.returncode == 2
    doc = json.loads(done.stdout)  # exactly one document
    assert doc["verdict"] == "error" and doc["exit_code"] == 2
    assert doc["error"]["file"].endswith("nope.json") and "no such policy config" in \
        doc["error"]["message"]


def test_json_flag_is_the_json_format(tmp_path):
    spec = str(ROOT / "labs" / "iam-basics.yaml")
    one = json.loads(envkit("policy", "check", spec, "--json").stdout)
    other = json.loads(envkit("policy", "check", spec, "--format", "json").stdout)
    assert one == other and one["verdict"] == "pass"
    clash = envkit("policy", "check", spec, "--json", "--format", "sarif")
    assert clash.returncode == 2 and "ask for two formats" in clash.stderr


def test_policy_list_shows_what_each_rule_checks():
    done = envkit("policy", "list")
    assert done.returncode == 0
    lines = done.stdout.splitlines()
    assert "what it checks" in lines[0]
    [row] = [line for line in lines if line.lstrip().startswith("ec2-security-group-attached")]
    assert "Every security group is used by something in the program." in row


@pytest.mark.parametrize("raised, code, words", [
    (RuntimeError("a bug"), 1, "unexpected error: RuntimeError('a bug')"),
    (KeyboardInterrupt(), 130, "interrupted"),
])
def test_an_unexpected_ending_still_writes_the_sarif_log(raised, code, words, monkeypatch,
                                                         tmp_path):
    from typer.testing import CliRunner

    from envkit.cli import app
    from envkit.policy import gate

    def boom(*args, **kwargs):
        raise raised

    monkeypatch.setattr(gate, "check", boom)
    out = tmp_path / "report.sarif"
    result = CliRunner().invoke(app, ["policy", "check", str(ROOT / "labs" / "aws-basics.yaml"),
                                      "--format", "sarif", "-o", str(out)])
    assert result.exit_code == code
    [invocation] = json.loads(out.read_text())["runs"][0]["invocations"]
    assert invocation["exitCode"] == code and invocation["executionSuccessful"] is False
    assert words in invocation["toolExecutionNotifications"][0]["message"]["text"]


@pytest.mark.parametrize("argv, fmt", [
    (["--timeout", "soon", "--format", "sarif", "-o", "{out}", "{lab}"], "sarif"),
    (["{lab}", "--format=json", "--output={out}", "--level", "mandatory", "--timeout=x"],
     "json"),
    (["{lab}", "--json", "-o", "{out}", "--no-such-option"], "json"),
])
def test_an_option_the_parser_refuses_still_writes_the_document(argv, fmt, tmp_path):
    """A pipeline's upload step reads the file even when the command line was wrong."""
    import subprocess
    import sys

    out = tmp_path / f"report.{fmt}"
    lab = str(ROOT / "labs" / "aws-basics.yaml")
    args = [a.format(out=out, lab=lab) for a in argv]
    result = subprocess.run([sys.executable, "-m", "envkit.cli", "policy", "check", *args],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr and result.stderr.startswith("error: ")
    doc = json.loads(out.read_text())
    if fmt == "sarif":
        jsonschema.validate(doc, SARIF_SCHEMA)
        [invocation] = doc["runs"][0]["invocations"]
        assert invocation["executionSuccessful"] is False and invocation["exitCode"] == 2
        assert "--timeout" in invocation["toolExecutionNotifications"][0]["message"]["text"]
    else:
        assert doc["verdict"] == "error" and doc["exit_code"] == 2
        assert doc["target"] == lab
        assert doc["error"]["message"].split(":")[0] in ("Invalid value for '--timeout'",
                                                         "No such option")
