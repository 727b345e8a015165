"""Multi-language components expanded through their INSTALLED plugin, as the engine does:
the plugin under $PULUMI_HOME/plugins is launched, configured and asked to Construct each
component over gRPC, and registers the component's children against envkit's mock monitor.

The one plugin implementation available offline is pulumi-resource-eks 2.x: that plugin is
Node running @pulumi/eks's bin/cmd/provider/index.js, bundled with `pkg` (pulumi/pulumi-eks
v2.8.1 Makefile: PKG_TARGET := ./bin/cmd/provider/index.js, and the dist targets package
that `pkg` output as pulumi-resource-eks). So the plugin laid out here is an executable
pulumi-resource-eks that execs node on the same file from npm's @pulumi/eks 2.8.1
(tests/tools/node_modules, `npm ci --prefix tests/tools --ignore-scripts`).
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import time
from pathlib import Path

import pytest

from envkit.policy import plugin_expand
from envkit.policy.gate import check, check_project
from envkit.policy.program import load_project

from .test_gate_components import (  # noqa: F401 - sdk_version is a fixture
    CLUSTER_LINE,
    EKS,
    PROGRAMS,
    TOOLS,
    _component,
    _eks_available,
    sdk_version,
)

LABEL = f"pulumi-resource-eks v{EKS}"


def _plugin(home: Path, version: str, script: str) -> Path:
    folder = home / "plugins" / f"resource-eks-v{version}"
    folder.mkdir(parents=True)
    binary = folder / "pulumi-resource-eks"
    binary.write_text("#!/bin/sh\n" + script)
    binary.chmod(binary.stat().st_mode | stat.S_IXUSR)
    return binary


@pytest.fixture
def eks_plugin(tmp_path, monkeypatch):
    """PULUMI_HOME with pulumi-resource-eks 2.8.1 installed as the real 2.x plugin runs."""
    missing = _eks_available()
    if missing:
        pytest.skip(f"cannot run the eks 2.x plugin here: {missing}")
    home = tmp_path / "pulumi-home"
    entry = (TOOLS / "@pulumi" / "eks" / "cmd" / "provider" / "index.js").resolve()
    _plugin(home, EKS, f'exec "{shutil.which("node")}" "{entry}" "$@"\n')
    monkeypatch.setenv("PULUMI_HOME", str(home))
    return home


def test_an_eks_cluster_is_constructed_by_its_installed_plugin(eks_plugin):
    project = load_project(PROGRAMS / "eks-cluster")
    component = _component(project)
    started = time.monotonic()
    [done] = plugin_expand.expand([component], {"pulumi-eks": EKS}, project=project,
                                  timeout=120).values()
    print(f"plugin expansion: {time.monotonic() - started:.2f} s, {len(done.records)} records")
    assert done.ok, done.reason
    assert done.how == f"expanded with the installed {LABEL} plugin under envkit's mock monitor"
    by_name = {r["name"]: r for r in done.records}
    trust = json.loads(by_name["cluster-eksRole-role"]["inputs"]["assumeRolePolicy"])
    assert trust["Statement"][0]["Principal"] == {"Service": ["eks.amazonaws.com"]}
    nodes = json.loads(by_name["cluster-instanceRole-role"]["inputs"]["assumeRolePolicy"])
    assert nodes["Statement"][0]["Principal"] == {"Service": ["ec2.amazonaws.com"]}
    attached = {r["inputs"]["policyArn"] for r in done.records
                if r["type"] == "aws:iam/rolePolicyAttachment:RolePolicyAttachment"}
    assert "arn:aws:iam::aws:policy/AmazonEKSWorkerNodePolicy" in attached
    groups = [r for r in done.records if r["type"] == "aws:ec2/securityGroup:SecurityGroup"]
    assert len(groups) == 2
    assert {g["inputs"]["vpcId"] for g in groups} == {component["inputs"]["vpcId"]}
    egress = by_name["cluster-eksNodeInternetEgressRule"]["inputs"]
    assert egress["type"] == "egress" and egress["cidrBlocks"] == ["0.0.0.0/0"]
    eks = by_name["cluster-eksCluster"]["inputs"]
    assert eks["vpcConfig"]["subnetIds"] == component["inputs"]["publicSubnetIds"]
    # The role's ARN as envkit's mocks answer it (pulumi_aws's Role declares arn: str).
    assert eks["roleArn"].startswith("arn:aws:iam::123456789012:role/cluster-eksRole-role-")
    assert [eks["roleArn"], "the ARN of cluster-eksRole-role (aws:iam/role:Role)"] in \
        by_name["cluster-eksCluster"]["placeholders"]
    launch = by_name["cluster-nodeLaunchConfiguration"]
    assert launch["inputs"]["instanceType"] == "t3.medium"
    assert launch["inputs"]["associatePublicIpAddress"] is True
    # The AMI SSM's public parameter names was answered by envkit, and is said to be.
    assert any("EKS-optimized AMI" in what for _, what in launch["placeholders"])
    # Children hang under the component the program declared; the component itself,
    # registered again by the plugin, is not counted twice.
    assert by_name["cluster-eksCluster"]["parent"] == component["urn"]
    assert component["urn"] not in {r["urn"] for r in done.records}
    assert by_name["cluster-eksRole-role"]["parent"].endswith("eks:index:ServiceRole::"
                                                               "cluster-eksRole")
    # Deterministic: the same inputs give the same resources.
    [again] = plugin_expand.expand([component], {"pulumi-eks": EKS}, project=project,
                                   timeout=120).values()
    assert [r["inputs"] for r in again.records] == [r["inputs"] for r in done.records]


def test_the_pack_judges_what_the_plugin_creates_at_the_component_line(
        eks_plugin, sdk_version):  # noqa: F811 - the imported fixture
    report = check_project(PROGRAMS / "eks-cluster", timeout=120, npm_expand=False)
    assert report.not_evaluated == []
    [note] = [n for n in report.notes if n["kind"] == "component"]
    assert note["evaluated"] is True and note["expanded_with"] == LABEL
    assert note["line"] == CLUSTER_LINE
    assert f"was expanded with the installed {LABEL} plugin under envkit's mock monitor: " \
        in note["message"]
    mandatory = {(f.policy, f.resource_name) for f in report.mandatory}
    assert ("ec2-imdsv2-required", "cluster-nodeLaunchConfiguration") in mandatory
    assert ("ec2-root-volume-encrypted", "cluster-nodeLaunchConfiguration") in mandatory
    inside = [f for f in report.findings if (f.resource_name or "").startswith("cluster-")]
    assert inside and all(f.line == CLUSTER_LINE and f.file.endswith("eks-cluster/__main__.py")
                          for f in inside)
    assert report.resources > 20
    assert not any("eks:index:Cluster 'cluster' (" in p for p in report.strict_problems())
    # In JSON and SARIF as the Node expansion's are.
    from envkit.policy.sarif import to_sarif

    [doc_note] = [n for n in report.to_dict()["notes"] if n["kind"] == "component"]
    assert doc_note["evaluated"] is True and doc_note["expanded_with"] == LABEL
    log = to_sarif(report)
    assert any(f"installed {LABEL} plugin" in n["message"]["text"] for n in
               log["runs"][0]["invocations"][0]["toolExecutionNotifications"])
    assert "ec2-imdsv2-required" in {r["ruleId"] for r in log["runs"][0]["results"]}


def test_a_missing_plugin_is_named_in_the_reason(sdk_version,  # noqa: F811 - a fixture
                                                 tmp_path, monkeypatch):
    monkeypatch.setenv("PULUMI_HOME", str(tmp_path / "empty"))
    sdk_version["pulumi-eks"] = "3.9.1"
    report = check(PROGRAMS / "eks-cluster", timeout=120)
    [gap] = report.not_evaluated
    assert gap["line"] == CLUSTER_LINE
    assert "pulumi-eks 3.9.1 ships its implementation only in the pulumi-resource-eks " \
           "plugin binary" in gap["message"]
    assert gap["message"].endswith(f"; no pulumi-resource-eks v3.9.1 in {tmp_path}/empty/"
                                   "plugins (envkit runs an installed plugin, and downloads "
                                   "none)")
    assert any("not evaluated" in p for p in report.strict_problems())
    # Another version's plugin is not this version's.
    _plugin(tmp_path / "empty", "3.9.0", "exit 0\n")
    [again] = check(PROGRAMS / "eks-cluster", timeout=120).not_evaluated
    assert "no pulumi-resource-eks v3.9.1 in" in again["message"]
    # A plugin whose install did not finish is not used, as the engine does not use it.
    _plugin(tmp_path / "empty", "3.9.1", "exit 0\n")
    (tmp_path / "empty" / "plugins" / "resource-eks-v3.9.1.partial").touch()
    [partial] = check(PROGRAMS / "eks-cluster", timeout=120).not_evaluated
    assert partial["message"].endswith(f"; pulumi-resource-eks v3.9.1 in {tmp_path}/empty/"
                                       "plugins is not fully installed "
                                       "(resource-eks-v3.9.1.partial is there)")


@pytest.mark.parametrize(("script", "expected"), [
    ("echo 'plugin: cannot start' >&2\nexit 3\n",
     "pulumi-resource-eks v3.9.1 exited with status 3 before printing its port: plugin: "
     "cannot start"),
    ("exec sleep 600\n", "pulumi-resource-eks v3.9.1 printed no port within the time "
                         "limit and was stopped"),
    ("echo hello\nexec sleep 600\n", "pulumi-resource-eks v3.9.1 wrote an invalid port to "
                                     "stdout: 'hello'"),
    # Port 1 is privileged: the plugin cannot have been listening there.
    ("echo 1\nexec sleep 600\n", "pulumi-resource-eks v3.9.1 printed port 1 but did not "
                                  "answer there within the time limit"),
])
def test_a_plugin_that_never_serves_leaves_it_not_evaluated(tmp_path, script, expected):
    project = load_project(PROGRAMS / "eks-cluster")
    component = {"type": "eks:index:Cluster", "name": "cluster", "inputs": {},
                 "urn": "urn:pulumi:dev::eks-cluster::eks:index:Cluster::cluster"}
    _plugin(tmp_path, "3.9.1", script)
    started = time.monotonic()
    [done] = plugin_expand.expand([component], {"pulumi-eks": "3.9.1"}, project=project,
                                  timeout=3, home=tmp_path).values()
    assert not done.ok
    assert done.reason == expected
    assert time.monotonic() - started < 30  # bounded by the timeout, not by the plugin


def test_the_cli_reports_a_broken_plugin_without_failing(sdk_version,  # noqa: F811
                                                         tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from envkit.cli import app

    sdk_version["pulumi-eks"] = "3.9.1"
    _plugin(tmp_path, "3.9.1", "exit 1\n")
    monkeypatch.setenv("PULUMI_HOME", str(tmp_path))
    done = CliRunner().invoke(app, ["policy", "check", str(PROGRAMS / "eks-cluster"),
                                    "--format", "json"])
    assert done.exit_code == 0, done.output
    doc = json.loads(done.output)
    [note] = [n for n in doc["notes"] if n["kind"] == "component"]
    assert note["evaluated"] is False
    assert note["message"].endswith("pulumi-resource-eks v3.9.1 exited with status 1 before "
                                    "printing its port")
    assert os.environ["PULUMI_HOME"] == str(tmp_path)


def _running(marker: str) -> list[str]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                line = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue
            if marker in line:
                found.append(line)
    return found


def test_the_plugin_and_what_it_starts_end_with_the_expansion(tmp_path):
    """Ended as a PID namespace ends: a process the plugin started in a new session too."""
    from envkit.policy.spawn import contained

    if not Path("/proc/self/cmdline").exists() or shutil.which("setsid") is None:
        pytest.skip("needs /proc and setsid")
    project = load_project(PROGRAMS / "eks-cluster")
    component = {"type": "eks:index:Cluster", "name": "cluster", "inputs": {},
                 "urn": "urn:pulumi:dev::eks-cluster::eks:index:Cluster::cluster"}
    marker = str(tmp_path / "left-behind")
    _plugin(tmp_path, "3.9.1", f"sh -c 'sleep 600; true' '{marker}-group' &\n"
                               f"setsid sh -c 'sleep 600; true' '{marker}-session' &\n"
                               "exec sleep 600\n")
    [done] = plugin_expand.expand([component], {"pulumi-eks": "3.9.1"}, project=project,
                                  timeout=2, home=tmp_path).values()
    assert "printed no port" in done.reason
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and _running(f"{marker}-group"):
        time.sleep(0.1)
    assert _running(f"{marker}-group") == []
    if not contained():
        pytest.skip("no PID namespaces here: a new session's process may outlive it")
    while time.monotonic() < deadline and _running(f"{marker}-session"):
        time.sleep(0.1)
    assert _running(f"{marker}-session") == []


def test_a_lookup_that_cannot_be_answered_is_an_error_to_the_plugin():
    from google.protobuf import json_format, struct_pb2
    from pulumi.runtime.proto import resource_pb2

    monitor = plugin_expand.Monitor(load_project(PROGRAMS / "eks-cluster"))
    refused = monitor.invoke(resource_pb2.ResourceInvokeRequest(
        tok="aws:rds/getCluster:getCluster",
        args=json_format.ParseDict({"clusterIdentifier": "db"}, struct_pb2.Struct())))
    assert [f.reason for f in refused.failures] == [
        "aws:rds/getCluster:getCluster cannot be answered offline"]
    assert monitor.answers.unanswered == ["aws:rds/getCluster:getCluster"]
    answered = monitor.invoke(resource_pb2.ResourceInvokeRequest(
        tok="aws:index/getRegion:getRegion", args=struct_pb2.Struct()))
    assert not answered.failures
    assert json_format.MessageToDict(getattr(answered, "return"))["name"] == "eu-west-1"


def test_what_a_plugin_registers_is_bounded(eks_plugin, monkeypatch):
    monkeypatch.setattr(plugin_expand, "RECORD_LIMIT", 5)
    project = load_project(PROGRAMS / "eks-cluster")
    [done] = plugin_expand.expand([_component(project)], {"pulumi-eks": EKS},
                                  project=project, timeout=120).values()
    assert not done.ok and done.records == []
    assert done.reason.startswith(f"{LABEL} failed to construct it: ")
    assert done.reason.endswith("RESOURCE_EXHAUSTED: envkit: more than 5 resources "
                                "registered"), done.reason
    print(done.reason)
