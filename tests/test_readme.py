"""README shows what the program prints.

Every ```console block that README marks with ``<!-- output checked by tests/test_readme.py
-->`` on the line before it is run here: each ``$ envkit ...`` line is run from the
repository root (a fresh ENVKIT_HOME, output to a pipe), and the lines under it must appear
in the output in the same order. A line that is just ``...`` stands for any number of
lines; ``...`` inside a line stands for any text. Lines may not be reworded, so the tour
cannot drift from the program.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys

import pytest

from .conftest import ROOT

MARK = "<!-- output checked by tests/test_readme.py -->"


def _blocks() -> list[tuple[int, list[str]]]:
    lines = (ROOT / "README.md").read_text().splitlines()
    found = []
    for i, line in enumerate(lines):
        if line.strip() == MARK:
            assert lines[i + 1].startswith("```console"), f"README:{i + 2}: not a console block"
            end = lines.index("```", i + 2)
            found.append((i + 3, lines[i + 2:end]))
    return found


def _examples() -> list[tuple[str, str, list[str]]]:
    examples = []
    for first_line, body in _blocks():
        current: list[str] | None = None
        for offset, line in enumerate(body):
            if line.startswith("$ "):
                current = []
                examples.append((f"README.md:{first_line + offset}", line[2:], current))
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
    commands = [command for _, command, _ in EXAMPLES]
    assert any(c.startswith("envkit plan") for c in commands)
    assert any(c.startswith("envkit validate") for c in commands)
    assert len(EXAMPLES) >= 4


@pytest.mark.parametrize("where,command,expected", EXAMPLES,
                         ids=[w for w, _, _ in EXAMPLES])
def test_readme_snippet_is_what_the_program_prints(where, command, expected, tmp_path):
    argv = shlex.split(command)
    assert argv[0] == "envkit", f"{where}: only envkit commands are checked"
    env = {k: v for k, v in os.environ.items() if k != "COLUMNS"}
    done = subprocess.run([sys.executable, "-m", "envkit.cli", *argv[1:]], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)
    output = (done.stdout + done.stderr).splitlines()
    problem = _matches(expected, output)
    assert problem is None, f"{where}: `{command}`: {problem}\n--- output:\n" + \
        "\n".join(output)
