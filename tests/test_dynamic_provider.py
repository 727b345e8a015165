"""The SshKey dynamic provider, served by the Pulumi SDK's own dynamic provider host
(``python -m pulumi.dynamic``) in a child process started the way the engine starts it,
and driven over its real gRPC interface (Configure, Check, Create, Diff, Update, Read).

The engine runs ``pulumi-resource-pulumi-python``, which runs
``"${PULUMI_PYTHON_CMD:-python3}" -u -m pulumi.dynamic`` when no virtualenv runtime option
is set (pulumi/pulumi sdk/python/dist/pulumi-resource-pulumi-python, last line), with the
environment the Automation API gives the CLI: this process's plus the workspace's variables
(pulumi/automation/_cmd.py, PulumiCommand.run). Here that command is resolved and started
exactly so, from the variables :meth:`envkit.engine.Environment.env_vars` returns.
"""

from __future__ import annotations

import asyncio
import base64
import os
import shutil
import subprocess
import sys
import venv

import dill
import grpc
import pytest
from pulumi.dynamic.dynamic import serialize_provider
from pulumi.runtime import rpc
from pulumi.runtime.proto import provider_pb2, provider_pb2_grpc

from envkit.components.keys import _SshKeyProvider
from envkit.engine import Environment
from envkit.targets import Target

from .conftest import minimal

URN = "urn:pulumi:lab::envkit::envkit:ec2:Ec2Lab$pulumi-python:dynamic/envkit:SshKey::k"
LOCAL = Target("local", "us-east-1", "test", endpoint="http://127.0.0.1:5999",
               emulator_id="1@2")


def _engine_environment(path: str) -> dict[str, str]:
    """What the provider host inherits: this process's variables with ``PATH`` as given
    (the Automation API prepends the CLI's folder), plus envkit's workspace variables."""
    return {**os.environ, "PATH": path,
            **Environment(minimal(), target=LOCAL).env_vars()}


def _host_command(env: dict[str, str]) -> list[str]:
    """The command pulumi-resource-pulumi-python runs (no virtualenv option set)."""
    python = env.get("PULUMI_PYTHON_CMD") or "python3"
    resolved = shutil.which(python, path=env["PATH"]) or python
    return [resolved, "-u", "-m", "pulumi.dynamic"]


@pytest.fixture
def wrong_python_first_on_path(tmp_path) -> str:
    """A PATH whose first `python3` is a real interpreter without envkit or pulumi (a venv
    that is not the one envkit is installed in), as under pipx or in a Jupyter kernel."""
    other = tmp_path / "other-venv"
    venv.create(other, with_pip=False)
    assert (other / "bin" / "python3").exists()
    return f"{other / 'bin'}:/usr/bin:/bin"


@pytest.fixture
def host(wrong_python_first_on_path):
    """The SDK's dynamic provider host, started with envkit's engine environment."""
    env = _engine_environment(wrong_python_first_on_path)
    command = _host_command(env)
    assert command[0] == sys.executable
    proc = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    port = proc.stdout.readline().strip()
    assert port.isdigit(), proc.stderr.read()
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    stub = provider_pb2_grpc.ResourceProviderStub(channel)
    stub.Configure(provider_pb2.ConfigureRequest(args=_struct({})))
    try:
        yield stub
    finally:
        channel.close()
        proc.kill()
        proc.wait()


def _struct(props: dict):
    return asyncio.run(rpc.serialize_properties(props, {}))


def _props(struct) -> dict:
    return rpc.deserialize_properties(struct)


def _provider(variant: int = 0) -> str:
    """The serialized provider as SshKey stores it in `__provider`; ``variant`` gives the
    same provider serialized differently (another pickle protocol, an attribute), as a new
    envkit, dill or Python release would."""
    provider = _SshKeyProvider()
    if variant == 0:
        return serialize_provider(provider)
    provider.serialized_by = f"another release {variant}"
    return base64.b64encode(dill.dumps(provider, protocol=2 + variant, recurse=True)).decode()


def _create(stub, algorithm: str = "ed25519") -> tuple[str, dict]:
    news = {"algorithm": algorithm, "public_key": None, "private_key": None,
            "__provider": _provider()}
    checked = stub.Check(provider_pb2.CheckRequest(urn=URN, olds=_struct({}),
                                                   news=_struct(news)))
    assert not checked.failures
    created = stub.Create(provider_pb2.CreateRequest(urn=URN, properties=checked.inputs))
    return created.id, _props(created.properties)


def test_without_envkits_setting_the_host_would_run_the_wrong_python(
        wrong_python_first_on_path):
    """The failure envkit prevents: `python3` on PATH cannot even import the host."""
    env = {**os.environ, "PATH": wrong_python_first_on_path}
    env.pop("PULUMI_PYTHON_CMD", None)
    command = _host_command(env)
    assert command[0] != sys.executable
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode != 0 and "No module named 'pulumi'" in done.stderr


def test_create_makes_a_key_pair_over_the_real_grpc_interface(host):
    key_id, outs = _create(host)
    assert key_id.startswith("sshkey-")
    assert outs["public_key"].startswith("ssh-ed25519 ")
    assert "BEGIN OPENSSH PRIVATE KEY" in outs["private_key"]
    assert outs["algorithm"] == "ed25519"


def test_a_reserialized_provider_changes_nothing(host):
    """A new envkit/dill/Python pickles the provider differently; the key must stay."""
    key_id, outs = _create(host)
    for variant in (1, 2):
        news = {"algorithm": "ed25519", "public_key": None, "private_key": None,
                "__provider": _provider(variant)}
        assert news["__provider"] != outs["__provider"]
        diff = host.Diff(provider_pb2.DiffRequest(id=key_id, urn=URN, olds=_struct(outs),
                                                  news=_struct(news)))
        assert diff.changes == provider_pb2.DiffResponse.DIFF_NONE
        assert list(diff.replaces) == []


def test_a_new_algorithm_replaces_the_key(host):
    key_id, outs = _create(host)
    news = {"algorithm": "rsa", "public_key": None, "private_key": None,
            "__provider": _provider(1)}
    diff = host.Diff(provider_pb2.DiffRequest(id=key_id, urn=URN, olds=_struct(outs),
                                              news=_struct(news)))
    assert diff.changes == provider_pb2.DiffResponse.DIFF_SOME
    assert list(diff.replaces) == ["algorithm"]


def test_an_update_carries_the_key_pair_forward(host):
    """Whatever makes the engine update the resource, the stored key survives (the SDK's
    default update would return no outputs and wipe it)."""
    key_id, outs = _create(host)
    news = {"algorithm": "ed25519", "public_key": None, "private_key": None,
            "__provider": _provider(1)}
    updated = _props(host.Update(provider_pb2.UpdateRequest(
        id=key_id, urn=URN, olds=_struct(outs), news=_struct(news))).properties)
    assert updated["private_key"] == outs["private_key"]
    assert updated["public_key"] == outs["public_key"]
    assert updated["__provider"] == news["__provider"]


def test_a_refresh_reads_back_the_stored_key(host):
    key_id, outs = _create(host)
    read = host.Read(provider_pb2.ReadRequest(id=key_id, urn=URN, properties=_struct(outs)))
    assert read.id == key_id
    again = _props(read.properties)
    assert again["private_key"] == outs["private_key"]
    assert again["public_key"] == outs["public_key"]
