"""Build hook (all other metadata is in pyproject.toml).

Distributions are built from what is committed. In a git checkout, the sdist's files and a
wheel's package files are the ones at HEAD: a file changed since is shipped as committed,
an untracked one is left out, and the build says which (an editable install, which builds
nothing to ship, is left alone). Outside a checkout (a wheel built from the sdist) the files
are already the committed ones.

The lab notebooks ship without outputs: opening the checkout's notebooks/ in JupyterLab
autosaves outputs into the working copy; whatever is there, the wheel gets each code cell's
outputs and execution count cleared.
"""

import json
import subprocess
import sys
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py
from setuptools.command.sdist import sdist

ROOT = Path(__file__).resolve().parent


def strip_outputs(path: Path) -> None:
    """Clear the outputs and execution counts of a notebook file, in place."""
    notebook = json.loads(path.read_text(encoding="utf-8"))
    for cell in notebook.get("cells", []):
        if cell.get("cell_type") == "code":
            cell["outputs"] = []
            cell["execution_count"] = None
    path.write_text(json.dumps(notebook, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


def _git(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["git", "-C", str(ROOT), *args], capture_output=True, timeout=60)


def _in_checkout() -> bool:
    try:
        done = _git("rev-parse", "--show-toplevel")
    except (OSError, subprocess.SubprocessError):
        return False
    return done.returncode == 0 and Path(done.stdout.decode().strip()).resolve() == ROOT


def as_committed(built: Path, source: Path) -> str | None:
    """Make ``built`` (a copy of ``source``) hold ``source`` as committed at HEAD: rewritten
    when it changed, removed when it is not tracked. Returns what was done, or None."""
    try:
        relative = source.resolve().relative_to(ROOT).as_posix()  # envkit/labs -> labs
    except ValueError:
        return None
    done = _git("cat-file", "blob", f"HEAD:{relative}")
    if done.returncode != 0:
        built.unlink()
        return f"left out (not committed): {relative}"
    if built.read_bytes() != done.stdout:
        built.unlink()  # it may be a hard link to the working copy (sdist links files)
        built.write_bytes(done.stdout)
        return f"shipped as committed (changed since): {relative}"
    return None


def _report(changes: list) -> None:
    """One line per changed file; files left out counted, the first few named."""
    changes = [c for c in changes if c]
    left_out = [c for c in changes if c.startswith("left out")]
    for change in [c for c in changes if c not in left_out] + left_out[:5]:
        print(f"envkit build: {change}", file=sys.stderr)
    if len(left_out) > 5:
        print(f"envkit build: ... {len(left_out) - 5} more files left out (not committed)",
              file=sys.stderr)


class BuildPy(build_py):
    """build_py from the committed files, then the shipped notebooks without outputs."""

    def run(self) -> None:
        super().run()
        package = Path(self.build_lib, "envkit")
        if not getattr(self, "editable_mode", False) and _in_checkout():
            _report([as_committed(built, ROOT / "envkit" / built.relative_to(package))
                     for built in sorted(package.rglob("*")) if built.is_file()
                     and "__pycache__" not in built.parts])
        for path in package.joinpath("notebooks").glob("*.ipynb"):
            strip_outputs(path)


class Sdist(sdist):
    """An sdist of the committed files (a wheel built from it then is too)."""

    def make_release_tree(self, base_dir: str, files: list) -> None:
        super().make_release_tree(base_dir, files)
        if _in_checkout():
            _report([as_committed(Path(base_dir, name), ROOT / name) for name in files
                     if Path(base_dir, name).is_file() and not name.endswith(
                         ("PKG-INFO", "setup.cfg", "SOURCES.txt"))
                     and ".egg-info" not in name])


setup(cmdclass={"build_py": BuildPy, "sdist": Sdist})
