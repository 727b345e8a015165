"""The engine's failures as envkit errors, and who holds a stack's lock.

Failures are classified from what envkit observed, never from words in the CLI's output:
the SDK's own error classes (pulumi/automation/errors.py), an interrupt envkit noted, the
engine's structured policy events, and, on the local target, whether the emulator that
held the stack's resources still runs (envkit's records).
"""

from __future__ import annotations

import json
import os
import socket
from dataclasses import dataclass
from pathlib import Path

from . import home
from .errors import (
    CancelledError,
    EnvkitError,
    OperationError,
    PolicyViolationError,
    PrerequisiteError,
    StackLockedError,
)
from .events import PolicyViolation
from .pulumi_cli import MISSING_CLI

EMULATOR_LOST = (
    "{environment}: the local emulator that held this stack's resources is not the one "
    "running now (it was restarted or reset), so the resources the state records are gone. "
    "Run `envkit up --refresh` to recreate them."
)


def meaningful(text: str, limit: int = 6) -> str:
    """The lines of CLI output that say what went wrong (errors first, else the last)."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    errors = [line for line in lines if "error" in line.lower() or "failed" in line.lower()]
    picked = list(dict.fromkeys(errors or lines[-1:]))
    return "\n".join(picked[-limit:])


def map_engine_error(exc: BaseException, operation: str, environment: str,
                     target: str | None = None, emulator_lost: bool = False
                     ) -> EnvkitError:
    """Turn a pulumi.automation error (or a missing CLI) into one clear envkit error.

    ``emulator_lost``: the environment was deployed to a local emulator that no longer
    runs (envkit's records say so); a failure then gets the recovery command.
    """
    from pulumi.automation import errors as auto_errors

    if isinstance(exc, EnvkitError):
        return exc
    if isinstance(exc, FileNotFoundError):
        return PrerequisiteError(MISSING_CLI.format(home=home.home()))
    if isinstance(exc, auto_errors.ConcurrentUpdateError):
        return StackLockedError(
            f"{environment}: another update holds the stack's lock. If no other update is "
            f"running (an earlier one was killed), release it with `envkit cancel`.")
    if isinstance(exc, auto_errors.StackNotFoundError):
        return OperationError(f"{environment}: no such deployed environment; "
                              "create it with `envkit up`.")
    if isinstance(exc, auto_errors.CommandError):
        if target == "local" and emulator_lost:
            return OperationError(EMULATOR_LOST.format(environment=environment))
        return OperationError(f"{environment}: {operation} failed:\n{meaningful(str(exc))}")
    return OperationError(f"{environment}: {operation} failed: {exc}")


def cancelled_error(environment: str, operation: str, how: str = "interrupt") -> CancelledError:
    """The error for an operation the user (or a SIGTERM/SIGHUP) interrupted."""
    return CancelledError(f"{environment}: {operation} cancelled ({how}); the stack's state "
                          "records exactly what was done before the cancel, and its lock "
                          "is released: run the command again to resume.")


def policy_error(environment: str, operation: str,
                 violations: list[PolicyViolation]) -> PolicyViolationError:
    """The error for mandatory violations the engine's policy packs reported."""
    lines = [f"{environment}: {len(violations)} mandatory policy "
             f"violation{'s' if len(violations) != 1 else ''} stopped the {operation}:"]
    for v in violations:
        where = v.urn.rsplit("::", 1)[-1] if v.urn else "stack"
        first = v.message.splitlines()[0] if v.message else ""
        lines.append(f"{where}: {v.policy} ({v.pack}): {first}")
    return PolicyViolationError("\n".join(lines))


# --- locks ---------------------------------------------------------------------------------


@dataclass
class LockHolder:
    """One update lock in a DIY backend: what the Pulumi CLI wrote when it took it
    (pulumi/pulumi pkg/backend/diy/lock.go, ``lockContent``)."""

    path: Path
    pid: int
    username: str
    hostname: str
    timestamp: str
    alive: bool


def is_live_pulumi(pid: int) -> bool:
    """Whether ``pid`` is a running Pulumi CLI on this machine (not a reused pid)."""
    if pid <= 1:
        return False
    try:
        argv0 = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0", 1)[0]
    except OSError:
        return False
    return os.path.basename(argv0.decode(errors="replace")).startswith("pulumi")


def file_backend_locks(root: Path, project: str, stack: str) -> list[LockHolder]:
    """The lock files of ``stack`` under a file backend folder.

    They live in ``<root>/.pulumi/locks/<fully qualified stack>/<lock id>.json``, the
    qualified name being ``organization/<project>/<stack>`` for project-scoped stacks and
    ``<stack>`` for legacy ones (pkg/backend/diy/lock.go ``stackLockDir``, backend.go
    ``FullyQualifiedName``).
    """
    base = root / ".pulumi" / "locks"
    holders = []
    for folder in (base / "organization" / project / stack, base / stack):
        if not folder.is_dir():
            continue
        for path in sorted(folder.glob("*.json")):
            try:
                data = json.loads(path.read_text()[:4096])
                pid = int(data.get("pid", 0))
            except (OSError, ValueError, TypeError, AttributeError):
                continue
            here = str(data.get("hostname", "")) == socket.gethostname()
            holders.append(LockHolder(path, pid, str(data.get("username", "")),
                                      str(data.get("hostname", "")),
                                      str(data.get("timestamp", "")),
                                      here and is_live_pulumi(pid)))
    return holders
