"""A browser test: JupyterLab serving notebooks/ on 127.0.0.1, driven by Playwright in
Debian's headless Chromium (/usr/bin/chromium; nothing downloaded). It runs the EC2 lab
notebook and checks what a reader sees in the dashboard: the buttons, the plan table
(left-aligned, not in a scroll box), the planned outputs, Destroy disabled while nothing is
deployed, a click refused while busy, then (with the engine stand-in in the kernel) the
deployed outputs and the destroyed state. Screenshots of each state go to the test's
tmp_path."""

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


_EXECUTE = """async (code) => {
  const kernel = window.jupyterapp.shell.currentWidget.sessionContext.session.kernel;
  const future = kernel.requestExecute({code, store_history: false});
  let out = '';
  future.onIOPub = (msg) => {
    if (msg.header.msg_type === 'stream') out += msg.content.text;
    if (msg.header.msg_type === 'error') out += msg.content.ename + ': ' + msg.content.evalue;
  };
  const reply = await future.done;
  return [reply.content.status, out];
}"""

_LAYOUT = """(dash) => {
  const panel = dash.querySelector('.envkit-plan-panel');
  const table = panel.querySelector('table.envkit-counts');
  const cell = table.querySelector('td');
  const rule = dash.querySelector('code.envkit-rule');
  return {align: getComputedStyle(cell).textAlign,
          indent: table.getBoundingClientRect().left - panel.getBoundingClientRect().left,
          scrolls: panel.scrollHeight > panel.clientHeight + 1,
          overflow: getComputedStyle(panel).overflowY,
          rule: rule ? getComputedStyle(rule).whiteSpace : null};
}"""


def test_dashboard_renders_in_jupyterlab(jupyterlab, tmp_path):
    from playwright.sync_api import Error as PlaywrightError
    from playwright.sync_api import sync_playwright

    base, token = jupyterlab
    shots = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=[
            "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync"])
        # tall enough for the whole dashboard: its panels grow with their content
        page = browser.new_page(viewport={"width": 1400, "height": 3200})
        console: list[str] = []
        page.on("console", lambda m: console.append(f"{m.type}: {m.text}"))
        page.on("pageerror", lambda e: console.append(f"pageerror: {e}"))
        page.goto(f"{base}/lab/tree/02-ec2-web-server.ipynb?token={token}")

        def step(what, fn):
            try:
                return fn()
            except PlaywrightError:
                pytest.fail(_diagnose(page, tmp_path, what, console), pytrace=False)

        def kernel_run(code: str) -> str:
            status, out = step(f"the kernel did not run {code!r}",
                               lambda: page.evaluate(_EXECUTE, code))
            assert status == "ok", out
            return out

        def state_is(state: str) -> None:
            step(f"the dashboard never reached state {state!r}", lambda: page.wait_for_function(
                "(s) => { const e = document.querySelector('.envkit-dashboard .envkit-state');"
                " return e && e.textContent === s; }", arg=state, timeout=120_000))

        def shoot(name: str) -> None:
            dashboard.scroll_into_view_if_needed()
            page.wait_for_timeout(300)
            shot = tmp_path / f"{name}.png"
            dashboard.screenshot(path=str(shot))
            shots.append(shot)

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
        layout = dashboard.evaluate(_LAYOUT)
        assert layout["align"] == "left" and layout["indent"] < 20, layout
        assert not layout["scrolls"] and layout["overflow"] == "visible", layout
        assert layout["rule"] in (None, "nowrap"), layout
        shoot("dashboard")

        # A magic's output (rendered HTML, where JupyterLab right-aligns table cells): a new
        # cell at the end, run from the notebook.
        step("JupyterLab did not run a new %envkit cell", lambda: page.evaluate("""async () => {
          const app = window.jupyterapp, nb = app.shell.currentWidget.content;
          nb.activeCellIndex = nb.widgets.length - 1;
          await app.commands.execute('notebook:insert-cell-below');
          nb.activeCell.model.sharedModel.setSource('%envkit policy web-lab');
          await app.commands.execute('notebook:run-cell');
        }"""))
        cell = step("the %envkit policy output never rendered", lambda: page.wait_for_selector(
            ".jp-RenderedHTMLCommon table.envkit-policy td", timeout=120_000))
        assert cell.evaluate("(td) => getComputedStyle(td).textAlign") == "left"
        rule = page.locator(".jp-RenderedHTMLCommon code.envkit-rule").first
        assert rule.evaluate("(c) => getComputedStyle(c).whiteSpace") == "nowrap"

        widget = page.locator(".envkit-dashboard")

        def button(name: str):
            return widget.get_by_role("button", name=name, exact=True)

        # Before any deploy: the planned outputs, and nothing to destroy.
        assert button("Destroy").is_disabled()
        widget.get_by_role("tab", name="Outputs").click()
        outputs = widget.locator(".envkit-outputs-panel")
        text = outputs.inner_text()
        assert "Planned outputs" in text and "(known after up)" in text and "[secret]" in text
        assert "`" not in dashboard.inner_text()
        shoot("outputs-planned")
        widget.get_by_role("tab", name="Events").click()
        assert "plan: 17 resources" in dashboard.inner_text()  # the log is what shows now
        assert "`" not in dashboard.inner_text()

        # Deploy through the engine stand-in (no Pulumi CLI here); a click while it runs is
        # refused where the reader looks: the status line.
        kernel_run("from tests.fakes import install_engine_stand_in, SlowStack\n"
                   "fake = install_engine_stand_in(SlowStack)\nSlowStack.release.clear()")
        try:
            button("Deploy").click()
            state_busy = widget.locator(".envkit-status")
            step("the dashboard never said it was deploying", lambda: page.wait_for_function(
                "() => document.querySelector('.envkit-dashboard .envkit-status')"
                ".textContent.includes('deploy...')", timeout=60_000))
            button("Refresh").click()
            step("the click while busy was not refused visibly", lambda: page.wait_for_function(
                "() => document.querySelector('.envkit-dashboard .envkit-status').textContent"
                ".includes('busy: deploy is running; refresh was not started')",
                timeout=60_000))
            assert "refresh was not started" in state_busy.inner_text()
            shoot("busy-refused")
        finally:
            kernel_run("SlowStack.release.set(); dash.wait(60)")
        try:
            state_is("deployed")
            assert not button("Destroy").is_disabled()
            widget.get_by_role("tab", name="Outputs").click()
            step("the deployed outputs never showed", lambda: page.wait_for_function(
                "() => document.querySelector('.envkit-dashboard .envkit-outputs-panel')"
                ".textContent.includes('Deployed outputs')", timeout=60_000))
            deployed = outputs.inner_text()
            assert "[secret]" in deployed and "Sup3r" not in deployed
            shoot("outputs-deployed")
            button("Destroy").click()
            button("Yes, destroy").click()
            state_is("destroyed")
            assert button("Destroy").is_disabled()
            shoot("destroyed")
        finally:
            kernel_run("from envkit import local; local.stop()")
        browser.close()
    for shot in shots:
        assert shot.stat().st_size > 10_000, shot
    print("screenshots:", ", ".join(str(s) for s in shots))
    if os.environ.get("ENVKIT_SAVE_SCREENSHOT"):
        shutil.copy(shots[0], ROOT / "docs" / "dashboard.png")
