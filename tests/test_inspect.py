"""Live inspection against the real moto server, with resources created through boto3."""

from __future__ import annotations

import http.server
import threading

import pytest

from envkit import local
from envkit.inspect import check_url, inspect_environment
from envkit.targets import resolve_target

TAGS = [{"Key": "envkit:environment", "Value": "lab"}, {"Key": "Name", "Value": "lab-web"}]


@pytest.fixture(scope="module")
def deployed(tmp_path_factory):
    """A small lab made by hand on the emulator, plus a stranger from another lab."""
    import os

    previous = os.environ.get("ENVKIT_HOME")
    os.environ["ENVKIT_HOME"] = str(tmp_path_factory.mktemp("inspect-home"))
    target = resolve_target("local", "us-east-1")
    ec2, iam = target.client("ec2"), target.client("iam")
    sg = ec2.create_security_group(
        GroupName="lab-web", Description="web",
        TagSpecifications=[{"ResourceType": "security-group", "Tags": TAGS}])["GroupId"]
    ec2.authorize_security_group_ingress(GroupId=sg, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22,
         "IpRanges": [{"CidrIp": "203.0.113.0/24"}]},
        {"IpProtocol": "tcp", "FromPort": 80, "ToPort": 80, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])
    inst = ec2.run_instances(
        ImageId="ami-0d27e0fb3bac4d724", MinCount=1, MaxCount=1, InstanceType="t2.micro",
        SecurityGroupIds=[sg], MetadataOptions={"HttpTokens": "required"},
        TagSpecifications=[{"ResourceType": "instance", "Tags": TAGS}])["Instances"][0]
    subnet = inst["SubnetId"]
    eni = ec2.create_network_interface(SubnetId=subnet)["NetworkInterface"]["NetworkInterfaceId"]
    ec2.attach_network_interface(NetworkInterfaceId=eni, InstanceId=inst["InstanceId"],
                                 DeviceIndex=1)
    ec2.run_instances(ImageId="ami-0d27e0fb3bac4d724", MinCount=1, MaxCount=1,
                      TagSpecifications=[{"ResourceType": "instance", "Tags": [
                          {"Key": "envkit:environment", "Value": "other"}]}])
    iam.create_group(GroupName="lab-admins")
    iam.create_user(UserName="ann", Path="/envkit/", Tags=TAGS[:1])
    iam.add_user_to_group(GroupName="lab-admins", UserName="ann")
    iam.create_login_profile(UserName="ann", Password="Aa1!" + "x" * 16,
                             PasswordResetRequired=True)
    iam.create_access_key(UserName="ann")
    iam.create_user(UserName="bob", Path="/envkit/", Tags=TAGS[:1])
    iam.create_user(UserName="eve", Path="/envkit/",
                    Tags=[{"Key": "envkit:environment", "Value": "other"}])
    yield target, inst["InstanceId"], eni
    local.stop()
    if previous is None:
        os.environ.pop("ENVKIT_HOME", None)
    else:
        os.environ["ENVKIT_HOME"] = previous


def test_instances_with_state_ips_rules_and_enis(deployed):
    target, instance_id, eni = deployed
    seen = inspect_environment("lab", target)
    assert [i.id for i in seen.instances] == [instance_id]
    web = seen.instances[0]
    assert web.name == "web" and web.state == "running" and web.type == "t2.micro"
    assert web.private_ip and web.public_ip and web.public_dns
    assert web.security_groups == {"lab-web": ["tcp 22 from 203.0.113.0/24",
                                               "tcp 80 from 0.0.0.0/0"]}
    assert eni in web.network_interfaces and len(web.network_interfaces) == 2


def test_users_with_groups_console_mfa_and_key_ages(deployed):
    target, _, _ = deployed
    users = {u.name: u for u in inspect_environment("lab", target).users}
    assert set(users) == {"ann", "bob"}  # eve belongs to another environment
    assert users["ann"].groups == ["lab-admins"] and users["ann"].console
    assert users["ann"].mfa_devices == 0 and users["ann"].access_key_ages_days == [0]
    assert not users["bob"].console and users["bob"].access_key_ages_days == []


def test_web_checks_are_skipped_on_the_emulator(deployed):
    target, _, _ = deployed
    seen = inspect_environment("lab", target, check_web=True, web_urls={"web": "http://x/"})
    assert seen.instances[0].web["skipped"]


def test_empty_environment_says_so(deployed):
    target, _, _ = deployed
    seen = inspect_environment("nothing-here", target)
    assert not seen.instances and "nothing tagged" in seen.notes[0]


def test_check_url_against_a_local_server():
    class Ok(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200 if self.path == "/" else 404)
            self.end_headers()
            self.wfile.write(b"hello")

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Ok)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_port}"
    try:
        assert check_url(base + "/") == {"url": base + "/", "status": 200, "ok": True}
        assert check_url(base + "/missing")["status"] == 404
    finally:
        server.shutdown()
    closed = check_url(base + "/", timeout=1)
    assert closed["ok"] is False and closed["status"] is None
