"""The lifecycle CLI: through Typer's CliRunner with the engine replaced by stand-ins, and
as a real subprocess with no `pulumi` on PATH (exit codes, messages, no traceback)."""

from __future__ import annotations

import json
import os
import shlex
import stat
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from envkit import home, local
from envkit.cli import app

from .conftest import BASICS, ROOT
from .fakes import FakeAutomation


def run_envkit(*args: str, cwd=ROOT, env_extra: dict | None = None,
               stdin: str | None = None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(PATH=os.path.dirname(sys.executable) + ":/usr/bin:/bin", COLUMNS="120",
               HOME=os.environ["ENVKIT_HOME"])
    env.update(env_extra or {})
    return subprocess.run([sys.executable, "-m", "envkit.cli", *args], capture_output=True,
                          text=True, cwd=cwd, env=env, timeout=120, input=stdin)


@pytest.fixture
def emulator():
    yield
    local.stop()


@pytest.fixture
def engine(monkeypatch, emulator):
    """The Pulumi engine replaced by stand-ins; the emulator is real."""
    from pulumi import automation as auto

    fake = FakeAutomation()
    monkeypatch.setattr(auto, "create_or_select_stack", fake.create_or_select_stack)
    monkeypatch.setattr("envkit.engine.pulumi_command", lambda: "cmd")
    monkeypatch.setattr("envkit.engine.find_pulumi", lambda: "/opt/pulumi/bin/pulumi")
    return fake



def recorded_as_deployed(name: str = "aws-basics") -> None:
    """What `envkit up` records on this machine, for tests whose stack only the engine
    stand-in holds: commands on a never-deployed environment stop before the engine."""
    home.update_registry(name, target="local", region="us-east-1", status="deployed",
                         resources=0)


runner = CliRunner()


def invoke(*args: str, input: str | None = None):
    return runner.invoke(app, list(args), input=input)


# --- without the Pulumi CLI (a real subprocess) ------------------------------------------------


def test_up_yes_without_cli_plans_tries_the_install_then_exits_3_offline(emulator):
    """`up --yes` does the whole set-up: with no CLI it installs one (here the download
    points at a closed port on 127.0.0.1, as an offline machine): exit 3 after the plan."""
    done = run_envkit("up", "--yes", str(BASICS),
                      env_extra={"ENVKIT_PULUMI_DOWNLOAD_URL": "http://127.0.0.1:9"})
    assert done.returncode == 3
    assert "plan: aws-basics (us-east-1) has 31 resources" in done.stdout
    assert "Pulumi CLI is not installed; installing it" in done.stderr
    assert "seems to be offline" in done.stderr and "envkit plan" in done.stderr
    assert "Traceback" not in done.stderr + done.stdout
    assert not local.status().running  # nothing started for nothing


def test_up_with_a_bad_spec_exits_2_before_anything(tmp_path):
    bad = tmp_path / "x.yaml"
    bad.write_text(BASICS.read_text().replace("t2.micro", "t2.mega"))
    done = run_envkit("up", "--yes", str(bad))
    assert done.returncode == 2 and "unknown instance type 't2.mega'" in done.stderr


@pytest.mark.parametrize("command", [["outputs"], ["history"], ["cancel"], ["refresh", "--yes"],
                                     ["preview"], ["down", "--yes"]])
def test_engine_commands_without_cli_exit_3(command):
    home.update_registry("aws-basics", target="local", status="deployed", resources=31)
    done = run_envkit(*command, str(BASICS))
    assert done.returncode == 3, done.stderr
    assert "Pulumi CLI is not installed" in done.stderr and "Traceback" not in done.stderr


def test_doctor_reports_each_check_and_exits_3_without_cli():
    done = run_envkit("doctor", "--json")
    assert done.returncode == 3
    checks = {c["name"]: c for c in json.loads(done.stdout)}
    assert checks["Pulumi CLI"]["status"] == "fail"
    assert "envkit install-pulumi" in checks["Pulumi CLI"]["fix"]
    assert checks["python package pulumi_aws"]["status"] == "pass"
    assert checks["ENVKIT_HOME"]["status"] == "pass"
    assert "3.231.0" in checks["Pulumi CLI"]["detail"]
    assert checks["aws provider plugin"]["detail"].startswith("v7.")
    assert "from default (ENVKIT_HOME/state)" in checks["backend"]["detail"]
    assert "from generated (ENVKIT_HOME/passphrase)" in checks["passphrase"]["detail"]


def test_doctor_says_where_backend_and_passphrase_come_from_never_the_passphrase():
    secret = "correct-horse-battery-staple"
    done = run_envkit("doctor", env_extra={"PULUMI_BACKEND_URL": "s3://team/state",
                                           "PULUMI_CONFIG_PASSPHRASE": secret})
    assert "s3://team/state (from PULUMI_BACKEND_URL" in done.stdout
    assert "passphrase: from PULUMI_CONFIG_PASSPHRASE (" in done.stdout
    assert secret not in done.stdout + done.stderr
    as_json = run_envkit("doctor", "--json", env_extra={"ENVKIT_PASSPHRASE": secret})
    checks = {c["name"]: c for c in json.loads(as_json.stdout)}
    assert checks["passphrase"]["detail"].startswith("from ENVKIT_PASSPHRASE")
    assert secret not in as_json.stdout


def test_local_commands_as_a_subprocess(emulator):
    started = run_envkit("local", "start")
    assert started.returncode == 0 and "running at http://127.0.0.1:" in started.stdout
    state = json.loads(run_envkit("local", "status", "--json").stdout)
    assert state["running"] and state["pid"]
    assert run_envkit("local", "reset").returncode == 0
    assert "stopped" in run_envkit("local", "stop").stdout
    assert "not running" in run_envkit("local", "status").stdout


def test_status_inspects_the_emulator(emulator):
    s = local.start()
    ec2 = local.boto3_session("us-east-1").client("ec2", endpoint_url=s.endpoint)
    ec2.run_instances(ImageId="ami-0d27e0fb3bac4d724", MinCount=1, MaxCount=1,
                      TagSpecifications=[{"ResourceType": "instance", "Tags": [
                          {"Key": "envkit:environment", "Value": "aws-basics"},
                          {"Key": "Name", "Value": "aws-basics-web"}]}])
    home.update_registry("aws-basics", target="local", status="deployed", resources=1,
                         emulator=s.instance_id)
    done = run_envkit("status", str(BASICS), "--target", "local")
    assert done.returncode == 0, done.stderr
    assert "Instances" in done.stdout and "web" in done.stdout and "running" in done.stdout
    data = json.loads(run_envkit("status", str(BASICS), "--json").stdout)
    assert data["inspection"]["instances"][0]["name"] == "web"


def test_status_with_the_emulator_stopped_is_one_line(emulator):
    done = run_envkit("status", str(BASICS), "--target", "local")
    assert done.returncode == 1
    assert done.stderr.strip().startswith("error: the local emulator is not running")
    assert "Traceback" not in done.stderr


def test_init_writes_a_starter_and_refuses_to_overwrite(tmp_path):
    done = run_envkit("init", cwd=tmp_path)
    assert done.returncode == 0
    written = (tmp_path / "envkit.yaml").read_text()
    # The shipped lab, but for the header's note to envkit's maintainers.
    assert written.split("\nname:", 1)[1] == BASICS.read_text().split("\nname:", 1)[1]
    assert "reference for the spec format" not in written
    assert written.startswith("# envkit environment spec: the \"AWS basics\" lab")
    assert "next: envkit plan envkit.yaml" in done.stdout
    classroom = run_envkit("init", "classroom", "-o", "class.yaml", cwd=tmp_path)
    assert "next: envkit class plan class.yaml" in classroom.stdout
    assert "`envkit class plan class.yaml`" in (tmp_path / "class.yaml").read_text()
    planned = run_envkit("class", "plan", "class.yaml", cwd=tmp_path)
    assert planned.returncode == 0, planned.stderr
    again = run_envkit("init", "iam-basics", cwd=tmp_path)
    assert again.returncode == 2 and "--force" in again.stderr
    unknown = run_envkit("init", "nope", "-o", "x.yaml", cwd=tmp_path)
    assert unknown.returncode == 2 and "aws-basics" in unknown.stderr


def test_install_pulumi_offline_exits_3(monkeypatch):
    import urllib.error

    def offline(*a, **k):
        raise urllib.error.URLError("name resolution failed")

    monkeypatch.setattr("envkit.pulumi_cli._fetch", offline)
    from envkit.cli import main

    with pytest.raises(SystemExit) as code:
        main(["install-pulumi"])
    assert code.value.code == 3


# --- with the engine replaced by stand-ins (CliRunner) --------------------------------------


def test_up_shows_live_progress_outputs_and_writes_keys(engine):
    result = invoke("up", "--yes", str(BASICS), "--target", "local")
    assert result.exit_code == 0, result.output
    out = result.output
    assert "plan: aws-basics (us-east-1) has 31 resources" in out
    assert "target: local (--target local), emulator at http://127.0.0.1:" in out
    assert "lab-user-ann" in out and "done" in out  # the live per-resource view
    assert "up done" in out and "1 create" in out
    assert "https://lab-alias.signin.aws.amazon.com/console" in out
    assert "[secret]" in out and "Sup3r" not in out and "PRIVATE KEY" not in out
    key = home.keys_dir("aws-basics") / "lab-key.pem"
    assert stat.S_IMODE(key.stat().st_mode) == 0o400
    listing = invoke("ls")
    assert "aws-basics" in listing.output and "local" in listing.output


def test_up_json_streams_ndjson_events_without_secrets(engine):
    result = invoke("up", "--yes", str(BASICS), "--target", "local", "--json")
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    kinds = [line["kind"] for line in lines]
    assert kinds == ["resource_started", "diagnostic", "resource_finished", "summary", "result"]
    assert lines[-1]["outputs"]["passwords"] == "[secret]"
    assert "Sup3r" not in result.stdout


def test_outputs_show_secrets_only_when_asked(engine):
    home.update_registry("aws-basics", target="local", status="deployed", resources=31)
    masked = invoke("outputs", str(BASICS), "--target", "local", "--json")
    assert json.loads(masked.stdout)["passwords"] == "[secret]"
    shown = invoke("outputs", str(BASICS), "--target", "local", "--json", "--show-secrets")
    assert json.loads(shown.stdout)["passwords"] == {"ann": "Sup3r-Secret-Passw0rd!"}


def test_ssh_prints_the_command_built_from_its_parts(engine):
    recorded_as_deployed()
    key = home.keys_dir("aws-basics") / "learning-ec2.pem"
    assert invoke("ssh", "web", str(BASICS), "--target", "local").stdout.strip() == \
        shlex.join(["ssh", "-i", str(key), "ec2-user@1.2.3.4"])
    unknown = invoke("ssh", "db", str(BASICS), "--target", "local")
    assert unknown.exit_code != 0


def test_down_with_yes_destroys_and_removes_keys(engine):
    assert invoke("up", "--yes", str(BASICS), "--target", "local").exit_code == 0
    result = invoke("down", str(BASICS), "--yes")
    assert result.exit_code == 0, result.output
    assert "destroy done" in result.output
    assert not (home.keys_dir("aws-basics") / "lab-key.pem").exists()
    assert home.read_registry()["aws-basics"]["status"] == "destroyed"


def test_down_without_yes_and_without_a_terminal_refuses(engine, capsys):
    from envkit.cli import main

    recorded_as_deployed()

    with pytest.raises(SystemExit) as code:
        main(["down", str(BASICS), "--target", "local"])
    assert code.value.code == 2
    assert "pass --yes" in capsys.readouterr().err
    assert not any(s.calls for s in engine.stacks)  # nothing was destroyed


def test_locked_stack_names_envkit_cancel(engine, monkeypatch, capsys):
    from pulumi.automation import errors as auto_errors
    from pulumi.automation._cmd import CommandResult

    from envkit.cli import main

    original = engine.create_or_select_stack

    def locked(*args, **kwargs):
        stack = original(*args, **kwargs)
        stack.fail = auto_errors.ConcurrentUpdateError(
            CommandResult("", "error: the stack is currently locked", 255))
        return stack

    monkeypatch.setattr("pulumi.automation.create_or_select_stack", locked)
    with pytest.raises(SystemExit) as code:
        main(["up", "--yes", str(BASICS), "--target", "local"])
    assert code.value.code == 1
    assert "envkit cancel" in capsys.readouterr().err


def test_emulator_restart_since_deploy_is_said_plainly(engine):
    home.update_registry("aws-basics", target="local", resources=31, emulator="1234@1.0")
    result = invoke("up", "--yes", str(BASICS))
    assert result.exit_code == 0, result.output
    assert "the local emulator was restarted since this environment was deployed" in \
        " ".join(result.output.split())
    assert "envkit up --refresh" in result.output
    again = invoke("up", "--yes", str(BASICS))  # the registry now knows the running emulator
    assert "was restarted" not in again.output


def test_refresh_flag_reaches_the_engine(engine):
    assert invoke("up", "--yes", str(BASICS), "--target", "local", "--refresh").exit_code == 0
    assert dict(engine.stacks[-1].calls)["up"]["refresh"] is True


# --- `up` behaves like `pulumi up` -------------------------------------------------------------


def test_up_without_a_terminal_and_without_yes_refuses_in_one_line(emulator):
    done = run_envkit("up", str(BASICS))
    assert done.returncode == 2
    assert done.stderr == ("error: refusing to update without a terminal to confirm: pass "
                           "--yes (as `pulumi up --yes`)\n")
    assert done.stdout == "" and not local.status().running


def test_up_json_prints_a_result_document_when_it_stops_early(emulator, tmp_path):
    refused = run_envkit("up", str(BASICS), "--json")
    doc = json.loads(refused.stdout)
    assert refused.returncode == 2 and doc["exit_code"] == 2
    assert "pass --yes" in doc["error"]["message"]
    missing_cli = run_envkit("up", str(BASICS), "--json", "--yes")
    assert missing_cli.returncode == 3
    last = json.loads(missing_cli.stdout.strip().splitlines()[-1])
    assert last["exit_code"] == 3 and last["error"]["type"] == "PrerequisiteError"
    unsafe = tmp_path / "unsafe.yaml"
    unsafe.write_text(BASICS.read_text().replace("203.0.113.0/24", "0.0.0.0/0"))
    violation = run_envkit("up", str(unsafe), "--json", "--yes")
    last = json.loads(violation.stdout.strip().splitlines()[-1])
    assert violation.returncode == 4 and last["exit_code"] == 4
    assert "mandatory policy violation" in last["error"]["message"]


def test_up_at_a_terminal_shows_the_plan_tree_and_verdict_then_asks(engine, monkeypatch):
    monkeypatch.setattr("envkit.cli.lifecycle.is_interactive", lambda: True)
    declined = invoke("up", str(BASICS), "--target", "local", input="n\n")
    out = declined.output
    assert "aws-basics (us-east-1): 31 resources to create" in out  # the tree's root
    assert "aws-basics-web" in out and "aws-basics-user-aditya" in out
    assert "policy: no mandatory violations" in out
    # As `pulumi up`: the tree and a one-line summary, the tables only with --details.
    assert "Resources: + 31 to create" in out and "Resources by type" not in out
    assert "Do you want to perform this update? ('aws-basics', + 31 to create or update, " \
        "on local) [y/N]" in out
    assert "confirmation declined" in str(declined.exception)
    assert not any(s.calls for s in engine.stacks)
    accepted = invoke("up", str(BASICS), "--target", "local", input="y\n")
    assert accepted.exit_code == 0, accepted.output
    assert "up done" in accepted.output


def test_up_at_a_real_terminal_asks_before_anything_runs():
    """Under a pseudo-terminal (no Pulumi CLI here): the plan tree and the verdict come
    first, then envkit asks to install the CLI; answering no exits 3."""
    code, text = _at_terminal(["up", str(BASICS)], b"n\n", b"Install it now", cli_found=False)
    assert code == 3, text
    assert text.index("31 resources to create") < text.index("policy: no mandatory") \
        < text.index("Install it now")


def test_cancel_says_what_it_did(engine):
    recorded_as_deployed()
    result = invoke("cancel", str(BASICS), "--target", "local")
    assert result.exit_code == 0, result.output
    assert "no update held the lock" in result.output


def _failing_stacks(engine, monkeypatch):
    from pulumi.automation import errors as auto_errors
    from pulumi.automation._cmd import CommandResult

    original = engine.create_or_select_stack

    def failing(*args, **kwargs):
        stack = original(*args, **kwargs)
        stack.fail = auto_errors.CommandError(CommandResult("", "error: boom", 1))
        return stack

    monkeypatch.setattr("pulumi.automation.create_or_select_stack", failing)


def test_a_failed_first_up_keeps_the_emulator_once_the_engine_ran(engine, monkeypatch,
                                                                  capsys):
    """Once an engine operation ran against the emulator, the state may record resources
    it holds: stopping it would lose them, and the next `up` would fail. It stays."""
    from envkit.cli import main

    _failing_stacks(engine, monkeypatch)
    with pytest.raises(SystemExit) as code:
        main(["up", "--yes", str(BASICS), "--target", "local"])
    assert code.value.code == 1 and "boom" in capsys.readouterr().err
    assert local.status().running
    local.stop()


def test_a_command_failing_before_the_engine_stops_the_emulator_it_started(
        engine, monkeypatch, capsys):
    from envkit.cli import main

    monkeypatch.setattr("envkit.engine._PLUGIN_READY", set())  # a fresh process
    engine.workspace.install_error = OSError("dial tcp: lookup api.github.com: no such host")
    with pytest.raises(SystemExit) as code:
        main(["up", "--yes", str(BASICS), "--target", "local"])
    assert code.value.code == 3 and "aws provider plugin" in capsys.readouterr().err
    assert not local.status().running
    assert not (home.home() / "local" / "server.json").exists()


def test_a_failed_command_leaves_a_running_emulator_running(engine, monkeypatch, capsys):
    from envkit.cli import main

    before = local.start()
    _failing_stacks(engine, monkeypatch)
    with pytest.raises(SystemExit) as code:
        main(["up", "--yes", str(BASICS), "--target", "local"])
    assert code.value.code == 1
    assert local.status().pid == before.pid


def test_ssh_run_execs_an_argv_list_and_paths_stay_one_argument(engine, monkeypatch, tmp_path):
    from envkit.cli import main
    from envkit.components.keys import generate_openssh_key

    folder = tmp_path / "my keys; $(touch pwned)"
    folder.mkdir()
    public, _ = generate_openssh_key("ed25519")
    (folder / "-oProxyCommand=id.pub").write_text(public)
    spec = folder / "lab.yaml"
    spec.write_text(BASICS.read_text().replace(
        "learning-ec2: {}", "learning-ec2: {public_key_file: -oProxyCommand=id.pub}"))
    assert "public_key_file" in spec.read_text()
    recorded_as_deployed()
    ran: list = []
    monkeypatch.setattr(os, "execvp", lambda file, argv: ran.append((file, argv)))
    with pytest.raises(SystemExit) as code:
        main(["ssh", "web", str(spec), "--target", "local", "--run"])
    assert code.value.code == 0
    key = str(folder / "-oProxyCommand=id")
    assert ran == [("ssh", ["ssh", "-i", key, "ec2-user@1.2.3.4"])]
    shown = invoke("ssh", "web", str(spec), "--target", "local").stdout.strip()
    assert shlex.split(shown) == ["ssh", "-i", key, "ec2-user@1.2.3.4"]
    assert not (ROOT / "pwned").exists() and not (tmp_path / "pwned").exists()


@pytest.mark.parametrize("term,ci,expected", [("xterm", None, True), ("dumb", None, False),
                                              ("xterm", "true", False)])
def test_interactive_follows_pulumis_rule(monkeypatch, term, ci, expected):
    """A terminal, TERM not dumb, no CI (sdk/go/common/util/cmdutil/console.go)."""
    from envkit.cli import _shared

    monkeypatch.setenv("TERM", term)
    if ci is None:
        monkeypatch.delenv("CI", raising=False)
    else:
        monkeypatch.setenv("CI", ci)
    monkeypatch.setattr(sys.stdin, "isatty", lambda: True)
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True)
    assert _shared.is_interactive() is expected


