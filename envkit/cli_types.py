"""The CLI's argument types, defined once: each parses a string from the command line and
refuses what envkit cannot use with a one-line usage error (exit 2) before anything runs.

Used as ``typer.Option(parser=...)`` / ``typer.Argument(parser=...)``; the same rules
hold for the environment variables the CLI reads (``check_environment``).
"""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path

import typer

from .limits import clip, parse_port

TARGETS = ("local", "aws")
#: Backends Pulumi accepts: the Pulumi Cloud (https) and the self-managed ones.
BACKEND_SCHEMES = ("file", "s3", "gs", "azblob", "https", "http")
# Patterns as text: compiled (and cached by re) on first use, not at start-up.
_NAME = r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}"
_TEMPLATE = r"[a-z0-9][a-z0-9-]{0,63}"
_REGION = r"[a-z]{2}(-[a-z]+)+-[0-9]{1,2}"
_PROFILE = r"[A-Za-z0-9_+=,.@:/-]{1,128}"


def _bad(message: str) -> typer.BadParameter:
    return typer.BadParameter(message)


def port(text: str) -> int:
    """A TCP port on 127.0.0.1: 1-65535."""
    from .errors import InputError

    try:
        return parse_port(text, "--port")
    except InputError:
        raise _bad(f"'{clip(text)}' is not a port number from 1 to 65535") from None


def target(text: str) -> str:
    """Where to deploy: local or aws."""
    if text not in TARGETS:
        raise _bad(f"unknown target '{clip(text)}': use local or aws")
    return text


def region(text: str) -> str:
    """An AWS region name such as eu-west-1 (the spec's checks then know the real list)."""
    if not re.fullmatch(_REGION, text):
        raise _bad(f"'{clip(text)}' is not an AWS region name such as eu-west-1")
    return text


def profile(text: str) -> str:
    """An AWS profile name, as the AWS config files allow them."""
    if not re.fullmatch(_PROFILE, text):
        raise _bad(f"'{clip(text)}' is not an AWS profile name")
    return text


def backend(text: str) -> str:
    """A Pulumi backend URL (file://, s3://, gs://, azblob://, https://)."""
    scheme = text.partition("://")[0]
    if "://" not in text or scheme not in BACKEND_SCHEMES or len(text) > 2048 or \
            not text.isprintable():
        raise _bad(f"'{clip(text)}' is not a Pulumi backend URL "
                   f"({', '.join(s + '://...' for s in BACKEND_SCHEMES[:4])} or https://...)")
    return text


def kernel_name(text: str) -> str:
    """A kernelspec name: one folder name of letters, digits and . _ - (no /, .., spaces)."""
    if not re.fullmatch(_NAME, text):
        raise _bad(f"'{clip(text)}' is not a kernel name: use letters, digits, '.', '_' "
                   "and '-', starting with a letter or digit (at most 64)")
    return text


def template_name(text: str) -> str:
    """A shipped lab's name (lowercase letters, digits and -)."""
    if not re.fullmatch(_TEMPLATE, text):
        raise _bad(f"'{clip(text)}' is not a lab name: use lowercase letters, digits and '-'")
    return text


def _stat(path: Path) -> os.stat_result | None:
    try:
        return os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        return None
    except (OSError, ValueError) as exc:
        raise _bad(f"{clip(str(path), 200)}: {getattr(exc, 'strerror', None) or exc}"
                   ) from None


def spec_path(text: str) -> Path:
    """A spec file (or an environment's name, or a project folder): a path the system can
    look up. Whether it exists and what it holds is the loader's to judge."""
    path = Path(text)
    _stat(path)
    return path


def output_file(text: str) -> Path:
    """A file to write: a regular file (replaced) or a new one in an existing folder;
    never a folder, a FIFO or a device."""
    path = Path(text)
    info = _stat(path)
    if info is not None and not stat.S_ISREG(info.st_mode):
        kind = "a folder" if stat.S_ISDIR(info.st_mode) else "not a regular file"
        raise _bad(f"{clip(text, 200)} is {kind}: give a file to write")
    if info is None:
        parent = _stat(path.parent if str(path.parent) else Path("."))
        if parent is None or not stat.S_ISDIR(parent.st_mode):
            raise _bad(f"{clip(text, 200)}: the folder {clip(str(path.parent), 200)} "
                       "does not exist")
    return path


def input_file(text: str) -> Path:
    """A file to read: it must exist and be a regular file (not a folder, FIFO or device)."""
    path = Path(text)
    info = _stat(path)
    if info is None:
        raise _bad(f"{clip(text, 200)} does not exist")
    if not stat.S_ISREG(info.st_mode):
        kind = "a folder" if stat.S_ISDIR(info.st_mode) else "not a regular file"
        raise _bad(f"{clip(text, 200)} is {kind}: give a file")
    return path


def policy_config(text: str) -> str:
    """A policy pack config file: read and checked as `envkit policy check --config` reads
    it (a regular file within the size limit, JSON, known policies and settings)."""
    from .errors import SpecError
    from .policy.gate import load_config

    input_file(text)
    try:
        load_config(text)
    except SpecError as exc:
        raise _bad(str(exc).splitlines()[0]) from None
    return text


def policy_pack(text: str) -> str:
    """A CrossGuard policy pack: a folder holding PulumiPolicy.yaml."""
    path = Path(text)
    info = _stat(path)
    if info is None or not stat.S_ISDIR(info.st_mode) or \
            not (path / "PulumiPolicy.yaml").is_file():
        raise _bad(f"{clip(text, 200)} is not a policy pack folder (with PulumiPolicy.yaml)")
    return text


def folder(text: str) -> str:
    """A folder to install into: an existing folder, or a new one in an existing folder."""
    path = Path(text)
    info = _stat(path)
    if info is not None and not stat.S_ISDIR(info.st_mode):
        raise _bad(f"{clip(text, 200)} is not a folder")
    if info is None and not Path(os.path.abspath(path)).parent.is_dir():
        raise _bad(f"{clip(text, 200)}: its parent folder does not exist")
    return text


def check_environment() -> None:
    """The environment variables envkit reads, checked before any command runs."""
    from .errors import InputError

    if os.environ.get("ENVKIT_LOCAL_PORT"):
        parse_port(os.environ["ENVKIT_LOCAL_PORT"], "ENVKIT_LOCAL_PORT")
    raw = os.environ.get("ENVKIT_HOME")
    if raw:
        info = _stat_env(raw)
        if info is not None and not stat.S_ISDIR(info.st_mode):
            raise InputError(f"ENVKIT_HOME ({clip(raw, 200)}) is not a folder")


def _stat_env(raw: str) -> os.stat_result | None:
    from .errors import InputError

    try:
        return os.stat(Path(raw).expanduser())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise InputError(f"ENVKIT_HOME ({clip(raw, 200)}) cannot be used: "
                         f"{getattr(exc, 'strerror', None) or exc}") from None
