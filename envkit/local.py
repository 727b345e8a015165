"""The local target: an AWS API emulator (moto server) on 127.0.0.1, managed by envkit.

``envkit local start|stop|status|reset`` and ``envkit up`` (which starts it when needed)
share this module. The server runs as its own process group, so Ctrl-C in a terminal
does not take it down mid-deployment. AWS managed policies are loaded, so groups can attach
``AdministratorAccess`` and friends exactly as against AWS.

``ENVKIT_HOME/local/`` holds ``server.json`` (pid, port, and the process's start time as the
kernel counts it) and ``port``, the emulator's port for this ENVKIT_HOME: chosen once and
reused by every later start, because the provider configuration stored in Pulumi state
names it. A recorded pid is signalled only once it is proven to be that server (same start
time, a moto server command line on the recorded port); a record that does not prove out
is forgotten, and the process is left alone.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from . import home
from .errors import EnvkitError, PrerequisiteError
from .limits import parse_port

HOST = "127.0.0.1"
ACCESS_KEY = "test"  # moto accepts any credentials; these make it obvious they are fake
SECRET_KEY = "test"  # not a secret: the placeholder the emulator accepts
#: The services a lab calls, each pointed at the emulator (scheduler: a class's lease-end
#: schedules; a class's budget is not made on the local target, see classroom/aws_lease.py).
SERVICES = ("iam", "ec2", "sts", "scheduler")
START_TIMEOUT_S = 30.0
PORT_ENV = "ENVKIT_LOCAL_PORT"

#: The emulator this process started for the command under way (see command_finished).
_STARTED_HERE: dict[str, Any] = {}


class EmulatorError(EnvkitError):
    """The local emulator could not be started, reached or stopped."""


@dataclass
class EmulatorStatus:
    """What `envkit local status` reports."""

    running: bool
    port: int | None = None
    pid: int | None = None
    started: float | None = None
    endpoint: str | None = None
    note: str | None = None  # e.g. a stale record that was forgotten

    @property
    def instance_id(self) -> str | None:
        """Identifies one run of the server: a restart loses everything it held."""
        return f"{self.pid}@{self.started}" if self.running else None

    def to_dict(self) -> dict[str, Any]:
        """The status as JSON-ready data."""
        return {**asdict(self), "instance_id": self.instance_id}


def configured_port() -> int | None:
    """ENVKIT_LOCAL_PORT, validated (None when unset or empty)."""
    value = os.environ.get(PORT_ENV)
    return parse_port(value, PORT_ENV) if value not in (None, "") else None


def _record_path() -> Path:
    return home.location() / "local" / "server.json"  # made when a server starts, not read


def _port_path() -> Path:
    return home.location() / "local" / "port"


def _read_json(path: Path) -> Any:
    try:
        return json.loads(home.read_private(path))
    except (FileNotFoundError, NotADirectoryError, ValueError):
        return None


def _read_record() -> dict[str, Any] | None:
    record = _read_json(_record_path())
    if not isinstance(record, dict):
        return None
    try:
        pid, port = int(record["pid"]), int(record["port"])
    except (KeyError, TypeError, ValueError):
        return {"pid": 0, "port": 0, "ticks": None, "started": 0.0}  # unreadable: proves nothing
    try:
        ticks = int(record["ticks"])
    except (KeyError, TypeError, ValueError):
        ticks = None  # a record without a start time (older envkit) proves nothing either
    try:
        started = float(record.get("started") or 0)
    except (TypeError, ValueError):
        started = 0.0
    return {"pid": pid, "port": port, "ticks": ticks, "started": started}


def recorded_port() -> int | None:
    """The port this ENVKIT_HOME's emulator uses (chosen at its first start)."""
    value = _read_json(_port_path())
    return value if isinstance(value, int) and 1 <= value <= 65535 else None


