"""The local emulator's lifecycle, with the real moto server on 127.0.0.1."""

from __future__ import annotations

import json
import os
import signal
import socket
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from envkit import home, local


@pytest.fixture
def emulator():
    yield local
    local.stop()


def test_start_status_reuse_stop(emulator):
    first = local.start()
    assert first.running and first.endpoint == f"http://127.0.0.1:{first.port}"
    record = json.loads((home.home() / "local" / "server.json").read_text())
    assert record["pid"] == first.pid and record["port"] == first.port
    assert local.status().pid == first.pid
    again = local.start()
    assert again.pid == first.pid and again.instance_id == first.instance_id  # reused
    assert local.stop() is True
    assert not local.status().running
    assert local.stop() is False


def test_managed_policies_are_loaded(emulator):
    s = local.start()
    iam = local.boto3_session("us-east-1").client("iam", endpoint_url=s.endpoint)
    policy = iam.get_policy(PolicyArn="arn:aws:iam::aws:policy/AdministratorAccess")
    assert policy["Policy"]["PolicyName"] == "AdministratorAccess"


def test_reset_forgets_resources(emulator):
    s = local.start()
    iam = local.boto3_session("us-east-1").client("iam", endpoint_url=s.endpoint)
    iam.create_user(UserName="temp")
    assert [u["UserName"] for u in iam.list_users()["Users"]] == ["temp"]
    local.reset()
    assert iam.list_users()["Users"] == []


def test_port_in_use_is_a_clear_error(emulator):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        with pytest.raises(local.EmulatorError, match=f"port {port} on 127.0.0.1 is in use"):
            local.start(port)
    assert not local.status().running


def test_configured_port(emulator, monkeypatch):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv("ENVKIT_LOCAL_PORT", str(port))
    assert local.start().port == port
    with pytest.raises(local.EmulatorError, match="already runs on port"):
        local.start(port + 1)


def test_a_killed_server_is_noticed_and_replaced(emulator):
    first = local.start()
    os.kill(first.pid, signal.SIGKILL)
    os.waitpid(first.pid, 0)
    assert not local.status().running  # stale record cleared
    second = local.start()
    assert second.running and second.instance_id != first.instance_id


def test_reset_without_server_is_an_error(emulator):
    with pytest.raises(local.EmulatorError, match="not running"):
        local.reset()


def test_provider_args_one_service_per_endpoint():
    args = local.provider_args("http://127.0.0.1:1234")
    assert args["endpoints"] == [{"iam": "http://127.0.0.1:1234"},
                                 {"ec2": "http://127.0.0.1:1234"},
                                 {"sts": "http://127.0.0.1:1234"},
                                 {"scheduler": "http://127.0.0.1:1234"}]
    assert args["skip_credentials_validation"] and args["skip_requesting_account_id"]
    assert args["skip_metadata_api_check"]


# --- processes envkit did not start are never signalled ----------------------------------------


def envkit_cli(*args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "envkit.cli", *args], capture_output=True,
                          text=True, timeout=120, env={**os.environ, **env})


def plant(record: dict) -> None:
    folder = home.subdir("local")
    (folder / "server.json").write_text(json.dumps(record))


@pytest.fixture
def sleeper():
    proc = subprocess.Popen(["sleep", "60"])
    yield proc
    proc.kill()
    proc.wait()


def _ticks(pid: int) -> int:
    raw = Path(f"/proc/{pid}/stat").read_bytes()
    return int(raw[raw.rfind(b")") + 2:].split()[19])


@pytest.mark.parametrize("how", ["same start time", "other start time", "no start time"])
def test_a_planted_pid_survives_local_stop(sleeper, how):
    ticks = {"same start time": _ticks(sleeper.pid), "other start time": 1}.get(how)
    plant({"pid": sleeper.pid, "port": 45678, "started": 1.0,
           **({"ticks": ticks} if ticks is not None else {})})
    done = envkit_cli("local", "stop")
    assert done.returncode == 0, done.stderr
    assert "forgot a stale emulator record" in done.stderr
    assert "no process was signalled" in done.stderr
    assert "local emulator was not running" in done.stdout
    assert sleeper.poll() is None  # still alive
    assert not (home.home() / "local" / "server.json").exists()


