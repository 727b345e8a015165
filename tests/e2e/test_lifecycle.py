"""End to end with the real Pulumi CLI and aws plugin: up -> status -> outputs -> an update
of a lab that holds a generated key pair -> refresh after an emulator restart -> down,
against the local emulator; and, opt-in, the same against a real AWS account.

Skipped, with the reason printed, where the CLI or the plugin is missing (as on machines
without internet, where neither can be installed). The AWS variant also needs
ENVKIT_E2E_AWS=1 and credentials: it creates real (free-tier) resources and destroys them.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from envkit import local

from .engine import require_engine

pytestmark = pytest.mark.e2e

require_engine("the lifecycle is covered here by stand-in tests")

SPEC = """\
name: e2e-lab
region: us-east-1
owner: e2e@example.com
ttl: 1h
iam:
  account_alias: e2e-lab-alias
  password_policy: {}
  groups:
    admins: {managed_policies: [AdministratorAccess], require_mfa: true}
  users:
    ann: {groups: [admins], console: true}
  roles:
    web: {trusted_service: ec2, managed_policies: [AmazonSSMManagedInstanceCore]}
ec2:
  network: {vpc_cidr: 10.40.0.0/16, availability_zone: us-east-1a}
  key_pairs:
    lab: {}
  security_groups:
    web:
      ingress: [{service: http, from: 0.0.0.0/0}, {service: ssh, from: 203.0.113.0/24}]
  instances:
    web:
      ami: ami-760aaa0f
      type: t2.micro
      key_pair: lab
      security_groups: [web]
      role: web
      user_data: web-server
      elastic_ip: true
      extra_network_interfaces: 1
"""

AWS_SPEC = """\
name: e2e-aws-{suffix}
region: us-east-1
owner: e2e@example.com
ttl: 1h
iam:
  groups:
    readers: {{managed_policies: [ReadOnlyAccess]}}
  users:
    e2e-reader-{suffix}: {{groups: [readers], console: true}}
ec2:
  key_pairs:
    lab: {{}}
  security_groups:
    web:
      ingress: [{{service: http, from: 0.0.0.0/0}}]
"""


def envkit(*args: str, cwd, keep_aws: bool = False) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if keep_aws or not k.startswith("AWS_")}
    return subprocess.run([sys.executable, "-m", "envkit.cli", *args], capture_output=True,
                          text=True, cwd=cwd, env=env, timeout=1800)


def _last_json(done: subprocess.CompletedProcess) -> dict:
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_lifecycle_on_the_local_emulator(tmp_path):
    spec = tmp_path / "envkit.yaml"
    spec.write_text(SPEC)
    key = Path(os.environ["ENVKIT_HOME"]) / "keys" / "e2e-lab" / "lab.pem"
    try:
        up = envkit("up", "--target", "local", "--json", "--yes", cwd=tmp_path)
        assert up.returncode == 0, up.stderr + up.stdout
        result = _last_json(up)
        assert result["kind"] == "result" and result["changes"].get("create", 0) > 20
        assert result["outputs"]["passwords"] == "[secret]"
        assert result["outputs"]["private_keys"] == "[secret]"
        assert "PRIVATE KEY" not in up.stdout + up.stderr
        assert stat.S_IMODE(os.stat(key).st_mode) == 0o400
        first_key = key.read_text()

        status = envkit("status", "--json", cwd=tmp_path)
        assert status.returncode == 0, status.stderr
        seen = json.loads(status.stdout)["inspection"]
        assert [i["name"] for i in seen["instances"]] == ["web"]
        assert len(seen["instances"][0]["network_interfaces"]) == 2
        assert seen["users"][0]["name"] == "ann" and seen["users"][0]["console"]

        outputs = envkit("outputs", "--json", cwd=tmp_path)
        values = json.loads(outputs.stdout)
        assert values["sign_in_url"] == "https://e2e-lab-alias.signin.aws.amazon.com/console"
        assert values["passwords"] == "[secret]" and values["private_keys"] == "[secret]"
        assert "ec2-user@" in values["instances"]["web"]["ssh_command"]
        shown = json.loads(envkit("outputs", "--json", "--show-secrets", cwd=tmp_path).stdout)
        assert shown["private_keys"]["lab"].strip() == first_key.strip()

        # An update of a lab holding a generated key pair keeps the key.
        spec.write_text(SPEC.replace("owner: e2e@example.com", "owner: e2e-2@example.com"))
        update = envkit("up", "--target", "local", "--json", "--yes", cwd=tmp_path)
        assert update.returncode == 0, update.stderr + update.stdout
        assert _last_json(update)["changes"].get("update", 0) > 0
        assert key.read_text() == first_key

        # The emulator restarts (on the same port): refresh reaches it, up recreates.
        local.stop()
        local.start()
        refresh = envkit("refresh", "--target", "local", "--json", "--yes", cwd=tmp_path)
        assert refresh.returncode == 0, refresh.stderr + refresh.stdout
        again = envkit("up", "--target", "local", "--json", "--yes", "--refresh", cwd=tmp_path)
        assert again.returncode == 0, again.stderr + again.stdout
        after = json.loads(envkit("status", "--json", cwd=tmp_path).stdout)["inspection"]
        assert [i["name"] for i in after["instances"]] == ["web"]

        down = envkit("down", "--yes", "--json", cwd=tmp_path)
        assert down.returncode == 0, down.stderr
        assert not key.exists()
        gone = json.loads(envkit("status", "--json", cwd=tmp_path).stdout)["inspection"]
        assert gone["instances"] == [] and gone["users"] == []
    finally:
        local.stop()


@pytest.mark.skipif(os.environ.get("ENVKIT_E2E_AWS") != "1",
                    reason="e2e on AWS is opt-in: set ENVKIT_E2E_AWS=1 with credentials for "
                           "a sandbox account (it creates and destroys real resources)")
def test_lifecycle_on_aws(tmp_path):
    from envkit.targets import aws_credentials_available

    if not aws_credentials_available():
        pytest.skip("e2e on AWS: no AWS credentials found (AWS_PROFILE or keys)")
    suffix = os.urandom(3).hex()
    spec = tmp_path / "envkit.yaml"
    spec.write_text(AWS_SPEC.format(suffix=suffix))
    name = f"e2e-aws-{suffix}"
    try:
        up = envkit("up", "--target", "aws", "--json", "--yes", cwd=tmp_path, keep_aws=True)
        assert up.returncode == 0, up.stderr + up.stdout
        assert _last_json(up)["outputs"]["passwords"] == "[secret]"
        key = Path(os.environ["ENVKIT_HOME"]) / "keys" / name / "lab.pem"
        assert stat.S_IMODE(os.stat(key).st_mode) == 0o400
        status = envkit("status", "--json", cwd=tmp_path, keep_aws=True)
        assert status.returncode == 0, status.stderr
    finally:
        down = envkit("down", "--yes", "--json", cwd=tmp_path, keep_aws=True)
        assert down.returncode == 0, down.stderr + down.stdout
