"""The Automation API driver, with stand-ins for pulumi.automation's Stack/Workspace
(tests/fakes.py) and with PATH holding no `pulumi`."""

from __future__ import annotations

import json
import os
import stat
import threading
from pathlib import Path

import pytest
from pulumi.automation import errors as auto_errors
from pulumi.automation._cmd import CommandResult

from envkit import home
from envkit.engine import (
    Environment,
    find_pulumi,
    install_pulumi,
    map_engine_error,
    mask_outputs,
    pulumi_command,
)
from envkit.errors import (
    OperationError,
    PolicyViolationError,
    PrerequisiteError,
    StackLockedError,
)
from envkit.events import Diagnostic, ResourceFinished, ResourceStarted, Summary
from envkit.targets import Target

from .conftest import BASICS, minimal
from .fakes import PEM, FakeAutomation

LOCAL = Target("local", "us-east-1", "test", endpoint="http://127.0.0.1:5999",
               emulator_id="1@2", provider_args={"endpoints": [{"iam": "x"}]})


@pytest.fixture
def no_pulumi(monkeypatch, tmp_path):
    """No `pulumi` anywhere envkit looks."""
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert find_pulumi() is None


@pytest.fixture
def fake(monkeypatch):
    """The engine replaced by stand-ins; returns the fake automation module."""
    from pulumi import automation as auto

    fake = FakeAutomation()
    monkeypatch.setattr(auto, "create_or_select_stack", fake.create_or_select_stack)
    monkeypatch.setattr("envkit.engine.pulumi_command", lambda: "pulumi-command")
    return fake


def lab(**extra):
    return Environment(minimal(ttl="2h", **extra), target=LOCAL)


def _cmd(stderr: str, stdout: str = "", code: int = 255) -> CommandResult:
    return CommandResult(stdout=stdout, stderr=stderr, code=code)


# --- prerequisites ---------------------------------------------------------------------------


def test_missing_cli_is_a_prerequisite_error_with_both_ways_forward(no_pulumi):
    with pytest.raises(PrerequisiteError) as info:
        pulumi_command()
    text = str(info.value)
    assert "Pulumi CLI is not installed" in text
    assert "envkit install-pulumi" in text and "envkit plan" in text
    assert info.value.exit_code == 3


def test_cli_found_in_envkit_home_and_in_pulumi_versions(no_pulumi, tmp_path):
    versions = Path(os.environ["HOME"]) / ".pulumi" / "versions"
    for v in ("3.100.0", "3.200.0"):
        exe = versions / v / "bin" / "pulumi"
        exe.parent.mkdir(parents=True)
        exe.write_text("#!/bin/sh\n")
        exe.chmod(0o755)
    assert find_pulumi() == versions / "3.200.0" / "bin" / "pulumi"
    own = home.home() / "pulumi" / "bin" / "pulumi"
    own.parent.mkdir(parents=True)
    own.write_text("#!/bin/sh\n")
    own.chmod(0o755)
    assert find_pulumi() == own


def test_offline_install_is_one_clear_message(monkeypatch):
    import urllib.error

    from pulumi.automation import PulumiCommand

    def offline(*args, **kwargs):
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(PulumiCommand, "install", offline)
    with pytest.raises(PrerequisiteError, match="seems to be offline") as info:
        install_pulumi()
    assert "envkit plan" in str(info.value)


def test_aws_plugin_installed_at_the_pulumi_aws_version(fake):
    from importlib import metadata

    lab().stack()
    assert fake.workspace.installed == [("aws", "v" + metadata.version("pulumi_aws"))]
    lab().stack()  # already there: not installed twice
    assert len(fake.workspace.installed) == 1


def test_plugin_install_failure_is_a_prerequisite_error(fake):
    fake.workspace.install_error = OSError("dial tcp: lookup api.github.com: no such host")
    with pytest.raises(PrerequisiteError, match="aws provider plugin"):
        lab().stack()


# --- stack, workspace, config ----------------------------------------------------------------


def test_one_stack_per_environment_in_project_envkit(fake):
    env = lab()
    stack = env.stack()
    assert stack.name == "t-lab" and stack.project_name == "envkit"
    opts = stack.opts
    assert opts.work_dir == str(home.home() / "workspaces" / "t-lab")
    assert opts.project_settings.name == "envkit"
    assert opts.project_settings.backend.url == "file://" + str(home.home() / "state")
    assert opts.secrets_provider == "passphrase"
    assert opts.pulumi_command == "pulumi-command"


