"""ENVKIT_HOME (default ``~/.envkit``): where envkit keeps state, keys and the emulator.

Layout::

    state/                 Pulumi file backend (unless another backend is configured)
    workspaces/<env>/      one Pulumi workspace per environment
    keys/<env>/<name>.pem  private keys of generated key pairs (0400; keys/ and keys/<env>/
                           are 0700)
    passphrase             the secrets passphrase, generated once (mode 0600)
    environments.json      what `envkit ls` shows: target, resources, last update, expiry
                           (mode 0600)
    local/server.json      the local emulator's pid, port and start time (mode 0600)
    local/port             the emulator's port, kept across restarts (mode 0600)
    pulumi/                the Pulumi CLI when `envkit install-pulumi` put it there
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import secrets
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any


def location() -> Path:
    """Where the envkit home folder is, without creating it (read-only commands use this:
    they never create a folder)."""
    from .errors import InputError

    raw = os.environ.get("ENVKIT_HOME") or str(Path.home() / ".envkit")
    try:
        return Path(raw).expanduser()
    except (RuntimeError, ValueError) as exc:  # ~nosuchuser
        raise InputError(f"ENVKIT_HOME ({_shown(raw)}) cannot be used: {exc}") from None


def read_json(path: Path, what: str, limit: int) -> Any:
    """A JSON file envkit keeps in ENVKIT_HOME, read as hostile input (a regular file of at
    most ``limit`` bytes, no link out of ENVKIT_HOME, bounded depth and numbers; see
    :func:`envkit.limits.read_json`): a SpecError (exit 2) naming the file otherwise."""
    from .limits import read_json as bounded

    return bounded(path, what, limit, within=location())


def home() -> Path:
    """The envkit home folder (created with mode 0700 on first use)."""
    from .errors import InputError

    raw = os.environ.get("ENVKIT_HOME") or str(Path.home() / ".envkit")
    try:
        path = Path(raw).expanduser()
        if not path.is_dir():  # (another process may be creating it right now)
            path.mkdir(parents=True, exist_ok=True, mode=0o700)
    except FileExistsError:
        raise InputError(f"ENVKIT_HOME ({_shown(raw)}) is not a folder") from None
    except (OSError, ValueError) as exc:
        raise InputError(f"ENVKIT_HOME ({_shown(raw)}) cannot be used: "
                         f"{getattr(exc, 'strerror', None) or exc}") from None
    return path


def _shown(path: object) -> str:
    from .limits import clip

    return clip(str(path), 200)


def subdir(*parts: str) -> Path:
    """A folder inside ENVKIT_HOME, created 0700 if missing."""
    path = home().joinpath(*parts)
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    return path


def keys_dir(environment: str) -> Path:
    """Where an environment's private keys live (not created, nor is ENVKIT_HOME: a plan
    names the folder without making it)."""
    return location() / "keys" / environment


def private_dir(path: Path) -> Path:
    """``path`` as a folder only its owner can enter: created 0700 (and each missing parent
    inside ENVKIT_HOME), or tightened to 0700; a symlink or someone else's folder there is
    refused, never followed."""
    from .errors import EnvkitError

    root = home()
    for folder in [*reversed(path.parents), path]:
        if not folder.is_relative_to(root) or folder == root:
            continue
        with contextlib.suppress(FileExistsError):
            os.mkdir(folder, 0o700)
        info = os.lstat(folder)
        if stat.S_ISLNK(info.st_mode) or not stat.S_ISDIR(info.st_mode):
            raise EnvkitError(f"{_shown(folder)} is not a folder (a symlink or a file is in "
                              "its place); envkit refuses to write secrets through it")
        if info.st_uid != os.getuid():
            raise EnvkitError(f"{_shown(folder)} belongs to another user; envkit refuses to "
                              "keep secrets in it")
        if stat.S_IMODE(info.st_mode) != 0o700:
            os.chmod(folder, 0o700, follow_symlinks=False)
    return path


def write_private(path: Path, text: str, mode: int = 0o600) -> None:
    """Replace ``path`` atomically with ``text``, ``mode`` from the first byte.

    A temporary file is created beside it with ``O_EXCL | O_NOFOLLOW`` (never through a
    link an attacker planted), written, synced and renamed into place; readers see the old
    file or the whole new one, never a part. A symlink at ``path`` itself is refused."""
    from .errors import EnvkitError

    if path.is_symlink():
        raise EnvkitError(f"{_shown(path)} is a symlink; envkit refuses to write through it")
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
            os.fchmod(fh.fileno(), mode)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def read_private(path: Path) -> str:
    """Read a file envkit keeps in ENVKIT_HOME, refusing a symlink in its place
    (``FileNotFoundError`` when it is missing)."""
    from .errors import EnvkitError

    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise EnvkitError(f"{_shown(path)} is a symlink; envkit refuses to read "
                              "through it") from None
        raise
    with os.fdopen(fd, "rb") as fh:
        if not stat.S_ISREG(os.fstat(fh.fileno()).st_mode):
            raise EnvkitError(f"{_shown(path)} is not a regular file")
        return fh.read(16 * 1024 * 1024).decode("utf-8", "replace")


def passphrase() -> str:
    """The secrets passphrase: generated once, stored with mode 0600, never empty.

    Concurrent first runs agree on one passphrase: each writes a complete candidate to a
    temporary file and hard-links it into place, which succeeds for exactly one of them;
    the others read the winner's. No reader can see a partial or empty file."""
    from .errors import PrerequisiteError

    path = home() / "passphrase"
    try:
        text = read_private(path)
    except FileNotFoundError:
        tmp = path.with_name(f".passphrase.{os.getpid()}.{secrets.token_hex(4)}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                     0o600)
        try:
            with os.fdopen(fd, "w") as fh:
                fh.write(secrets.token_urlsafe(32))
                fh.flush()
                os.fsync(fh.fileno())
            with contextlib.suppress(FileExistsError):
                os.link(tmp, path)  # atomic; fails when another process won
        finally:
            os.unlink(tmp)
        text = read_private(path)
    if not text.strip():
        raise PrerequisiteError(
            f"the secrets passphrase file {_shown(path)} is empty. If a backup exists, "
            "restore it; if no stack has secrets yet, delete the file and envkit makes a new "
            "one (stacks encrypted with a lost passphrase cannot be read again)")
    mode = stat.S_IMODE(os.stat(path, follow_symlinks=False).st_mode)
    if mode != 0o600:
        os.chmod(path, 0o600, follow_symlinks=False)
    return text.strip()


def write_secret_file(path: Path, text: str, mode: int = 0o400) -> None:
    """Write a secret file (a private key) with ``mode`` from the first byte, atomically,
    in a folder only its owner can enter; never through a symlink."""
    private_dir(path.parent)
    write_private(path, text, mode)


@contextlib.contextmanager
def locked(name: str) -> Iterator[None]:
    """An exclusive lock across processes (``fcntl.flock`` on a file in ENVKIT_HOME)."""
    import fcntl

    path = subdir("locks") / f"{name}.lock"
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def read_registry() -> dict[str, dict[str, Any]]:
    """Every environment envkit has operated on, as recorded after each operation.

    A damaged record is bad input (exit 2, naming the file), never read as empty: the
    next operation would write a fresh one over it, and every environment it knew of
    would be forgotten."""
    from .errors import SpecError, SpecIssue

    path = location() / "environments.json"
    try:  # reading never creates ENVKIT_HOME (location(), not home())
        text = read_private(path)
    except FileNotFoundError:
        return {}
    what = ("envkit's record of the environments it manages; fix it, or move it aside to "
            "start a new record (envkit then no longer knows those environments)")
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise SpecError(SpecIssue("", f"not valid JSON ({_shown(getattr(exc, 'msg', exc))}): "
                                  f"{what}", file=str(path),
                                  line=getattr(exc, "lineno", None))) from None
    if not isinstance(data, dict) or not all(isinstance(v, dict) for v in data.values()):
        raise SpecError(SpecIssue("", f"not a mapping of environment names to records: "
                                  f"{what}", file=str(path)))
    return data


def update_registry(name: str, **fields: Any) -> None:
    """Record facts about an environment (None removes it)."""
    with locked("registry"):
        data = read_registry()
        if fields.get("removed"):
            data.pop(name, None)
        else:
            data.setdefault(name, {}).update(fields)
        write_private(home() / "environments.json", json.dumps(data, indent=2, sort_keys=True))
