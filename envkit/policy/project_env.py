"""Prepare a Pulumi Python project's environment the way ``pulumi install`` does.

A project pins its SDKs (``pulumi-aws>=5,<6``) and names where they live
(``runtime.options.virtualenv``, ``toolchain: pip|poetry|uv``). Before running a program,
Pulumi's Python language host makes sure that environment exists and creates it from the
project's requirement files when it does not (sdk/python/cmd/pulumi-language-python/main.go
GetRequiredPackages -> ``tc.EnsureVenv``; sdk/python/toolchain/toolchain.go
ResolveToolchain). The gate does the same, so a program runs on the versions it pins:

- pip (sdk/python/toolchain/pip.go EnsureVenv, InstallDependencies): a named virtualenv that
  does not exist, or is an empty folder, is created with ``python3 -m venv`` (the
  interpreter ``PULUMI_PYTHON_CMD`` names, else ``python3``, else ``python`` on PATH:
  pip.go CommandPath) and ``requirements.txt`` is installed with
  ``python -m pip install -r requirements.txt``. Pulumi first upgrades pip, setuptools and
  wheel; the gate skips that step (it changes no verdict and costs a round trip to the
  index). Without a ``virtualenv`` option Pulumi runs the ambient Python and installs
  nothing: so does the gate (see program.py).
- uv (uv.go): the virtualenv named, else ``.venv`` next to ``uv.lock`` or
  ``pyproject.toml``, filled with ``uv sync`` (``UV_PROJECT_ENVIRONMENT`` pointing at it).
  A project with only a requirements.txt gets ``uv venv`` and ``uv pip install -r``
  instead of Pulumi's conversion to pyproject.toml: the gate does not rewrite a project's
  files.
- poetry (poetry.go): ``poetry env info --path``, and ``poetry install --no-ansi`` when
  that finds no environment.
- with no toolchain set, a ``uv.lock`` or ``poetry.lock`` above the program picks uv or
  poetry, as ResolveToolchain's Auto case does.

What envkit adds: it says on stderr what it does; pip keeps its own cache (nothing here
turns it off); and an environment envkit created carries a stamp with the hash of the
requirement files it was made from, so it is reused while they are unchanged and brought
up to date (the same install again) when they change. An environment someone else made is
used as it is, as Pulumi uses it. ``install=False`` (``--no-install``) refuses instead of
installing. A failed install ends with one line naming the requirement and the reason.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import PrerequisiteError, SpecError, SpecIssue

#: How long one installing command may take.
INSTALL_TIMEOUT = 1200.0
STAMP = ".envkit-requirements.sha256"
#: The files that decide what an environment holds, by toolchain.
REQUIREMENT_FILES = ("requirements.txt", "pyproject.toml", "uv.lock", "poetry.lock")
_TAIL = 64 * 1024
_BIN = "Scripts" if os.name == "nt" else "bin"
_EXE = "python.exe" if os.name == "nt" else "python"


@dataclass
class PreparedEnv:
    """The interpreter a program runs with, and how to name it in messages."""

    python: str
    interpreter: str
    toolchain: str


Say = Callable[[str], None]


def _stderr(message: str) -> None:
    print(f"envkit: {message}", file=sys.stderr, flush=True)


def resolve_toolchain(options: dict[str, Any], root: Path, pwd: Path) -> str:
    """pip, poetry or uv, as ResolveToolchain decides (toolchain.go:140): the option when
    set, else uv for a uv.lock, poetry for a poetry.lock, else pip."""
    chosen = options.get("toolchain")
    if chosen:
        return str(chosen)
    for lock, name in (("uv.lock", "uv"), ("poetry.lock", "poetry")):
        if _search_up(pwd, root, lock) is not None:
            return name
    return "pip"


def _search_up(start: Path, root: Path, name: str) -> Path | None:
    """The folder holding ``name`` from ``start`` up to the project's root (upstream
    searches to the file system's root; the gate stays inside the project)."""
    here = start
    while True:
        if (here / name).is_file():
            return here
        if here == root or here.parent == here:
            return None
        here = here.parent


