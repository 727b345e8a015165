"""Every bound on what envkit reads from a user, in one place (docs/security.md).

A spec, a ``%%envkit`` cell and a policy config are untrusted text: they are read only from
a regular file (or given as text on purpose), up to a size; the YAML inside may nest, alias
and repeat only so far; and a value shown back in a message is cut first, then formatted,
with terminal control characters escaped.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

from .errors import SpecError, SpecIssue

# Re-exported: the message helpers moved to .text (errors needs them without the bounds).
from .text import MAX_SHOWN as MAX_SHOWN
from .text import clip as clip
from .text import plural as plural
from .text import printable as printable

#: Largest spec, ``%%envkit`` cell or policy config, in bytes (UTF-8).
MAX_SPEC_BYTES = 1024 * 1024
#: Deepest nesting of YAML collections (a spec needs about 10 levels).
MAX_DEPTH = 32
#: Most entries in one YAML mapping or list.
MAX_COLLECTION = 10_000
#: Most values a document may hold once its aliases are expanded: about what a spec of the
#: largest size can hold written out, so aliases cannot make a document bigger than that.
MAX_NODES = 250_000
#: Most characters of text a document may hold once its aliases are expanded.
MAX_EXPANDED_CHARS = 4 * MAX_SPEC_BYTES
#: Longest ttl, in days.
MAX_TTL_DAYS = 365
#: EC2's limit on user data (the raw text, before base64).
MAX_USER_DATA_BYTES = 16 * 1024
#: Largest public key file (an RSA-16384 OpenSSH public key is about 2.8 KB).
MAX_PUBLIC_KEY_BYTES = 16 * 1024
def parse_port(value: Any, source: str) -> int:
    """A TCP port from user input (an option, an environment variable): 1-65535, else an
    :class:`~envkit.errors.InputError` (exit 2) naming ``source``."""
    from .errors import InputError

    text = str(value).strip()
    if not (text.isascii() and text.isdigit() and len(text) <= 5 and 1 <= int(text) <= 65535):
        raise InputError(f"{source} must be a port number from 1 to 65535, not '{clip(text)}'")
    return int(text)


def read_text(path: str | os.PathLike[str], what: str = "spec", limit: int = MAX_SPEC_BYTES,
              encoding: str = "utf-8", within: str | os.PathLike[str] | None = None) -> str:
    """Read a user's file as text: a regular file only, at most ``limit`` bytes, strict
    UTF-8. Anything else is a :class:`SpecError` (exit 2) naming the file and the reason.

    The file is opened non-blocking and checked with ``fstat`` before a byte is read, so a
    FIFO, a device or a directory is refused at once instead of hanging or streaming.
    ``within`` (a folder such as ENVKIT_HOME) refuses a file that a link leads out of it: the
    file opened must be the one the link-free path inside ``within`` names.
    """
    name = os.fspath(path)
    flags = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_CLOEXEC", 0)
    opened = name
    if within is not None:
        # Open the resolved path itself, refusing a link that appears there since: what is
        # read is the file inside ``within``. (A file replaced atomically meanwhile, as
        # envkit rewrites its records, is simply read in its new version.)
        opened = _inside(name, within, what)
        flags |= getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(opened, flags)
    except FileNotFoundError:
        if what == "spec" and os.path.basename(name) == "envkit.yaml":
            raise _issue(name, "no envkit.yaml here: `envkit init` writes one from a shipped "
                               "lab (`envkit init --help` lists them), or name a spec file"
                         ) from None
        raise _issue(name, f"no such {what} file") from None
    except IsADirectoryError:
        raise _issue(name, f"is a directory, not a {what} file") from None
    except (OSError, ValueError) as exc:
        raise _issue(name, f"cannot read the {what}: {_reason(exc)}") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise _issue(name, f"is {_kind(info.st_mode)}, not a regular file: a {what} is "
                               "read only from a file")
        if info.st_size > limit:
            raise _issue(name, f"is {info.st_size:,} bytes; a {what} may be at most "
                               f"{_size(limit)}")
        os.set_blocking(fd, True)
        with os.fdopen(fd, "rb", closefd=True) as fh:
            fd = -1
            data = fh.read(limit + 1)  # a file that grew since fstat is still cut here
    except OSError as exc:
        raise _issue(name, f"cannot read the {what}: {_reason(exc)}") from None
    finally:
        if fd >= 0:
            os.close(fd)
    if len(data) > limit:
        raise _issue(name, f"is larger than {_size(limit)}, the most a {what} may be")
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise SpecError(SpecIssue("", f"is not UTF-8 text (byte {exc.start + 1} on line "
                                      f"{line} cannot be read)", file=clip(name, 200),
                                  line=line)) from None


def _inside(name: str, within: str | os.PathLike[str], what: str) -> str:
    """The real path of ``name``, which must lie inside ``within`` (links resolved)."""
    real = os.path.realpath(name)
    root = os.path.realpath(within)
    if os.path.commonpath([real, root]) != root:
        raise _issue(name, f"is a link that leads out of {clip(os.fspath(within), 200)}; "
                           f"envkit does not read a {what} through it")
    return real


#: Most digits in one JSON number (a price, a count): more is not a value, it is a payload.
MAX_JSON_DIGITS = 30


def read_json(path: str | os.PathLike[str], what: str, limit: int = MAX_SPEC_BYTES,
              within: str | os.PathLike[str] | None = None) -> Any:
    """A JSON document from a file, read with :func:`read_text` (regular file, ``limit``,
    ``within``) and bounded: at most :data:`MAX_DEPTH` levels, no NaN or Infinity; a number
    of more than :data:`MAX_JSON_DIGITS` digits is read as infinity, never converted, so the
    caller's range check names its key. A problem is a :class:`SpecError` naming the file
    (and line or key), never quoting the file's contents."""
    import json

    name = os.fspath(path)
    text = read_text(path, what, limit, within=within)

    def number(kind: type) -> Any:
        def parse(token: str) -> Any:
            return kind(token) if len(token) <= MAX_JSON_DIGITS + 8 else float("inf")
        return parse

    def constant(token: str) -> Any:
        raise ValueError(f"{token} is not a JSON number")

    try:
        data = json.loads(text, parse_int=number(int), parse_float=number(float),
                          parse_constant=constant)
    except json.JSONDecodeError as exc:
        raise SpecError(SpecIssue("", f"is not a JSON {what}: {exc.msg} (column {exc.colno})",
                                  file=clip(name, 200), line=exc.lineno)) from None
    except RecursionError:
        raise _issue(name, f"nests deeper than {MAX_DEPTH} levels; not a {what}") from None
    except ValueError as exc:
        raise _issue(name, f"is not a JSON {what}: {exc}") from None
    deep = _too_deep(data)
    if deep is not None:
        raise SpecError(SpecIssue(deep, f"nests deeper than {MAX_DEPTH} levels; not a {what}",
                                  file=clip(name, 200)))
    return data


