"""The offline plan: each spec feature lands in the right pulumi-aws inputs, the secure
defaults hold, secrets stay masked, and nothing outside the process is touched."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import envkit
from envkit.planner import SECRET, UNKNOWN

from .conftest import BASICS, LABS, ROOT, minimal

USER = "aws:iam/user:User"
GROUP_POLICY = "aws:iam/groupPolicy:GroupPolicy"
INSTANCE = "aws:ec2/instance:Instance"
SG = "aws:ec2/securityGroup:SecurityGroup"
TAGGABLE = {USER, "aws:iam/role:Role", "aws:iam/instanceProfile:InstanceProfile", INSTANCE,
            SG, "aws:ec2/keyPair:KeyPair", "aws:ec2/vpc:Vpc", "aws:ec2/subnet:Subnet",
            "aws:ec2/internetGateway:InternetGateway", "aws:ec2/routeTable:RouteTable",
            "aws:ec2/eip:Eip", "aws:ec2/networkInterface:NetworkInterface"}


@pytest.fixture(scope="module")
def vm_plan():
    """A lab exercising the instance options the reference lab leaves at defaults."""
    from envkit.components.keys import generate_openssh_key

    public, _ = generate_openssh_key("ed25519")
    return envkit.plan(minimal(
        ttl="1d",
        iam={"users": {"bot": {"access_key": True, "groups": ["ops"]}},
             "groups": {"ops": {"managed_policies": ["ReadOnlyAccess"]}}},
        ec2={"network": "default",
             "key_pairs": {"mine": {"public_key": public}},
             "security_groups": {"admin": {"ingress": [
                 {"service": "ssh", "from": "0.0.0.0/0"},
                 {"protocol": "udp", "ports": "5000-5010", "from": ["10.0.0.0/8", "::/0"]}],
                 "egress": [{"protocol": "all", "to": "0.0.0.0/0"}]}},
             "instances": {"spot": {"purchase": "spot", "tenancy": "dedicated", "type": "m5.large",
                                    "monitoring": True, "imdsv2": False, "key_pair": "mine",
                                    "security_groups": ["admin"],
                                    "root_volume": {"encrypted": False, "size_gb": 30}}}}))


def only(plan, type_, name):
    return plan.get(type_, name).inputs


def test_console_user_gets_login_profile_with_reset(basics_plan):
    profile = only(basics_plan, "aws:iam/userLoginProfile:UserLoginProfile",
                   "aws-basics-user-aditya-console")
    assert profile["passwordResetRequired"] is True
    assert profile["passwordLength"] >= 20
    assert profile["user"] == "aditya"


def test_users_join_groups_and_never_get_policies(basics_plan):
    membership = only(basics_plan, "aws:iam/userGroupMembership:UserGroupMembership",
                      "aws-basics-user-dev1-groups")
    assert membership["groups"] == ["aws-basics-developers"]
    for forbidden in ("aws:iam/userPolicy:UserPolicy",
                      "aws:iam/userPolicyAttachment:UserPolicyAttachment",
                      "aws:iam/policyAttachment:PolicyAttachment"):
        assert not basics_plan.find(forbidden)


def test_admin_policy_is_attached_to_the_group(basics_plan):
    attach = only(basics_plan, "aws:iam/groupPolicyAttachment:GroupPolicyAttachment",
                  "aws-basics-group-administrators-AdministratorAccess")
    assert attach["policyArn"] == "arn:aws:iam::aws:policy/AdministratorAccess"
    assert attach["group"] == "aws-basics-administrators"


def test_require_mfa_adds_deny_unless_mfa_to_the_group(basics_plan):
    doc = json.loads(only(basics_plan, GROUP_POLICY,
                          "aws-basics-group-administrators-require-mfa")["policy"])
    deny = [s for s in doc["Statement"] if s["Effect"] == "Deny"]
    assert deny and deny[0]["Condition"] == {
        "BoolIfExists": {"aws:MultiFactorAuthPresent": "false"}}
    assert "iam:EnableMFADevice" in deny[0]["NotAction"]
    assert "iam:ChangePassword" in deny[0]["NotAction"]
    assert not basics_plan.find(GROUP_POLICY, "aws-basics-group-developers-require-mfa")


def test_mfa_self_service_names_the_users_own_arn_with_envkits_path(basics_plan):
    """Users live under /envkit/, so their ARN is user/envkit/NAME: the self-service Allow
    must name that, or a user without MFA could not set MFA up (nor change the password)."""
    doc = json.loads(only(basics_plan, GROUP_POLICY,
                          "aws-basics-group-administrators-require-mfa")["policy"])
    own = next(s for s in doc["Statement"] if s.get("Sid") == "AllowOwnMfaAndPassword")
    assert "arn:aws:iam::*:user/envkit/${aws:username}" in own["Resource"]
    user = only(basics_plan, "aws:iam/user:User", "aws-basics-user-aditya")
    assert user["path"] == "/envkit/"


def test_inline_group_policy_is_the_spec_document(basics_plan):
    doc = json.loads(only(basics_plan, GROUP_POLICY,
                          "aws-basics-group-developers-start-stop-lab-instances")["policy"])
    assert doc["Statement"][0]["Action"] == ["ec2:StartInstances", "ec2:StopInstances"]
    assert doc["Version"] == "2012-10-17"


def test_alias_and_sign_in_url(basics_plan):
    assert only(basics_plan, "aws:iam/accountAlias:AccountAlias",
                "aws-basics-alias")["accountAlias"] == "aws-basics-lab"
    assert basics_plan.outputs["sign_in_url"] == (
        "https://aws-basics-lab.signin.aws.amazon.com/console")


def test_password_policy_inputs(basics_plan):
    pp = only(basics_plan, "aws:iam/accountPasswordPolicy:AccountPasswordPolicy",
              "aws-basics-password-policy")
    assert pp["minimumPasswordLength"] == 14 and pp["passwordReusePrevention"] == 24
    assert pp["maxPasswordAge"] == 90 and pp["requireSymbols"] and pp["requireNumbers"]
    assert pp["requireUppercaseCharacters"] and pp["requireLowercaseCharacters"]


def test_role_trusts_ec2_and_gets_an_instance_profile(basics_plan):
    role = only(basics_plan, "aws:iam/role:Role", "aws-basics-role-web-server")
    trust = json.loads(role["assumeRolePolicy"])
    assert trust["Statement"][0]["Principal"] == {"Service": "ec2.amazonaws.com"}
    profile = only(basics_plan, "aws:iam/instanceProfile:InstanceProfile",
                   "aws-basics-role-web-server-profile")
    assert profile["role"] == "aws-basics-web-server"
    instance = only(basics_plan, INSTANCE, "aws-basics-web")
    assert instance["iamInstanceProfile"] == "aws-basics-web-server"
    attach = only(basics_plan, "aws:iam/rolePolicyAttachment:RolePolicyAttachment",
                  "aws-basics-role-web-server-AmazonSSMManagedInstanceCore")
    assert attach["policyArn"] == "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore"


def test_ami_alias_resolves_to_a_realistic_image(basics_plan):
    ami = only(basics_plan, INSTANCE, "aws-basics-web")["ami"]
    assert ami.startswith("ami-") and len(ami) == 21


def test_instance_type_storage_and_secure_defaults(basics_plan):
    inst = only(basics_plan, INSTANCE, "aws-basics-web")
    assert inst["instanceType"] == "t2.micro"
    assert inst["metadataOptions"] == {"httpEndpoint": "enabled", "httpTokens": "required",
                                       "httpPutResponseHopLimit": 1}
    root = inst["rootBlockDevice"]
    assert root["encrypted"] is True and root["volumeSize"] == 8
    assert root["volumeType"] == "gp3"
    assert "instanceMarketOptions" not in inst


def test_security_group_rules(basics_plan):
    sg = only(basics_plan, SG, "aws-basics-sg-web")
    ingress = {(r["fromPort"], r["toPort"]): r for r in sg["ingress"]}
    assert ingress[(22, 22)]["cidrBlocks"] == ["203.0.113.0/24"]
    assert ingress[(80, 80)]["cidrBlocks"] == ["0.0.0.0/0"]
    assert ingress[(8080, 8081)]["protocol"] == "tcp"
    assert all(r["description"] for r in sg["ingress"] + sg["egress"])
    assert sg["description"] == "SSH from the office network, HTTP from anywhere"
    # default egress: the web only, not all traffic
    assert sorted(r["fromPort"] for r in sg["egress"]) == [80, 443]


def test_no_world_ssh_unless_written(basics_plan, vm_plan):
    sg = only(basics_plan, SG, "aws-basics-sg-web")
    ssh = [r for r in sg["ingress"] if r["fromPort"] <= 22 <= r["toPort"]]
    assert all("0.0.0.0/0" not in r.get("cidrBlocks", []) for r in ssh)
    admin = only(vm_plan, SG, "t-lab-sg-admin")
    assert any(r["fromPort"] == 22 and r["cidrBlocks"] == ["0.0.0.0/0"]
               for r in admin["ingress"])


def test_key_pair_is_generated_and_its_private_key_is_secret(basics_plan):
    key = only(basics_plan, "aws:ec2/keyPair:KeyPair", "aws-basics-key-learning-ec2")
    assert key["keyName"] == "aws-basics-learning-ec2"
    assert key["publicKey"] == UNKNOWN  # generated at deploy time, kept in state
    assert basics_plan.outputs["private_keys"] == SECRET
    assert only(basics_plan, INSTANCE, "aws-basics-web")["keyName"] == "aws-basics-learning-ec2"


def test_existing_public_key_is_imported(vm_plan):
    key = only(vm_plan, "aws:ec2/keyPair:KeyPair", "t-lab-key-mine")
    assert key["publicKey"].startswith("ssh-ed25519 ")
    assert not vm_plan.find("pulumi-python:dynamic/envkit:SshKey")


def test_elastic_ip_is_attached_to_the_instance(basics_plan):
    eip = basics_plan.get("aws:ec2/eip:Eip", "aws-basics-web-eip")
    assert eip.inputs["domain"] == "vpc" and eip.inputs["instance"] == UNKNOWN
    instance = basics_plan.get(INSTANCE, "aws-basics-web")
    assert eip.parent == instance.urn and instance.urn in eip.dependencies


def test_extra_eni_is_in_the_instance_subnet_and_attached(basics_plan):
    eni = basics_plan.get("aws:ec2/networkInterface:NetworkInterface", "aws-basics-web-eni1")
    subnet = basics_plan.get("aws:ec2/subnet:Subnet", "aws-basics-public")
    assert subnet.urn in eni.dependencies
    instance = basics_plan.get(INSTANCE, "aws-basics-web")
    assert subnet.urn in instance.dependencies
    attach = basics_plan.get("aws:ec2/networkInterfaceAttachment:NetworkInterfaceAttachment",
                             "aws-basics-web-eni1-attach")
    assert attach.inputs["deviceIndex"] == 1
    assert instance.urn in attach.dependencies and eni.urn in attach.dependencies
    assert subnet.inputs["availabilityZone"] == "us-east-1a"
    assert len(basics_plan.outputs["instances"]["web"]["network_interfaces"]) == 2


def test_user_data_web_server_installs_enables_and_starts_httpd(basics_plan):
    script = only(basics_plan, INSTANCE, "aws-basics-web")["userData"]
    assert "install -y httpd" in script and "systemctl enable --now httpd" in script
    assert "/var/www/html/index.html" in script
    assert "X-aws-ec2-metadata-token" in script  # works with IMDSv2 required
    assert "web_url" in basics_plan.outputs["instances"]["web"]


def test_user_data_from_a_file(tmp_path):
    (tmp_path / "boot.sh").write_text("#!/bin/sh\necho booted\n")
    (tmp_path / "lab.yaml").write_text(
        "name: f\nowner: o@example.com\nec2:\n  instances:\n    vm: {user_data: {file: boot.sh}}\n")
    plan = envkit.plan(tmp_path / "lab.yaml")
    assert plan.get(INSTANCE, "f-vm").inputs["userData"] == "#!/bin/sh\necho booted\n"
    assert plan.outputs["instances"]["vm"]["web_url"] is None


def test_spot_dedicated_monitoring_and_opt_outs(vm_plan):
    inst = only(vm_plan, INSTANCE, "t-lab-spot")
    assert inst["instanceMarketOptions"]["marketType"] == "spot"
    assert inst["tenancy"] == "dedicated" and inst["monitoring"] is True
    assert inst["metadataOptions"]["httpTokens"] == "optional"
    assert inst["rootBlockDevice"]["encrypted"] is False
    assert inst["rootBlockDevice"]["volumeSize"] == 30


def test_default_vpc_uses_lookups_not_new_network(vm_plan):
    assert not vm_plan.find("aws:ec2/vpc:Vpc")
    inst = only(vm_plan, INSTANCE, "t-lab-spot")
    assert inst["subnetId"].startswith("subnet-")


def test_dedicated_vpc_has_igw_route_and_closed_default_group(basics_plan):
    vpc = only(basics_plan, "aws:ec2/vpc:Vpc", "aws-basics-vpc")
    assert vpc["cidrBlock"] == "10.20.0.0/16"
    routes = only(basics_plan, "aws:ec2/routeTable:RouteTable", "aws-basics-public-routes")
    assert routes["routes"][0]["cidrBlock"] == "0.0.0.0/0"
    default_sg = only(basics_plan, "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup",
                      "aws-basics-vpc-default-sg")
    assert default_sg["ingress"] == [] and default_sg["egress"] == []


def test_rule_with_ipv6_and_all_traffic_egress(vm_plan):
    admin = only(vm_plan, SG, "t-lab-sg-admin")
    udp = next(r for r in admin["ingress"] if r["protocol"] == "udp")
    assert udp["cidrBlocks"] == ["10.0.0.0/8"] and udp["ipv6CidrBlocks"] == ["::/0"]
    assert admin["egress"][0]["protocol"] == "-1"


def test_access_key_only_when_asked_and_secret(vm_plan, basics_plan):
    assert vm_plan.find("aws:iam/accessKey:AccessKey")
    assert not basics_plan.find("aws:iam/accessKey:AccessKey")
    assert vm_plan.outputs["access_keys"] == SECRET  # one secret value: id and key alike


def test_every_taggable_resource_carries_environment_owner_and_expiry(basics_plan):
    seen = set()
    for r in basics_plan.resources:
        if r.type in TAGGABLE:
            seen.add(r.type)
            tags = r.inputs["tags"]
            assert tags["envkit:environment"] == "aws-basics", r.name
            assert tags["envkit:owner"] == "instructor@example.com", r.name
            assert tags["envkit:expires"].endswith("Z"), r.name
            assert tags["course"] == "aws-101"
    assert {USER, INSTANCE, SG, "aws:ec2/eip:Eip"} <= seen
    root_tags = only(basics_plan, INSTANCE, "aws-basics-web")["rootBlockDevice"]["tags"]
    assert root_tags["envkit:environment"] == "aws-basics"


def test_no_expiry_tag_without_ttl():
    plan = envkit.plan(minimal(iam={"users": {"u": {}}}))
    assert "envkit:expires" not in plan.get(USER, "t-lab-user-u").inputs["tags"]


def test_children_are_parented_to_components(basics_plan):
    components = {r.urn: r.type for r in basics_plan.resources if not r.custom}
    assert set(components.values()) == {"envkit:iam:IamLab", "envkit:ec2:Ec2Lab",
                                        "envkit:network:LabNetwork"}
    for r in basics_plan.resources:
        if r.custom and r.type != "pulumi:providers:aws":
            top = r
            while top.parent and top.parent not in components:
                top = next(p for p in basics_plan.resources if p.urn == top.parent)
            assert top.parent in components, r.name


def test_secrets_never_appear_in_the_plan(basics_plan):
    text = json.dumps(basics_plan.to_dict())
    assert "PRIVATE KEY" not in text
    # Each output holding secrets is ONE secret value, as the engine will report it.
    for key in ("passwords", "private_keys"):
        assert basics_plan.outputs[key] == SECRET
    assert '"passwords": "[secret]"' in text and '"private_keys": "[secret]"' in text


def test_outputs_a_user_needs_next(basics_plan):
    out = basics_plan.outputs
    assert set(out["users"]) == {"aditya", "dev1"}
    assert set(out["groups"]) == {"administrators", "developers"}
    assert set(out["roles"]) == {"web-server"}
    web = out["instances"]["web"]
    assert {"id", "private_ip", "public_ip", "public_dns", "ssh_command", "web_url",
            "network_interfaces"} <= set(web)
    assert out["expires"] and out["environment"] == "aws-basics"


def test_plan_json_schema(basics_plan):
    doc = basics_plan.to_dict()
    assert doc["schema_version"] == 1
    assert set(doc) == {"schema_version", "environment", "region", "source", "summary",
                        "resources", "outputs"}
    assert doc["summary"]["resources"] == sum(doc["summary"]["by_type"].values())
    for r in doc["resources"]:
        assert set(r) == {"urn", "type", "name", "parent", "custom", "dependencies",
                          "provider", "inputs"}
    json.dumps(doc)


@pytest.mark.parametrize("lab", sorted(LABS.glob("*.yaml")), ids=lambda p: p.name)
def test_shipped_labs_plan(lab):
    plan = envkit.plan(lab)
    assert sum(plan.counts().values()) > 0


def test_plan_touches_no_network_no_cli_and_no_credentials(tmp_path):
    """Run `envkit plan` in a child with sockets disabled and no `pulumi` on PATH."""
    guard = tmp_path / "guard"
    guard.mkdir()
    (guard / "sitecustomize.py").write_text(
        "import socket\n"
        "def _refuse(*a, **k):\n"
        "    raise OSError('network access attempted during an offline plan')\n"
        "socket.socket.connect = _refuse\n"
        "socket.socket.connect_ex = _refuse\n"
        "socket.create_connection = _refuse\n"
        "socket.getaddrinfo = _refuse\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "PULUMI_"))}
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + "/usr/bin:/bin"
    env["PYTHONPATH"] = str(guard)
    env["HOME"] = str(tmp_path)
    env["AWS_CONFIG_FILE"] = env["AWS_SHARED_CREDENTIALS_FILE"] = str(tmp_path / "none")
    probe = subprocess.run([sys.executable, "-c", "import shutil; print(shutil.which('pulumi'))"],
                           env=env, capture_output=True, text=True)
    assert probe.stdout.strip() == "None"
    done = subprocess.run([sys.executable, "-m", "envkit.cli", "plan", "--json", str(BASICS)],
                          env=env, capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["summary"]["resources"] > 20
    sock_check = subprocess.run([sys.executable, "-c",
                                 "import socket; socket.create_connection(('127.0.0.1', 9))"],
                                env=env, capture_output=True, text=True)
    assert "offline plan" in sock_check.stderr  # the guard really was active


def test_repo_root_pulumi_program_declares_the_same_lab(monkeypatch, basics_plan):
    """`pulumi up` at the root runs __main__.py: the same program as the plan."""
    import runpy

    from envkit.planner import run_mocked

    monkeypatch.chdir(ROOT)
    records, outputs = run_mocked("dev", "us-east-1", "us-east-1a",
                                  lambda: runpy.run_path(str(ROOT / "__main__.py")))
    assert sorted((r.type, r.name) for r in records) == sorted(
        (r.type, r.name) for r in basics_plan.resources)
    assert outputs["sign_in_url"] == basics_plan.outputs["sign_in_url"]
    assert "name: python" in (ROOT / "Pulumi.yaml").read_text()


def test_planning_reads_moto_data_without_importing_moto():
    """moto's tables are read as files: importing moto costs ~0.15 s on every plan."""
    code = ("import sys, envkit; envkit.plan(sys.argv[1]); "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('moto', 'pkg_resources')))")
    done = subprocess.run([sys.executable, "-c", code, str(BASICS)], capture_output=True,
                          text=True, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_components_are_usable_from_python_programs():
    """IamLab / LabNetwork / Ec2Lab in a hand-written Pulumi program: their outputs are
    Outputs (secrets stay secret), and a plan of such a program sees them."""
    import pulumi

    from envkit.components import Ec2Lab, IamLab, LabNetwork
    from envkit.components.base import lab_tags
    from envkit.planner import run_mocked

    spec = envkit.load_spec(BASICS)

    def body():
        tags = lab_tags(spec, None)
        iam = IamLab("py-iam", spec, tags)
        network = LabNetwork("py-net", spec, tags)
        ec2 = Ec2Lab("py-ec2", spec, tags, network=network, iam=iam)
        assert isinstance(iam.users, pulumi.Output) and iam.users is iam.users  # built once
        pulumi.export("sign_in_url", iam.sign_in_url)
        pulumi.export("zone", network.availability_zone)
        pulumi.export("groups", iam.groups)
        pulumi.export("passwords", iam.passwords)
        pulumi.export("sgs", ec2.security_groups)

    _, outputs = run_mocked(spec.name, spec.region, spec.availability_zone, body)
    assert outputs["sign_in_url"] == "https://aws-basics-lab.signin.aws.amazon.com/console"
    assert outputs["zone"] == spec.availability_zone
    # ARNs and ids are assigned by AWS, so in a plan a whole mapping of them is unknown
    # (which is why the stack program exports each leaf instead).
    assert outputs["groups"] == outputs["sgs"] == UNKNOWN
    assert outputs["passwords"] == SECRET
