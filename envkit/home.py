"""ENVKIT_HOME (default ``~/.envkit``): where envkit keeps state, keys and the emulator.

Layout::

    state/                 Pulumi file backend (unless another backend is configured)
    workspaces/<env>/      one Pulumi workspace per environment
    keys/<env>/<name>.pem  private keys of generated key pairs (mode 0400)
    passphrase             the secrets passphrase, generated once (mode 0600)
    environments.json      what `envkit ls` shows: target, resources, last update, expiry
    local/server.json      the local emulator's pid and port
    pulumi/                the Pulumi CLI when `envkit install-pulumi` put it there
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any


def home() -> Path:
    """The envkit home folder (created with mode 0700 on first use)."""
    path = Path(os.environ.get("ENVKIT_HOME") or Path.home() / ".envkit").expanduser()
    if not path.exists():
        path.mkdir(parents=True, mode=0o700)
    return path


def subdir(*parts: str) -> Path:
    """A folder inside ENVKIT_HOME, created 0700 if missing."""
    path = home().joinpath(*parts)
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    return path


def keys_dir(environment: str) -> Path:
    """Where an environment's private keys live (not created)."""
    return home() / "keys" / environment


def passphrase() -> str:
    """The secrets passphrase: generated once, stored with mode 0600."""
    path = home() / "passphrase"
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_urlsafe(32))
    return path.read_text().strip()


def write_secret_file(path: Path, text: str, mode: int = 0o400) -> None:
    """Write a secret file with ``mode`` from the first byte (never world-readable)."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    if path.exists():
        path.chmod(0o600)
        path.unlink()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    path.chmod(mode)


@contextlib.contextmanager
def locked(name: str) -> Iterator[None]:
    """An exclusive lock across processes (``fcntl.flock`` on a file in ENVKIT_HOME)."""
    import fcntl

    path = subdir("locks") / f"{name}.lock"
    with open(path, "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def read_registry() -> dict[str, dict[str, Any]]:
    """Every environment envkit has operated on, as recorded after each operation."""
    path = home() / "environments.json"
    if not path.exists():
        return {}
    try:
        return json.loads(path.read_text())
    except ValueError:
        return {}


def update_registry(name: str, **fields: Any) -> None:
    """Record facts about an environment (None removes it)."""
    with locked("registry"):
        data = read_registry()
        if fields.get("removed"):
            data.pop(name, None)
        else:
            data.setdefault(name, {}).update(fields)
        tmp = home() / "environments.json.tmp"
        tmp.write_text(json.dumps(data, indent=2, sort_keys=True))
        tmp.replace(home() / "environments.json")
