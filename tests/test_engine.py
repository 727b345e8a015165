"""The Automation API driver, with stand-ins for pulumi.automation's Stack/Workspace
(tests/fakes.py) and with PATH holding no `pulumi`."""

from __future__ import annotations

import json
import os
import stat
import threading
import time
from pathlib import Path

import pytest
from pulumi.automation import errors as auto_errors
from pulumi.automation._cmd import CommandResult

from envkit import home
from envkit.engine import (
    Environment,
    find_pulumi,
    map_engine_error,
    mask_outputs,
    pulumi_command,
)
from envkit.errors import (
    CancelledError,
    OperationError,
    PolicyViolationError,
    PrerequisiteError,
    StackLockedError,
)
from envkit.events import Diagnostic, ResourceFinished, ResourceStarted, Summary
from envkit.targets import Target

from .conftest import BASICS, minimal
from .fakes import PEM, USER_URN, FakeAutomation

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
    monkeypatch.setattr("envkit.engine._PLUGIN_READY", set())  # a fresh process
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


def _placeholder(path: Path) -> Path:
    """A file where a CLI would be installed (never run: PulumiCommand is replaced)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\nexit 99\n")
    path.chmod(0o755)
    return path


def test_cli_found_in_envkit_home_and_in_pulumi_versions_newest_by_version(no_pulumi):
    versions = Path(os.environ["HOME"]) / ".pulumi" / "versions"
    for v in ("3.99.0", "3.100.0", "3.9.1", "not-a-version"):
        _placeholder(versions / v / "bin" / "pulumi")
    assert find_pulumi() == versions / "3.100.0" / "bin" / "pulumi"  # not "3.99.0"
    own = _placeholder(home.home() / "pulumi" / "bin" / "pulumi")
    assert find_pulumi() == own


def test_a_cli_on_path_is_used_as_pulumi_itself_would(no_pulumi, monkeypatch, tmp_path):
    """On PATH: PulumiCommand() (runs `pulumi` from PATH, PATH untouched); elsewhere: a root
    whose bin/ the SDK puts first on PATH (automation/_cmd.py, PulumiCommand.__init__/run)."""
    from pulumi import automation

    made = []
    monkeypatch.setattr(automation, "PulumiCommand",
                        lambda root=None, **kw: made.append(root) or "cmd")
    own = _placeholder(home.home() / "pulumi" / "bin" / "pulumi")
    pulumi_command()
    assert made == [str(own.parent.parent)]
    on_path = _placeholder(tmp_path / "somewhere" / "bin" / "pulumi")
    monkeypatch.setenv("PATH", f"{on_path.parent}:/usr/bin:/bin")
    assert find_pulumi() == on_path
    pulumi_command()
    assert made[-1] is None


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


def test_passphrase_follows_pulumis_precedence_then_envkits(fake, monkeypatch, tmp_path):
    """PULUMI_CONFIG_PASSPHRASE, then PULUMI_CONFIG_PASSPHRASE_FILE are read by the CLI
    itself (pkg/secrets/passphrase/manager.go:378-397), so envkit leaves them to it; only
    without both does it hand the CLI ENVKIT_PASSPHRASE or the generated one. The SDK runs
    the CLI with {**os.environ, **env_vars} (automation/_cmd.py PulumiCommand.run)."""
    from envkit.engine_settings import passphrase_source

    generated = lab().env_vars()["PULUMI_CONFIG_PASSPHRASE"]
    assert passphrase_source() == "generated (ENVKIT_HOME/passphrase)"
    # A fresh workspace (a second machine) takes the salt the stack's state records
    # (pkg/cmd/pulumi/stack/secrets.go:248-283), not a new one.
    assert lab().env_vars()["PULUMI_FALLBACK_TO_STATE_SECRETS_MANAGER"] == "true"
    monkeypatch.setenv("ENVKIT_PASSPHRASE", "chosen-for-envkit")
    assert lab().env_vars()["PULUMI_CONFIG_PASSPHRASE"] == "chosen-for-envkit"
    assert passphrase_source() == "ENVKIT_PASSPHRASE"
    phrase_file = tmp_path / "phrase"
    phrase_file.write_text("from-a-file\n")
    monkeypatch.setenv("PULUMI_CONFIG_PASSPHRASE_FILE", str(phrase_file))
    assert "PULUMI_CONFIG_PASSPHRASE" not in lab().env_vars()  # the CLI reads the file
    assert passphrase_source() == "PULUMI_CONFIG_PASSPHRASE_FILE"
    monkeypatch.setenv("PULUMI_CONFIG_PASSPHRASE", "")  # set, even empty, wins (LookupEnv)
    assert "PULUMI_CONFIG_PASSPHRASE" not in lab().env_vars()
    assert passphrase_source() == "PULUMI_CONFIG_PASSPHRASE"
    explicit = Environment(minimal(), target=LOCAL, passphrase="given")
    assert explicit.env_vars()["PULUMI_CONFIG_PASSPHRASE"] == "given"
    assert generated not in json.dumps(passphrase_source())


def test_passphrase_check_matches_a_salt_pulumi_made():
    """The salt and passphrase of pulumi/pulumi tests/roundtrip/roundtrip_test.go:124,128,
    written by the real CLI: envkit's check opens it with the right passphrase only."""
    from envkit.engine_settings import passphrase_opens

    salt = "v1:ThS5UPxP9qc=:v1:UZYAXF+ylaJ0rGhv:9OTvBnOEDFgxs7btjzSu+LZ470vLpg=="
    assert passphrase_opens("TestConfigRoundtripComments", salt) is True
    assert passphrase_opens("a-newly-generated-one", salt) is False
    assert passphrase_opens("x", "v2:unknown") is None


