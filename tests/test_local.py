"""The local emulator's lifecycle, with the real moto server on 127.0.0.1."""

from __future__ import annotations

import json
import os
import signal
import socket

import pytest

from envkit import home, local


@pytest.fixture
def emulator():
    yield local
    local.stop()


def test_start_status_reuse_stop(emulator):
    first = local.start()
    assert first.running and first.endpoint == f"http://127.0.0.1:{first.port}"
    record = json.loads((home.home() / "local" / "server.json").read_text())
    assert record["pid"] == first.pid and record["port"] == first.port
    assert local.status().pid == first.pid
    again = local.start()
    assert again.pid == first.pid and again.instance_id == first.instance_id  # reused
    assert local.stop() is True
    assert not local.status().running
    assert local.stop() is False


def test_managed_policies_are_loaded(emulator):
    s = local.start()
    iam = local.boto3_session("us-east-1").client("iam", endpoint_url=s.endpoint)
    policy = iam.get_policy(PolicyArn="arn:aws:iam::aws:policy/AdministratorAccess")
    assert policy["Policy"]["PolicyName"] == "AdministratorAccess"


def test_reset_forgets_resources(emulator):
    s = local.start()
    iam = local.boto3_session("us-east-1").client("iam", endpoint_url=s.endpoint)
    iam.create_user(UserName="temp")
    assert [u["UserName"] for u in iam.list_users()["Users"]] == ["temp"]
    local.reset()
    assert iam.list_users()["Users"] == []


def test_port_in_use_is_a_clear_error(emulator):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        with pytest.raises(local.EmulatorError, match=f"port {port} on 127.0.0.1 is in use"):
            local.start(port)
    assert not local.status().running


def test_configured_port(emulator, monkeypatch):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv("ENVKIT_LOCAL_PORT", str(port))
    assert local.start().port == port
    with pytest.raises(local.EmulatorError, match="already runs on port"):
        local.start(port + 1)


def test_a_killed_server_is_noticed_and_replaced(emulator):
    first = local.start()
    os.kill(first.pid, signal.SIGKILL)
    os.waitpid(first.pid, 0)
    assert not local.status().running  # stale record cleared
    second = local.start()
    assert second.running and second.instance_id != first.instance_id


def test_reset_without_server_is_an_error(emulator):
    with pytest.raises(local.EmulatorError, match="not running"):
        local.reset()


def test_provider_args_one_service_per_endpoint():
    args = local.provider_args("http://127.0.0.1:1234")
    assert args["endpoints"] == [{"iam": "http://127.0.0.1:1234"},
                                 {"ec2": "http://127.0.0.1:1234"},
                                 {"sts": "http://127.0.0.1:1234"}]
    assert args["skip_credentials_validation"] and args["skip_requesting_account_id"]
    assert args["skip_metadata_api_check"]
