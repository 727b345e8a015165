"""The engine path in pipelines, on shared backends and when interrupted: which flags reach
the engine, user packs before changes, the expiry the backend holds, SIGTERM, CI detection.

Stand-ins for pulumi.automation objects as in tests/fakes.py (each answers as the real SDK
and CLI do, cited there); the Pulumi CLI's signal behaviour is stood in by a child process
that cancels on its first SIGINT as the CLI does (pkg/backend/cancellation_scope.go:118).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest
from pulumi.automation import errors as auto_errors
from pulumi.automation._cmd import CommandResult
from pulumi.automation.events import EngineEvent

from envkit import interrupts
from envkit.engine import Environment
from envkit.errors import CancelledError, PolicyViolationError
from envkit.targets import Target

from .conftest import BASICS, minimal
from .fakes import USER_URN, FakeAutomation

LOCAL = Target("local", "us-east-1", "test", endpoint="http://127.0.0.1:5999",
               emulator_id="1@2", provider_args={"endpoints": [{"iam": "x"}]})
AWS = Target("aws", "us-east-1", "test", profile="lab")


@pytest.fixture
def fake(monkeypatch):
    from pulumi import automation as auto

    fake = FakeAutomation()
    monkeypatch.setattr(auto, "create_or_select_stack", fake.create_or_select_stack)
    monkeypatch.setattr("envkit.engine.pulumi_command", lambda: "pulumi-command")
    monkeypatch.setattr("envkit.engine._PLUGIN_READY", set())
    return fake


def _cmd(stderr: str) -> CommandResult:
    return CommandResult(stdout="", stderr=stderr, code=255)


# --- --run-program -------------------------------------------------------------------------------


def test_run_program_on_the_local_target_only_unless_asked(fake):
    """On local the emulator's endpoint may change: refresh, destroy and up --refresh run
    the program. On aws they use the state's provider configuration (a program run with a
    wrong --profile or --region would find nothing and empty the state), unless asked."""
    local = Environment(minimal(), target=LOCAL)
    local.refresh()
    local.destroy()
    local.up(refresh=True)
    calls = local.stack().calls
    assert [(n, k.get("run_program")) for n, k in calls] == [
        ("refresh", True), ("destroy", True), ("up", True)]
    assert calls[2][1]["refresh"] is True
    aws = Environment(minimal(), target=AWS)
    aws.refresh()
    aws.destroy()
    aws.up(refresh=True)
    assert [k.get("run_program") for _, k in aws.stack().calls] == [None, None, None]
    asked = Environment(minimal(), target=AWS, run_program=True)
    asked.refresh()
    assert asked.stack().calls[-1][1]["run_program"] is True


# --- user packs before changes -------------------------------------------------------------------


def _violation(level: str) -> EngineEvent:
    return EngineEvent.from_json({
        "sequence": 1, "timestamp": 100, "policyEvent": {
            "message": f"no public buckets ({level})", "color": "never",
            "policyName": "no-public", "policyPackName": "team-pack",
            "policyPackVersion": "1.0.0", "policyPackVersionTag": "1.0.0",
            "enforcementLevel": level, "resourceUrn": USER_URN}})


def test_user_packs_preview_first_and_a_mandatory_violation_changes_nothing(fake):
    """The Automation API's up passes --skip-preview (pulumi/automation/_stack.py
    Stack.up), so a pack would only see each resource as it is created. With user packs,
    envkit previews with them first; a mandatory violation there (the preview fails, the
    PolicyEvent says mandatory) stops before the up is ever called."""
    env = Environment(minimal(), target=LOCAL, policy_packs=["/packs/team"],
                      policy_pack_configs=["/packs/team.json"])
    stack = env.stack()

    def preview(**kwargs):
        stack.calls.append(("preview", kwargs))
        kwargs["on_event"](_violation("mandatory"))
        raise auto_errors.CommandError(_cmd("error: preview failed"))

    stack.preview = preview
    with pytest.raises(PolicyViolationError, match=r"no-public \(team-pack\)") as info:
        env.up()
    assert info.value.exit_code == 4
    names = [n for n, _ in stack.calls]
    assert names == ["preview"] and stack.calls[0][1]["policy_packs"] == ["/packs/team"]
    assert stack.calls[0][1]["policy_pack_configs"] == ["/packs/team.json"]


def test_a_mandatory_event_in_a_preview_stops_the_up_even_if_the_preview_succeeded(fake):
    env = Environment(minimal(), target=LOCAL, policy_packs=["/packs/team"])
    stack = env.stack()

    def preview(**kwargs):
        stack.calls.append(("preview", kwargs))
        kwargs["on_event"](_violation("mandatory"))
        return type("R", (), {"change_summary": {}})()

    stack.preview = preview
    with pytest.raises(PolicyViolationError):
        env.up()
    assert [n for n, _ in stack.calls] == ["preview"]


def test_envkits_own_pack_alone_does_not_cost_a_preview(fake):
    """envkit's own pack is already the offline gate: the CLI asks for no extra preview."""
    env = Environment(minimal(), target=LOCAL, policy_packs=["/envkit/pack"],
                      preview_packs=False)
    env.up()
    assert [n for n, _ in env.stack().calls] == ["up"]


# --- the expiry lives in the backend -------------------------------------------------------------