def _start_ticks(pid: int) -> int | None:
    """The process's start time in clock ticks since boot (/proc/<pid>/stat, field 22)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_bytes()
    except OSError:
        return None
    # The command name (field 2) is in parentheses and may itself hold spaces or ")".
    fields = stat[stat.rfind(b")") + 2:].split()
    try:
        return int(fields[19])
    except (IndexError, ValueError):
        return None


def _cmdline(pid: int) -> list[str]:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [part.decode("utf-8", "replace") for part in raw.split(b"\0") if part]


def _is_our_server(record: dict[str, Any]) -> str | None:
    """Why the recorded process is not the emulator envkit started (None: it is).

    The pid alone proves nothing: it may have been reused by any process since, and -1 or
    0 would signal a whole process group. So the process must have the recorded start
    time and be a moto server on the recorded port."""
    pid, port = record["pid"], record["port"]
    if pid <= 1 or pid == os.getpid():
        return f"the recorded pid {pid} cannot be the emulator"
    if record["ticks"] is None:
        return (f"the record has no start time to prove that process {pid} is the emulator "
                "(stop that process yourself if it is)")
    ticks = _start_ticks(pid)
    if ticks is None:
        return f"no process {pid} is running"
    if ticks != record["ticks"]:
        return f"process {pid} is not the emulator envkit started (it started at another time)"
    argv = _cmdline(pid)
    rest = argv[argv.index("moto.server") + 1:] if "moto.server" in argv else []
    if ["-p", str(port)] not in [rest[i:i + 2] for i in range(len(rest))]:
        return f"process {pid} is not a moto server on port {port}"
    return None


def _forget(reason: str) -> str:
    _record_path().unlink(missing_ok=True)
    return f"forgot a stale emulator record: {reason}; no process was signalled"


def _current() -> tuple[dict[str, Any] | None, str | None]:
    """The proven record of the running emulator, or (None, a note about a forgotten one)."""
    record = _read_record()
    if record is None:
        return None, None
    problem = _is_our_server(record)
    if problem is not None:
        return None, _forget(problem)
    return record, None


def _reachable(port: int, timeout: float = 1.0) -> bool:
    try:
        with urllib.request.urlopen(f"http://{HOST}:{port}/moto-api/", timeout=timeout) as r:
            return r.status == 200
    except (urllib.error.URLError, OSError):
        return False


def _port_in_use(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(0.5)
        return s.connect_ex((HOST, port)) == 0


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def status() -> EmulatorStatus:
    """Whether envkit's emulator is running (a record that does not prove out is forgotten,
    and ``note`` says so). Never starts anything."""
    record, note = _current()
    if record is None:
        return EmulatorStatus(running=False, port=recorded_port(), note=note)
    port = record["port"]
    if _reachable(port):
        return EmulatorStatus(True, port, record["pid"], record["started"],
                              f"http://{HOST}:{port}")
    return EmulatorStatus(running=False, port=port, pid=record["pid"],
                          note=f"the emulator (pid {record['pid']}) does not answer on port "
                               f"{port}; `envkit local stop` then `envkit local start`")


def start(port: int | None = None) -> EmulatorStatus:
    """Start the emulator (or return the running one).

    The port is ``port``, else ENVKIT_LOCAL_PORT, else the one this ENVKIT_HOME used before,
    else a free one; it is recorded so later starts reuse it. Concurrent starts are
    serialized: they yield one server and one record."""
    if port is not None:
        port = parse_port(port, "--port")
    port = port or configured_port()
    return _start(port)[0]


def _start(port: int | None) -> tuple[EmulatorStatus, bool]:
    """(the running emulator, whether this call started it)."""
    with home.locked("local-start"):
        current = status()
        if current.running:
            if port is not None and port != current.port:
                raise EmulatorError(
                    f"the local emulator already runs on port {current.port}; "
                    f"stop it first (envkit local stop) to move it to {port}")
            return current, False
        if current.pid is not None:  # ours, alive, but not answering
            raise EmulatorError(current.note or "the local emulator does not answer")
        return _spawn(port), True


def _spawn(port: int | None) -> EmulatorStatus:
    try:
        import moto.server  # noqa: F401 - only to prove it is installed
    except ImportError:
        raise PrerequisiteError("moto[server] is not installed: pip install 'moto[server]'"
                                ) from None
    kept = recorded_port()
    port = port or kept or _free_port()
    if _port_in_use(port):
        how = (f"envkit keeps it in {_port_path()} so that deployed environments keep "
               "reaching the emulator; " if port == kept else "")
        raise EmulatorError(
            f"port {port} on {HOST} is in use by another program; {how}stop that program, "
            f"or move the emulator with `envkit local start --port N` (or {PORT_ENV}=N), "
            "then `envkit up --refresh` for environments deployed on the old port")
    log_fd = os.open(home.subdir("local") / "server.log",
                     os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW, 0o600)
    env = {**os.environ, "MOTO_IAM_LOAD_MANAGED_POLICIES": "true"}
    try:
        proc = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", HOST, "-p", str(port)],
            stdout=log_fd, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
            start_new_session=True)
    finally:
        os.close(log_fd)
    ticks = _start_ticks(proc.pid)
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise EmulatorError(f"the local emulator exited at start (code {proc.returncode}); "
                                f"see {home.subdir('local') / 'server.log'}")
        if _reachable(port, timeout=0.5):
            started = time.time()
            home.write_private(_record_path(), json.dumps(
                {"pid": proc.pid, "port": port, "ticks": ticks, "started": started}))
            home.write_private(_port_path(), json.dumps(port))
            return EmulatorStatus(True, port, proc.pid, started, f"http://{HOST}:{port}")
        time.sleep(0.1)
    proc.kill()
    proc.wait()
    raise EmulatorError(f"the local emulator did not answer on port {port} within "
                        f"{START_TIMEOUT_S:.0f} s")


def stop(say: Callable[[str], Any] | None = None) -> bool:
    """Stop the emulator; False when none was running. Only a process proven to be the
    server envkit started is signalled; a stale record is forgotten (``say`` tells why)."""
    with home.locked("local-start"):
        record, note = _current()
        if note and say is not None:
            say(note)
        if record is None:
            return False
        _terminate(record)
        _record_path().unlink(missing_ok=True)
        return True


def _terminate(record: dict[str, Any]) -> None:
    pid = record["pid"]
    # A pidfd pins the process proven above: if it exits and its pid is reused meanwhile,
    # the signal cannot reach the newcomer.
    pidfd = None
    with contextlib.suppress(AttributeError, OSError):
        pidfd = os.pidfd_open(pid)
    try:
        if pidfd is not None and _is_our_server(record) is not None:
            return  # it exited between the proof and the pidfd
        _signal(pid, pidfd, signal.SIGTERM)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            with contextlib.suppress(ChildProcessError):
                if os.waitpid(pid, os.WNOHANG)[0] == pid:
                    return
            if _start_ticks(pid) != record["ticks"]:
                return
            time.sleep(0.05)
        _signal(pid, pidfd, signal.SIGKILL)
    finally:
        if pidfd is not None:
            os.close(pidfd)


def _signal(pid: int, pidfd: int | None, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        if pidfd is not None:
            signal.pidfd_send_signal(pidfd, signum)
        else:
            os.kill(pid, signum)


def start_for_command() -> EmulatorStatus:
    """Start the emulator for a command's own use (or reuse the running one). If this call
    started it, :func:`command_finished` stops it again when the command fails."""
    current, spawned = _start(configured_port())
    if spawned:
        _STARTED_HERE["status"] = current
    return current


def engine_used() -> None:
    """An engine operation is about to run against the emulator: from then on the stack's
    state may record resources it holds, so it is kept even if the command fails (a failed
    or cancelled first `envkit up` is resumed by the next one)."""
    _STARTED_HERE["engine"] = True


def command_finished(ok: bool) -> None:
    """A command is over: an emulator started for it stays if it succeeded or an engine
    operation ran against it; otherwise (the command stopped before the engine ran, as a
    failed plan or a missing CLI) it is stopped, so a failed first `envkit up` leaves no
    server behind."""
    started = _STARTED_HERE.pop("status", None)
    engine = _STARTED_HERE.pop("engine", False)
    if started is not None and not ok and not engine:
        stop()


def reset() -> None:
    """Forget every resource the emulator holds."""
    current = status()
    if not current.running:
        raise EmulatorError("the local emulator is not running (envkit local start)")
    request = urllib.request.Request(f"{current.endpoint}/moto-api/reset", method="POST")
    with urllib.request.urlopen(request, timeout=10):
        pass


def provider_args(endpoint: str) -> dict[str, Any]:
    """pulumi-aws provider settings that point it at the emulator.

    One service per ``endpoints`` element: several in one element fail with
    "Duplicate Set Element". Credential validation, the account-id request and the
    metadata check are skipped, as LocalStack's pulumi-local does.
    """
    return {
        "endpoints": [{service: endpoint} for service in SERVICES],
        "skip_credentials_validation": True,
        "skip_requesting_account_id": True,
        "skip_metadata_api_check": True,
        "access_key": ACCESS_KEY,
        "secret_key": SECRET_KEY,
    }


def boto3_session(region: str):
    """A boto3 session whose clients talk to the emulator (use ``client(...)`` below)."""
    import boto3

    return boto3.session.Session(aws_access_key_id=ACCESS_KEY,
                                 aws_secret_access_key=SECRET_KEY, region_name=region)