def test_passphrase_generated_once_with_mode_0600(fake):
    env = lab()
    first = env.env_vars()["PULUMI_CONFIG_PASSPHRASE"]
    assert len(first) >= 32
    path = home.home() / "passphrase"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert lab().env_vars()["PULUMI_CONFIG_PASSPHRASE"] == first


def test_user_passphrase_backend_and_secrets_provider_win(fake, monkeypatch):
    monkeypatch.setenv("PULUMI_CONFIG_PASSPHRASE", "mine")
    monkeypatch.setenv("PULUMI_BACKEND_URL", "s3://bucket/state")
    env = lab()
    assert "PULUMI_CONFIG_PASSPHRASE" not in env.env_vars()
    assert env.backend_url() is None and env.stack().opts.project_settings.backend is None
    kms = Environment(minimal(), target=LOCAL, backend="s3://other",
                      secrets_provider="awskms://alias/x")
    assert kms.backend_url() == "s3://other"
    assert kms.workspace_options().secrets_provider == "awskms://alias/x"


def test_local_target_credentials_reach_the_cli(fake):
    env_vars = lab().env_vars()
    assert env_vars["AWS_ACCESS_KEY_ID"] == "test" and env_vars["AWS_REGION"] == "us-east-1"


def test_expiry_is_pinned_at_first_deploy(fake):
    lab().stack()
    pinned = fake.configs["t-lab"]["envkit:expires"].value
    lab().stack()
    assert fake.configs["t-lab"]["envkit:expires"].value == pinned
    assert fake.configs["t-lab"]["envkit:target"].value == "local"


