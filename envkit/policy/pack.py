"""The CrossGuard pack as the Pulumi engine runs it: the shipped files, written into
ENVKIT_HOME with a runtime that names the interpreter envkit runs in.

Why a copy: the Pulumi CLI runs a Python pack through its language host with the pack's
``runtime.options`` (``PulumiPolicy.yaml``): ``virtualenv`` is the environment whose
``bin/python`` runs ``python -m pulumi.policy <pack>`` (relative paths resolve against the
pack folder, absolute ones are used as they are); without it, ``PULUMI_PYTHON_CMD`` or
``python3`` on PATH runs it. The pack imports :mod:`envkit.policy.rules`, so it must run
under an interpreter that has envkit, which only the running process knows. The shipped
``PulumiPolicy.yaml`` names the repository's ``.venv`` (for ``pulumi preview --policy-pack
policies`` from a checkout); the copy names ``sys.prefix`` when envkit runs in a virtual
environment (a venv, pipx, the Jupyter kernel's venv) and otherwise a folder whose
``bin/python`` links to ``sys.executable``.
"""

from __future__ import annotations

import hashlib
import os
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from ..errors import PrerequisiteError, SpecError, SpecIssue

#: Where the copies live, one folder per envkit version and interpreter.
PACKS_DIR = "policy-packs"


class PackUnavailable(PrerequisiteError):
    """The shipped policy pack cannot be found or written for the engine."""


def runtime_options(pack_dir: Path) -> dict[str, str]:
    """The ``runtime.options`` that make Pulumi run the pack with this interpreter."""
    if sys.prefix != sys.base_prefix:  # a virtual environment: its bin/python is this one
        return {"toolchain": "pip", "virtualenv": sys.prefix}
    # Not a virtual environment (a system or user install): sys.prefix/bin/python may not
    # exist (Debian ships only python3), so the pack gets a folder whose bin/python links to
    # this interpreter. Started through a link with no pyvenv.cfg beside it, Python finds its
    # standard library from the link's target, so it is this installation.
    shim = pack_dir / "python"
    link = shim / ("Scripts" if os.name == "nt" else "bin") / \
        ("python.exe" if os.name == "nt" else "python")
    if not (link.is_symlink() and os.readlink(link) == sys.executable):
        link.parent.mkdir(parents=True, exist_ok=True)
        fresh = link.with_name(f".{link.name}.{os.getpid()}")
        fresh.unlink(missing_ok=True)
        fresh.symlink_to(sys.executable)
        os.replace(fresh, link)  # atomic: a concurrent envkit sees the old link or the new
    return {"toolchain": "pip", "virtualenv": str(shim)}


def _settings(source: str, options: dict[str, str]) -> str:
    """The shipped PulumiPolicy.yaml with its runtime options replaced."""
    import io

    from ruamel.yaml import YAML

    yaml = YAML()
    yaml.width = 4096
    data = yaml.load(source)
    runtime = data.get("runtime")
    name = runtime.get("name") if isinstance(runtime, dict) else runtime
    data["runtime"] = {"name": name or "python", "options": dict(options)}
    out = io.StringIO()
    out.write("# Written by envkit for the interpreter it runs in; rewritten as needed.\n")
    yaml.dump(data, out)
    return out.getvalue()


def _write(path: Path, text: str) -> None:
    """Replace a file atomically when its content differs (concurrent writers agree)."""
    if path.is_file() and not path.is_symlink() and path.read_text() == text:
        return
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def engine_pack() -> Path:
    """The policy pack folder to hand to the engine, written (or refreshed) in
    ``ENVKIT_HOME/policy-packs/<version>-<interpreter>/``. Raises :class:`PackUnavailable`
    with the reason when the shipped pack is missing or the folder cannot be written."""
    from .. import __version__, home, shipped

    source = shipped.policy_pack()
    try:
        texts = {name: source.joinpath(name).read_text() for name in shipped.POLICY_PACK_FILES}
    except OSError as exc:
        raise PackUnavailable(f"the envkit policy pack is not in this installation ({exc})"
                              ) from None
    interpreter = hashlib.sha256(sys.executable.encode()).hexdigest()[:10]
    try:
        folder = home.subdir(PACKS_DIR, f"{__version__}-{interpreter}")
        options = runtime_options(folder)
        texts["PulumiPolicy.yaml"] = _settings(texts["PulumiPolicy.yaml"], options)
        # `pulumi install` reads requirements.txt: the copy needs envkit itself, which the
        # interpreter named above already has.
        texts["requirements.txt"] = f"envkit=={__version__}\n"
        for name, text in texts.items():
            _write(folder / name, text)
    except OSError as exc:
        raise PackUnavailable(f"cannot write the envkit policy pack for the engine: {exc}"
                              ) from None
    return folder


def engine_packs(explicit: list[str] | None, enabled: bool = True,
                 warn: Callable[[str], None] | None = None) -> list[str]:
    """The policy pack folders for ``preview``/``up``: the ones given explicitly (each must be
    a folder with a PulumiPolicy.yaml, else :class:`SpecError`), else envkit's own pack
    (when it cannot be prepared, ``warn`` says so and the engine runs without it)."""
    if not enabled:
        return []
    if explicit:
        from .. import shipped

        ours = Path(str(shipped.policy_pack())).resolve()
        folders = []
        for given in explicit:
            path = Path(given).expanduser().resolve()
            if not (path / "PulumiPolicy.yaml").is_file():
                raise SpecError(SpecIssue("", "not a policy pack folder (no PulumiPolicy.yaml)",
                                          file=given))
            # envkit's own pack (policies/ in a checkout, or the installed copy) names the
            # repository's .venv; the engine gets the copy made for this interpreter instead.
            folders.append(str(engine_pack() if path == ours else path))
        return folders
    try:
        return [str(engine_pack())]
    except PackUnavailable as exc:
        if warn is not None:
            warn(f"warning: {exc}; the engine runs without envkit's policy pack")
        return []
