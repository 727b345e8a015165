"""Multi-language components expanded for real: pulumi-eks before 3.0 is constructed by
npm's @pulumi/eks of the same version (the plugin's own code) under Node mocks, and what it
creates is judged like the program's own; everything else stays "not evaluated", saying why.

Hermetic: the gate's npm cache (ENVKIT_HOME/npm, a temporary ENVKIT_HOME here) is seeded
from tests/tools/node_modules (`npm ci --prefix tests/tools`), so nothing is downloaded.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path

import pytest

from envkit.policy import node_expand
from envkit.policy import program as program_module
from envkit.policy.gate import check
from envkit.policy.program import load_project, run_program

from .conftest import ROOT

PROGRAMS = Path(__file__).parent / "fixtures" / "programs"
TOOLS = ROOT / "tests" / "tools" / "node_modules"
EKS = "2.8.1"  # tests/tools/package.json; pulumi-eks 2.8.1 is on PyPI too
CLUSTER_LINE = 23  # tests/fixtures/programs/eks-cluster/__main__.py: Cluster("cluster", ...)


def _eks_available() -> str | None:
    if shutil.which("node") is None:
        return "no node on PATH"
    # @pulumi/eks 2.x checks for both before it builds anything, in a preview too
    # (cluster.js createCore -> dependencies.js assertCompatible*Exists).
    for tool in ("aws", "kubectl"):
        if shutil.which(tool) is None:
            return f"no {tool} on PATH (@pulumi/eks 2.x requires it)"
    try:
        version = json.loads((TOOLS / "@pulumi" / "eks" / "package.json").read_text())["version"]
    except (OSError, ValueError, KeyError):
        return "tests/tools/node_modules has no @pulumi/eks (run npm ci --prefix tests/tools)"
    return None if version == EKS else f"tests/tools has @pulumi/eks {version}, not {EKS}"


@pytest.fixture
def eks_cache():
    """The gate's npm cache with @pulumi/eks 2.8.1, linked to tests/tools/node_modules."""
    missing = _eks_available()
    if missing:
        pytest.skip(f"cannot expand eks components here: {missing}")
    folder = node_expand.cache_dir("@pulumi/eks", EKS)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "node_modules").symlink_to(TOOLS)
    (folder / ".envkit-ready").write_text(EKS + "\n")
    return folder


@pytest.fixture
def sdk_version(monkeypatch):
    """The fixture program declares the component as pulumi-eks 2.8.1's SDK does, but
    pulumi_eks itself is not installed here (it needs pulumi-aws 6): the runner reports the
    version the real SDK reports (see test_the_runner_reports_component_package_versions
    and the opt-in end-to-end test)."""
    versions = {"pulumi-eks": EKS}
    real = program_module.run_program

    def with_version(*args, **kwargs):
        run = real(*args, **kwargs)
        run.packages = dict(versions)
        return run

    monkeypatch.setattr(program_module, "run_program", with_version)
    return versions


def _component(project) -> dict:
    [component] = [r for r in run_program(project, timeout=120).resources if r["remote"]]
    return component