def _at_terminal(argv: list[str], answer: bytes, when: bytes,
                 cli_found: bool = True) -> tuple[int, str]:
    """Run envkit in a real pseudo-terminal (its own session, a controlling terminal: a
    typed Ctrl-C is turned into SIGINT for the foreground group by the line discipline);
    type ``answer`` once ``when`` appears. The CLI lookup says a CLI exists, so the update
    question comes (``cli_found=False``: the real lookup, which finds none here); the engine
    never runs (the question is declined or cancelled)."""
    import pty
    import select

    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_") and k != "CI"}
    env.update(PATH=os.path.dirname(sys.executable) + ":/usr/bin:/bin", COLUMNS="120",
               HOME=os.environ["ENVKIT_HOME"], TERM="xterm")
    code = ("import envkit.engine as e, sys\n"
            + ("e.find_pulumi = lambda: '/opt/pulumi/bin/pulumi'\n" if cli_found else "")
            + "from envkit.cli import main\n"
            f"main({argv!r})\n")
    pid, fd = pty.fork()
    if pid == 0:
        os.execve(sys.executable, [sys.executable, "-c", code], env)
    seen, answered = b"", False
    while True:
        ready, _, _ = select.select([fd], [], [], 60)
        if not ready:
            break
        try:
            chunk = os.read(fd, 4096)
        except OSError:
            break
        if not chunk:
            break
        seen += chunk
        if not answered and when in seen:
            os.write(fd, answer)
            answered = True
    _, status = os.waitpid(pid, 0)
    import re

    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", seen.decode(errors="replace"))  # colours
    return os.waitstatus_to_exitcode(status), text