@pytest.mark.parametrize("pid", [-1, 0, 1, "own"])
def test_pids_that_would_signal_groups_or_init_are_never_used(pid):
    pid = os.getpid() if pid == "own" else pid
    plant({"pid": pid, "port": 45678, "ticks": 0, "started": 1.0})
    assert local.stop() is False
    assert not local.status().running
    plant({"pid": pid, "port": 45678, "ticks": 0, "started": 1.0})
    with pytest.raises(local.EmulatorError, match="not running"):
        local.reset()


def test_a_moto_server_on_another_port_is_not_ours(emulator, sleeper):
    s = local.start()
    record = json.loads((home.home() / "local" / "server.json").read_text())
    plant({**record, "port": s.port + 1})
    assert local.stop() is False  # forgotten, not signalled
    assert local._reachable(s.port)  # the real server still answers
    plant(record)
    assert local.stop() is True


def test_two_real_local_starts_give_one_server_and_one_record(emulator):
    starts = [subprocess.Popen([sys.executable, "-m", "envkit.cli", "local", "start"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
              for _ in range(2)]
    outputs = [p.communicate(timeout=120) for p in starts]
    assert [p.returncode for p in starts] == [0, 0], outputs
    record = json.loads((home.home() / "local" / "server.json").read_text())
    assert all(f"(pid {record['pid']})" in out for out, _ in outputs)
    assert servers_of_this_home() == [record["pid"]]


def servers_of_this_home() -> list[int]:
    """Every moto server started with this test's ENVKIT_HOME."""
    mine = f"ENVKIT_HOME={os.environ['ENVKIT_HOME']}".encode()
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if mine in environ and "moto.server" in local._cmdline(int(pid)):
            found.append(int(pid))
    return found


def test_the_port_is_kept_across_restarts(emulator):
    first = local.start()
    port_file = home.home() / "local" / "port"
    assert json.loads(port_file.read_text()) == first.port
    assert stat.S_IMODE(port_file.stat().st_mode) == 0o600
    assert stat.S_IMODE((home.home() / "local" / "server.json").stat().st_mode) == 0o600
    assert local.stop() is True
    second = local.start()
    assert second.port == first.port and second.pid != first.pid


def test_a_foreign_program_on_the_kept_port_is_named_with_the_way_out(emulator):
    port = local.start().port
    local.stop()
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", port))
        busy.listen(1)
        done = envkit_cli("local", "start")
    assert done.returncode == 1
    assert f"port {port} on 127.0.0.1 is in use by another program" in done.stderr
    assert "envkit local start --port N" in done.stderr and "ENVKIT_LOCAL_PORT" in done.stderr
    assert not local.status().running


@pytest.mark.parametrize("value", ["abc", "0", "65536", "-1", "8080x", "١٢٣"])
def test_a_bad_envkit_local_port_is_exit_2_before_anything(value):
    done = envkit_cli("local", "start", ENVKIT_LOCAL_PORT=value)
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "ENVKIT_LOCAL_PORT must be a port number" in \
        done.stderr
    assert not (home.home() / "local" / "server.json").exists()


@pytest.mark.parametrize("command", [["status"], ["outputs"], ["history"], ["ssh", "web"]])
def test_read_only_commands_never_start_the_emulator(command):
    from .conftest import BASICS

    done = envkit_cli(*command, str(BASICS), "--target", "local")
    assert done.returncode in (1, 3), done.stderr  # status: not running; others: no CLI
    assert "Traceback" not in done.stderr
    assert not local.status().running
    assert not (home.home() / "local" / "server.json").exists()


def test_a_record_without_a_start_time_proves_nothing(sleeper):
    plant({"pid": sleeper.pid, "port": 45678, "started": 1.0})  # as an older envkit wrote it
    notes: list[str] = []
    assert local.stop(say=notes.append) is False
    assert "no start time to prove that process" in notes[0]
    assert sleeper.poll() is None


def test_the_notebooks_status_never_starts_the_emulator():
    from envkit.notebook.magics import run_command

    from .conftest import BASICS

    view = run_command(f"status {BASICS} --target local")
    assert "the local emulator is not running" in view.message
    assert not local.status().running
    assert not (home.home() / "local").exists()
