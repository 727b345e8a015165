"""End to end with the real Pulumi CLI and aws plugin, on the local emulator: the engine
paths of docs/engine.md.

- an `up` interrupted by SIGTERM is cancelled (exit 130), its lock released, the emulator
  kept, and the next `up` succeeds;
- a shared backend (PULUMI_BACKEND_URL) with PULUMI_CONFIG_PASSPHRASE: a second machine
  (another ENVKIT_HOME) without the passphrase is refused with exit 2 before anything,
  with it reads the same stack, and the expiry it sees is the first machine's;
- a user policy pack with a mandatory violation stops `up` before any resource exists;
- `refresh` needs --yes without a terminal;
- `doctor --json` reports the CLI's version against the minimum.

Skipped, with the reason printed, where the CLI or the plugin is missing.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from envkit import local

from .engine import require_engine

pytestmark = pytest.mark.e2e

PULUMI = require_engine("the engine paths are covered here by tests/test_engine_pipeline.py, "
                        "tests/test_engine.py and tests/test_pulumi_cli.py with stand-ins")

SPEC = """\
name: {name}
region: us-east-1
owner: e2e@example.com
ttl: 3h
iam:
  groups:
    readers: {{managed_policies: [ReadOnlyAccess]}}
  users:
{users}
"""


def spec_file(folder: Path, name: str, users: int = 12) -> Path:
    path = folder / f"{name}.yaml"
    path.write_text(SPEC.format(name=name, users="\n".join(
        f"    u{i:02d}: {{groups: [readers]}}" for i in range(users))))
    return path


def envkit(*args: str, cwd: Path, home: Path | None = None, **extra: str
           ) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    if home is not None:
        env["ENVKIT_HOME"] = str(home)
    env.update(extra)
    return subprocess.run([sys.executable, "-m", "envkit.cli", *args], capture_output=True,
                          text=True, cwd=cwd, env=env, timeout=1800)


def _last_json(done: subprocess.CompletedProcess) -> dict:
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_an_interrupted_up_is_cancelled_and_the_next_up_resumes(tmp_path):
    spec = spec_file(tmp_path, "e2e-cancel", users=20)
    try:
        proc = subprocess.Popen(
            [sys.executable, "-m", "envkit.cli", "up", str(spec), "--target", "local",
             "--yes", "--json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            cwd=tmp_path, env={k: v for k, v in os.environ.items()
                               if not k.startswith("AWS_")})
        deadline = time.monotonic() + 600
        for line in proc.stdout:  # wait until the engine creates resources
            if '"resource_started"' in line or time.monotonic() > deadline:
                break
        proc.send_signal(signal.SIGTERM)  # a CI runner stopping the job: envkit alone
        out, err = proc.communicate(timeout=600)
        assert proc.returncode == 130, err
        assert "cancelled (SIGTERM)" in err
        assert json.loads(out.strip().splitlines()[-1])["exit_code"] == 130
        assert local.status().running  # kept: the state may record what it holds
        locks = Path(os.environ["ENVKIT_HOME"]) / "state" / ".pulumi" / "locks"
        assert not list(locks.rglob("*.json"))  # the lock was released
        again = envkit("up", str(spec), "--target", "local", "--yes", "--json", cwd=tmp_path)
        assert again.returncode == 0, again.stderr
        status = json.loads(envkit("status", str(spec), "--json", cwd=tmp_path).stdout)
        assert len(status["inspection"]["users"]) == 20
    finally:
        envkit("down", str(spec), "--yes", cwd=tmp_path)
        local.stop()


def test_a_shared_backend_follows_pulumis_passphrase_and_keeps_one_expiry(tmp_path):
    backend = tmp_path / "shared-state"
    backend.mkdir()
    shared = {"PULUMI_BACKEND_URL": f"file://{backend}",
              "PULUMI_CONFIG_PASSPHRASE": "team-passphrase"}
    first, second = tmp_path / "machine-a", tmp_path / "machine-b"
    spec = spec_file(tmp_path, "e2e-shared", users=2)
    try:
        up = envkit("up", str(spec), "--target", "local", "--yes", "--json", cwd=tmp_path,
                    home=first, **shared)
        assert up.returncode == 0, up.stderr
        expires = _last_json(up)["outputs"]["expires"]
        # Plain `pulumi` with the same backend and passphrase reads envkit's stack.
        listed = subprocess.run([str(PULUMI), "stack", "ls", "--all", "--json"],
                                capture_output=True, text=True, cwd=tmp_path,
                                env={**os.environ, **shared})
        assert "e2e-shared" in listed.stdout, listed.stderr
        # Machine B: no passphrase set, so envkit would use one it just generated.
        refused = envkit("outputs", str(spec), "--backend", f"file://{backend}", "--json",
                         cwd=tmp_path, home=second,
                         PULUMI_BACKEND_URL=f"file://{backend}")
        assert refused.returncode == 2, refused.stderr
        assert "does not open its secrets" in refused.stderr
        # With the passphrase, machine B updates the same stack and keeps A's expiry.
        again = envkit("up", str(spec), "--target", "local", "--yes", "--json",
                       cwd=tmp_path, home=second, **shared)
        assert again.returncode == 0, again.stderr
        assert _last_json(again)["outputs"]["expires"] == expires
    finally:
        envkit("down", str(spec), "--yes", cwd=tmp_path, home=first, **shared)
        local.stop()


PACK = """\
runtime:
  name: python
  options:
    virtualenv: {venv}
version: 0.0.1
"""
PACK_MAIN = """\
from pulumi_policy import EnforcementLevel, PolicyPack, ResourceValidationPolicy


def no_users(args, report_violation):
    if args.resource_type == "aws:iam/user:User":
        report_violation("no IAM users in this account")


PolicyPack("e2e-team-pack", [ResourceValidationPolicy(
    name="no-iam-users", description="No IAM users.",
    enforcement_level=EnforcementLevel.MANDATORY, validate=no_users)])
"""


def test_a_user_pack_stops_up_before_any_change(tmp_path):
    pack = tmp_path / "pack"
    pack.mkdir()
    (pack / "PulumiPolicy.yaml").write_text(PACK.format(venv=sys.prefix))
    (pack / "__main__.py").write_text(PACK_MAIN)
    spec = spec_file(tmp_path, "e2e-pack", users=3)
    try:
        up = envkit("up", str(spec), "--target", "local", "--yes", "--json",
                    "--policy-pack", str(pack), cwd=tmp_path)
        assert up.returncode == 4, up.stderr
        assert "no-iam-users" in up.stderr
        status = json.loads(envkit("status", str(spec), "--target", "local", "--json",
                                   cwd=tmp_path).stdout)
        assert status["inspection"]["users"] == []  # nothing was created
    finally:
        local.stop()


def test_refresh_needs_yes_and_doctor_reports_the_minimum(tmp_path):
    spec = spec_file(tmp_path, "e2e-refresh", users=1)
    done = envkit("refresh", str(spec), cwd=tmp_path)
    assert done.returncode == 2 and "pass --yes" in done.stderr
    checks = {c["name"]: c for c in json.loads(envkit("doctor", "--json",
                                                      cwd=tmp_path).stdout)}
    assert checks["Pulumi CLI"]["status"] == "pass"
    assert "minimum 3.231.0" in checks["Pulumi CLI"]["detail"]
    assert checks["aws provider plugin"]["status"] == "pass"