def test_existing_stack_in_a_shared_backend_refuses_a_new_passphrase(fake, monkeypatch):
    """A second machine on a shared backend must not meet Pulumi's "incorrect passphrase"
    mid-way: the stack's secrets state (apitype/core.go:160 ``secrets_providers``) is
    checked first, and a passphrase that does not open it is exit 2 with the way forward."""
    from envkit.errors import InputError

    salt = "v1:ThS5UPxP9qc=:v1:UZYAXF+ylaJ0rGhv:9OTvBnOEDFgxs7btjzSu+LZ470vLpg=="
    deployment = {"secrets_providers": {"type": "passphrase", "state": {"salt": salt}},
                  "resources": []}
    monkeypatch.setattr("tests.fakes.FakeStack.export_stack",
                        lambda self: type("D", (), {"deployment": deployment})())
    monkeypatch.setenv("PULUMI_BACKEND_URL", "s3://team-bucket/state")
    with pytest.raises(InputError) as info:
        lab().stack()
    text = str(info.value)
    assert info.value.exit_code == 2
    assert "generated (ENVKIT_HOME/passphrase)" in text and "PULUMI_CONFIG_PASSPHRASE" in text
    assert home.passphrase() not in text
    monkeypatch.setenv("PULUMI_CONFIG_PASSPHRASE", "TestConfigRoundtripComments")
    assert lab().stack() is not None
    # envkit's own folder is never shared: no check there.
    monkeypatch.delenv("PULUMI_BACKEND_URL")
    monkeypatch.delenv("PULUMI_CONFIG_PASSPHRASE")
    assert lab().stack() is not None


def test_backend_url_beats_backend_option_as_in_pulumi(fake, monkeypatch):
    """PULUMI_BACKEND_URL beats a project's backend (pkg/workspace/creds.go:58-61): envkit
    writes no backend into the project then, inspects locks there, and says so."""
    from envkit.engine_settings import backend_conflict, resolve_backend

    monkeypatch.setenv("PULUMI_BACKEND_URL", "file:///srv/shared-state")
    env = Environment(minimal(), target=LOCAL, backend="s3://other")
    assert env.backend_url() is None and env.stack().opts.project_settings.backend is None
    assert env.backend_in_use() == "file:///srv/shared-state"
    assert resolve_backend("s3://other").source == "PULUMI_BACKEND_URL"
    assert "ignored" in backend_conflict("s3://other")
    assert backend_conflict("file:///srv/shared-state/") is None
    monkeypatch.delenv("PULUMI_BACKEND_URL")
    assert resolve_backend("s3://other").source == "--backend"
    assert resolve_backend(None).value == "file://" + str(home.home() / "state")


def test_user_secrets_provider_wins(fake):
    kms = Environment(minimal(), target=LOCAL, backend="s3://other",
                      secrets_provider="awskms://alias/x")
    assert kms.backend_url() == "s3://other"
    assert kms.workspace_options().secrets_provider == "awskms://alias/x"
    assert "PULUMI_CONFIG_PASSPHRASE" not in kms.env_vars()


def test_emulator_credentials_go_to_the_provider_only(fake):
    """The local target's test keys are provider config; the CLI's environment (which an
    s3:// backend or awskms:// secrets provider would use) gets no AWS variables."""
    env_vars = lab().env_vars()
    assert not any(k.startswith("AWS_") for k in env_vars)
    aws = Environment(minimal(), target=Target("aws", "eu-west-1", "t", profile="lab"))
    assert aws.env_vars()["AWS_PROFILE"] == "lab"


def test_the_engine_runs_python_providers_with_this_interpreter(fake):
    import sys

    assert lab().env_vars()["PULUMI_PYTHON_CMD"] == sys.executable


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


