"""A browser test: JupyterLab serving notebooks/ on 127.0.0.1, driven by Playwright in
Debian's headless Chromium (/usr/bin/chromium; nothing downloaded). It runs the EC2 lab
notebook and checks that the dashboard's buttons and the plan table rendered."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from .conftest import ROOT

CHROMIUM = Path("/usr/bin/chromium")
pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason="browser test: /usr/bin/chromium is missing (.ci/run installs Debian's chromium)")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def jupyterlab(tmp_path):
    prefix = tmp_path / "prefix"
    subprocess.run([sys.executable, "-m", "envkit.cli", "kernel", "install", "--prefix",
                    str(prefix)], check=True, capture_output=True)
    root = tmp_path / "notebooks"
    shutil.copytree(ROOT / "notebooks", root)  # runs and autosaves must not touch the repo
    port, token = _free_port(), "envkit-browser-test"
    env = {**os.environ, "JUPYTER_PATH": str(prefix / "share" / "jupyter"),
           "PYTHONPATH": str(ROOT), "JUPYTER_CONFIG_DIR": str(tmp_path / "config"),
           "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"),
           "JUPYTER_DATA_DIR": str(tmp_path / "data"), "IPYTHONDIR": str(tmp_path / "ipython")}
    log = open(tmp_path / "jupyterlab.log", "w")  # noqa: SIM115 - closed below
    server = subprocess.Popen(
        [sys.executable, "-m", "jupyterlab", "--no-browser", "--ip=127.0.0.1",
         f"--port={port}", f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}",
         "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
         "--LabApp.news_url=None", "--LabApp.expose_app_in_browser=True",
         "--ServerApp.allow_root=True"],
        stdout=log, stderr=subprocess.STDOUT, env=env)
    base = f"http://127.0.0.1:{port}"
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=1)
            break
        except OSError:
            time.sleep(0.3)
    else:
        server.kill()
        pytest.fail("JupyterLab did not start: " + (tmp_path / "jupyterlab.log").read_text())
    yield base, token
    server.terminate()
    server.wait(20)
    log.close()


# JupyterLab is driven through its own command registry (the app is exposed with
# --LabApp.expose_app_in_browser), not by clicking menus: a click on "Run All Cells" that lands
# before the notebook panel is ready is silently dropped, which a loaded machine makes likely.
_KERNEL_IDLE = """() => {
  const w = window.jupyterapp && window.jupyterapp.shell.currentWidget;
  const kernel = w && w.sessionContext && w.sessionContext.session
                 && w.sessionContext.session.kernel;
  return !!(w && w.context && w.context.isReady && kernel && kernel.status === 'idle'
            && kernel.connectionStatus === 'connected') && kernel.name;
}"""


def _diagnose(page, tmp_path, what: str, console: list[str]) -> str:
    """Everything needed to tell why the page did not get there, for the failure message."""
    shot = tmp_path / "failure.png"
    try:
        page.screenshot(path=str(shot), full_page=True)
    except Exception as exc:  # noqa: BLE001 - diagnostics must not mask the failure
        shot = f"(no screenshot: {exc})"
    try:
        state = page.evaluate("""() => {
          const w = window.jupyterapp && window.jupyterapp.shell.currentWidget;
          const s = w && w.sessionContext;
          const k = s && s.session && s.session.kernel;
          return {widget: w ? w.constructor.name : null, kernel: k ? k.name : null,
                  status: k ? k.status : null, dialogs: Array.from(
                    document.querySelectorAll('.jp-Dialog')).map(d => d.innerText)};
        }""")
        cells = page.locator(".jp-Cell").all_inner_texts()
    except Exception as exc:  # noqa: BLE001
        state, cells = f"(page unavailable: {exc})", []
    log = (tmp_path / "jupyterlab.log").read_text(errors="replace")[-3000:]
    return (f"{what}\nscreenshot: {shot}\napp state: {state}\n"
            f"cells:\n" + "\n---\n".join(c[-800:] for c in cells) +
            "\nbrowser console:\n" + "\n".join(console[-30:]) +
            f"\njupyterlab log (tail):\n{log}")


def test_dashboard_renders_in_jupyterlab(jupyterlab, tmp_path):
    from playwright.sync_api import Error as PlaywrightError
    from playwright.sync_api import sync_playwright

    base, token = jupyterlab
    shot = tmp_path / "dashboard.png"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=[
            "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync"])
        page = browser.new_page(viewport={"width": 1400, "height": 1800})
        console: list[str] = []
        page.on("console", lambda m: console.append(f"{m.type}: {m.text}"))
        page.on("pageerror", lambda e: console.append(f"pageerror: {e}"))
        page.goto(f"{base}/lab/tree/02-ec2-web-server.ipynb?token={token}")

        def step(what, fn):
            try:
                return fn()
            except PlaywrightError:
                pytest.fail(_diagnose(page, tmp_path, what, console), pytrace=False)

        kernel = step("the notebook's kernel never became idle",
                      lambda: page.wait_for_function(_KERNEL_IDLE, timeout=180_000)).json_value()
        assert kernel == "envkit", f"the notebook opened on kernel {kernel!r}, not envkit's"
        step("JupyterLab refused notebook:run-all-cells", lambda: page.evaluate(
            "() => window.jupyterapp.commands.execute('notebook:run-all-cells')"))
        dashboard = step("the dashboard widget never rendered", lambda: page.wait_for_selector(
            ".envkit-dashboard", timeout=180_000))
        for name in ("Plan", "Policy check", "Preview", "Deploy", "Refresh", "Destroy"):
            assert page.locator(".envkit-dashboard button", has_text=name).count() >= 1
        table = step("the plan table never appeared in the dashboard",
                     lambda: page.wait_for_selector(".envkit-dashboard table.envkit-counts",
                                                    timeout=180_000))
        assert "aws:ec2/instance:Instance" in table.inner_text()
        assert "resources to create" in dashboard.inner_text()
        no_news = page.get_by_role("button", name="No", exact=True)
        if no_news.count():
            no_news.first.click()  # JupyterLab's "get news?" toast
        dashboard.scroll_into_view_if_needed()
        page.wait_for_timeout(500)
        dashboard.screenshot(path=str(shot))
        browser.close()
    assert shot.stat().st_size > 10_000
    print(f"screenshot: {shot}")
    if os.environ.get("ENVKIT_SAVE_SCREENSHOT"):
        shutil.copy(shot, ROOT / "docs" / "dashboard.png")