def is_virtualenv(path: Path) -> bool:
    """A folder with a python binary (pip.go IsVirtualEnv)."""
    return (path / _BIN / _EXE).is_file()


def requirements_hash(folders: list[Path], python: str) -> str:
    """The hash of the requirement files (and the base interpreter) an environment is made
    from; an environment whose stamp holds another hash is out of date."""
    digest = hashlib.sha256(f"python={python}\n".encode())
    for folder in dict.fromkeys(folders):
        for name in REQUIREMENT_FILES:
            path = folder / name
            if path.is_file():
                digest.update(f"{path}\n".encode())
                digest.update(_head(path, 4 * 1024 * 1024))
    return digest.hexdigest()


def prepare(root: Path, pwd: Path, options: dict[str, Any], *, install: bool = True,
            say: Say | None = None, where: str = "") -> PreparedEnv | None:
    """Make sure the project's environment exists, as ``pulumi install`` would.

    Returns None when the project runs on the ambient Python (pip with no ``virtualenv``
    option): the caller then looks for ``venv/`` or ``.venv/`` as before."""
    say = say or _stderr
    toolchain = resolve_toolchain(options, root, pwd)
    if toolchain not in ("pip", "poetry", "uv"):
        raise SpecError(SpecIssue("runtime.options.toolchain",
                                  f"unsupported toolchain '{str(toolchain)[:100]}' (pip, poetry "
                                  "or uv, as Pulumi supports)", file=where))
    named = options.get("virtualenv")
    if named is not None and (not isinstance(named, str) or not named):
        raise SpecError(SpecIssue("runtime.options.virtualenv",
                                  "virtualenv is a folder name", file=where))
    if toolchain == "pip" and not named:
        return None
    with _project_lock(root):
        if toolchain == "poetry":
            return _poetry(root, pwd, install, say, where)
        venv = _venv_path(root, pwd, named, toolchain)
        return _venv(root, pwd, venv, named, toolchain, install, say, where)


#: Requirement lines read when deciding whether envkit's own Python can run a program.
_MAX_LINES = 2000


def _head(path: Path, limit: int) -> bytes:
    """At most ``limit`` bytes of a file (a huge requirements file is not read whole)."""
    with open(path, "rb") as handle:
        return handle.read(limit)


def _requirement_lines(requirements: Path) -> list[str] | None:
    """The non-empty lines of a requirements file without their comments (the first MiB,
    at most _MAX_LINES of them); None when it cannot be read."""
    try:
        text = _head(requirements, 1024 * 1024).decode("utf-8", errors="replace")
    except OSError:
        return None
    lines = (re.split(r"(^|\s)#", raw, maxsplit=1)[0].strip()
             for raw in text.splitlines()[:_MAX_LINES])
    return [line for line in lines if line]


def unmet_requirements(requirements: Path | list[str] | None) -> list[str] | None:
    """The lines of ``requirements`` (a file, or its lines as :func:`_requirement_lines`
    reads them) that envkit's own interpreter does not satisfy (installed distributions
    against each specifier, markers evaluated); None when the
    file holds a line this cannot judge (an option such as ``-r`` or ``--index-url``, a
    URL, extras, an unreadable line), so an environment is needed to know."""
    from importlib import metadata

    from packaging.requirements import InvalidRequirement, Requirement

    lines = _requirement_lines(requirements) if isinstance(requirements, Path) \
        else requirements
    if lines is None:
        return None
    unmet: list[str] = []
    for line in lines:
        if line.startswith("-"):
            return None
        try:
            req = Requirement(line)
        except InvalidRequirement:
            return None
        if req.url or req.extras:  # an extra's own requirements are not checked here
            return None
        if req.marker is not None and not req.marker.evaluate():
            continue
        try:
            version = metadata.version(req.name)
        except metadata.PackageNotFoundError:
            unmet.append(line[:200])
            continue
        if not req.specifier.contains(version, prereleases=True):
            unmet.append(line[:200])
    return unmet


