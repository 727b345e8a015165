"""The policy pack the engine runs: envkit writes the shipped pack into ENVKIT_HOME with a
runtime that names the interpreter envkit runs in, and says so when it cannot.

Pulumi's Python language host runs a pack as ``<virtualenv>/bin/python -u -m pulumi.policy
<engine> <pack folder>`` with the pack folder as working directory (pulumi/pulumi
sdk/python/cmd/pulumi-language-python/main.go, RunPlugin). The tests run the pack's
``__main__.py`` the same way, with the interpreter its PulumiPolicy.yaml names, and with
``PolicyPack`` replaced by a recorder: constructing the real one starts a gRPC server and
waits for the engine forever.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from envkit import shipped
from envkit.policy.pack import engine_pack, engine_packs

from .conftest import BASICS, ROOT
from .fakes import FakeAutomation

# Runs where Pulumi runs the pack: records what the pack hands to PolicyPack, and where the
# interpreter comes from.
RECORD = """
import json, runpy, sys
import pulumi_policy
seen = {}
def record(**kwargs):
    seen.update(name=kwargs["name"], policies=[p.name for p in kwargs["policies"]])
pulumi_policy.PolicyPack = record
runpy.run_path("__main__.py", run_name="__main__")
print(json.dumps({**seen, "prefix": sys.prefix, "base_prefix": sys.base_prefix}))
"""


def _python(virtualenv: str, pack: Path) -> Path:
    root = Path(virtualenv)
    return (root if root.is_absolute() else pack / root) / "bin" / "python"


def _run_pack(pack: Path, env: dict[str, str] | None = None) -> dict:
    settings = yaml.safe_load((pack / "PulumiPolicy.yaml").read_text())
    python = _python(settings["runtime"]["options"]["virtualenv"], pack)
    done = subprocess.run([str(python), "-c", RECORD], cwd=pack, capture_output=True,
                          text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.splitlines()[-1])


def test_engine_pack_runs_under_this_interpreter_with_every_rule():
    from envkit.policy.rules import PACK_NAME, POLICIES

    pack = engine_pack()
    assert pack.parent == Path(os.environ["ENVKIT_HOME"]) / "policy-packs"
    settings = yaml.safe_load((pack / "PulumiPolicy.yaml").read_text())
    assert settings["runtime"]["name"] == "python"
    assert settings["runtime"]["options"] == {"toolchain": "pip", "virtualenv": sys.prefix}
    assert settings["version"] and "least privilege" in settings["description"]
    shipped_main = shipped.policy_pack().joinpath("__main__.py").read_text()
    assert (pack / "__main__.py").read_text() == shipped_main
    ran = _run_pack(pack)
    assert ran["prefix"] == sys.prefix  # the interpreter that has envkit
    assert ran["name"] == PACK_NAME
    assert ran["policies"] == [p.name for p in POLICIES]


def test_engine_pack_outside_a_virtualenv_links_the_interpreter(tmp_path):
    """envkit installed into a Python that is not a venv (system, user or conda base): the
    pack's virtualenv is a folder whose bin/python is that interpreter."""
    base = Path(sys.base_prefix) / "bin" / f"python{sys.version_info[0]}.{sys.version_info[1]}"
    if not base.exists():
        pytest.skip(f"no base interpreter at {base}")
    env = {**os.environ, "ENVKIT_HOME": str(tmp_path / "home"),
           "PYTHONPATH": os.pathsep.join([str(ROOT), sysconfig.get_paths()["purelib"]])}
    made = subprocess.run([str(base), "-c", "import sys; from envkit.policy.pack import "
                           "engine_pack; print(sys.prefix == sys.base_prefix, engine_pack())"],
                          env=env, capture_output=True, text=True, timeout=120)
    assert made.returncode == 0, made.stderr
    plain, folder = made.stdout.split()
    assert plain == "True"
    pack = Path(folder)
    options = yaml.safe_load((pack / "PulumiPolicy.yaml").read_text())["runtime"]["options"]
    assert options["virtualenv"] == str(pack / "python")
    assert os.readlink(pack / "python" / "bin" / "python") == str(base)
    ran = _run_pack(pack, env)
    assert ran["prefix"] == ran["base_prefix"] == sys.base_prefix
    assert len(ran["policies"]) > 20


