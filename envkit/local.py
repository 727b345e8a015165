"""The local target: an AWS API emulator (moto server) on 127.0.0.1, managed by envkit.

``envkit local start|stop|status|reset`` and ``envkit up`` (which starts it when needed)
share this module. The server runs as its own process group, so Ctrl-C in a terminal
does not take it down mid-deployment; its pid, port and start time are recorded in
``ENVKIT_HOME/local/server.json``. AWS managed policies are loaded, so groups can attach
``AdministratorAccess`` and friends exactly as against AWS.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from . import home
from .errors import EnvkitError, PrerequisiteError

HOST = "127.0.0.1"
ACCESS_KEY = "test"  # moto accepts any credentials; these make it obvious they are fake
SECRET_KEY = "test"  # not a secret: the placeholder the emulator accepts
SERVICES = ("iam", "ec2", "sts")
START_TIMEOUT_S = 30.0


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

    @property
    def instance_id(self) -> str | None:
        """Identifies one run of the server: a restart loses everything it held."""
        return f"{self.pid}@{self.started}" if self.running else None

    def to_dict(self) -> dict[str, Any]:
        """The status as JSON-ready data."""
        return {**asdict(self), "instance_id": self.instance_id}


def _record_path() -> Path:
    return home.subdir("local") / "server.json"


def _read_record() -> dict[str, Any] | None:
    path = _record_path()
    if not path.exists():
        return None
    try:
        return json.loads(path.read_text())
    except ValueError:
        return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


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
    """Whether envkit's emulator is running (a stale record is cleared)."""
    record = _read_record()
    if not record:
        return EmulatorStatus(running=False)
    pid, port = int(record["pid"]), int(record["port"])
    if _alive(pid) and _reachable(port):
        return EmulatorStatus(True, port, pid, record.get("started"), f"http://{HOST}:{port}")
    _record_path().unlink(missing_ok=True)
    return EmulatorStatus(running=False)


def start(port: int | None = None) -> EmulatorStatus:
    """Start the emulator (or return the running one). ``port`` None picks a free port."""
    current = status()
    if current.running:
        if port is not None and port != current.port:
            raise EmulatorError(
                f"the local emulator already runs on port {current.port}; "
                f"stop it first (envkit local stop) to move it to {port}")
        return current
    try:
        import moto.server  # noqa: F401 - only to prove it is installed
    except ImportError:
        raise PrerequisiteError("moto[server] is not installed: pip install 'moto[server]'"
                                ) from None
    port = port or int(os.environ.get("ENVKIT_LOCAL_PORT") or 0) or _free_port()
    if _port_in_use(port):
        raise EmulatorError(f"port {port} on {HOST} is in use by another program; "
                            "choose another with --port or ENVKIT_LOCAL_PORT")
    log = open(home.subdir("local") / "server.log", "ab")  # noqa: SIM115 - handed to the child
    env = {**os.environ, "MOTO_IAM_LOAD_MANAGED_POLICIES": "true"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", HOST, "-p", str(port)],
        stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
        start_new_session=True)
    log.close()
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise EmulatorError(f"the local emulator exited at start (code {proc.returncode}); "
                                f"see {home.subdir('local') / 'server.log'}")
        if _reachable(port, timeout=0.5):
            started = time.time()
            _record_path().write_text(json.dumps({"pid": proc.pid, "port": port,
                                                  "started": started}))
            return EmulatorStatus(True, port, proc.pid, started, f"http://{HOST}:{port}")
        time.sleep(0.1)
    proc.kill()
    raise EmulatorError(f"the local emulator did not answer on port {port} within "
                        f"{START_TIMEOUT_S:.0f} s")


def stop() -> bool:
    """Stop the emulator; False when none was running."""
    record = _read_record()
    _record_path().unlink(missing_ok=True)
    if not record or not _alive(int(record["pid"])):
        return False
    pid = int(record["pid"])
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            waited, _ = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            waited = 0
        if waited == pid or not _alive(pid):
            return True
        time.sleep(0.05)
    os.kill(pid, signal.SIGKILL)
    return True


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