def _pins_pulumi_before_3(requirements: Path | list[str]) -> str | None:
    """The ``pulumi`` requirement line when one of its clauses rules out every 3.x release
    (``<3``, ``<=2.25``, ``==2.*``, ``~=2.0``)."""
    from packaging.requirements import InvalidRequirement, Requirement
    from packaging.version import InvalidVersion, Version

    def before_3(operator: str, version: str) -> bool:
        try:
            bound = Version(version.removesuffix(".*"))
        except InvalidVersion:
            return False
        if operator == "<":
            return bound <= Version("3")
        if operator == "<=":
            return bound < Version("3")
        return operator in ("==", "===", "~=") and bound.major < 3

    lines = _requirement_lines(requirements) if isinstance(requirements, Path) \
        else requirements
    for line in lines or []:
        try:
            req = Requirement(line)
        except InvalidRequirement:
            continue
        if req.name.lower() == "pulumi" and any(before_3(s.operator, s.version)
                                                for s in req.specifier):
            return line[:100]
    return None


def private_env(root: Path, pwd: Path, *, install: bool = True, say: Say | None = None,
                where: str = "", notes: list[str] | None = None) -> PreparedEnv | None:
    """For a pip project without a ``virtualenv`` option, ``venv/`` or ``.venv/``: None
    when envkit's own Python satisfies its requirements.txt (or it has none, or
    ``install`` is False); otherwise a private environment made from requirements.txt in
    envkit's cache, keyed by the hash of the requirement files and reused while they are
    unchanged.

    Pulumi runs such a project on the ambient Python, and ``pulumi install`` installs the
    requirements into it (sdk/python/toolchain/pip.go InstallDependencies with an empty
    venvDir). The gate leaves envkit's own interpreter alone (installing a project's pins
    there would change envkit's pulumi-aws), so the program runs on what it pins all the
    same."""
    say = say or _stderr
    req = root / "requirements.txt"
    if not install or not req.is_file():
        return None
    lines = _requirement_lines(req)  # read once for both questions
    unmet = unmet_requirements(lines)
    if unmet == []:
        return None
    old_sdk = _pins_pulumi_before_3(lines or [])
    if old_sdk:
        # pulumi 2.x SDKs pin protobuf and grpcio releases that no longer import on the
        # Pythons Pulumi 3 supports; a private environment would only fail at its import.
        if notes is not None:
            notes.append(f"requirements.txt pins {old_sdk}, an SDK that no longer runs on "
                         "current Pythons; the program ran on envkit's Python instead "
                         "(pulumi 3.x), without the project's other pins")
        return None
    from .. import home

    base = _base_python()
    wanted = requirements_hash([root, pwd], os.path.realpath(base))
    venv = home.subdir("cache", "gate-envs") / wanted[:20]
    python = venv / _BIN / _EXE
    label = f"a private environment made from the project's requirements.txt ({venv})"
    with home.locked(f"gate-env-{wanted[:20]}"):
        stamp = venv / STAMP
        if is_virtualenv(venv) and stamp.is_file() and \
                stamp.read_text(errors="replace").strip() == wanted:
            say(f"reusing {venv} (made from this project's requirements.txt)")
            return PreparedEnv(str(python), label, "pip")
        lacks = (f"envkit's Python lacks {unmet[0]}" + (
            f" and {len(unmet) - 1} more" if len(unmet) > 1 else "")) if unmet else \
            "requirements.txt has lines envkit's Python cannot be checked against"
        say(f"the project names no virtualenv and {lacks}: preparing a private environment "
            f"in {venv} (`pulumi install` would install into the ambient Python; envkit's "
            "own is left as it is)")
        if venv.exists():
            shutil.rmtree(venv, ignore_errors=True)  # out of date or half made: made again
        try:
            _run([base, "-m", "venv", str(venv)], root, None, "creating the virtualenv",
                 where)
            _install(root, pwd, venv, "pip", base, say, where)
        except BaseException:
            shutil.rmtree(venv, ignore_errors=True)
            raise
        _write_stamp(venv, wanted)
    return PreparedEnv(str(python), label, "pip")