def test_declining_at_a_real_terminal_is_pulumis_bail():
    """As `pulumi up` (pkg/backend/apply.go:231-233): the tree and `+ 31 to create`, the
    question, and No is "confirmation declined, not proceeding with the update", exit 1."""
    code, text = _at_terminal(["up", str(BASICS), "--target", "local"], b"n\n",
                              b"Do you want to perform this update?")
    assert code == 1, text
    assert text.index("31 resources to create") < text.index("Resources: + 31 to create") \
        < text.index("Do you want to perform this update?")
    assert "Resources by type" not in text  # the tables wait for --details
    assert "confirmation declined, not proceeding with the update" in text
    assert "error:" not in text


def test_ctrl_c_at_a_real_terminal_is_a_cancel_on_its_own_line():
    code, text = _at_terminal(["up", str(BASICS), "--target", "local"], b"\x03",
                              b"Do you want to perform this update?")
    assert code == 130, text
    lines = [line.strip() for line in text.replace("\r", "").split("\n")]
    assert "error: confirmation cancelled, not proceeding with the update" in lines


def test_down_at_a_terminal_shows_what_goes_and_one_line_then_asks(engine, monkeypatch):
    """As `pulumi destroy`: the resources the state records, `- N to delete`, the
    question; No destroys nothing and is a bail."""
    monkeypatch.setattr("envkit.cli.lifecycle.is_interactive", lambda: True)
    assert invoke("up", "--yes", str(BASICS), "--target", "local").exit_code == 0
    declined = invoke("down", str(BASICS), "--target", "local", input="n\n")
    out = declined.output
    assert "aws-basics: 1 resource to delete" in out and "lab-user-ann" in out
    assert "Resources: - 1 to delete" in out
    assert "Do you want to perform this destroy? ('aws-basics', - 1 to delete, on local)" \
        in out
    assert "confirmation declined, not proceeding with the destroy" in str(declined.exception)
    assert not [n for s in engine.stacks for n, _ in s.calls if n == "destroy"]