def test_an_eks_2_cluster_expands_into_its_real_resources(eks_cache):
    project = load_project(PROGRAMS / "eks-cluster")
    component = _component(project)
    started = time.monotonic()
    [done] = node_expand.expand([component], {"pulumi-eks": EKS}, project=project,
                                install=False).values()
    print(f"node run: {time.monotonic() - started:.2f} s")
    assert done.ok, done.reason
    assert done.how == "expanded with @pulumi/eks 2.8.1 from npm under Node mocks"
    by_name = {r["name"]: r for r in done.records}
    # The IAM roles the cluster and its nodes assume, with their trust policies.
    trust = json.loads(by_name["cluster-eksRole-role"]["inputs"]["assumeRolePolicy"])
    assert trust["Statement"][0]["Principal"] == {"Service": ["eks.amazonaws.com"]}
    nodes = json.loads(by_name["cluster-instanceRole-role"]["inputs"]["assumeRolePolicy"])
    assert nodes["Statement"][0]["Principal"] == {"Service": ["ec2.amazonaws.com"]}
    attached = {r["inputs"]["policyArn"] for r in done.records
                if r["type"] == "aws:iam/rolePolicyAttachment:RolePolicyAttachment"}
    assert "arn:aws:iam::aws:policy/AmazonEKSClusterPolicy" in attached
    assert "arn:aws:iam::aws:policy/AmazonEKSWorkerNodePolicy" in attached
    # Security groups in the program's VPC, and their rules.
    groups = [r for r in done.records if r["type"] == "aws:ec2/securityGroup:SecurityGroup"]
    assert {g["inputs"]["vpcId"] for g in groups} == {component["inputs"]["vpcId"]}
    egress = by_name["cluster-eksNodeInternetEgressRule"]["inputs"]
    assert egress["type"] == "egress" and egress["cidrBlocks"] == ["0.0.0.0/0"]
    assert egress["protocol"] == "-1"
    api = by_name["cluster-eksClusterIngressRule"]["inputs"]
    assert (api["fromPort"], api["toPort"], api["protocol"]) == (443, 443, "tcp")
    # The EKS cluster itself, in the program's subnets, with the role's ARN.
    eks = by_name["cluster-eksCluster"]["inputs"]
    assert eks["vpcConfig"]["subnetIds"] == component["inputs"]["publicSubnetIds"]
    assert eks["roleArn"].startswith("arn:aws:iam::123456789012:role/cluster-eksRole-role-")
    launch = by_name["cluster-nodeLaunchConfiguration"]
    assert launch["inputs"]["instanceType"] == "t3.medium"
    assert launch["inputs"]["associatePublicIpAddress"] is True
    # The AMI the SSM public parameter for EKS 1.29 names: a placeholder, said to be one.
    assert re.fullmatch(r"ami-0[0-9a-f]{16}", launch["inputs"]["imageId"])
    assert [launch["inputs"]["imageId"], "the EKS-optimized AMI id SSM's /aws/service/eks/"
            "optimized-ami/1.29/amazon-linux-2/recommended/image_id names (envkit assigned "
            "it)"] in launch["placeholders"]
    # Children hang under the component the Python program declared.
    assert by_name["cluster-eksCluster"]["parent"] == component["urn"]
    assert by_name["cluster-eksRole-role"]["parent"].endswith("eks:index:ServiceRole::"
                                                               "cluster-eksRole")
    # The same inputs expand to the same resources (placeholders are deterministic).
    [again] = node_expand.expand([component], {"pulumi-eks": EKS}, project=project,
                                 install=False).values()
    assert [r["inputs"] for r in again.records] == [r["inputs"] for r in done.records]


def test_the_pack_judges_what_the_component_creates_at_its_line(eks_cache, sdk_version):
    report = check(PROGRAMS / "eks-cluster", timeout=120)
    assert report.not_evaluated == []
    [note] = [n for n in report.notes if n["kind"] == "component"]
    assert note["evaluated"] is True and note["expanded_with"] == "@pulumi/eks 2.8.1"
    assert note["line"] == CLUSTER_LINE
    assert "was expanded with @pulumi/eks 2.8.1 from npm under Node mocks" in note["message"]
    # The launch configuration eks 2.x makes for the default node group: no IMDSv2, an
    # unencrypted root volume (nodeRootVolumeEncrypted defaults to false).
    mandatory = {(f.policy, f.resource_name) for f in report.mandatory}
    assert ("ec2-imdsv2-required", "cluster-nodeLaunchConfiguration") in mandatory
    assert ("ec2-root-volume-encrypted", "cluster-nodeLaunchConfiguration") in mandatory
    inside = [f for f in report.findings if (f.resource_name or "").startswith("cluster-")]
    assert inside and all(f.line == CLUSTER_LINE and f.file.endswith("eks-cluster/__main__.py")
                          for f in inside)
    assert any(f.policy == "ec2-no-open-egress" and f.resource_name ==
               "cluster-eksNodeInternetEgressRule" for f in inside)
    # The program's own three resources plus what the cluster creates.
    assert report.resources > 20
    assert not any("not evaluated" in p for p in report.strict_problems())


