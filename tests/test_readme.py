"""README and docs/ show what the program prints.

Every ```console block that README.md or a docs/*.md file marks with ``<!-- output checked
by tests/test_readme.py -->`` on the line before it is run here: each ``$ envkit ...`` line
is run from the repository root (a fresh ENVKIT_HOME, output to a pipe), and the lines
under it must appear in the output in the same order. A line that is just ``...`` stands
for any number of lines; ``...`` inside a line stands for any text. Lines may not be
reworded, so the tour cannot drift from the program. A block marked ``... where the Pulumi
CLI is missing`` shows the offline ending and is checked where the CLI is missing (where it
is installed the command would deploy, so it is skipped and says why).

README's "Two commands" are checked too: `.ci/run` reads them from README and runs them.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import ROOT

MARK = "<!-- output checked by tests/test_readme.py -->"
MARK_OFFLINE = "<!-- output checked by tests/test_readme.py where the Pulumi CLI is missing -->"
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def _blocks(path: Path) -> list[tuple[int, bool, list[str]]]:
    lines = path.read_text().splitlines()
    found = []
    for i, line in enumerate(lines):
        if line.strip() in (MARK, MARK_OFFLINE):
            assert lines[i + 1].startswith("```console"), \
                f"{path.name}:{i + 2}: not a console block"
            end = lines.index("```", i + 2)
            found.append((i + 3, line.strip() == MARK_OFFLINE, lines[i + 2:end]))
    return found


def _examples() -> list[tuple[str, bool, str, list[str]]]:
    examples = []
    for path in DOCUMENTS:
        where = path.relative_to(ROOT)
        for first_line, offline, body in _blocks(path):
            current: list[str] | None = None
            for offset, line in enumerate(body):
                if line.startswith("$ "):
                    current = []
                    examples.append((f"{where}:{first_line + offset}", offline, line[2:],
                                     current))
                elif current is not None:
                    current.append(line)
    return examples


def _matches(expected: list[str], actual: list[str]) -> str | None:
    """None when ``expected`` (with ``...`` elisions) appears in ``actual``; else why not."""
    position = 0
    skipping = False
    for want in expected:
        if want.strip() == "...":
            skipping = True
            continue
        pattern = re.compile(".*".join(re.escape(part) for part in want.rstrip().split("...")))
        while position < len(actual) and not pattern.fullmatch(actual[position].rstrip()):
            if not skipping:
                return f"expected {want!r}, got {actual[position]!r}"
            position += 1
        if position == len(actual):
            return f"expected {want!r}: not in the output (or not in this order)"
        position += 1
        skipping = False
    return None


EXAMPLES = _examples()


def test_readme_checks_the_tour():
    readme = [command for where, _, command, _ in EXAMPLES if where.startswith("README")]
    for start in ("envkit plan", "envkit validate", "envkit policy check", "envkit status",
                  "envkit class plan", "envkit up --yes"):
        assert any(c.startswith(start) for c in readme), start


#: docs/ files other work streams write; README links them already.
OTHERS_DOCS = {"gate-projects.md", "classroom-isolation.md", "classroom-leases.md",
               "engine.md", "ci-classes.md"}


def test_readme_is_a_front_door():
    """README stays short; the reference lives in docs/ and every local link resolves."""
    assert len((ROOT / "README.md").read_text().splitlines()) <= 300
    for document in DOCUMENTS:
        for target in re.findall(r"\]\(([^)#:]+)(?:#[^)]*)?\)", document.read_text()):
            linked = document.parent / target
            if not linked.exists() and linked.name in OTHERS_DOCS:
                continue  # written by another change; checked here once it lands
            assert linked.exists(), f"{document.name}: the link to {target} leads nowhere"


def test_readme_two_commands_are_the_ones_ci_runs():
    text = (ROOT / "README.md").read_text()
    block = text.split("## Two commands", 1)[1].split("```bash", 1)[1].split("```", 1)[0]
    commands = [line for line in block.splitlines() if line.strip() and
                not line.startswith("#")]
    assert commands == [
        "python3 -m venv .venv && . .venv/bin/activate && pip install -e '.[dev]' && "
        "envkit up --yes labs/aws-basics.yaml",
        "python -m pytest -q"]
    ci = (ROOT / ".ci" / "run").read_text()
    assert "## Two commands" in ci and 'eval "${COMMANDS[0]}"' in ci
    assert 'eval "${COMMANDS[1]}"' in ci


@pytest.mark.parametrize("where,offline,command,expected", EXAMPLES,
                         ids=[w for w, _, _, _ in EXAMPLES])
def test_readme_snippet_is_what_the_program_prints(where, offline, command, expected,
                                                   tmp_path):
    if offline:
        from envkit.engine import find_pulumi

        if find_pulumi() is not None:
            pytest.skip(f"{where}: shows the ending without the Pulumi CLI, which is "
                        "installed here (the command would deploy)")
    argv = shlex.split(command)
    assert argv[0] == "envkit", f"{where}: only envkit commands are checked"
    env = {k: v for k, v in os.environ.items() if k != "COLUMNS"}
    env["ENVKIT_HOME"] = str(tmp_path / "envkit-home")
    done = subprocess.run([sys.executable, "-m", "envkit.cli", *argv[1:]], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)
    output = (done.stdout + done.stderr).splitlines()
    problem = _matches(expected, output)
    assert problem is None, f"{where}: `{command}`: {problem}\n--- output:\n" + \
        "\n".join(output)


def _python_blocks(path: Path) -> list[tuple[int, str]]:
    lines = path.read_text().splitlines()
    return [(i + 2, "\n".join(lines[i + 1:lines.index("```", i + 1)]))
            for i, line in enumerate(lines) if line == "```python"]


@pytest.mark.parametrize("first_line,code", _python_blocks(ROOT / "README.md"),
                         ids=lambda v: f"README.md:{v}" if isinstance(v, int) else "")
def test_readme_python_prints_what_its_comments_say(first_line, code, tmp_path):
    """Each ``print(...)  # value`` line of README's Python must print that value."""
    wanted = [line.split("#", 1)[1].strip() for line in code.splitlines()
              if line.startswith("print(") and "#" in line]
    assert wanted, f"README.md:{first_line}: a Python block with nothing to check"
    env = {**os.environ, "ENVKIT_HOME": str(tmp_path / "envkit-home")}
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.splitlines() == wanted
