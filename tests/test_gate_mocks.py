"""The gate's mocks answer like the provider: outputs of the declared type, placeholders for
what the provider computes (so documents built with apply() are checked, and a finding
built on a placeholder says so); components it cannot expand are named, never a silent
pass; aws:region takes the provider's default, with a note."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest

from envkit.policy.gate import check
from envkit.policy.program import load_project, run_program
from envkit.policy.sarif import to_sarif

from .conftest import ROOT

PROGRAMS = Path(__file__).parent / "fixtures" / "programs"
SARIF_SCHEMA = json.loads((Path(__file__).parent / "fixtures" / "sarif-2.1.0-rtm.5.json")
                          .read_text())


def envkit(*args: str, **env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    clean.update(PATH=os.path.dirname(sys.executable) + ":/usr/bin:/bin", COLUMNS="200", **env)
    return subprocess.run([sys.executable, "-m", "envkit.cli", *args], capture_output=True,
                          text=True, cwd=ROOT, env=clean, timeout=240)


@pytest.fixture(scope="module")
def shapes():
    return check(PROGRAMS / "provider-shapes", timeout=120)


def _rules(report, name):
    return {f.policy for f in report.findings if f.resource_name == name and f.kind == "violation"}


def test_outputs_typed_unlike_their_inputs_do_not_end_the_program(shapes):
    # iam.Policy(policy=<dict>) declares policy: str; the component's natGateways a list.
    # Echoed inputs ended these programs with "AssertionError: Unexpected type".
    assert shapes.resources == 5  # app, logs, pass, trusting, web
    assert {"iam-no-service-wildcard", "iam-no-resource-star-for-scopable-actions"} <= \
        _rules(shapes, "logs")


def test_documents_built_with_apply_from_computed_values_are_checked(shapes):
    assert [f for f in shapes.findings if f.kind == "notice"] == []
    assert "iam-no-sensitive-service-wildcard" in _rules(shapes, "pass")  # kms:* next to arn
    assert "iam-trust-account-needs-condition" in _rules(shapes, "trusting")


def test_a_finding_built_on_a_placeholder_says_so(shapes):
    [trust] = [f for f in shapes.findings if f.policy == "iam-trust-account-needs-condition"]
    assert "123456789012" in trust.message
    assert trust.placeholders == ["the account id envkit assigned (123456789012)"]
    # kms:* is wrong whatever the role's ARN is: no placeholder caveat.
    [kms] = [f for f in shapes.findings if f.policy == "iam-no-sensitive-service-wildcard"]
    assert kms.placeholders == []
    doc = shapes.to_dict()
    assert any(f["placeholders"] for f in doc["findings"])
    log = to_sarif(shapes)
    jsonschema.validate(log, SARIF_SCHEMA)
    flagged = [r for r in log["runs"][0]["results"]
               if r.get("properties", {}).get("dependsOnPlaceholders")]
    assert [r["ruleId"] for r in flagged] == ["iam-trust-account-needs-condition"]


def test_placeholders_have_the_shape_the_provider_gives():
    run = run_program(load_project(PROGRAMS / "provider-shapes"), timeout=120)
    by_name = {r["name"]: r for r in run.resources}
    document = json.loads(by_name["pass"]["inputs"]["policy"])
    # Autonamed role (name-<7 hex>), in the account and partition the ARN format names.
    assert re.fullmatch(r"arn:aws:iam::123456789012:role/app-[0-9a-f]{7}",
                        document["Statement"][0]["Resource"])
    assert by_name["pass"]["inputs"]["role"] == document["Statement"][0]["Resource"]\
        .rsplit("/", 1)[1]  # an IAM role's id is its name
    assert re.fullmatch(r"vpc-0[0-9a-f]{16}", by_name["web"]["inputs"]["vpcId"])
    # The same program gets the same placeholders every time (verdicts are reproducible).
    again = run_program(load_project(PROGRAMS / "provider-shapes"), timeout=120)
    assert {r["name"]: r["inputs"] for r in again.resources} == \
        {name: r["inputs"] for name, r in by_name.items()}


def test_a_component_that_is_not_expanded_is_named_in_every_format():
    text = envkit("policy", "check", str(PROGRAMS / "component-only"))
    assert text.returncode == 0, text.stderr
    assert "1 component not evaluated" in text.stdout
    assert "eks:index:Cluster 'cluster' is not evaluated" in text.stdout
    assert "component-only/__main__.py:16" in text.stdout

    doc = json.loads(envkit("policy", "check", str(PROGRAMS / "component-only"),
                            "--format", "json").stdout)
    [gap] = [n for n in doc["notes"] if n["kind"] == "component"]
    assert gap["type"] == "eks:index:Cluster" and gap["name"] == "cluster"
    assert gap["evaluated"] is False and gap["line"] == 16

    log = json.loads(envkit("policy", "check", str(PROGRAMS / "component-only"),
                            "--format", "sarif").stdout)
    jsonschema.validate(log, SARIF_SCHEMA)
    [note] = [n for n in log["runs"][0]["invocations"][0]["toolExecutionNotifications"]
              if "eks:index:Cluster" in n["message"]["text"]]
    assert note["level"] == "warning" and "not evaluated" in note["message"]["text"]
    assert note["locations"][0]["physicalLocation"]["region"]["startLine"] == 16


def test_strict_refuses_an_incomplete_verdict_with_its_own_message():
    done = envkit("policy", "check", str(PROGRAMS / "component-only"), "--strict")
    assert done.returncode == 4
    assert "--strict: the verdict is incomplete (1 gap):\n  eks:index:Cluster 'cluster' " \
           "(" in done.stderr and "__main__.py:16): not evaluated" in done.stderr
    # Values the rules could not see: a lookup that cannot be answered offline.
    lookups = envkit("policy", "check", str(PROGRAMS / "lookups"), "--strict")
    assert lookups.returncode == 4
    assert "--strict: the verdict is incomplete" in lookups.stderr
    assert "aws:route53/getZone:getZone (" in lookups.stderr
    assert "not answerable offline; checked with its values unknown: www" in lookups.stderr


def test_aws_region_takes_the_providers_default_with_a_note():
    plain = check(PROGRAMS / "component-only", timeout=120)
    assert plain.resources == 1
    [note] = [n for n in plain.notes if n["kind"] == "project"]
    assert note["message"].startswith("aws:region is not set for stack 'dev'; the program ran "
                                      "in us-east-1")
    # The program saw it as aws.config.region (the group is named after it).
    run = run_program(load_project(PROGRAMS / "component-only"), timeout=120)
    assert [r["name"] for r in run.resources if r["custom"]] == ["readers-us-east-1"]


def test_aws_region_from_the_environment_as_the_provider_reads_it(monkeypatch):
    monkeypatch.setenv("AWS_REGION", "eu-west-2")
    project = load_project(PROGRAMS / "component-only")
    assert project.region == "eu-west-2" and project.config["aws:region"] == "eu-west-2"
    assert "(AWS_REGION from the environment)" in project.notes[0]


def test_without_a_pid_namespace_the_report_says_what_may_outlive_it(monkeypatch):
    from envkit.policy import spawn

    monkeypatch.setattr(spawn, "contained", lambda: ())
    notes = load_project(PROGRAMS / "component-only").notes
    assert any("allows no PID namespace" in n and "new session may outlive it" in n
               for n in notes)


THREADS_PROGRAM = '''import threading

import pulumi


def where():
    with open("threads.txt", "a") as out:
        out.write(threading.current_thread().name + "\\n")
    return str


class Thing(pulumi.CustomResource):
    def __init__(self, name):
        super().__init__("test:index:Thing", name, {"value": "x"})

    @property
    @pulumi.getter
    def value(self) -> "pulumi.Output[where()]":
        return pulumi.get(self, "value")
'''


def test_type_hints_are_read_on_the_programs_thread_only(tmp_path):
    """The mocks' answers read the SDK's type hints, which load the provider SDK's lazy
    modules; read from an executor thread they race the program's own reads on Python 3.11
    (LazyLoader: "module 'pulumi_aws.autoscaling' has no attribute 'Group'" in the public
    pulumi-eks nodegroup example). Under the engine only the program's thread reads them."""
    project = tmp_path / "threads"
    project.mkdir()
    (project / "Pulumi.yaml").write_text("name: threads\nruntime: python\n")
    (project / "things.py").write_text(THREADS_PROGRAM)  # hints resolve in a real module
    (project / "__main__.py").write_text("import things\n\nfor i in range(8):\n"
                                         "    things.Thing(f't{i}')\n")
    check(project, {}, config=["aws:region=us-east-1"], timeout=120)
    readers = set((project / "threads.txt").read_text().split())
    assert readers == {"MainThread"}


def test_the_program_finds_the_stacks_region_in_its_environment(tmp_path, monkeypatch):
    """Programs read AWS_REGION themselves (pulumi-eks's aws-profile example raises
    "AWS_REGION must be set"); a pipeline deploying to AWS has it set."""
    monkeypatch.delenv("AWS_REGION", raising=False)
    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)
    project = tmp_path / "reads-env"
    project.mkdir()
    (project / "Pulumi.yaml").write_text("name: reads-env\nruntime: python\n")
    (project / "Pulumi.dev.yaml").write_text("config:\n  aws:region: eu-central-1\n")
    (project / "__main__.py").write_text(
        "import os\nimport pulumi_aws as aws\n"
        "region = os.environ['AWS_REGION']\n"
        "aws.ec2.SecurityGroup('sg', description=region, ingress=[{'protocol': 'tcp', "
        "'from_port': 22, 'to_port': 22, 'cidr_blocks': ['0.0.0.0/0']}])\n")
    report = check(project, {}, timeout=120)
    assert any(f.policy == "ec2-no-public-admin-ingress" for f in report.findings)
    run = run_program(load_project(project), 120)
    [sg] = [r for r in run.resources if r["name"] == "sg"]
    assert sg["inputs"]["description"] == "eu-central-1"