def test_an_expanded_component_in_text_json_and_sarif(eks_cache, sdk_version):
    from envkit.policy.sarif import to_sarif

    report = check(PROGRAMS / "eks-cluster", timeout=120)
    doc = report.to_dict()
    [note] = [n for n in doc["notes"] if n["kind"] == "component"]
    assert note["evaluated"] is True
    log = to_sarif(report)
    [sarif_note] = [n for n in log["runs"][0]["invocations"][0]["toolExecutionNotifications"]
                    if "eks:index:Cluster" in n["message"]["text"]]
    assert sarif_note["level"] == "note" and "expanded with" in sarif_note["message"]["text"]
    results = {r["ruleId"] for r in log["runs"][0]["results"]}
    assert "ec2-imdsv2-required" in results


def test_without_the_aws_cli_the_eks_code_refuses_and_says_why(eks_cache, sdk_version,
                                                              tmp_path, monkeypatch):
    """@pulumi/eks 2.x needs the aws CLI (its kubeconfig calls `aws eks get-token`) and
    refuses to build a cluster without it; that refusal is the component's reason."""
    only_node = tmp_path / "bin"
    only_node.mkdir()
    (only_node / "node").symlink_to(shutil.which("node"))
    monkeypatch.setenv("PATH", str(only_node))
    report = check(PROGRAMS / "eks-cluster", timeout=120, install=False)
    [gap] = report.not_evaluated
    assert "@pulumi/eks 2.8.1 under Node mocks failed: Could not find aws CLI for EKS." \
        in gap["message"], gap["message"]


def test_what_the_real_run_fetches_over_the_network_stays_unknown(eks_cache, sdk_version,
                                                                  tmp_path):
    """create_oidc_provider: the plugin fetches the OIDC issuer's certificate to compute
    its thumbprint (cert-thumprint.js); offline the provider is judged with it unknown."""
    project = tmp_path / "oidc"
    shutil.copytree(PROGRAMS / "eks-cluster", project)
    main = project / "__main__.py"
    main.write_text(main.read_text().replace('"version": "1.29",',
                                             '"version": "1.29", "createOidcProvider": True,'))
    report = check(project, timeout=120)
    [note] = [n for n in report.notes if n["kind"] == "component"]
    assert note["evaluated"] is True
    assert note["message"].endswith("left unknown, as a preview that cannot know them: the "
                                    "OIDC issuer's CA thumbprint (the real run fetches the "
                                    "issuer's TLS certificate over the network)")
    # The OIDC provider itself is there, one resource more than without it.
    assert report.resources == check(PROGRAMS / "eks-cluster", timeout=120).resources + 1


def test_the_cli_says_how_the_component_was_evaluated(eks_cache, sdk_version):
    from typer.testing import CliRunner

    from envkit.cli import app

    where = str(PROGRAMS / "eks-cluster")
    done = CliRunner().invoke(app, ["policy", "check", where, "--strict"])
    assert done.exit_code == 4  # the launch configuration's mandatory findings
    assert "note  eks:index:Cluster 'cluster' was expanded with @pulumi/eks 2.8.1 from npm " \
           "under Node mocks" in done.output
    assert "component not evaluated" not in done.output
    assert "cluster-nodeLaunchConfiguration" in done.output
    # --strict's gaps: the user data eks computes at deploy time, not the component.
    assert "--strict: the verdict is incomplete (1 gap):\n  cluster-nodeLaunchConfiguration " \
        in done.output
    assert "eks:index:Cluster 'cluster' (" not in done.output


def test_without_npm_nothing_is_installed_and_it_says_why(sdk_version, tmp_path, monkeypatch):
    if shutil.which("node") is None:
        pytest.skip("no node on PATH")
    only_node = tmp_path / "bin"
    only_node.mkdir()
    (only_node / "node").symlink_to(shutil.which("node"))
    monkeypatch.setenv("PATH", str(only_node))
    report = check(PROGRAMS / "eks-cluster", timeout=120)
    [gap] = report.not_evaluated
    assert gap["message"].endswith("; running @pulumi/eks 2.8.1 needs Node.js and npm on PATH")


