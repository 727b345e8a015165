"""The offline gate as a user drives it: specs and a plain Pulumi project, text/json/SARIF,
config files, exit codes, and `envkit up` stopping before the engine."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest

from envkit.policy.gate import check, load_config
from envkit.policy.sarif import to_sarif

from .conftest import BASICS, ROOT

FIXTURES = Path(__file__).parent / "fixtures"
UNSAFE = FIXTURES / "unsafe-project"
SARIF_SCHEMA = json.loads((FIXTURES / "sarif-2.1.0-rtm.5.json").read_text())


def envkit(*args: str, cwd=ROOT) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(PATH=os.path.dirname(sys.executable) + ":/usr/bin:/bin", COLUMNS="200")
    return subprocess.run([sys.executable, "-m", "envkit.cli", *args], capture_output=True,
                          text=True, cwd=cwd, env=env, timeout=180)


@pytest.fixture
def unsafe_spec(tmp_path):
    text = BASICS.read_text().replace("{service: ssh, from: 203.0.113.0/24}",
                                      "{service: ssh, from: 0.0.0.0/0}")
    text = text.replace("root_volume: {size_gb: 8, type: gp3}",
                        "root_volume: {size_gb: 8, type: gp3, encrypted: false}")
    path = tmp_path / "unsafe.yaml"
    path.write_text(text)
    return path


def test_plain_pulumi_project_catches_all_three_mistakes():
    report = check(UNSAFE)
    caught = {f.policy for f in report.mandatory}
    assert {"iam-no-user-policies", "ec2-no-public-admin-ingress",
            "ec2-ebs-volume-encrypted"} <= caught
    ssh = next(f for f in report.mandatory if f.policy == "ec2-no-public-admin-ingress")
    assert "SSH (22) is open to 0.0.0.0/0" in ssh.message and ssh.resource_name == "open-ssh"


def test_policy_check_cli_on_the_project_exits_4():
    done = envkit("policy", "check", str(UNSAFE))
    assert done.returncode == 4, done.stderr
    assert "iam-no-user-policies" in done.stdout and "Traceback" not in done.stderr


def test_spec_violations_point_to_file_and_line(unsafe_spec):
    report = check(unsafe_spec)
    by_rule = {f.policy: f for f in report.mandatory}
    lines = unsafe_spec.read_text().splitlines()
    ssh = by_rule["ec2-no-public-admin-ingress"]
    assert ssh.file == str(unsafe_spec)
    # the offending key's own line: the rule that opens SSH, the volume that is unencrypted
    assert lines[ssh.line - 1].strip() == "- {service: ssh, from: 0.0.0.0/0}"
    root = by_rule["ec2-root-volume-encrypted"]
    assert "encrypted: false" in lines[root.line - 1] and root.line > ssh.line


def test_text_output_and_exit_codes(unsafe_spec):
    done = envkit("policy", "check", str(unsafe_spec))
    assert done.returncode == 4
    assert "2 mandatory" in done.stdout
    assert f"{unsafe_spec}:" in done.stdout and "fix:" in done.stdout
    ok = envkit("policy", "check", str(BASICS))
    assert ok.returncode == 0 and "0 mandatory" in ok.stdout


def test_json_output_and_level_filter(unsafe_spec):
    doc = json.loads(envkit("policy", "check", str(unsafe_spec), "--format", "json").stdout)
    assert doc["summary"]["mandatory"] == 2 and doc["summary"]["advisory"] >= 1
    only = json.loads(envkit("policy", "check", str(unsafe_spec), "--format", "json",
                             "--level", "mandatory").stdout)
    assert {f["level"] for f in only["findings"]} == {"mandatory"}


def test_sarif_validates_against_the_2_1_0_schema(unsafe_spec, tmp_path):
    out = tmp_path / "report.sarif"
    done = envkit("policy", "check", str(unsafe_spec), "--format", "sarif", "-o", str(out))
    assert done.returncode == 4
    log = json.loads(out.read_text())
    jsonschema.validate(log, SARIF_SCHEMA)
    run = log["runs"][0]
    # Proportional to the findings: the rules its results name, each once, nothing else.
    rules = [r["id"] for r in run["tool"]["driver"]["rules"]]
    assert sorted(rules) == sorted({r["ruleId"] for r in run["results"]})
    assert all(run["tool"]["driver"]["rules"][r["ruleIndex"]]["id"] == r["ruleId"]
               for r in run["results"])
    assert len(out.read_text()) < 1500 + 2000 * len(run["results"])
    errors = [r for r in run["results"] if r["level"] == "error"]
    assert {r["ruleId"] for r in errors} == {"ec2-no-public-admin-ingress",
                                             "ec2-root-volume-encrypted"}
    location = errors[0]["locations"][0]["physicalLocation"]
    assert location["artifactLocation"]["uri"].endswith("unsafe.yaml")
    assert location["region"]["startLine"] > 1
    jsonschema.validate(to_sarif(check(UNSAFE)), SARIF_SCHEMA)


def test_config_file_in_pulumi_format(tmp_path, unsafe_spec):
    config = tmp_path / "policy.json"
    config.write_text(json.dumps({"ec2-no-public-admin-ingress": "advisory",
                                  "ec2-root-volume-encrypted": {"enforcementLevel": "disabled"},
                                  "ec2-allowed-instance-types": {
                                      "allowedInstanceTypes": ["m5.large"]}}))
    done = envkit("policy", "check", str(unsafe_spec), "--policy-config", str(config),
                  "--format", "json")
    assert done.returncode == 0, done.stdout
    doc = json.loads(done.stdout)
    assert doc["summary"]["mandatory"] == 0
    policies = {f["policy"]: f for f in doc["findings"]}
    assert policies["ec2-no-public-admin-ingress"]["level"] == "advisory"
    assert "ec2-root-volume-encrypted" not in policies
    assert "ec2-allowed-instance-types" in policies  # t2.micro is no longer allowed


@pytest.mark.parametrize("content,fragment", [
    ({"ec2-no-open-egres": "advisory"}, "did you mean 'ec2-no-open-egress'"),
    ({"ec2-no-open-egress": "loud"}, "unknown enforcement level 'loud'"),
    ({"ec2-allowed-instance-types": {"allowedInstanceTypes": "t3.micro"}}, "is not of type"),
    ({"ec2-no-open-egress": {"threshold": 3}}, "takes no such setting"),
])
def test_bad_config_is_exit_2_with_the_field(tmp_path, content, fragment):
    config = tmp_path / "policy.json"
    config.write_text(json.dumps(content))
    with pytest.raises(Exception) as info:
        load_config(config)
    assert fragment in str(info.value) and str(config) in str(info.value)
    done = envkit("policy", "check", str(BASICS), "--policy-pack-config", str(config))
    assert done.returncode == 2 and fragment in done.stderr


def test_not_a_project_is_bad_input(tmp_path):
    done = envkit("policy", "check", str(tmp_path))
    assert done.returncode == 2 and "no Pulumi.yaml" in done.stderr


def test_policy_list_json_has_every_rule():
    rules = json.loads(envkit("policy", "list", "--json").stdout)
    assert len(rules) >= 25
    assert all({"name", "level", "severity", "controls", "remediation"} <= set(r)
               for r in rules)
    assert {r["level"] for r in rules} == {"mandatory", "advisory", "disabled"}


def test_plan_shows_violations_under_the_plan(unsafe_spec):
    done = envkit("plan", str(unsafe_spec))
    assert done.returncode == 0
    text = done.stdout
    assert text.index("Outputs") < text.index("\nPolicy (") < text.index("ec2-no-public-admin")
    doc = json.loads(envkit("plan", "--json", str(unsafe_spec)).stdout)
    assert doc["policy"]["summary"]["mandatory"] == 2


def test_up_stops_before_the_engine_on_mandatory_violations(unsafe_spec):
    done = envkit("up", "--yes", str(unsafe_spec))
    assert done.returncode == 4
    assert "mandatory policy violations; nothing was deployed" in done.stderr
    assert "ec2-no-public-admin-ingress" in done.stderr and "fix:" in done.stderr
    assert "Pulumi CLI" not in done.stderr  # stopped before looking for the engine
    skipped = envkit("up", "--yes", str(unsafe_spec), "--no-policy")
    assert skipped.returncode == 3  # past the gate, on to the missing engine


def test_up_passes_the_shipped_pack_to_the_engine(monkeypatch):
    from typer.testing import CliRunner

    from envkit import local
    from envkit.cli import app

    from .fakes import FakeAutomation

    fake = FakeAutomation()
    monkeypatch.setattr("pulumi.automation.create_or_select_stack",
                        fake.create_or_select_stack)
    monkeypatch.setattr("envkit.engine.pulumi_command", lambda: "cmd")
    monkeypatch.setattr("envkit.engine.find_pulumi", lambda: "/opt/pulumi")
    try:
        result = CliRunner().invoke(app, ["up", "--yes", str(BASICS), "--target", "local"])
        assert result.exit_code == 0, result.output
        assert "policy: no mandatory violations" in result.output
        from envkit.policy.pack import engine_pack

        # the shipped pack, written for this interpreter into ENVKIT_HOME
        assert dict(fake.stacks[-1].calls)["up"]["policy_packs"] == [str(engine_pack())]
        CliRunner().invoke(app, ["up", "--yes", str(BASICS), "--no-policy"])
        assert dict(fake.stacks[-1].calls)["up"]["policy_packs"] is None
    finally:
        local.stop()


def test_readme_lists_every_rule():
    from envkit.policy.readme import rules_table

    rules = (ROOT / "docs" / "rules.md").read_text()
    assert rules_table() in rules, \
        "docs/rules.md's rule table is stale: python -m envkit.policy.readme"