def test_engine_pack_is_rewritten_only_when_it_changes():
    pack = engine_pack()
    stamp = (pack / "PulumiPolicy.yaml").stat().st_mtime_ns
    (pack / "__main__.py").write_text("# tampered\n")
    assert engine_pack() == pack
    assert (pack / "PulumiPolicy.yaml").stat().st_mtime_ns == stamp
    assert (pack / "__main__.py").read_text() == \
        shipped.policy_pack().joinpath("__main__.py").read_text()


def test_repository_pack_serves_pulumi_preview_from_the_checkout():
    """`pulumi preview --policy-pack policies` at the repo root: the pack's virtualenv is the
    README's .venv, relative to the pack folder, as Pulumi resolves it."""
    settings = yaml.safe_load((ROOT / "policies" / "PulumiPolicy.yaml").read_text())
    assert settings["runtime"]["options"]["virtualenv"] == "../.venv"
    venv = (ROOT / "policies" / "../.venv").resolve()
    if not (venv / "bin" / "python").exists():
        pytest.skip(f"no README venv at {venv} (the tests run from another environment)")
    ran = _run_pack(ROOT / "policies")
    assert len(ran["policies"]) > 20


def test_missing_shipped_pack_is_reported_not_dropped(monkeypatch, tmp_path):
    monkeypatch.setattr(shipped, "policy_pack", lambda: tmp_path / "gone")
    said: list[str] = []
    assert engine_packs(None, True, said.append) == []
    assert len(said) == 1
    assert said[0].startswith("warning: the envkit policy pack is not in this installation")
    assert "the engine runs without envkit's policy pack" in said[0]


def test_explicit_pack_that_does_not_exist_is_bad_input(tmp_path):
    from envkit.errors import SpecError

    with pytest.raises(SpecError, match=r"nope: not a policy pack folder"):
        engine_packs([str(tmp_path / "nope")])
    # envkit's own pack named explicitly is swapped for the copy made for this interpreter
    assert engine_packs([str(ROOT / "policies")]) == [str(engine_pack())]


@pytest.fixture
def engine(monkeypatch):
    fake = FakeAutomation()
    monkeypatch.setattr("pulumi.automation.create_or_select_stack",
                        fake.create_or_select_stack)
    monkeypatch.setattr("envkit.engine.pulumi_command", lambda: "cmd")
    monkeypatch.setattr("envkit.engine.find_pulumi", lambda: "/opt/pulumi/bin/pulumi")
    yield fake
    from envkit import local

    local.stop()


def test_preview_says_when_the_pack_is_missing(engine, monkeypatch, tmp_path):
    from envkit.cli import app

    monkeypatch.setattr(shipped, "policy_pack", lambda: tmp_path / "gone")
    result = CliRunner().invoke(app, ["preview", str(BASICS), "--target", "local"])
    assert result.exit_code == 0, result.output
    assert "warning: the envkit policy pack is not in this installation" in result.output
    assert dict(engine.stacks[-1].calls)["preview"]["policy_packs"] is None


def test_preview_refuses_a_missing_explicit_pack(engine, tmp_path, capsys):
    from envkit.cli import main

    missing = tmp_path / "nope"
    with pytest.raises(SystemExit) as exited:
        main(["preview", str(BASICS), "--target", "local", "--policy-pack", str(missing)])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert f"'--policy-pack': {missing} is not a policy pack folder (with PulumiPolicy.yaml)" in err
    assert not engine.stacks  # nothing started


def test_notebook_up_hands_the_engine_the_pack(engine):
    from envkit.notebook.magics import run_command

    run_command(f"preview {BASICS} --target local")
    assert dict(engine.stacks[-1].calls)["preview"]["policy_packs"] == [str(engine_pack())]
    run_command(f"preview {BASICS} --target local --no-policy")
    assert dict(engine.stacks[-1].calls)["preview"]["policy_packs"] is None


def test_dashboard_hands_the_engine_the_pack(engine):
    from envkit.notebook import Dashboard

    dash = Dashboard(str(BASICS), target="local")
    assert dash.preview()
    dash.wait(60)
    assert dict(engine.stacks[-1].calls)["preview"]["policy_packs"] == [str(engine_pack())]