def test_different_environments_select_their_stacks_side_by_side(monkeypatch):
    """Each environment has its own workspace: a class's students are not serialized."""
    from pulumi import automation as auto

    slow = FakeAutomation(delay=0.2)
    monkeypatch.setattr(auto, "create_or_select_stack", slow.create_or_select_stack)
    monkeypatch.setattr("envkit.engine.pulumi_command", lambda: "cmd")
    envs = [Environment(minimal(name=f"t-lab-{i}"), target=LOCAL) for i in range(4)]
    threads = [threading.Thread(target=env.stack) for env in envs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(slow.stacks) == 4 and slow.overlapped


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
                         {"sts": "http://127.0.0.1:5999"},
                         {"scheduler": "http://127.0.0.1:5999"}]
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
    # engine output kept, not printed; with packs, up previews with them first
    assert env.log == ["Updating (lab)\n"] * 5
    assert [name for name, _ in env.stack().calls] == ["preview", "preview", "up", "refresh",
                                                       "destroy"]


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
    cli = env.stack().workspace.pulumi_command
    masked = env.outputs()
    assert masked["passwords"] == "[secret]" and masked["private_keys"] == "[secret]"
    assert masked["access_keys"] == "[secret]"
    assert masked["sign_in_url"].startswith("https://")
    # Without being asked, envkit never requests plaintext from the CLI.
    assert cli.calls and not any("--show-secrets" in c for c in cli.calls)
    assert env.outputs(show_secrets=True)["passwords"] == {"ann": "Sup3r-Secret-Passw0rd!"}
    result = env.up()
    text = json.dumps(result.to_dict())
    assert "Sup3r" not in text and "PRIVATE KEY" not in text and "wJalr" not in text


def test_secret_leaves_inside_a_map_stay_masked(fake):
    """Stacks deployed with secret leaves (the CLI masks them leaf by leaf, and the SDK
    then marks the whole output as not secret) never show them in clear."""
    from .fakes import Secret, default_outputs

    env = lab()
    cli = env.stack().workspace.pulumi_command
    outputs = default_outputs()
    outputs["passwords"] = {"ann": Secret("Sup3r-Secret-Passw0rd!")}
    outputs["private_keys"] = {"lab-key": Secret(PEM)}
    outputs["instances"]["web"]["token"] = Secret("nested-token-value")
    cli.outputs["t-lab"] = outputs
    sdk_view = env.stack().outputs()  # the SDK's own reading of the CLI's two documents
    assert sdk_view["passwords"].secret is False  # the upstream behaviour envkit defends
    assert sdk_view["passwords"].value == {"ann": "Sup3r-Secret-Passw0rd!"}
    shown = json.dumps(env.outputs())
    assert "Sup3r" not in shown and "PRIVATE KEY" not in shown and "nested-token" not in shown
    assert env.outputs()["instances"]["web"]["token"] == "[secret]"
    assert env.outputs()["instances"]["web"]["web_url"] == "http://1.2.3.4/"
    assert env.outputs(show_secrets=True)["instances"]["web"]["token"] == "nested-token-value"


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
    assert "no update held the lock" in env.cancel()
    calls = [c[0] for c in env.stack().calls]
    assert calls == ["history", "cancel"]
    assert env.stack().calls[0][1]["show_secrets"] is False


def test_refresh_and_destroy_run_the_current_program(fake):
    """The provider stored in state may point at a dead emulator port: refresh and destroy
    run the program so the provider configuration is the current one."""
    env = lab()
    env.refresh()
    env.destroy()
    calls = dict(env.stack().calls)
    assert calls["refresh"]["run_program"] is True and calls["destroy"]["run_program"] is True


def _lock(root: Path, stack: str, pid: int, host: str | None = None) -> Path:
    """A lock file as the Pulumi CLI writes it (pkg/backend/diy/lock.go lockContent)."""
    import socket

    folder = root / ".pulumi" / "locks" / "organization" / "envkit" / stack
    folder.mkdir(parents=True)
    path = folder / "0b8b2d5e-3c5a-4a8e-9b7e-2f0d9c1a6e11.json"
    path.write_text(json.dumps({"pid": pid, "username": "ann",
                                "hostname": host or socket.gethostname(),
                                "timestamp": "2026-11-29T10:00:00.123456789Z"}))
    return path


