"""`envkit policy check PROJECT` on Pulumi programs envkit did not write: the program runs in
a real child process as Pulumi runs it; endings other than a normal return are never a
pass; lookups are answered offline; findings point at the program's lines."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import sysconfig
import time
from pathlib import Path

import jsonschema
import pytest

from envkit.errors import SpecError
from envkit.lookups import LookupFailure, policy_document
from envkit.policy.gate import check
from envkit.policy.sarif import to_sarif

from .conftest import ROOT

FIXTURES = Path(__file__).parent / "fixtures"
PROGRAMS = FIXTURES / "programs"
UNSAFE = FIXTURES / "unsafe-project"
SARIF_SCHEMA = json.loads((FIXTURES / "sarif-2.1.0-rtm.5.json").read_text())


def envkit(*args: str, cwd=ROOT, **env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    clean.update(PATH=os.path.dirname(sys.executable) + ":/usr/bin:/bin", COLUMNS="200", **env)
    return subprocess.run([sys.executable, "-m", "envkit.cli", *args], capture_output=True,
                          text=True, cwd=cwd, env=clean, timeout=240)


def by_rule(report) -> dict[str, list]:
    out: dict[str, list] = {}
    for f in report.findings:
        out.setdefault(f.policy, []).append(f)
    return out


# --- running like Pulumi ----------------------------------------------------------------------


def test_resource_objects_as_inputs_finish_and_are_checked():
    # `role=role` hung the in-process gate (or failed with "attached to a different loop").
    report = check(PROGRAMS / "resource-inputs", timeout=120)
    admin = by_rule(report)["iam-no-sensitive-service-wildcard"]
    assert [(f.resource_name, f.line) for f in admin] == [("app-admin", 22)]
    assert admin[0].file.endswith("resource-inputs/__main__.py")
    assert report.resources == 5


ENDINGS = [
    ("exit-0", "it called sys.exit(0)", 20),
    ("exception", "ValueError: the bucket name is taken\\x1b[2J", 24),  # escape made inert
    ("keyboard-interrupt", "it was interrupted (KeyboardInterrupt)", 35),
    ("os-exit", "the process exited with status 0 before the program returned", None),
    ("signal", "it was ended by SIGTERM", None),
    ("fork", "the process exited with status 0 before the program returned", None),
]


@pytest.mark.parametrize("ending,fragment,line", ENDINGS, ids=[e[0] for e in ENDINGS])
def test_a_program_that_ends_early_is_never_a_pass(monkeypatch, ending, fragment, line):
    # The program opens SSH to the world first: a pass here would be a lie.
    monkeypatch.setenv("ENDING", ending)
    with pytest.raises(SpecError) as info:
        check(PROGRAMS / "ends-early", timeout=120)
    issue = info.value.issues[0]
    assert info.value.exit_code == 2
    assert issue.message.startswith(f"the program did not finish: {fragment}")
    assert issue.file.endswith("ends-early/__main__.py") and issue.line == line


def test_sys_exit_zero_on_the_cli_is_exit_2_with_the_line_and_no_traceback():
    done = envkit("policy", "check", str(PROGRAMS / "ends-early"), ENDING="exit-0")
    assert done.returncode == 2, done.stdout
    assert done.stderr.startswith("error: ") and "__main__.py:20: the program did not finish: " \
        "it called sys.exit(0)" in done.stderr
    assert "Traceback" not in done.stderr and done.stdout == ""
    debug = envkit("--debug", "policy", "check", str(PROGRAMS / "ends-early"), ENDING="exit-0")
    assert debug.returncode == 2 and "Traceback" in debug.stderr


SESSIONS = [pytest.param({}, id="same-session"), pytest.param({"NEW_SESSION": "1"},
                                                                  id="new-session")]


def _contained() -> bool:
    from envkit.policy.spawn import contained

    return bool(contained())


@pytest.mark.parametrize("session", SESSIONS)
def test_timeout_stops_the_program_and_what_it_started(tmp_path, session):
    if session and not _contained():
        pytest.skip("this machine allows no PID namespace (unshare with user namespaces): "
                    "a process in a new session is out of the gate's reach here")
    pid_file = tmp_path / "child.pid"
    started = time.monotonic()
    done = envkit("policy", "check", str(PROGRAMS / "ends-early"), "--timeout", "8",
                  ENDING="hang", CHILD_PID_FILE=str(pid_file), **session)
    assert done.returncode == 2
    assert "__main__.py:52: the program did not finish: still running after 8 s (--timeout)" \
        in done.stderr
    assert time.monotonic() - started < 60
    # The `sleep` the program started was ended too, even in a session of its own.
    assert _gone(int(pid_file.read_text()), seconds=5)


@pytest.mark.parametrize("session", SESSIONS)
def test_what_a_finished_program_started_ends_with_the_gate(tmp_path, session):
    # The program returns normally, leaving a process behind (maybe in a new session).
    if session and not _contained():
        pytest.skip("this machine allows no PID namespace (unshare with user namespaces): "
                    "a process in a new session is out of the gate's reach here")
    pid_file = tmp_path / "child.pid"
    done = envkit("policy", "check", str(PROGRAMS / "ends-early"), "--format", "json",
                  CHILD_PID_FILE=str(pid_file), **session)
    assert done.returncode == 4, done.stderr  # the SSH rule: the program did finish
    for _ in range(100):
        if pid_file.exists() and pid_file.read_text():
            break
        time.sleep(0.1)
    assert _gone(int(pid_file.read_text()), seconds=5), "what the program started lived on"


def _gone(pid: int, seconds: float = 10) -> bool:
    for _ in range(int(seconds * 10)):
        try:
            if Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z":
                return True
        except FileNotFoundError:
            return True
        time.sleep(0.1)
    return False


def test_killing_the_gate_ends_the_program_too(tmp_path):
    # A cancelled CI job kills envkit; the program it runs must not live on.
    pid_file = tmp_path / "child.pid"
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(PATH=os.path.dirname(sys.executable) + ":/usr/bin:/bin", ENDING="hang",
               CHILD_PID_FILE=str(pid_file), NEW_SESSION="1" if _contained() else "")
    gate = subprocess.Popen([sys.executable, "-m", "envkit.cli", "policy", "check",
                             str(PROGRAMS / "ends-early")], env=env, cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(600):
            if pid_file.exists() and pid_file.read_text():
                break
            time.sleep(0.1)
        else:
            pytest.fail("the program never started")
    finally:
        gate.kill()
        gate.wait()
    assert _gone(int(pid_file.read_text())), "what the program started outlived the gate"


def test_bad_timeout_is_exit_2():
    done = envkit("policy", "check", str(UNSAFE), "--timeout", "0")
    assert done.returncode == 2 and "--timeout" in done.stderr


# --- project, stack and config ------------------------------------------------------------


def test_stack_names_the_urns_and_picks_its_config():
    done = envkit("policy", "check", str(PROGRAMS / "config-project"), "--stack", "prod",
                  "--format", "json")
    assert done.returncode == 4, done.stderr
    doc = json.loads(done.stdout)
    ssh = [f for f in doc["findings"] if f["policy"] == "ec2-no-public-admin-ingress"]
    assert [f["urn"] for f in ssh] == [
        "urn:pulumi:prod::config-project::aws:ec2/securityGroup:SecurityGroup::ssh"]
    assert ssh[0]["line"] == 15


def test_dev_is_the_default_stack_and_config_overrides_it():
    dev = check(PROGRAMS / "config-project")
    assert "ec2-no-public-admin-ingress" not in by_rule(dev)  # 10.0.0.0/8 in Pulumi.dev.yaml
    assert all(":dev::config-project::" in f.urn for f in dev.findings if f.urn)
    opened = check(PROGRAMS / "config-project", config=["sshCidr=0.0.0.0/0"])
    assert "ec2-no-public-admin-ingress" in by_rule(opened)


def test_a_stack_without_a_required_value_is_exit_2():
    done = envkit("policy", "check", str(PROGRAMS / "config-project"), "--stack", "qa")
    assert done.returncode == 2
    assert "stack 'qa' is missing configuration value: sshCidr" in done.stderr


def test_config_needs_key_value_and_points_to_policy_config():
    done = envkit("policy", "check", str(PROGRAMS / "config-project"), "--config", "policy.json")
    assert done.returncode == 2
    assert "expected KEY=VALUE" in done.stderr and "--policy-config" in done.stderr


def test_main_outside_the_project_is_refused(tmp_path):
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "__main__.py").write_text("raise SystemExit('must not run')\n")
    project = tmp_path / "project"
    project.mkdir()
    (project / "link").symlink_to(tmp_path / "elsewhere")
    for main in ("../elsewhere", "link"):
        (project / "Pulumi.yaml").write_text(f"name: p\nruntime: python\nmain: {main}\n")
        done = envkit("policy", "check", str(project))
        assert done.returncode == 2
        assert f"main: '{main}' points outside the project folder" in done.stderr


@pytest.fixture(scope="module")
def project_venv(tmp_path_factory):
    """A project with its own virtualenv that has pulumi (through a .pth file pointing at
    envkit's site-packages) but not pulumi_tls, which its requirements.txt lists."""
    project = tmp_path_factory.mktemp("venv-project") / "app"
    shutil.copytree(PROGRAMS / "missing-module", project)
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(project / "venv")],
                   check=True, timeout=120)
    python = project / "venv" / "bin" / "python"
    site = subprocess.run([str(python), "-c", "import sysconfig; "
                           "print(sysconfig.get_paths()['purelib'])"], capture_output=True,
                          text=True, check=True).stdout.strip()
    Path(site, "envkit-site.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return project


def test_missing_module_names_the_module_and_the_requirements_file(project_venv):
    done = envkit("policy", "check", str(project_venv))
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "__main__.py:3: the program needs the module 'pulumi_tls'" in done.stderr
    assert f"not installed in the project's virtualenv ({project_venv / 'venv'})" in done.stderr
    assert "requirements.txt lists pulumi-tls" in done.stderr


def test_the_program_runs_with_the_project_virtualenv(project_venv, tmp_path):
    project = tmp_path / "uses-venv"
    shutil.copytree(PROGRAMS / "resource-inputs", project)
    (project / "venv").symlink_to(project_venv / "venv")
    (project / "__main__.py").write_text(
        "import sys\nif not sys.prefix.endswith('venv'):\n"
        "    raise RuntimeError(sys.prefix)\n" + (project / "__main__.py").read_text())
    report = check(project, timeout=120)
    assert "iam-no-sensitive-service-wildcard" in by_rule(report)


# --- lookups ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def lookups_report():
    return check(PROGRAMS / "lookups", timeout=120)


def test_unanswerable_lookup_is_one_notice_and_the_rest_is_still_checked(lookups_report):
    doc = lookups_report.to_dict()
    assert doc["schema_version"] == 1 and doc["kind"] == "program"
    lookups = [n for n in doc["notes"] if n["kind"] == "lookup"]
    assert [n["message"] for n in lookups] == [
        "`aws:route53/getZone:getZone` cannot be answered offline; 1 resource depends on it "
        "(www); it is checked with the lookup's values unknown"]
    assert lookups[0]["line"] == 6
    rules = {(f["policy"], f["resource_name"], f["line"]) for f in doc["findings"]}
    assert ("ec2-no-public-admin-ingress", "open-rdp", 17) in rules
    assert ("ec2-ebs-volume-encrypted", "scratch", 28) in rules  # zone from a lookup
    text = envkit("policy", "check", str(PROGRAMS / "lookups"))
    assert text.returncode == 4
    assert "note  `aws:route53/getZone:getZone` cannot be answered offline" in text.stdout


def _provider_basic_case() -> dict:
    """terraform-provider-aws's own data source test (TestAccAWSDataSourceIAMPolicyDocument
    _basic in policy_document_data_source_test.go), in pulumi-aws's argument names."""
    return {"policyId": "policy_id", "statements": [
        {"sid": "1", "actions": ["s3:ListAllMyBuckets", "s3:GetBucketLocation"],
         "resources": ["arn:aws:s3:::*"]},
        {"actions": ["s3:ListBucket"], "resources": ["arn:aws:s3:::foo"],
         "conditions": [{"test": "StringLike", "variable": "s3:prefix",
                         "values": ["home/", "", "home/&{aws:username}/"]}],
         "notPrincipals": [{"type": "AWS", "identifiers": ["arn:blahblah:example"]}]},
        {"actions": ["s3:*"], "resources": ["arn:aws:s3:::foo/home/&{aws:username}",
                                            "arn:aws:s3:::foo/home/&{aws:username}/*"],
         "principals": [{"type": "AWS", "identifiers": ["arn:blahblah:example"]}]},
        {"effect": "Deny", "notActions": ["s3:*"], "notResources": ["arn:aws:s3:::*"]},
        {"effect": "Allow", "actions": ["kinesis:*"],
         "principals": [{"type": "AWS", "identifiers": ["*"]}]},
        {"effect": "Allow", "actions": ["firehose:*"],
         "principals": [{"type": "*", "identifiers": ["*"]}]},
    ]}


# The provider's expected JSON for that case, without the empty "Sid" lines that
# terraform-provider-aws stopped writing in v5.0 (hashicorp/terraform-provider-aws#28539);
# pulumi-aws 7 is built on it.
PROVIDER_BASIC_JSON = """{
  "Version": "2012-10-17",
  "Id": "policy_id",
  "Statement": [
    {
      "Sid": "1",
      "Effect": "Allow",
      "Action": [
        "s3:ListAllMyBuckets",
        "s3:GetBucketLocation"
      ],
      "Resource": "arn:aws:s3:::*"
    },
    {
      "Effect": "Allow",
      "Action": "s3:ListBucket",
      "Resource": "arn:aws:s3:::foo",
      "NotPrincipal": {
        "AWS": "arn:blahblah:example"
      },
      "Condition": {
        "StringLike": {
          "s3:prefix": [
            "home/",
            "",
            "home/${aws:username}/"
          ]
        }
      }
    },
    {
      "Effect": "Allow",
      "Action": "s3:*",
      "Resource": [
        "arn:aws:s3:::foo/home/${aws:username}/*",
        "arn:aws:s3:::foo/home/${aws:username}"
      ],
      "Principal": {
        "AWS": "arn:blahblah:example"
      }
    },
    {
      "Effect": "Deny",
      "NotAction": "s3:*",
      "NotResource": "arn:aws:s3:::*"
    },
    {
      "Effect": "Allow",
      "Action": "kinesis:*",
      "Principal": {
        "AWS": "*"
      }
    },
    {
      "Effect": "Allow",
      "Action": "firehose:*",
      "Principal": "*"
    }
  ]
}"""


def test_get_policy_document_builds_the_providers_json():
    result = policy_document(_provider_basic_case())
    assert result["json"] == PROVIDER_BASIC_JSON
    assert result["minifiedJson"] == json.dumps(json.loads(PROVIDER_BASIC_JSON),
                                                separators=(",", ":"))


def _doc(*statements) -> str:
    return policy_document({"statements": list(statements)})["json"]


def test_get_policy_document_merges_source_and_override_documents_by_sid():
    # terraform-provider-aws's documented examples (website/docs/d/iam_policy_document).
    source = _doc({"actions": ["ec2:*"], "resources": ["*"]},
                  {"sid": "SidToOverride", "actions": ["s3:*"], "resources": ["*"]})
    merged = json.loads(policy_document({"sourcePolicyDocuments": [source], "statements": [
        {"sid": "SidToOverride", "actions": ["s3:*"],
         "resources": ["arn:aws:s3:::somebucket", "arn:aws:s3:::somebucket/*"]}]})["json"])
    assert merged["Statement"] == [
        {"Effect": "Allow", "Action": "ec2:*", "Resource": "*"},
        {"Sid": "SidToOverride", "Effect": "Allow", "Action": "s3:*",
         "Resource": ["arn:aws:s3:::somebucket/*", "arn:aws:s3:::somebucket"]}]
    override = _doc({"sid": "OverridePlaceholder", "actions": ["s3:GetObject"],
                     "resources": ["*"]})
    placeholder = _doc({"sid": "OverridePlaceholder",
                        "actions": ["ec2:DescribeAccountAttributes"], "resources": ["*"]})
    both = json.loads(policy_document({"sourcePolicyDocuments": [placeholder],
                                       "overridePolicyDocuments": [override]})["json"])
    assert both == {"Version": "2012-10-17", "Statement": [
        {"Sid": "OverridePlaceholder", "Effect": "Allow", "Action": "s3:GetObject",
         "Resource": "*"}]}


def test_get_policy_document_principals_conditions_and_escaping():
    doc = json.loads(_doc({
        "actions": ["kms:Decrypt", "kms:GenerateDataKey", "kms:Decrypt"], "resources": ["*"],
        "principals": [{"type": "Service", "identifiers": ["firehose.amazonaws.com"]},
                       {"type": "AWS", "identifiers": ["arn:aws:iam::111122223333:root"]},
                       {"type": "Federated", "identifiers": ["b.example", "a.example"]}],
        "conditions": [
            {"test": "ForAnyValue:StringEquals", "variable": "kms:EncryptionContext:service",
             "values": ["pi"]},
            {"test": "ForAnyValue:StringEquals",
             "variable": "kms:EncryptionContext:aws:pi:service", "values": ["rds"]}]}))
    statement = doc["Statement"][0]
    assert statement["Action"] == ["kms:GenerateDataKey", "kms:Decrypt"]
    assert statement["Principal"] == {"AWS": "arn:aws:iam::111122223333:root",
                                      "Federated": ["b.example", "a.example"],
                                      "Service": "firehose.amazonaws.com"}
    assert list(statement["Condition"]["ForAnyValue:StringEquals"]) == [
        "kms:EncryptionContext:aws:pi:service", "kms:EncryptionContext:service"]
    # Go's encoder escapes <, > and & (the minified form too).
    text = policy_document({"statements": [{"actions": ["s3:Get*"],
                                            "resources": ["arn:aws:s3:::a&b<c>"]}]})
    assert "a\\u0026b\\u003cc\\u003e" in text["json"]
    assert "a\\u0026b\\u003cc\\u003e" in text["minifiedJson"]


@pytest.mark.parametrize("args,fragment", [
    ({"statements": [{"sid": "A"}, {"sid": "A"}]}, "duplicate Sid (A)"),
    ({"statements": [{"sid": "not-alnum"}]}, "must only include alphanumeric characters"),
    ({"statements": [{"effect": "allow"}]}, "expected one of Allow, Deny, got allow"),
    ({"version": "2008-10-17", "statements": [{"resources": ["&{aws:username}"]}]},
     "not supported in document version 2008-10-17"),
    ({"sourcePolicyDocuments": ['{"Statement": [{"Sid": "X"}]}',
                                '{"Statement": [{"Sid": "X"}]}']},
     "duplicate Sid (X) in source_policy_documents"),
])
def test_get_policy_document_refuses_what_the_provider_refuses(args, fragment):
    with pytest.raises(LookupFailure, match=None) as info:
        policy_document(args)
    assert fragment in str(info.value)


def test_a_provider_refusal_fails_the_program_at_its_line(tmp_path):
    (tmp_path / "Pulumi.yaml").write_text("name: dup\nruntime: python\n")
    (tmp_path / "__main__.py").write_text(
        "import pulumi_aws as aws\n\n"
        "doc = aws.iam.get_policy_document(statements=[{'sid': 'A'}, {'sid': 'A'}])\n")
    with pytest.raises(SpecError) as info:
        check(tmp_path, timeout=120)
    issue = info.value.issues[0]
    assert issue.line == 3 and "duplicate Sid (A)" in issue.message


def test_an_input_the_sdk_cannot_send_names_the_resource_and_its_line(tmp_path):
    # The SDK fails it later, on the event loop: no frame of the program's is on that stack.
    (tmp_path / "Pulumi.yaml").write_text("name: bad-input\nruntime: python\n")
    (tmp_path / "__main__.py").write_text(
        "import pulumi_aws as aws\n\n"
        "aws.ec2.SecurityGroup('fine', description='x')\n"
        "aws.s3.Bucket('broken', tags={'team': object()})\n")
    with pytest.raises(SpecError) as info:
        check(tmp_path, timeout=120)
    issue = info.value.issues[0]
    assert issue.line == 4 and "While processing resource: 'broken'" in issue.message


# --- findings point at the code ---------------------------------------------------------------


def test_sarif_locates_each_finding_on_the_programs_line():
    report = check(UNSAFE, timeout=120)
    log = to_sarif(report)
    jsonschema.validate(log, SARIF_SCHEMA)
    results = {r["ruleId"]: r for r in log["runs"][0]["results"] if r["level"] == "error"}
    ssh = results["ec2-no-public-admin-ingress"]["locations"][0]["physicalLocation"]
    assert ssh["artifactLocation"]["uri"] == "tests/fixtures/unsafe-project/__main__.py"
    assert ssh["region"]["startLine"] == 11
    # The fix speaks pulumi_aws, not the envkit spec.
    rules = {r["id"]: r for r in log["runs"][0]["tool"]["driver"]["rules"]}
    assert "cidr_blocks" in rules["ec2-no-public-admin-ingress"]["help"]["text"]
    assert "encrypted=True" in next(f for f in report.findings
                                    if f.policy == "ec2-ebs-volume-encrypted").remediation


def test_sarif_carries_lookup_notices_as_notifications(lookups_report):
    log = to_sarif(lookups_report)
    jsonschema.validate(log, SARIF_SCHEMA)
    [notice] = [n for n in log["runs"][0]["invocations"][0]["toolExecutionNotifications"]
                if "getZone" in n["message"]["text"]]
    assert notice["level"] == "note"
    assert notice["locations"][0]["physicalLocation"]["region"]["startLine"] == 6


def test_every_rule_has_a_fix_in_pulumi_aws_terms():
    from envkit.policy.program_fixes import PROGRAM_REMEDIATION, program_remediation
    from envkit.policy.rules import RULES

    missing = [r.name for r in RULES
               if not getattr(r, "program_remediation", None) and r.name not in PROGRAM_REMEDIATION]
    assert missing == [], "add a pulumi_aws fix to envkit/policy/program_fixes.py"
    assert set(PROGRAM_REMEDIATION) <= {r.name for r in RULES}
    assert all(program_remediation(r) != r.remediation for r in RULES)


# --- pipelines --------------------------------------------------------------------------------


def test_pre_commit_hook_manifest_is_valid_and_its_command_gates_a_project(tmp_path):
    from pre_commit.clientlib import load_manifest

    [hook] = load_manifest(str(ROOT / ".pre-commit-hooks.yaml"))
    assert hook["id"] == "envkit-policy-check" and hook["pass_filenames"] is False
    # What pre-commit runs: entry + args, from the repository root.
    argv = shlex.split(hook["entry"]) + hook["args"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env["PATH"] = os.path.dirname(sys.executable) + ":/usr/bin:/bin"
    repo = tmp_path / "repo"
    shutil.copytree(UNSAFE, repo)
    done = subprocess.run(argv, cwd=repo, env=env, capture_output=True, text=True, timeout=240)
    assert done.returncode == 4, done.stderr
    assert "ec2-no-public-admin-ingress" in done.stdout
    assert re.search(hook["files"], "infra/Pulumi.yaml") and re.search(hook["files"], "app.py")


def test_json_interface_is_documented_in_the_readme(lookups_report):
    doc = lookups_report.to_dict()
    # docs/rules.md's pipeline section, or the gate's own page it links to; the keys added
    # with documents for every ending are documented with the peers' table.
    section = (ROOT / "docs" / "rules.md").read_text().split("## Pipelines", 1)[1] \
        .split("\n## ")[0] + (ROOT / "docs" / "gate-projects.md").read_text()
    section += (ROOT / "docs" / "policy-peers.md").read_text().split(
        "## What a pipeline reads", 1)[1].split("\n## ")[0]
    keys = set(doc) | set(doc["summary"]) | set(doc["findings"][0]) | set(doc["notes"][0])
    assert [k for k in sorted(keys) if f"`{k}`" not in section] == []


def test_cli_timeout_default_is_the_documented_one():
    import inspect

    from envkit.cli.policy import policy_check
    from envkit.policy.program import DEFAULT_TIMEOUT

    assert inspect.signature(policy_check).parameters["timeout"].default == DEFAULT_TIMEOUT
    rules = (ROOT / "docs" / "rules.md").read_text()
    assert f"`--timeout` (default {DEFAULT_TIMEOUT:g} s)" in rules


def test_envkits_own_program_checks_like_its_spec(unsafe_spec_copy):
    # The repository root is a Pulumi project whose program deploys the spec named by
    # `envkit:spec`: run as a foreign program, it must get the spec's verdicts.
    # Its Pulumi.yaml names .venv; envkit's own interpreter is the one with its pins.
    as_program = check(ROOT, config=[f"spec={unsafe_spec_copy}"], timeout=120,
                       python=sys.executable)
    as_spec = check(unsafe_spec_copy)
    def key(report):
        return {(f.policy, f.resource_name, f.level) for f in report.findings
                if f.kind == "violation"}
    assert key(as_program) == key(as_spec)
    [ssh] = as_program.mandatory
    assert ssh.policy == "ec2-no-public-admin-ingress"
    # Declared inside envkit's component: the line that constructs the security group.
    source = Path(ssh.file).resolve()
    assert source == ROOT / "envkit" / "components" / "ec2.py"
    lines = source.read_text().splitlines()
    assert "aws.ec2.SecurityGroup(" in lines[ssh.line - 1]


@pytest.fixture
def unsafe_spec_copy(tmp_path):
    from .conftest import BASICS

    path = tmp_path / "unsafe.yaml"
    path.write_text(BASICS.read_text().replace("{service: ssh, from: 203.0.113.0/24}",
                                               "{service: ssh, from: 0.0.0.0/0}"))
    return path
