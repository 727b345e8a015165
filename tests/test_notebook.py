"""The Jupyter front end: kernelspec, the kernel started by name, magics, the Dashboard
widget (engine replaced by stand-ins that emit real events), interrupts, and the shipped
notebooks executed headless by nbclient under the envkit kernel."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import nbformat
import pytest
from jupyter_client.manager import start_new_kernel
from nbclient import NotebookClient

from envkit.notebook.views import MessageView, PlanView

from .conftest import BASICS, ROOT
from .fakes import FakeAutomation, SlowStack

NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


@pytest.fixture(scope="module")
def kernel_prefix(tmp_path_factory):
    """The envkit kernelspec installed into a temporary prefix, found through JUPYTER_PATH."""
    prefix = tmp_path_factory.mktemp("jupyter-prefix")
    done = subprocess.run([sys.executable, "-m", "envkit.cli", "kernel", "install", "--prefix",
                           str(prefix)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    old = os.environ.get("JUPYTER_PATH")
    os.environ["JUPYTER_PATH"] = str(prefix / "share" / "jupyter")
    yield prefix
    if old is None:
        os.environ.pop("JUPYTER_PATH", None)
    else:
        os.environ["JUPYTER_PATH"] = old


def run(kc, code: str, timeout: float = 120) -> dict:
    """Execute code in a kernel; collect text outputs and the reply status."""
    msg_id = kc.execute(code)
    outputs = []
    while True:
        msg = kc.get_iopub_msg(timeout=timeout)
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        kind, content = msg["msg_type"], msg["content"]
        if kind == "stream":
            outputs.append(content["text"])
        elif kind in ("execute_result", "display_data"):
            outputs.append(content["data"].get("text/plain", ""))
        elif kind == "error":
            outputs.append(f"{content['ename']}: {content['evalue']}")
        elif kind == "status" and content["execution_state"] == "idle":
            break
    reply = kc.get_shell_msg(timeout=timeout)
    return {"status": reply["content"]["status"], "text": "".join(outputs)}


# --- the kernelspec --------------------------------------------------------------------------


def test_kernelspec_install_list_uninstall(tmp_path):
    env = {**os.environ, "JUPYTER_PATH": str(tmp_path / "share" / "jupyter")}
    cli = [sys.executable, "-m", "envkit.cli", "kernel"]
    assert subprocess.run([*cli, "install", "--prefix", str(tmp_path)], env=env).returncode == 0
    spec = json.loads((tmp_path / "share/jupyter/kernels/envkit/kernel.json").read_text())
    assert spec["display_name"] == "envkit (Python 3)"
    assert spec["argv"][1:3] == ["-m", "envkit.notebook.kernel"]
    listed = subprocess.run([sys.executable, "-m", "jupyter", "kernelspec", "list", "--json"],
                            env=env, capture_output=True, text=True)
    assert "envkit" in json.loads(listed.stdout)["kernelspecs"]
    named = subprocess.run([*cli, "install", "--prefix", str(tmp_path), "--name", "lab2"],
                           env=env, capture_output=True, text=True)
    assert named.returncode == 0
    gone = subprocess.run([*cli, "uninstall", "--prefix", str(tmp_path)], env=env,
                          capture_output=True, text=True)
    assert gone.returncode == 0
    assert not (tmp_path / "share/jupyter/kernels/envkit").exists()
    again = subprocess.run([*cli, "uninstall", "--prefix", str(tmp_path)], env=env,
                           capture_output=True, text=True)
    assert again.returncode == 1 and "no kernel named 'envkit'" in again.stderr


# --- a real kernel, started by name ----------------------------------------------------------


@pytest.fixture(scope="module")
def kernel(kernel_prefix):
    km, kc = start_new_kernel(kernel_name="envkit")
    run(kc, f"import sys; sys.path.insert(0, {str(ROOT)!r})")
    yield km, kc
    kc.stop_channels()
    km.shutdown_kernel(now=True)


def test_kernel_banner_says_target_and_cli(kernel):
    _, kc = kernel
    banner = kc.kernel_info(reply=True)["content"]["banner"]
    assert "envkit: target local emulator (no AWS credentials)" in banner
    assert "no Pulumi CLI" in banner and "ENVKIT_HOME" in banner


def test_magic_plan_in_the_kernel(kernel):
    _, kc = kernel
    out = run(kc, f"%envkit plan {BASICS}")
    assert out["status"] == "ok"
    assert "aws-basics (us-east-1): 31 resources to create" in out["text"]
    assert "Policy (envkit-least-privilege): 0 mandatory" in out["text"]


def test_cell_magic_errors_point_to_the_cell_line(kernel):
    _, kc = kernel
    out = run(kc, "%%envkit broken\nname: broken\nowner: me\nec2:\n  instances:\n"
                  "    vm: {type: t2.mega}\n")
    assert out["status"] == "ok" and "Traceback" not in out["text"]
    assert "error: <cell>:6: ec2.instances.vm.type: unknown instance type 't2.mega'" in out["text"]


def test_magics_without_engine_say_so(kernel):
    _, kc = kernel
    run(kc, "%%envkit small\nname: small\nowner: me@example.com\n"
            "iam: {users: {ann: {}}}\n")
    out = run(kc, "%envkit up small --target local")
    assert "Pulumi CLI is not installed" in out["text"] and out["status"] == "ok"
    refused = run(kc, "%envkit down small --target local")
    assert "add --yes to confirm" in refused["text"]
    bad = run(kc, "%envkit frobnicate")
    assert "%envkit: argument command: invalid choice" in bad["text"]


def test_kernel_stays_responsive_while_the_dashboard_deploys(kernel):
    _, kc = kernel
    setup = run(kc, "\n".join([
        "from tests.fakes import install_engine_stand_in, SlowStack",
        "fake = install_engine_stand_in(SlowStack)",
        "from envkit.notebook import Dashboard",
        f"dash = Dashboard({str(BASICS)!r}, target='local')",
        "dash.deploy()",
    ]))
    assert setup["status"] == "ok", setup["text"]
    try:
        assert run(kc, "dash.busy")["text"].strip() == "'deploy'"
        assert run(kc, "6 * 7")["text"].strip() == "42"  # a cell runs mid-operation
        assert run(kc, "dash.plan()")["text"].strip() == "False"  # refused while busy
        assert "busy: deploy is running" in run(kc, "print(dash.status.value)")["text"]
    finally:
        run(kc, "SlowStack.release.set(); dash.wait(30)")
    assert run(kc, "dash.state")["text"].strip() == "'deployed'"
    run(kc, "from envkit import local; local.stop()")


def test_kernel_interrupt_cancels_cleanly(kernel):
    km, kc = kernel
    run(kc, "\n".join([
        "from tests.fakes import install_engine_stand_in, InterruptibleStack",
        "fake = install_engine_stand_in(InterruptibleStack)",
        "from envkit.notebook import Dashboard",
        f"dash = Dashboard({str(BASICS)!r}, target='local')",
        "dash.deploy()",
    ]))
    deadline = time.time() + 30
    while "up" not in run(kc, "[c[0] for s in fake.stacks for c in s.calls]")["text"]:
        assert time.time() < deadline
        time.sleep(0.2)
    time.sleep(0.5)  # the child is waiting
    km.interrupt_kernel()
    run(kc, "dash.wait(30)")
    assert run(kc, "dash.state")["text"].strip() == "'cancelled'"
    assert "cancelled" in run(kc, "print(dash.status.value)")["text"]
    assert km.is_alive() and run(kc, "1 + 1")["text"].strip() == "2"
    run(kc, "from envkit import local; local.stop()")


# --- in-process: %load_ext, views, the widget ------------------------------------------------


@pytest.fixture
def shell():
    from IPython.testing.globalipapp import get_ipython

    ip = get_ipython()
    ip.run_line_magic("load_ext", "envkit")
    return ip


def test_load_ext_in_any_ipython(shell):
    result = shell.run_cell("%%envkit ext-lab\nname: ext-lab\nowner: me@example.com\n")
    assert result.success and "registered environment 'ext-lab'" in repr(result.result)
    view = shell.run_line_magic("envkit", "plan ext-lab")
    assert isinstance(view, PlanView)


def test_views_render_html_and_text():
    import envkit
    from envkit.policy.gate import check_spec

    plan = envkit.plan(BASICS)
    view = PlanView(plan, check_spec(BASICS, plan=plan))
    html = view._repr_html_()
    assert "<table class='envkit-counts'>" in html and "aws:iam/user:User" in html
    assert "[secret]" in html and "envkit-policy" in html
    assert "https://aws-basics-lab.signin.aws.amazon.com/console" in html
    text = repr(view)
    assert "31 resources to create" in text and "passwords.aditya = [secret]" in text
    assert "error: boom" in repr(MessageView("boom"))


@pytest.fixture
def engine(monkeypatch):
    from pulumi import automation as auto

    fake = FakeAutomation()
    monkeypatch.setattr(auto, "create_or_select_stack", fake.create_or_select_stack)
    monkeypatch.setattr("envkit.engine.pulumi_command", lambda: "cmd")
    monkeypatch.setattr("envkit.engine.find_pulumi", lambda: "/opt/pulumi/bin/pulumi")
    yield fake
    from envkit import local

    local.stop()


def dashboard(**kwargs):
    from envkit.notebook import Dashboard

    return Dashboard(str(BASICS), target="local", **kwargs)


def test_buttons_and_panels_exist():
    dash = dashboard()
    assert list(dash.buttons) == ["Plan", "Policy check", "Preview", "Deploy", "Refresh",
                                  "Destroy"]
    assert "aws-basics" in dash.header.value and "not deployed" in dash.header.value


def test_plan_and_policy_buttons_work_offline(monkeypatch):
    monkeypatch.setattr("envkit.engine.find_pulumi", lambda: None)
    dash = dashboard()
    dash.buttons["Plan"].click()
    dash.wait(60)
    assert "31 resources to create" in dash.plan_panel.value
    assert "0 mandatory" in dash.policy_panel.value
    dash.buttons["Deploy"].click()
    dash.wait(60)
    assert "Pulumi CLI is not installed" in dash.status.value
    assert "envkit install-pulumi" in dash.status.value
    dash.buttons["Policy check"].click()  # the widget is still alive
    dash.wait(60)
    assert "policy: 0 mandatory" in dash.status.value


def test_deploy_feeds_progress_log_outputs_and_inspection(engine):
    dash = dashboard()
    dash.buttons["Deploy"].click()
    dash.wait(60)
    assert dash.state == "deployed", dash.status.value
    assert dash.progress.value == 1  # one resource finished in the stand-in's events
    assert "lab-user-ann" in dash.log.value and "a provider warning" in dash.log.value
    assert "[secret]" in dash.outputs_panel.value and "Sup3r" not in dash.outputs_panel.value
    dash.reveal.value = True
    assert "Sup3r-Secret-Passw0rd!" in dash.outputs_panel.value
    dash.reveal.value = False
    assert "Sup3r" not in dash.outputs_panel.value
    assert "<th>SSH</th>" in dash.inspection_panel.value
    assert dict(engine.stacks[-1].calls)["up"]["show_secrets"] is False


def test_second_click_while_busy_is_refused(engine, monkeypatch):
    from tests.fakes import FakeStack

    monkeypatch.setattr(FakeStack, "up", SlowStack.up)
    SlowStack.release.clear()
    dash = dashboard()
    assert dash.deploy() is True
    assert dash.refresh() is False
    assert "busy: deploy is running; refresh was not started" in dash.status.value
    SlowStack.release.set()
    dash.wait(60)
    assert dash.busy is None and not dash.buttons["Deploy"].disabled


def test_destroy_asks_first(engine):
    dash = dashboard()
    dash.buttons["Destroy"].click()
    assert dash.confirm.layout.display == "flex" and not engine.stacks
    dash.confirm_no.click()
    assert dash.confirm.layout.display == "none" and not engine.stacks
    dash.buttons["Destroy"].click()
    dash.confirm_yes.click()
    dash.wait(60)
    assert dash.state == "destroyed"
    assert [c[0] for c in engine.stacks[-1].calls] == ["destroy"]


def test_errors_show_in_the_widget(engine):
    from pulumi.automation import errors
    from pulumi.automation._cmd import CommandResult

    dash = dashboard()
    original = engine.create_or_select_stack

    def failing(*args, **kwargs):
        stack = original(*args, **kwargs)
        stack.fail = errors.CommandError(CommandResult("", "error: creating IAM User: boom", 1))
        return stack

    engine.create_or_select_stack = failing
    import pulumi.automation as auto

    auto.create_or_select_stack = failing
    dash.buttons["Deploy"].click()
    dash.wait(60)
    assert "creating IAM User: boom" in dash.status.value
    assert dash.busy is None and dash.state == "not deployed"


def test_deploy_refused_by_mandatory_policy(engine, tmp_path):
    from envkit.notebook import Dashboard

    unsafe = tmp_path / "unsafe.yaml"
    unsafe.write_text(BASICS.read_text().replace("{service: ssh, from: 203.0.113.0/24}",
                                                 "{service: ssh, from: 0.0.0.0/0}"))
    dash = Dashboard(str(unsafe), target="local")
    dash.deploy()
    dash.wait(60)
    assert "1 mandatory policy violation(s): nothing was deployed" in dash.status.value
    assert "ec2-no-public-admin-ingress" in dash.policy_panel.value
    assert not any(s.calls for s in engine.stacks)


# --- the shipped notebooks -------------------------------------------------------------------


def test_notebooks_are_committed_without_outputs():
    assert [p.name for p in NOTEBOOKS] == ["01-iam-basics.ipynb", "02-ec2-web-server.ipynb",
                                           "03-policy-gate.ipynb", "04-classroom.ipynb"]
    for path in NOTEBOOKS:
        nb = nbformat.read(path, as_version=4)
        assert nb.metadata.kernelspec.name == "envkit"
        for cell in nb.cells:
            if cell.cell_type == "code":
                assert not cell.outputs and cell.execution_count is None, path.name


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_runs_top_to_bottom(path, kernel_prefix, tmp_path):
    nb = nbformat.read(path, as_version=4)
    NotebookClient(nb, kernel_name="envkit", timeout=300,
                   resources={"metadata": {"path": str(path.parent)}}).execute()
    texts = []
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            assert out["output_type"] != "error", (path.name, out.get("evalue"))
            texts.append(out.get("text") or out.get("data", {}).get("text/plain", ""))
    joined = "\n".join(texts)
    assert "Traceback" not in joined
    from envkit.engine import find_pulumi

    if find_pulumi() is None and path.name != "03-policy-gate.ipynb":
        assert "SKIPPED: this cell needs the Pulumi CLI" in joined  # visible, not silent
    if path.name == "02-ec2-web-server.ipynb":
        assert "plan: 17 resources; policy: 0 mandatory" in joined  # the dashboard planned
    if path.name == "03-policy-gate.ipynb":
        assert "4 mandatory policy violation(s): nothing was deployed" in joined
        assert "mandatory violations: 0" in joined
    if path.name == "04-classroom.ipynb":
        assert "web-class: 5 students, 6 stacks, 55 resources" in joined
        assert "classroom-student-scope: group 'web-class-students'" in joined  # caught
        assert "class per hour: None - no price for" in joined  # unknown, with the reason
        assert "class of 5 $0.0814/h" in joined
        assert "over the budget of maxClassHourlyCost $0.0500/hour" in joined
        assert "Roster of web-class: 5 students" in joined
    nbformat.write(nb, tmp_path / path.name)  # the executed copy, for inspection
