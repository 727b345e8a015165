"""End to end: a class of two with the real Pulumi CLI and aws plugin. On the local
emulator: `envkit class up` -> status -> handout -> down. With real AWS credentials and
ENVKIT_E2E_AWS=1: the same class in an AWS account, and IAM's policy simulator proving that
student A may stop their own instance and not student B's. Skipped, with the reason printed,
where the CLI or the plugin is missing (as on machines without internet)."""

from __future__ import annotations

import csv
import json
import os
import stat
import subprocess
import sys

import pytest

from envkit import local

from .engine import require_engine

pytestmark = pytest.mark.e2e

require_engine("classes are covered here by stand-in tests (tests/classroom_fakes.py)")

SPEC = """\
name: e2e-class
region: us-east-1
owner: e2e@example.com
ttl: 1h
classroom:
  roster: [ann, bob]
  per_student: {users: [student], key_pairs: [lab], instances: [web]}
iam:
  users:
    student: {console: true}
ec2:
  network: {vpc_cidr: 10.41.0.0/16, availability_zone: us-east-1a}
  key_pairs:
    lab: {}
  security_groups:
    web:
      ingress: [{service: http, from: 0.0.0.0/0}, {service: ssh, from: 203.0.113.0/24}]
  instances:
    web: {ami: ami-760aaa0f, type: t2.micro, key_pair: lab, security_groups: [web]}
"""


def envkit(*args: str, cwd, keep_aws: bool = False) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if keep_aws or not k.startswith("AWS_")}
    return subprocess.run([sys.executable, "-m", "envkit.cli", *args], capture_output=True,
                          text=True, cwd=cwd, env=env, timeout=1800)


def test_class_up_status_handout_down_on_the_local_emulator(tmp_path):
    spec = tmp_path / "class.yaml"
    spec.write_text(SPEC)
    try:
        up = envkit("class", "up", str(spec), "--target", "local", "--yes", "--json",
                    cwd=tmp_path)
        assert up.returncode == 0, up.stderr + up.stdout
        result = json.loads(up.stdout.splitlines()[-1])
        assert result["counts"] == {"deployed": 3}
        events = [json.loads(line) for line in up.stdout.splitlines()[:-1]]
        assert {e.get("student") for e in events if e["kind"] == "resource_finished"} == \
            {None, "ann", "bob"}

        again = envkit("class", "up", str(spec), "--yes", "--json", cwd=tmp_path)
        assert json.loads(again.stdout.splitlines()[-1])["counts"] == {"unchanged": 3}

        status = json.loads(envkit("class", "status", str(spec), "--json", cwd=tmp_path).stdout)
        assert {r["stack"]: r["state"] for r in status["stacks"]} == {
            "e2e-class": "deployed", "e2e-class-ann": "deployed", "e2e-class-bob": "deployed"}

        out = tmp_path / "handouts"
        handout = envkit("class", "handout", str(spec), "-o", str(out), cwd=tmp_path)
        assert handout.returncode == 0, handout.stderr
        rows = list(csv.reader((out / "e2e-class-credentials.csv").open()))
        assert rows[0] == ["User name", "Password", "Console sign-in URL"]
        assert [r[0] for r in rows[1:]] == ["ann", "bob"]
        assert all(r[1] not in handout.stdout for r in rows[1:])
        assert stat.S_IMODE((out / "ann" / "ann-lab.pem").stat().st_mode) == 0o400

        emulator = local.status()
        ec2 = local.boto3_session("us-east-1").client("ec2", endpoint_url=emulator.endpoint)
        tagged = ec2.describe_instances(Filters=[
            {"Name": "tag:envkit:student", "Values": ["ann"]},
            {"Name": "instance-state-name", "Values": ["running"]}])["Reservations"]
        assert len(tagged) == 1

        # The lease ends in AWS: each student's schedules, in the class's group.
        scheduler = local.boto3_session("us-east-1").client("scheduler",
                                                            endpoint_url=emulator.endpoint)
        group = "envkit-e2e-class"
        assert {s["Name"] for s in scheduler.list_schedules(GroupName=group)["Schedules"]} == {
            "e2e-class-ann-stop", "e2e-class-ann-signin", "e2e-class-bob-stop",
            "e2e-class-bob-signin"}
        stop = scheduler.get_schedule(Name="e2e-class-ann-stop", GroupName=group)
        assert stop["Target"]["Arn"] == "arn:aws:scheduler:::aws-sdk:ec2:stopInstances"
        assert json.loads(stop["Target"]["Input"]) == {
            "InstanceIds": [tagged[0]["Instances"][0]["InstanceId"]]}
        extend = envkit("class", "extend", str(spec), "ann", "1d", cwd=tmp_path)
        assert extend.returncode == 0, extend.stderr
        moved = scheduler.get_schedule(Name="e2e-class-ann-stop", GroupName=group)
        assert moved["ScheduleExpression"] > stop["ScheduleExpression"]  # at(ISO) sorts by time

        down = envkit("class", "down", str(spec), "--yes", "--json", cwd=tmp_path)
        assert down.returncode == 0, down.stderr
        assert json.loads(down.stdout.splitlines()[-1])["counts"] == {"destroyed": 3}
        assert not scheduler.list_schedule_groups(NamePrefix=group)["ScheduleGroups"]
    finally:
        local.stop()


