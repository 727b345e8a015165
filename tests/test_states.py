"""`status`, `outputs`, `ls` and the dashboard say what is true of an environment, in one
line with the next step: never deployed; deployed and reachable; deployed to an emulator
that has restarted since; deployed to an emulator that is not running; destroyed."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from envkit import home, local
from envkit.states import state_of

from .conftest import BASICS, ROOT

SPEC = str(BASICS)


def envkit(*args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    return subprocess.run([sys.executable, "-m", "envkit.cli", *args], capture_output=True,
                          text=True, cwd=ROOT, env=env, timeout=120)


def deployed(emulator: str | None, **extra) -> None:
    home.update_registry("aws-basics", target="local", region="us-east-1", resources=31,
                         status="deployed", emulator=emulator,
                         last_update="2026-11-29T10:00:00+00:00", **extra)


@pytest.fixture
def emulator():
    yield local.start()
    local.stop()


@pytest.mark.parametrize("record,emulator_id,kind,next_step", [
    (None, None, "never-deployed", "`envkit up lab` creates it"),
    ({"status": "destroyed", "target": "aws"}, None, "destroyed",
     "`envkit up lab` creates it again"),
    ({"status": "deployed", "target": "local", "resources": 3, "emulator": "1@2"}, None,
     "emulator-stopped", "`envkit up --refresh lab` starts it and recreates them"),
    ({"status": "deployed", "target": "local", "resources": 3, "emulator": "1@2"}, "9@9",
     "emulator-restarted", "`envkit up --refresh lab` recreates them"),
    ({"status": "deployed", "target": "local", "resources": 3, "emulator": "9@9"}, "9@9",
     "deployed", None),
    ({"status": "deployed", "target": "aws", "resources": 1}, None, "deployed", None),
])
def test_each_state_is_one_line_with_its_next_step(record, emulator_id, kind, next_step):
    state = state_of("lab", record, emulator_id)
    assert state.kind == kind and state.next_step == next_step
    assert "\n" not in state.line()
    assert state.deployed is (kind == "deployed")


def test_status_of_a_lab_never_deployed_says_so(emulator):
    done = envkit("status", SPEC)
    assert done.returncode == 0, done.stderr
    assert done.stdout == (f"aws-basics has never been deployed: `envkit up {SPEC}` "
                           "creates it\n")
    doc = json.loads(envkit("status", SPEC, "--json").stdout)
    assert doc["state"]["kind"] == "never-deployed" and doc["inspection"] is None


def test_status_when_the_emulator_is_not_running(tmp_path):
    deployed("1234@1.0")
    done = envkit("status", SPEC)
    assert done.returncode == 0
    assert "not running now, so its resources are gone" in done.stdout
    assert f"`envkit up --refresh {SPEC}` starts it" in done.stdout
    assert not local.status().running  # status never starts it


def test_status_after_the_emulator_restarted(emulator):
    deployed("1234@1.0")
    done = envkit("status", SPEC)
    assert done.returncode == 0
    assert "a local emulator that has restarted since" in done.stdout
    assert f"`envkit up --refresh {SPEC}` recreates them" in done.stdout


def test_status_of_a_deployed_reachable_lab_inspects_it(emulator):
    deployed(emulator.instance_id)
    done = envkit("status", SPEC, "--json")
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    assert doc["state"]["kind"] == "deployed" and doc["inspection"] is not None


def test_outputs_of_a_lab_never_deployed_is_one_line_and_a_json_document():
    done = envkit("outputs", SPEC)
    assert done.returncode == 1
    assert done.stderr == (f"error: aws-basics has never been deployed: `envkit up {SPEC}` "
                           "creates it\n")
    as_json = envkit("outputs", SPEC, "--json")
    doc = json.loads(as_json.stdout)
    assert doc["exit_code"] == 1 and "never been deployed" in doc["error"]["message"]


def test_ls_shows_each_state(emulator):
    deployed("1234@1.0")
    home.update_registry("old-lab", target="aws", region="us-east-1", resources=0,
                         status="destroyed", last_update="2026-11-01T10:00:00+00:00")
    done = envkit("ls")
    assert done.returncode == 0
    assert "emulator-restarted" in done.stdout and "destroyed" in done.stdout
    assert "aws-basics was deployed to a local emulator that has restarted" in done.stdout
    doc = json.loads(envkit("ls", "--json").stdout)
    assert [e["environment"] for e in doc] == ["aws-basics", "old-lab"]
    assert doc[0]["state"]["kind"] == "emulator-restarted"
    assert doc[1]["state"]["kind"] == "destroyed"


def test_the_dashboard_shows_the_state_and_disables_destroy(emulator):
    from envkit.notebook import Dashboard

    assert Dashboard(SPEC).state == "not deployed"
    deployed("1234@1.0")
    dash = Dashboard(SPEC)
    assert dash.state == "resources gone"
    assert dash.buttons["Destroy"].disabled
    assert "restarted since" in dash.last_message and "Deploy" in dash.last_message
    deployed(emulator.instance_id)
    live = Dashboard(SPEC)
    assert live.state == "deployed" and not live.buttons["Destroy"].disabled


@pytest.mark.parametrize("argv", [
    ["doctor"], ["ls"], ["ls", "--json"], ["status", SPEC], ["outputs", SPEC],
    ["history", SPEC], ["plan", SPEC], ["local", "status"],
])
def test_a_command_that_only_reads_creates_no_envkit_home(tmp_path, argv):
    """Looking (for the Pulumi CLI, the emulator's record, the registry, the backend) makes
    no folder: ENVKIT_HOME appears only once something is deployed or installed."""
    missing = tmp_path / "not-yet"
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env["ENVKIT_HOME"] = str(missing)
    done = subprocess.run([sys.executable, "-m", "envkit.cli", *argv], capture_output=True,
                          text=True, cwd=ROOT, env=env, timeout=120)
    assert "Traceback" not in done.stderr, done.stderr
    assert not missing.exists(), f"{argv} created {sorted(p.name for p in missing.iterdir())}"
