"""The suite never touches the user's home: a representative slice runs in a child pytest
whose HOME is a read-only folder, and that folder is unchanged afterwards."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

from .conftest import ROOT

#: Spec, plan, CLI subprocesses, the engine behind stand-ins, and a real envkit kernel
#: (module-scoped fixture) running a shipped notebook through nbclient.
SLICE = [
    "tests/test_spec.py",
    "tests/test_plan.py",
    "tests/test_cli.py",
    "tests/test_engine.py",
    "tests/test_notebook.py::test_kernel_banner_says_target_and_cli",
    "tests/test_notebook.py::test_notebook_runs_top_to_bottom[03-policy-gate.ipynb]",
]

#: What conftest must set by itself (the child starts without them).
REDIRECTED = ("ENVKIT_HOME", "JUPYTER_CONFIG_DIR", "JUPYTER_DATA_DIR", "JUPYTER_RUNTIME_DIR",
              "JUPYTER_PATH", "IPYTHONDIR", "XDG_CONFIG_HOME", "XDG_DATA_HOME",
              "XDG_CACHE_HOME", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE")


def _snapshot(folder: Path) -> dict[str, tuple]:
    """Every entry under folder with its type, mode, size and modification time."""
    seen = {}
    for base, dirs, files in os.walk(folder):
        for name in [*dirs, *files]:
            path = Path(base, name)
            st = path.lstat()
            seen[str(path.relative_to(folder))] = (stat.S_IFMT(st.st_mode), st.st_mode,
                                                   st.st_size, st.st_mtime_ns)
    st = folder.lstat()
    seen["."] = (st.st_mode, st.st_mtime_ns)
    return seen


def test_suite_leaves_a_read_only_home_untouched(tmp_path):
    home = tmp_path / "home"
    (home / ".envkit").mkdir(parents=True)
    (home / ".bashrc").write_text("# the user's own file\n")
    (home / ".envkit" / "environments.json").write_text('{"mine": {"target": "aws"}}\n')
    for folder in (home / ".envkit", home):
        folder.chmod(0o500)
    before = _snapshot(home)
    env = {k: v for k, v in os.environ.items() if k not in REDIRECTED}
    env["HOME"] = str(home)
    try:
        done = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-x", *SLICE],
            cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    finally:
        after = _snapshot(home)
        for folder in (home, home / ".envkit"):
            folder.chmod(0o700)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert " passed" in done.stdout.splitlines()[-1]
    assert after == before, sorted(set(after.items()) ^ set(before.items()))