AWS_OPT_IN = os.environ.get("ENVKIT_E2E_AWS") == "1"


@pytest.mark.skipif(not AWS_OPT_IN, reason="e2e on real AWS is opt-in: set ENVKIT_E2E_AWS=1 "
                    "with AWS credentials for a sandbox account (it creates and deletes a "
                    "two-student class)")
def test_student_a_is_denied_on_student_bs_instance_by_iams_policy_simulator(tmp_path):
    import boto3

    spec = tmp_path / "class.yaml"
    spec.write_text(SPEC.replace("ami: ami-760aaa0f, ", "").replace(
        "name: e2e-class", f"name: e2e-class-{os.getpid()}"))
    name = f"e2e-class-{os.getpid()}"
    try:
        up = envkit("class", "up", str(spec), "--target", "aws", "--yes", "--json",
                    cwd=tmp_path, keep_aws=True)
        assert up.returncode == 0, up.stderr + up.stdout
        iam = boto3.client("iam")
        ec2 = boto3.client("ec2", region_name="us-east-1")
        account = boto3.client("sts").get_caller_identity()["Account"]

        def instance_arn(student: str) -> str:
            reservations = ec2.describe_instances(Filters=[
                {"Name": "tag:envkit:student", "Values": [student]},
                {"Name": "tag:envkit:class", "Values": [name]}])["Reservations"]
            instance_id = reservations[0]["Instances"][0]["InstanceId"]
            return f"arn:aws:ec2:us-east-1:{account}:instance/{instance_id}"

        ann = iam.get_user(UserName="ann")["User"]["Arn"]

        def decision(target_student: str) -> str:
            result = iam.simulate_principal_policy(
                PolicySourceArn=ann, ActionNames=["ec2:StopInstances"],
                ResourceArns=[instance_arn(target_student)],
                ContextEntries=[{"ContextKeyName": "aws:ResourceTag/envkit:student",
                                 "ContextKeyValues": [target_student],
                                 "ContextKeyType": "string"},
                                {"ContextKeyName": "aws:username",
                                 "ContextKeyValues": ["ann"], "ContextKeyType": "string"}])
            return result["EvaluationResults"][0]["EvalDecision"]

        assert decision("ann") == "allowed"
        assert decision("bob") in ("implicitDeny", "explicitDeny")
    finally:
        envkit("class", "down", str(spec), "--target", "aws", "--yes", cwd=tmp_path,
               keep_aws=True)