def _too_deep(value: Any) -> str | None:
    """The key under which ``value`` nests deeper than MAX_DEPTH (its first levels, dotted),
    or None. Iterative: a deep document cannot exhaust the stack."""
    stack: list[tuple[Any, tuple[str, ...]]] = [(value, ())]
    while stack:
        item, where = stack.pop()
        if not isinstance(item, (dict, list)):
            continue
        if len(where) >= MAX_DEPTH:
            shown = [clip(k, 40) for k in where[:4]]
            return ".".join(shown) + ("..." if len(where) > 4 else "")
        pairs = item.items() if isinstance(item, dict) else enumerate(item)
        stack.extend((v, (*where, str(k))) for k, v in pairs)
    return None


def check_text_size(text: str, what: str = "spec", filename: str | None = None,
                    limit: int = MAX_SPEC_BYTES) -> None:
    """Refuse text (a cell, a string handed to the API) larger than ``limit`` bytes."""
    if len(text) > limit or len(text.encode("utf-8", "surrogatepass")) > limit:
        raise SpecError(SpecIssue("", f"the {what} is larger than {_size(limit)}, the most a "
                                      f"{what} may be", file=filename))


def _issue(name: str, message: str) -> SpecError:
    return SpecError(SpecIssue("", message, file=clip(name, 200)))


def _reason(exc: BaseException) -> str:
    return getattr(exc, "strerror", None) or str(exc)


def _size(limit: int) -> str:
    return f"{limit // (1024 * 1024)} MiB" if limit % (1024 * 1024) == 0 else \
        f"{limit // 1024} KiB" if limit % 1024 == 0 else f"{limit} bytes"


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def is_regular_file(path: Path) -> bool:
    """Whether ``path`` is a regular file, without opening it (so a FIFO cannot block)."""
    try:
        return stat.S_ISREG(os.stat(path).st_mode)
    except (OSError, ValueError):
        return False