def test_expiry_comes_from_the_backend_not_from_this_machines_files(fake):
    """Machine A extended the lease; machine B's workspace still has the old value. The
    backend's `expires` output (what `pulumi stack output --json` prints) wins."""
    from pulumi.automation import ConfigValue

    env = Environment(minimal(ttl="2h"), target=LOCAL)
    fake.configs["t-lab"] = {"envkit:expires": ConfigValue("2020-01-01T00:00:00+00:00")}
    extended = "2031-05-01T10:00:00+00:00"
    fake.workspace.pulumi_command.outputs["t-lab"] = {"environment": "t-lab",
                                                      "expires": extended}
    env.stack()
    assert env.config_value("expires") == extended


def test_a_stack_never_deployed_starts_its_lease_now(fake):
    from datetime import datetime, timedelta, timezone

    env = Environment(minimal(ttl="2h"), target=LOCAL)
    fake.workspace.pulumi_command.outputs["t-lab"] = {}
    pinned = datetime.fromisoformat(env.config_value("expires"))
    assert abs(pinned - (datetime.now(timezone.utc) + timedelta(hours=2))) < timedelta(
        minutes=2)


# --- interrupted runs ----------------------------------------------------------------------------


CLI_LIKE_CHILD = (
    "import signal, sys, time\n"
    "signal.signal(signal.SIGINT, lambda *a: sys.exit(255))\n"  # cancels on its first SIGINT
    "print('ready', flush=True)\n"
    "time.sleep(60)\n"
    "sys.exit(3)\n"
)


def test_sigterm_during_up_forwards_a_cancel_to_the_cli_and_reports_cancelled(fake):
    """SIGTERM reaches envkit alone (a CI runner stopping the job): envkit forwards one
    SIGINT to the Pulumi CLI child it started, which cancels, and reports exit 130."""
    env = Environment(minimal(), target=LOCAL)
    stack = env.stack()
    seen: list[int] = []

    def up(**kwargs):
        child = subprocess.Popen(["pulumi-cli-child", "-c", CLI_LIKE_CHILD],
                                 executable=sys.executable, stdout=subprocess.PIPE, text=True)
        child.stdout.readline()
        os.kill(os.getpid(), signal.SIGTERM)
        seen.append(child.wait(timeout=30))
        raise auto_errors.CommandError(_cmd("error: update canceled"))

    stack.up = up
    with interrupts.cancellable(), pytest.raises(CancelledError, match=r"\(SIGTERM\)") as info:
        env.up()
    assert seen == [255]  # the child got the SIGINT and cancelled, not killed by SIGTERM
    assert info.value.exit_code == 130


def test_only_pulumi_children_are_signalled():
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        assert other.pid not in interrupts.pulumi_children()
        assert interrupts.forward_cancel() == []
        assert other.poll() is None
    finally:
        other.kill()
        other.wait()


# --- non-interactive, by Pulumi's rule -----------------------------------------------------------


@pytest.mark.parametrize("variables,pipeline", [
    ({"GITHUB_ACTIONS": "true"}, True),
    ({"GITLAB_CI": "true"}, True),
    ({"JENKINS_URL": "http://ci"}, True),
    ({"TF_BUILD": "True"}, True),
    ({"CI_NAME": "codeship"}, True),
    ({"CI_NAME": "other"}, False),
    ({"PULUMI_CI_SYSTEM": "mine"}, True),
    ({"CI": "true"}, True),
    ({"GITHUB_ACTIONS": "true", "PULUMI_DISABLE_CI_DETECTION": "1"}, False),
    ({}, False),
])
def test_ci_systems_pulumi_knows(monkeypatch, variables, pipeline):
    from envkit import ci

    for name in (*ci.CI_VARIABLES, *ci.CI_VALUES, "CI", "PULUMI_DISABLE_CI_DETECTION"):
        monkeypatch.delenv(name, raising=False)
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    assert ci.in_ci() is pipeline


# --- the CLI in a pipeline -----------------------------------------------------------------------


def _run(*args: str, **env: str) -> subprocess.CompletedProcess:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    environ.update(PATH=os.path.dirname(sys.executable) + ":/usr/bin:/bin",
                   HOME=os.environ["ENVKIT_HOME"], **env)
    return subprocess.run([sys.executable, "-m", "envkit.cli", *args], capture_output=True,
                          text=True, env=environ, timeout=120)


def test_refresh_needs_yes_without_a_terminal():
    done = _run("refresh", str(BASICS))
    assert done.returncode == 2 and "pass --yes" in done.stderr and done.stdout == ""


def test_class_up_json_without_yes_refuses_before_anything_and_keeps_stdout_clean():
    from .conftest import ROOT

    spec = ROOT / "labs" / "classroom.yaml"
    done = _run("class", "up", str(spec), "--json")
    assert done.returncode == 2 and "pass --yes" in done.stderr
    assert "Proceed" not in done.stdout + done.stderr
    import json

    assert json.loads(done.stdout)["exit_code"] == 2  # only the JSON error document


def test_policy_pack_config_without_a_pack_is_refused_as_the_cli_would(tmp_path):
    config = tmp_path / "c.json"
    config.write_text("{}")
    done = _run("up", "--yes", "--no-policy", "--policy-pack-config", str(config),
                str(BASICS), ENVKIT_PULUMI_DOWNLOAD_URL="http://127.0.0.1:9")
    assert done.returncode == 2
    assert '"--policy-pack-config" must be specified with "--policy-pack"' in done.stderr