def test_stack_selection_is_serialized(monkeypatch):
    from pulumi import automation as auto

    slow = FakeAutomation(delay=0.05)
    monkeypatch.setattr(auto, "create_or_select_stack", slow.create_or_select_stack)
    monkeypatch.setattr("envkit.engine.pulumi_command", lambda: "cmd")
    threads = [threading.Thread(target=lambda: lab().stack()) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(slow.stacks) == 4 and not slow.overlapped


def test_inline_program_points_the_provider_at_the_emulator(fake):
    """The program the stack runs is envkit.program with LocalStack-style provider config."""
    from envkit.planner import run_mocked

    env = lab(iam={"users": {"ann": {}}})
    target = Target("local", "us-east-1", "t", endpoint="http://127.0.0.1:5999")
    from envkit import local

    target.provider_args = local.provider_args(target.endpoint)
    env._target = target
    records, _ = run_mocked("t-lab", "us-east-1", "us-east-1a", env.stack().program)
    provider = next(r for r in records if r.type == "pulumi:providers:aws")
    endpoints = json.loads(provider.inputs["endpoints"]) if isinstance(
        provider.inputs["endpoints"], str) else provider.inputs["endpoints"]
    assert endpoints == [{"iam": "http://127.0.0.1:5999"}, {"ec2": "http://127.0.0.1:5999"},
                         {"sts": "http://127.0.0.1:5999"}]
    assert all(len(e) == 1 for e in endpoints)
    for flag in ("skipCredentialsValidation", "skipRequestingAccountId",
                 "skipMetadataApiCheck"):
        assert str(provider.inputs[flag]).lower() == "true"
    assert provider.inputs["region"] == "us-east-1"
    assert any(r.type == "aws:iam/user:User" for r in records)


# --- operations ------------------------------------------------------------------------------


def test_every_operation_hides_secrets_and_translates_events(fake):
    env = Environment(minimal(), target=LOCAL, policy_packs=["policies"],
                      policy_pack_configs=["cfg.json"])
    seen = []
    env.preview(seen.append)
    env.up(seen.append)
    env.refresh(seen.append)
    env.destroy(seen.append)
    calls = dict(env.stack().calls)
    for op in ("up", "refresh", "destroy"):
        assert calls[op]["show_secrets"] is False
    for op in ("preview", "up"):
        assert calls[op]["policy_packs"] == ["policies"]
        assert calls[op]["policy_pack_configs"] == ["cfg.json"]
    assert "policy_packs" not in calls["destroy"] and calls["up"]["color"] == "never"
    kinds = [type(e) for e in seen[:4]]
    assert kinds == [ResourceStarted, Diagnostic, ResourceFinished, Summary]
    assert seen[0].name == "lab-user-ann" and seen[0].timestamp == 100.0
    assert seen[3].changes == {"create": 1}
    assert env.log == ["Updating (lab)\n"] * 4  # engine output kept, not printed


def test_up_writes_private_keys_0400_and_down_removes_them(fake):
    env = lab()
    env.up()
    key = home.keys_dir("t-lab") / "lab-key.pem"
    assert key.read_text() == PEM + "\n"
    assert stat.S_IMODE(key.stat().st_mode) == 0o400
    assert stat.S_IMODE(key.parent.stat().st_mode) == 0o700
    env.up()  # a second up rewrites the read-only file
    assert stat.S_IMODE(key.stat().st_mode) == 0o400
    env.destroy()
    assert not key.exists()


def test_outputs_mask_secrets_unless_asked(fake):
    env = lab()
    masked = env.outputs()
    assert masked["passwords"] == "[secret]" and masked["private_keys"] == "[secret]"
    assert masked["sign_in_url"].startswith("https://")
    assert env.outputs(show_secrets=True)["passwords"] == {"ann": "Sup3r-Secret-Passw0rd!"}
    result = env.up()
    assert "Sup3r" not in json.dumps(result.to_dict()) and "PRIVATE KEY" not in json.dumps(
        result.to_dict())


def test_resources_come_from_the_state(fake):
    resources = lab().resources()
    assert [r["type"] for r in resources] == ["aws:iam/user:User"]
    assert resources[0]["name"] == "lab-user-ann"


def test_registry_records_each_operation(fake):
    env = lab()
    env.up()
    record = home.read_registry()["t-lab"]
    assert record["target"] == "local" and record["resources"] == 1
    assert record["status"] == "deployed" and record["emulator"] == "1@2"
    env.destroy()
    assert home.read_registry()["t-lab"]["status"] == "destroyed"
    env.remove()
    assert "t-lab" not in home.read_registry()
    assert fake.workspace.removed == ["t-lab"]


def test_history_and_cancel_reach_the_stack(fake):
    env = lab()
    assert env.history() == []
    env.cancel()
    calls = [c[0] for c in env.stack().calls]
    assert calls == ["history", "cancel"]
    assert env.stack().calls[0][1]["show_secrets"] is False


# --- error mapping ---------------------------------------------------------------------------


def test_concurrent_update_names_the_remedy(fake):
    env = lab()
    env.stack().fail = auto_errors.ConcurrentUpdateError(_cmd(
        "error: the stack is currently locked by 1 lock(s)"))
    with pytest.raises(StackLockedError, match="envkit cancel"):
        env.up()


def test_failed_resource_is_one_readable_error(fake):
    env = lab()
    env.stack().fail = auto_errors.CommandError(_cmd(
        "error: update failed", stdout="  aws:iam:User (lab-user-ann):\n    error: creating IAM "
        "User (ann): EntityAlreadyExists\n"))
    with pytest.raises(OperationError) as info:
        env.up()
    assert "creating IAM User (ann): EntityAlreadyExists" in str(info.value)
    assert "code: 255" not in str(info.value)


@pytest.mark.parametrize("error,expected,fragment", [
    (auto_errors.StackNotFoundError(_cmd("error: no stack named 'lab' found")),
     OperationError, "envkit up"),
    (auto_errors.CommandError(_cmd("error: update canceled")), OperationError, "cancelled"),
    (auto_errors.CommandError(_cmd("error: preview failed: mandatory policy violation")),
     PolicyViolationError, "mandatory policy"),
    (auto_errors.CommandError(_cmd("error: reading IAM User (ann): NoSuchEntity")),
     OperationError, "envkit up --refresh"),
    (FileNotFoundError(2, "No such file or directory: 'pulumi'"), PrerequisiteError,
     "envkit install-pulumi"),
])
def test_engine_errors_map_to_envkit_errors(error, expected, fragment):
    mapped = map_engine_error(error, "up", "lab", "local")
    assert type(mapped) is expected and fragment in str(mapped)


def test_mask_outputs():
    from pulumi.automation import OutputValue

    out = mask_outputs({"a": OutputValue(1, False), "b": OutputValue("s", True)})
    assert out == {"a": 1, "b": "[secret]"}


def test_environment_accepts_a_spec_path(fake):
    env = Environment(BASICS, target=LOCAL)
    assert env.name == "aws-basics" and env.spec_path == str(BASICS.resolve())


def test_ctrl_c_during_up_waits_for_the_engine_to_cancel(fake):
    """SIGINT reaches the Pulumi CLI (same process group), which cancels and exits; Python
    must not die mid-operation but wait and report the cancel."""
    import signal

    env = lab()
    stack = env.stack()

    def interrupted_up(**kwargs):
        os.kill(os.getpid(), signal.SIGINT)  # the user presses Ctrl-C
        raise auto_errors.CommandError(_cmd("error: update canceled"))

    stack.up = interrupted_up
    with pytest.raises(OperationError, match="cancelled; the stack's state records"):
        env.up()
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # restored