def test_a_broken_cache_leaves_it_not_evaluated_with_the_reason(sdk_version):
    if shutil.which("node") is None:
        pytest.skip("no node on PATH")
    folder = node_expand.cache_dir("@pulumi/eks", EKS)
    package = folder / "node_modules" / "@pulumi" / "eks"
    (package / "cmd" / "provider").mkdir(parents=True)
    (package / "package.json").write_text(json.dumps({"name": "@pulumi/eks", "version": EKS}))
    (package / "cmd" / "provider" / "index.js").write_text("require('@pulumi/pulumi');\n")
    (folder / ".envkit-ready").write_text(EKS + "\n")  # ready, but @pulumi/pulumi is gone
    report = check(PROGRAMS / "eks-cluster", timeout=120, install=False)
    [gap] = report.not_evaluated
    assert gap["line"] == CLUSTER_LINE
    assert gap["message"].startswith("eks:index:Cluster 'cluster' is not evaluated")
    assert gap["message"].endswith("could not be loaded under Node mocks: Cannot find "
                                   "module '@pulumi/pulumi/package.json'")
    assert report.resources == 3  # only the program's own
    assert any("not evaluated" in p for p in report.strict_problems())


def test_no_install_without_a_cache_says_so(sdk_version):
    report = check(PROGRAMS / "eks-cluster", timeout=120, install=False)
    [gap] = report.not_evaluated
    assert "@pulumi/eks 2.8.1 is not in envkit's npm cache" in gap["message"]
    assert "--no-install forbids installing it" in gap["message"]


def test_an_unreachable_registry_leaves_it_not_evaluated(sdk_version, monkeypatch):
    if shutil.which("npm") is None:
        pytest.skip("no npm on PATH")
    # A registry on 127.0.0.1 where nothing listens: npm's own connection failure.
    monkeypatch.setenv("npm_config_registry", "http://127.0.0.1:9/")
    monkeypatch.setenv("npm_config_fetch_retries", "0")
    monkeypatch.setenv("npm_config_cache", str(Path(os.environ["ENVKIT_HOME"]) / "npm-cache"))
    monkeypatch.setenv("npm_config_offline", "false")
    said: list[str] = []
    report = check(PROGRAMS / "eks-cluster", timeout=120, say=said.append)
    [gap] = report.not_evaluated
    assert "npm install @pulumi/eks@2.8.1 failed: the npm registry is unreachable" \
        in gap["message"], gap["message"]
    assert any(s.startswith("installing @pulumi/eks@2.8.1 from npm into ") for s in said)
    assert not (node_expand.cache_dir("@pulumi/eks", EKS) / ".envkit-ready").exists()


def test_eks_3_and_awsx_stay_not_evaluated_saying_why(sdk_version):
    sdk_version["pulumi-eks"] = "3.9.1"
    report = check(PROGRAMS / "eks-cluster", timeout=120)
    [gap] = report.not_evaluated
    assert "pulumi-eks 3.9.1 ships its implementation only in the pulumi-resource-eks " \
           "plugin binary (npm's @pulumi/eks 3.9.1 is a generated SDK that calls it)" \
        in gap["message"]
    assert any("eks:index:Cluster 'cluster'" in p and "not evaluated" in p
               for p in report.strict_problems())
    reason = node_expand.plan({"type": "awsx:ec2:Vpc"}, {"pulumi-awsx": "2.21.0"})
    assert reason.startswith("pulumi-awsx 2.21.0 ships its implementation only in the "
                             "pulumi-resource-awsx plugin binary")
    # A version the program's environment does not say cannot choose an implementation.
    assert "unknown" in node_expand.plan({"type": "eks:index:Cluster"}, {})
    assert "unknown" in node_expand.plan({"type": "eks:index:Cluster"},
                                         {"pulumi-eks": "2.8.1; rm -rf /"})


def test_the_runner_reports_component_package_versions(tmp_path):
    """From the program's own environment (importlib.metadata in the child)."""
    (tmp_path / "Pulumi.yaml").write_text("name: versions\nruntime: python\n")
    (tmp_path / "__main__.py").write_text(
        "import pulumi\n"
        "class Thing(pulumi.ComponentResource):\n"
        "    def __init__(self, name):\n"
        "        super().__init__('aws:index:Thing', name, {}, None, remote=True)\n"
        "Thing('t')\n")
    run = run_program(load_project(tmp_path), timeout=120)
    assert run.packages == {"pulumi-aws": metadata.version("pulumi-aws")}