def test_cancel_refuses_while_the_update_holding_the_lock_still_runs(fake):
    import subprocess

    # A live process whose command name is the CLI's, holding the lock.
    holder = subprocess.Popen(["pulumi", "60"], executable="/bin/sleep")
    cmdline = Path(f"/proc/{holder.pid}/cmdline")
    while not cmdline.read_bytes().startswith(b"pulumi\0"):  # until exec has happened
        time.sleep(0.01)
    try:
        _lock(home.subdir("state"), "t-lab", holder.pid)
        env = lab()
        with pytest.raises(OperationError, match=r"still running .*pid") as info:
            env.cancel()
        assert "only removes the lock" in str(info.value)
        assert "cancel" not in [c[0] for c in env.stack().calls]
        message = env.cancel(force=True)
        assert "stops nothing" in message and "still running" in message
        assert holder.poll() is None  # envkit signalled nothing
    finally:
        holder.kill()
        holder.wait()


def test_cancel_of_a_dead_or_foreign_lock_releases_it_and_says_what_it_did(fake):
    import subprocess

    gone = subprocess.Popen(["true"])
    gone.wait()
    _lock(home.subdir("state"), "t-lab", gone.pid)
    env = lab()
    assert env.lock_holders()[0].alive is False
    assert "lock released" in env.cancel() and "stops nothing" in env.cancel()


def test_a_reused_pid_is_not_taken_for_the_lock_holder(fake):
    import subprocess

    other = subprocess.Popen(["sleep", "60"])  # alive, but not a Pulumi CLI
    try:
        _lock(home.subdir("state"), "t-lab", other.pid)
        assert lab().lock_holders()[0].alive is False
    finally:
        other.kill()
        other.wait()


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
    (auto_errors.CommandError(_cmd("error: reading IAM User (ann): NoSuchEntity")),
     OperationError, "reading IAM User (ann): NoSuchEntity"),
    (FileNotFoundError(2, "No such file or directory: 'pulumi'"), PrerequisiteError,
     "envkit install-pulumi"),
])
def test_engine_errors_map_to_envkit_errors(error, expected, fragment):
    mapped = map_engine_error(error, "up", "lab", "local")
    assert type(mapped) is expected and fragment in str(mapped)


def test_recovery_advice_comes_from_records_not_from_words_in_the_error(fake):
    """An unknown AMI on a first up says "does not exist" / "NotFound": that is the error,
    not a lost emulator. Only envkit's record of a deployment to another emulator run
    (not the one running now) gets the `up --refresh` advice."""
    env = lab()
    env.stack().fail = auto_errors.CommandError(_cmd(
        "error: creating EC2 Instance: InvalidAMIID.NotFound: The image id '[ami-1]' does "
        "not exist"))
    with pytest.raises(OperationError) as info:
        env.up()
    assert "up --refresh" not in str(info.value) and "InvalidAMIID.NotFound" in str(info.value)
    home.update_registry(env.name, target="local", status="deployed", resources=3,
                         emulator="an-earlier-run")
    env.stack().fail = auto_errors.CommandError(_cmd("error: reading IAM User: whatever"))
    with pytest.raises(OperationError, match=r"envkit up --refresh"):
        env.up()


def test_an_aws_error_mentioning_canceled_is_not_a_cancel(fake):
    env = lab()
    env.stack().fail = auto_errors.CommandError(_cmd(
        "error: creating EC2 Spot Instance: operation error EC2: RunInstances, "
        "https response error StatusCode: 400, api error: request canceled by the user"))
    with pytest.raises(OperationError) as info:
        env.up()
    assert not isinstance(info.value, CancelledError)
    assert "up failed" in str(info.value) and info.value.exit_code == 1


def test_mandatory_policy_events_from_the_engine_exit_4_and_list_the_violations(fake):
    """The engine reports violations as PolicyEvents; the CLI's error text never says
    "mandatory policy violation", so envkit classifies from the events."""
    from pulumi.automation.events import EngineEvent

    env = lab()
    stack = env.stack()

    def violating_up(**kwargs):
        for level in ("advisory", "mandatory"):
            kwargs["on_event"](EngineEvent.from_json({
                "sequence": 1, "timestamp": 100, "policyEvent": {
                    "message": f"SSH is open to the world ({level})", "color": "never",
                    "policyName": "ec2-no-public-ssh", "policyPackName": "envkit",
                    "policyPackVersion": "0.1.0", "policyPackVersionTag": "0.1.0",
                    "enforcementLevel": level, "resourceUrn": USER_URN}}))
        raise auto_errors.CommandError(_cmd("error: preview failed"))

    stack.up = violating_up
    with pytest.raises(PolicyViolationError) as info:
        env.up()
    text = str(info.value)
    assert info.value.exit_code == 4
    assert "1 mandatory policy violation stopped the up" in text
    assert "lab-user-ann: ec2-no-public-ssh (envkit): SSH is open to the world (mandatory)" \
        in text and "(advisory)" not in text


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
    with pytest.raises(CancelledError,
                       match=r"cancelled \(SIGINT\); the stack's state records") as info:
        env.up()
    assert info.value.exit_code == 130
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # restored
