"""End to end: `envkit up` -> `status` -> `outputs` -> `down` against the local emulator
with the real Pulumi CLI and aws plugin. Skipped, with the reason printed, where either is
missing (as on machines without internet, where neither can be installed)."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from importlib import metadata

import pytest

from envkit import local
from envkit.engine import find_pulumi

pytestmark = pytest.mark.e2e

PULUMI = find_pulumi()
if PULUMI is None:
    pytest.skip("e2e: the Pulumi CLI is not installed (envkit install-pulumi needs internet); "
                "the lifecycle is covered here by stand-in tests", allow_module_level=True)
_AWS = metadata.version("pulumi_aws")
_PLUGINS = subprocess.run([str(PULUMI), "plugin", "ls"], capture_output=True, text=True).stdout
if not any(line.split()[:1] == ["aws"] and _AWS in line for line in _PLUGINS.splitlines()):
    pytest.skip(f"e2e: the Pulumi aws plugin v{_AWS} is not installed "
                f"(pulumi plugin install resource aws v{_AWS})", allow_module_level=True)

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


def envkit(*args: str, cwd) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    return subprocess.run([sys.executable, "-m", "envkit.cli", *args], capture_output=True,
                          text=True, cwd=cwd, env=env, timeout=900)


def test_up_status_outputs_down_on_the_local_emulator(tmp_path):
    (tmp_path / "envkit.yaml").write_text(SPEC)
    try:
        up = envkit("up", "--target", "local", "--json", cwd=tmp_path)
        assert up.returncode == 0, up.stderr + up.stdout
        result = json.loads(up.stdout.splitlines()[-1])
        assert result["kind"] == "result" and result["changes"].get("create", 0) > 20
        assert result["outputs"]["passwords"] == "[secret]"

        key = os.path.join(os.environ["ENVKIT_HOME"], "keys", "e2e-lab", "lab.pem")
        assert stat.S_IMODE(os.stat(key).st_mode) == 0o400

        status = envkit("status", "--json", cwd=tmp_path)
        assert status.returncode == 0, status.stderr
        seen = json.loads(status.stdout)["inspection"]
        assert [i["name"] for i in seen["instances"]] == ["web"]
        assert len(seen["instances"][0]["network_interfaces"]) == 2
        assert seen["users"][0]["name"] == "ann" and seen["users"][0]["console"]

        outputs = json.loads(envkit("outputs", "--json", cwd=tmp_path).stdout)
        assert outputs["sign_in_url"] == "https://e2e-lab-alias.signin.aws.amazon.com/console"
        assert f"-i {key} ec2-user@" in outputs["instances"]["web"]["ssh_command"]

        down = envkit("down", "--yes", "--json", cwd=tmp_path)
        assert down.returncode == 0, down.stderr
        assert not os.path.exists(key)
        after = json.loads(envkit("status", "--json", cwd=tmp_path).stdout)["inspection"]
        assert after["instances"] == [] and after["users"] == []
    finally:
        local.stop()
