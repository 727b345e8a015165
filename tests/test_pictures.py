"""README's terminal picture is of the program as it runs at a terminal.

`envkit plan` runs in a real pseudo-terminal (colours on, 100 columns); rich turns what
it wrote into an SVG terminal window, and Debian's headless Chromium (Playwright) renders
that to PNG. ``ENVKIT_SAVE_SCREENSHOT=1`` refreshes docs/terminal.png, the picture README
shows; otherwise the picture goes to the test's tmp_path only.
"""

from __future__ import annotations

import io
import os
import pty
import re
import select
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import ROOT

CHROMIUM = Path("/usr/bin/chromium")
COMMAND = ["envkit", "plan", "labs/iam-basics.yaml"]


def _at_a_terminal(argv: list[str], env: dict[str, str], columns: int = 100) -> str:
    """What ``argv`` writes to a pseudo-terminal of ``columns`` columns (ANSI included)."""
    leader, follower = pty.openpty()
    env = {**env, "TERM": "xterm-256color", "COLUMNS": str(columns), "LINES": "60"}
    env.pop("NO_COLOR", None)
    process = subprocess.Popen(argv, cwd=ROOT, env=env, stdin=follower, stdout=follower,
                               stderr=follower, close_fds=True)
    os.close(follower)
    chunks = []
    while True:
        ready, _, _ = select.select([leader], [], [], 120)
        if not ready:
            process.kill()
            raise AssertionError(f"{argv} wrote nothing for 120 s")
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(leader)
    assert process.wait(timeout=60) == 0
    return b"".join(chunks).decode().replace("\r\n", "\n")


def terminal_svg(ansi: str, title: str, columns: int = 100) -> str:
    """A terminal window showing ``ansi`` (rich's SVG export)."""
    from rich.console import Console
    from rich.text import Text

    console = Console(record=True, width=columns, file=io.StringIO(), color_system="truecolor",
                      force_terminal=True)
    console.print(Text.from_ansi(ansi), end="")
    return console.export_svg(title=title)


def test_terminal_picture_is_what_plan_prints_at_a_terminal(tmp_path):
    env = {**os.environ, "ENVKIT_HOME": str(tmp_path / "envkit-home")}
    ansi = _at_a_terminal([sys.executable, "-m", "envkit.cli", *COMMAND[1:]], env)
    assert "\x1b[" in ansi  # coloured: a terminal, not a pipe
    plain = re.sub(r"\x1b\[[0-9;]*m", "", ansi)
    assert "iam-basics (us-east-1): 14 resources to create" in plain
    assert "Policy (envkit-least-privilege, 14 resources)" in plain
    svg = terminal_svg(f"$ {' '.join(COMMAND)}\n{ansi}", " ".join(COMMAND))
    (tmp_path / "terminal.svg").write_text(svg)
    if not CHROMIUM.exists():
        pytest.skip("the PNG needs /usr/bin/chromium (.ci/run installs Debian's chromium); "
                    f"the SVG is in {tmp_path}")
    from playwright.sync_api import sync_playwright

    png = tmp_path / "terminal.png"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM))
        page = browser.new_page(viewport={"width": 1400, "height": 800})
        page.set_content(f"<html><body style='margin:0'>{svg}</body></html>")
        page.locator("svg").first.screenshot(path=str(png))
        browser.close()
    assert png.stat().st_size > 20_000
    if os.environ.get("ENVKIT_SAVE_SCREENSHOT"):
        (ROOT / "docs" / "terminal.png").write_bytes(png.read_bytes())