def test_a_real_pulumi_eks_2_program_end_to_end(tmp_path, monkeypatch):
    """pulumi-eks 2.8.1 from the real PyPI in the project's own virtualenv, @pulumi/eks
    2.8.1 from the cache: the program, its component and its resources, judged."""
    if os.environ.get("ENVKIT_TEST_PYPI") != "1":
        pytest.skip("set ENVKIT_TEST_PYPI=1 to build a virtualenv with pulumi-eks 2.8.1 "
                    "from the real PyPI (pulumi-aws 6 and pulumi-kubernetes 4; minutes)")
    missing = _eks_available()
    if missing:
        pytest.skip(f"cannot expand eks components here: {missing}")
    folder = node_expand.cache_dir("@pulumi/eks", EKS)
    folder.mkdir(parents=True)
    (folder / "node_modules").symlink_to(TOOLS)
    (folder / ".envkit-ready").write_text(EKS + "\n")
    monkeypatch.setenv("PULUMI_PYTHON_CMD", sys.executable)
    project = tmp_path / "eks"
    shutil.copytree(PROGRAMS / "eks-cluster", project)
    text = (project / "__main__.py").read_text()
    cut = text.index("class Cluster")
    (project / "__main__.py").write_text(
        text[:cut] + "import pulumi_eks as eks\n" + text[text.index("\n\n\nvpc") + 3:]
        .replace('Cluster("cluster", {', 'eks.Cluster("cluster", **{'))
    (project / "Pulumi.yaml").write_text(
        "name: eks-cluster\nruntime:\n  name: python\n  options:\n    virtualenv: venv\n")
    (project / "requirements.txt").write_text("pulumi-eks==2.8.1\n")
    # eks.Cluster takes snake_case keywords; the fixture's dict has the wire names.
    source = (project / "__main__.py").read_text()
    for wire, keyword in (("vpcId", "vpc_id"), ("publicSubnetIds", "public_subnet_ids"),
                          ("instanceType", "instance_type"),
                          ("desiredCapacity", "desired_capacity"), ("minSize", "min_size"),
                          ("maxSize", "max_size"),
                          ("nodeAssociatePublicIpAddress", "node_associate_public_ip_address")):
        source = source.replace(f'"{wire}":', f'"{keyword}":')
    (project / "__main__.py").write_text(source)
    report = check(project, timeout=240, say=print)
    versions = subprocess.run([str(project / "venv" / "bin" / "python"), "-c",
                               "import importlib.metadata as m; print(m.version('pulumi-eks'))"],
                              capture_output=True, text=True, check=True).stdout.strip()
    assert versions == EKS
    [note] = [n for n in report.notes if n["kind"] == "component"]
    assert note["evaluated"] is True, note["message"]
    assert ("ec2-imdsv2-required", "cluster-nodeLaunchConfiguration") in \
        {(f.policy, f.resource_name) for f in report.mandatory}


def test_the_cache_knows_releases_published_with_a_v(tmp_path):
    """@pulumi/eks 0.x and 1.x carry "v1.0.4" in package.json (checked with npm pack); a
    folder counts as ready only with its stamp and the provider's entry point."""
    package = tmp_path / "node_modules" / "@pulumi" / "eks"
    (package / "cmd" / "provider").mkdir(parents=True)
    (package / "package.json").write_text('{"name": "@pulumi/eks", "version": "v1.0.4"}')
    assert not node_expand._ready(tmp_path, "@pulumi/eks", "1.0.4")  # no stamp yet
    (tmp_path / ".envkit-ready").write_text("1.0.4\n")
    assert not node_expand._ready(tmp_path, "@pulumi/eks", "1.0.4")  # no entry point
    (package / "cmd" / "provider" / "index.js").write_text("")
    assert node_expand._ready(tmp_path, "@pulumi/eks", "1.0.4")
    assert not node_expand._ready(tmp_path, "@pulumi/eks", "1.0.5")