def _venv_path(root: Path, pwd: Path, named: str | None, toolchain: str) -> Path:
    if named:
        return Path(named) if Path(named).is_absolute() else root / named
    # uv without a virtualenv option (uv.go newUv): .venv next to uv.lock, else next to
    # pyproject.toml, else in the project's root.
    base = _search_up(pwd, root, "uv.lock") or _search_up(pwd, root, "pyproject.toml") or root
    env = os.environ.get("UV_PROJECT_ENVIRONMENT")
    if env:
        return Path(env) if Path(env).is_absolute() else base / env
    return base / ".venv"


@contextlib.contextmanager
def _project_lock(root: Path):
    """One installer per project at a time (two gates on one checkout wait for each other)."""
    fd = os.open(root, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _inside(path: Path, root: Path) -> bool:
    real = Path(os.path.realpath(path))
    return real == root or root in real.parents


def _venv(root: Path, pwd: Path, venv: Path, named: str | None, toolchain: str,
          install: bool, say: Say, where: str) -> PreparedEnv:
    python = venv / _BIN / _EXE
    label = f"the project's virtualenv ({venv})"
    what = f"Pulumi.yaml names the virtualenv {named}" if named else \
        f"toolchain {toolchain} keeps the project's environment in {venv}"
    base = _base_python() if toolchain == "pip" else _tool("uv", where)
    wanted = requirements_hash([root, pwd], os.path.realpath(base))
    if is_virtualenv(venv):
        stamp = venv / STAMP
        if not stamp.is_file():
            return PreparedEnv(str(python), label, toolchain)  # someone else's: as it is
        if stamp.read_text(errors="replace").strip() == wanted:
            say(f"reusing {venv} (its requirement files have not changed)")
            return PreparedEnv(str(python), label, toolchain)
        if not install:
            raise SpecError(SpecIssue("runtime.options.virtualenv",
                                      f"the requirement files changed since envkit made {venv}, "
                                      "and --no-install forbids updating it; run `pulumi install` "
                                      "or drop --no-install", file=where))
        say(f"the requirement files changed since envkit made {venv}: installing them again")
        stamp.unlink()
        _install(root, pwd, venv, toolchain, base, say, where)
        _write_stamp(venv, wanted)
        return PreparedEnv(str(python), label, toolchain)
    if venv.exists() and not venv.is_dir():
        raise SpecError(SpecIssue("runtime.options.virtualenv",
                                  f"{venv} is not a folder", file=where))
    if venv.is_dir() and any(venv.iterdir()):
        raise SpecError(SpecIssue("runtime.options.virtualenv",
                                  f"{venv} is not a virtualenv (no {_BIN}/{_EXE}) and is not "
                                  "empty; remove it or run `pulumi install`", file=where))
    if not install:
        raise SpecError(SpecIssue("runtime.options.virtualenv",
                                  f"{what}, which does not exist, and --no-install forbids "
                                  "creating it; run `pulumi install` first or drop --no-install",
                                  file=where))
    if not _inside(venv.parent, root):
        raise SpecError(SpecIssue("runtime.options.virtualenv",
                                  f"{venv} is outside the project folder {root}; the gate "
                                  "creates environments only inside the project (create it "
                                  "with `pulumi install`)", file=where))
    created = not venv.exists()
    try:
        if toolchain == "pip":
            say(f"{what}, which does not exist: creating it with {base} -m venv "
                "(as `pulumi install` does)")
            _run([base, "-m", "venv", str(venv)], root, None, "creating the virtualenv",
                 where)
        _install(root, pwd, venv, toolchain, base, say, where)
    except BaseException:
        if created and venv.is_dir():
            shutil.rmtree(venv, ignore_errors=True)  # ours, half made: never reused
        raise
    _write_stamp(venv, wanted)
    return PreparedEnv(str(python), label, toolchain)


def _install(root: Path, pwd: Path, venv: Path, toolchain: str, base: str, say: Say,
             where: str) -> None:
    python = venv / _BIN / _EXE
    if toolchain == "pip":
        req = root / "requirements.txt"
        if not req.is_file():
            say("no requirements.txt: the virtualenv stays empty (as with `pulumi install`)")
            return
        say(f"installing {req} into {venv} (python -m pip install -r requirements.txt; "
            "pip's cache is used)")
        _run([str(python), "-m", "pip", "install", "-r", "requirements.txt"], root,
             _activated(venv), "installing requirements.txt", where, req)
        return
    env = dict(os.environ, UV_PROJECT_ENVIRONMENT=str(venv))
    project = _search_up(pwd, root, "pyproject.toml")
    if project is not None and re.search(r"(?m)^\[project\]",
                                         (project / "pyproject.toml").read_text(errors="replace")):
        say(f"installing {project / 'pyproject.toml'} into {venv} with uv sync")
        _run([base, "sync"], project, env, "uv sync", where, project / "pyproject.toml")
        return
    req = root / "requirements.txt"
    say(f"creating {venv} with uv venv")
    _run([base, "venv", "--quiet", "--allow-existing", str(venv)], root, env,
         "creating the virtualenv", where)
    if req.is_file():
        say(f"installing {req} into {venv} with uv pip install -r requirements.txt")
        _run([base, "pip", "install", "--python", str(python), "-r", "requirements.txt"],
             root, env, "installing requirements.txt", where, req)


def _poetry(root: Path, pwd: Path, install: bool, say: Say, where: str) -> PreparedEnv:
    poetry = _tool("poetry", where)
    found = _poetry_env(poetry, pwd)
    if found is None:
        if not install:
            raise SpecError(SpecIssue("runtime.options.toolchain",
                                      "poetry has no environment for this project, and "
                                      "--no-install forbids creating one; run `pulumi install` "
                                      "first or drop --no-install", file=where))
        say("poetry has no environment for this project: poetry install --no-ansi "
            "(as `pulumi install` does)")
        _run([poetry, "install", "--no-ansi"], pwd, None, "poetry install", where,
             pwd / "pyproject.toml")
        found = _poetry_env(poetry, pwd)
        if found is None:
            raise SpecError(SpecIssue("runtime.options.toolchain", "poetry install made no "
                                      "environment for this project", file=where))
    return PreparedEnv(str(found / _BIN / _EXE), f"the project's poetry environment ({found})",
                       "poetry")


def _poetry_env(poetry: str, pwd: Path) -> Path | None:
    try:
        done = subprocess.run([poetry, "env", "info", "--path"], cwd=pwd, capture_output=True,
                              text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return None
    path = Path(done.stdout.strip()) if done.returncode == 0 and done.stdout.strip() else None
    return path if path is not None and is_virtualenv(path) else None


def _tool(name: str, where: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise PrerequisiteError(f"{where}: toolchain {name} needs the `{name}` executable on "
                                f"PATH (as `pulumi install` does); install {name}")
    return found


def _base_python() -> str:
    """The interpreter that creates a virtualenv (pip.go CommandPath): PULUMI_PYTHON_CMD,
    else python3, else python on PATH; envkit's own when none is there."""
    names = [os.environ["PULUMI_PYTHON_CMD"]] if os.environ.get("PULUMI_PYTHON_CMD") \
        else ["python3", "python"]
    for name in names:
        found = shutil.which(name)
        if found:
            return found
    return sys.executable


def _activated(venv: Path) -> dict[str, str]:
    """The environment with the virtualenv activated (toolchain.go ActivateVirtualEnv)."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONHOME"}
    env["VIRTUAL_ENV"] = str(venv)
    env["PATH"] = os.pathsep.join([str(venv / _BIN), env.get("PATH", "")])
    return env


def _write_stamp(venv: Path, wanted: str) -> None:
    tmp = venv / f"{STAMP}.tmp"
    tmp.write_text(wanted + "\n")
    os.replace(tmp, venv / STAMP)


def _run(argv: list[str], cwd: Path, env: dict[str, str] | None, doing: str, where: str,
         requirements: Path | None = None) -> None:
    """Run one installing command in a session of its own, bounded in time; a failure is
    one line naming the requirement and the reason (exit 2)."""
    from .spawn import run_bounded

    try:
        code, output = run_bounded(argv, cwd, env, INSTALL_TIMEOUT)
    except OSError as exc:
        raise PrerequisiteError(f"{where}: cannot start {argv[0]} ({doing}): "
                                f"{exc.strerror}") from None
    except subprocess.TimeoutExpired:
        raise SpecError(SpecIssue("", f"{doing} took longer than {INSTALL_TIMEOUT:g} s "
                                  "and was stopped", file=str(requirements or where))
                        ) from None
    if code == 0:
        return
    text = output[-_TAIL:].decode("utf-8", "replace")
    raise SpecError(SpecIssue("", install_failure(text, doing),
                              file=str(requirements or where),
                              line=_requirement_line(requirements, text)))


_NO_VERSION = re.compile(r"Could not find a version that satisfies the requirement (\S+)"
                         r"(?: \(from versions: ([^)]*)\))?")
_NO_DIST = re.compile(r"No matching distribution found for (\S+)")
_UNREACHABLE = re.compile(r"NewConnectionError|Failed to establish a new connection|"
                          r"Name or service not known|Temporary failure in name resolution|"
                          r"Network is unreachable|ConnectTimeoutError|ProxyError|"
                          r"Connection refused|Max retries exceeded|Failed to fetch|"
                          r"error sending request", re.I)
_HOST = re.compile(r"host='([^']+)'|https?://([^/\s'\"]+)")
_CONFLICT = re.compile(r"Cannot install (.+?) because these package versions have "
                       r"conflicting dependencies|ResolutionImpossible|No solution found")
_BUILD = re.compile(r"Failed (?:to )?build(?:ing wheel for)? ([\w.\-]+)")
_INVALID = re.compile(r"Invalid requirement: '?([^'\n]+)'?")


def install_failure(output: str, doing: str) -> str:
    """One line for a failed install: the requirement and the reason, from pip's (or uv's)
    own words."""
    from .program import inert

    def clip(value: str, limit: int = 200) -> str:
        value = inert(value.strip())
        return value if len(value) <= limit else value[:limit] + "..."

    requirement = None
    for pattern in (_NO_VERSION, _NO_DIST):
        match = pattern.search(output)
        if match:
            requirement = match.group(1)
            break
    if _UNREACHABLE.search(output):
        host = _HOST.search(output)
        at = f" ({host.group(1) or host.group(2)})" if host else ""
        who = f"'{clip(requirement)}'" if requirement else "the requirements"
        return f"{doing} failed: the package index{at} is unreachable, so {who} could not be " \
               "installed"
    match = _NO_VERSION.search(output)
    if match:
        versions = (match.group(2) or "").strip()
        have = f" (the index has: {clip(versions, 120)})" if versions and versions != "none" \
            else " (the index has no release of it)"
        return f"{doing} failed: no release satisfies '{clip(match.group(1))}'{have}"
    match = _NO_DIST.search(output)
    if match:
        return f"{doing} failed: no release satisfies '{clip(match.group(1))}'"
    match = _INVALID.search(output)
    if match:
        return f"{doing} failed: '{clip(match.group(1))}' is not a valid requirement"
    match = _CONFLICT.search(output)
    if match:
        who = f" ({clip(match.group(1))})" if match.lastindex else ""
        return f"{doing} failed: the requirements conflict{who}"
    match = _BUILD.search(output)
    if match:
        return f"{doing} failed: '{clip(match.group(1))}' could not be built"
    errors = [line for line in output.splitlines()
              if line.strip().lower().startswith(("error", "\u00d7", "because"))]
    last = errors[-1] if errors else (output.strip().splitlines() or ["no output"])[-1]
    return f"{doing} failed: {clip(last)}"


def _requirement_line(requirements: Path | None, output: str) -> int | None:
    """The line of requirements.txt naming the requirement that failed, if it is one."""
    if requirements is None or requirements.name != "requirements.txt":
        return None
    match = _NO_VERSION.search(output) or _NO_DIST.search(output) or _INVALID.search(output)
    if not match:
        return None
    wanted = re.split(r"[<>=!~;\[ ]", match.group(1), maxsplit=1)[0].lower().replace("_", "-")
    try:
        lines = requirements.read_text(errors="replace").splitlines()[:10_000]
    except OSError:
        return None
    for number, line in enumerate(lines, 1):
        name = re.split(r"[<>=!~;\[ ]", line.strip(), maxsplit=1)[0].lower().replace("_", "-")
        if name and name == wanted:
            return number
    return None
