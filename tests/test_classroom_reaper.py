"""The reaper: expired environments in the backend destroyed through the engine (stand-ins),
idempotent, locked, non-zero when something stays; orphans found on the real moto server
among resources created through boto3."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from pulumi.automation import OutputValue
from pulumi.automation import errors as auto_errors
from pulumi.automation._cmd import CommandResult

from envkit import Classroom, local
from envkit.classroom.reaper import reaper_lock
from envkit.engine import Environment
from envkit.targets import Target

from . import classroom_fakes
from .conftest import BASICS, LABS, ROOT

CLASS = LABS / "classroom.yaml"
AWS = Target("aws", "us-east-1", "test")
PAST = "2020-01-01T00:00Z"


@pytest.fixture
def engine(monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")  # reaches nothing
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-a-secret")
    return classroom_fakes.install(monkeypatch)


def expire(engine, *stacks):
    """Time passes: the stacks' expiry (their `expires` output) is in the past."""
    for stack in stacks:
        engine.states[stack]["outputs"]["expires"] = OutputValue(PAST, False)


def reap(capsys, *args):
    from envkit.cli import main

    with pytest.raises(SystemExit) as done:
        main(["reap", "--no-orphans", *args])
    out = capsys.readouterr()
    return done.value.code, out.out, out.err


def class_stacks():
    return ["web-class", *[f"web-class-{s}" for s in ("ann", "bob", "chen", "dana", "emil")]]


def test_expired_environments_are_destroyed_students_first_and_active_ones_kept(engine,
                                                                                capsys):
    Classroom(CLASS, target=AWS).up()
    Environment(BASICS, target=AWS).up()
    expire(engine, *class_stacks())
    code, out, err = reap(capsys, "--yes", "--json")
    assert code == 0, err
    report = json.loads(out)
    actions = {i["stack"]: i["action"] for i in report["stacks"]}
    assert actions == {**dict.fromkeys(class_stacks(), "destroyed"), "aws-basics": "active"}
    destroyed = engine.operations("destroy")
    assert destroyed[-1] == "web-class" and sorted(destroyed[:-1]) == class_stacks()[1:]
    assert engine.states["aws-basics"]["resources"]  # not expired: untouched
    # Idempotent: the second run finds the class empty and does nothing.
    code, out, _ = reap(capsys, "--yes", "--json")
    assert code == 0 and len(engine.operations("destroy")) == 6
    assert {i["stack"]: i["action"] for i in json.loads(out)["stacks"]}["web-class"] == "empty"


def test_dry_run_reports_and_destroys_nothing(engine, capsys):
    Classroom(CLASS, target=AWS).up()
    expire(engine, "web-class-ann")
    code, out, _ = reap(capsys, "--dry-run")
    assert code == 0 and not engine.operations("destroy")
    assert "web-class-ann" in out and "would destroy" in out and "active" in out


def test_the_shared_stack_waits_for_students_still_running(engine, capsys):
    Classroom(CLASS, target=AWS).up()
    expire(engine, "web-class", "web-class-ann")
    code, out, err = reap(capsys, "--yes", "--json")
    items = {i["stack"]: i for i in json.loads(out)["stacks"]}
    assert items["web-class-ann"]["action"] == "destroyed"
    assert items["web-class"]["action"] == "waiting"
    assert "4 student stacks still hold resources" in items["web-class"]["detail"]
    assert code == 1 and "web-class (waiting" in err  # not destroyed yet: say so in the code


def test_a_failed_destroy_is_a_non_zero_exit_and_the_others_proceed(engine, capsys):
    Classroom(CLASS, target=AWS).up()
    expire(engine, *class_stacks())
    engine.failures["web-class-bob"] = auto_errors.CommandError(
        CommandResult("", "error: deleting EC2 Instance: DependencyViolation", 1))
    engine.failures["web-class-chen"] = auto_errors.ConcurrentUpdateError(
        CommandResult("", "error: the stack is currently locked by 1 lock(s)", 255))
    code, out, err = reap(capsys, "--yes", "--json")
    items = {i["stack"]: i for i in json.loads(out)["stacks"]}
    assert items["web-class-ann"]["action"] == "destroyed"
    assert items["web-class-bob"]["action"] == "failed"
    assert "DependencyViolation" in items["web-class-bob"]["detail"]
    assert items["web-class-chen"]["action"] == "busy"
    assert items["web-class"]["action"] == "waiting"
    assert code == 1 and "3 expired environments could not be destroyed" in err


def test_a_stack_whose_spec_is_unknown_here_is_reported(engine, capsys, tmp_path):
    Classroom(CLASS, target=AWS).up()
    expire(engine, *class_stacks())
    from envkit import home

    (home.home() / "classes" / "web-class.json").unlink()  # deployed from another machine
    home.update_registry("web-class", removed=True)
    for stack in class_stacks():
        home.update_registry(stack, removed=True)
    code, out, err = reap(capsys, "--yes", "--json")
    items = {i["stack"]: i for i in json.loads(out)["stacks"]}
    assert items["web-class-ann"]["action"] == "unresolved"
    assert "pass the spec" in items["web-class-ann"]["detail"] and code == 1
    code, out, err = reap(capsys, "--yes", "--json", str(CLASS))  # the spec, from the CLI
    assert code == 0, err
    assert {i["action"] for i in json.loads(out)["stacks"]} == {"destroyed"}


def test_a_second_reaper_does_nothing_while_one_runs(engine, capsys):
    Classroom(CLASS, target=AWS).up()
    expire(engine, *class_stacks())
    with reaper_lock():
        code, _, err = reap(capsys, "--yes")
    assert code == 1 and "another envkit reap is running" in err
    assert not engine.operations("destroy")


def test_without_yes_and_without_a_terminal_nothing_is_destroyed(engine, capsys):
    Classroom(CLASS, target=AWS).up()
    expire(engine, *class_stacks())
    code, _, err = reap(capsys)
    assert code == 2 and "pass --yes" in err and not engine.operations("destroy")


def test_reap_without_the_pulumi_cli_exits_3():
    done = subprocess.run([sys.executable, "-m", "envkit.cli", "reap", "--yes"],
                          capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert done.returncode == 3 and "Pulumi CLI is not installed" in done.stderr
    assert "Traceback" not in done.stderr


# --- orphans on the real moto server ------------------------------------------------------


@pytest.fixture
def emulator():
    yield local.start()
    local.stop()


def tag(env):
    return [{"Key": "envkit:environment", "Value": env}, {"Key": "Name", "Value": f"{env}-x"}]


def test_orphans_are_tagged_resources_no_stack_knows(engine, emulator, capsys):
    Classroom(CLASS, target=AWS).up()  # the backend knows web-class and its students
    session = local.boto3_session("us-east-1")
    ec2 = session.client("ec2", endpoint_url=emulator.endpoint)
    iam = session.client("iam", endpoint_url=emulator.endpoint)
    ghost = ec2.run_instances(ImageId="ami-0d27e0fb3bac4d724", MinCount=1, MaxCount=1,
                              TagSpecifications=[{"ResourceType": "instance",
                                                  "Tags": tag("ghost-lab")}]
                              )["Instances"][0]["InstanceId"]
    ec2.run_instances(ImageId="ami-0d27e0fb3bac4d724", MinCount=1, MaxCount=1,
                      TagSpecifications=[{"ResourceType": "instance",
                                          "Tags": tag("web-class-ann")}])
    group = ec2.create_security_group(
        GroupName="ghost-web", Description="d",
        TagSpecifications=[{"ResourceType": "security-group", "Tags": tag("ghost-lab")}]
    )["GroupId"]
    key = ec2.create_key_pair(KeyName="ghost-key", TagSpecifications=[
        {"ResourceType": "key-pair", "Tags": tag("ghost-lab")}])["KeyPairId"]
    eip = ec2.allocate_address(Domain="vpc", TagSpecifications=[
        {"ResourceType": "elastic-ip", "Tags": tag("ghost-lab")}])["AllocationId"]
    iam.create_user(UserName="casper", Path="/envkit/", Tags=tag("ghost-lab")[:1])
    iam.create_role(RoleName="ghost-role", Path="/envkit/", AssumeRolePolicyDocument="{}",
                    Tags=tag("ghost-lab")[:1])
    iam.create_user(UserName="ann", Path="/envkit/", Tags=tag("web-class-ann")[:1])

    from envkit.cli import main

    with pytest.raises(SystemExit) as done:
        main(["reap", "--dry-run", "--json", "--target", "local", "--region", "us-east-1"])
    out = capsys.readouterr()
    report = json.loads(out.out)
    # Orphans make the run fail, even a dry run, so cron mails someone.
    assert done.value.code == 1 and report["exit_code"] == 1
    assert "6 orphaned resources of 1 environment no stack holds: ghost-lab" in out.err
    orphans = {(o["kind"], o["id"].rsplit("/", 1)[-1]) for o in report["orphans"]}
    assert {o["environment"] for o in report["orphans"]} == {"ghost-lab"}
    assert orphans == {("ec2:instance", ghost), ("ec2:security-group", group),
                       ("ec2:key-pair", key), ("ec2:elastic-ip", eip),
                       ("iam:user", "casper"), ("iam:role", "ghost-role")}


def test_orphans_need_a_reachable_target(engine, capsys):
    from envkit.cli import main

    with pytest.raises(SystemExit) as done:
        main(["reap", "--dry-run", "--json", "--target", "local", "--region", "us-east-1"])
    report = json.loads(capsys.readouterr().out)
    assert done.value.code == 0 and report["orphans"] == []
    assert report["notes"] == ["orphans not listed in us-east-1: the local emulator is not "
                               "running"]


def test_a_class_whose_students_hold_no_orphans_exits_0_on_moto(engine, emulator, capsys):
    from envkit.cli import main

    with pytest.raises(SystemExit) as done:
        main(["reap", "--dry-run", "--json", "--target", "local", "--regions",
              "us-east-1,eu-west-2"])
    report = json.loads(capsys.readouterr().out)
    assert done.value.code == 0 and report["orphans"] == []
    assert report["regions"] == ["us-east-1", "eu-west-2"] and report["unscanned_regions"] == []


def test_the_orphan_scan_covers_every_region_the_account_reports(engine, emulator, capsys):
    session = local.boto3_session("eu-west-2")
    ec2 = session.client("ec2", endpoint_url=emulator.endpoint)
    far = ec2.run_instances(ImageId="ami-0d27e0fb3bac4d724", MinCount=1, MaxCount=1,
                            TagSpecifications=[{"ResourceType": "instance",
                                                "Tags": tag("far-lab")}]
                            )["Instances"][0]["InstanceId"]
    regions = ec2.describe_regions()["Regions"]
    # moto lists opt-in regions the account has not enabled too (AWS leaves them out unless
    # AllRegions is set): envkit keeps only the enabled ones, as AWS would return them.
    listed = {r["RegionName"] for r in regions if r.get("OptInStatus") != "not-opted-in"}
    disabled = {r["RegionName"] for r in regions} - listed
    from envkit.cli import main

    with pytest.raises(SystemExit) as done:  # no --regions: ec2:DescribeRegions decides
        main(["reap", "--dry-run", "--json", "--target", "local"])
    report = json.loads(capsys.readouterr().out)
    assert done.value.code == 1
    assert set(report["regions"]) == listed and "eu-west-2" in listed
    assert disabled and not disabled & set(report["regions"])
    assert [(o["environment"], o["region"], o["id"].rsplit("/", 1)[-1])
            for o in report["orphans"]] == [("far-lab", "eu-west-2", far)]


def test_a_refused_region_listing_is_an_incomplete_scan_and_a_non_zero_exit(monkeypatch):
    from botocore.exceptions import ClientError

    from envkit.classroom import reaper

    class Refusing:
        def describe_regions(self):
            raise ClientError({"Error": {"Code": "UnauthorizedOperation"}}, "DescribeRegions")

    monkeypatch.setattr(Target, "client", lambda self, service: Refusing())
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-a-secret")
    regions, complete, notes = reaper.account_regions("aws", None)
    assert regions == ["us-east-1"] and complete is False
    assert "UnauthorizedOperation" in notes[0] and "pass --regions" in notes[0]
    report = reaper.ReapReport(regions=regions, unscanned=["(the account's other regions)"])
    assert report.exit_code == reaper.EXIT_REAP_ATTENTION == 1


def test_a_bad_regions_value_is_exit_2(engine, capsys):
    code, _, err = reap(capsys, "--regions", "us-east-1,Mars")
    assert code == 2 and "'Mars' is not a region name" in err


# --- the shared stack is never destroyed from under a student --------------------------------


def test_an_unreadable_student_stack_keeps_the_shared_stack(engine, capsys):
    Classroom(CLASS, target=AWS).up()
    expire(engine, *class_stacks())
    # bob's outputs cannot be read (a passphrase changed, a damaged checkpoint...) and his
    # destroy fails, so his 8 resources stay: the shared stack must stay too.
    engine.unreadable = {"web-class-bob"}
    code, out, _err = reap(capsys, "--yes", "--json")
    items = {i["stack"]: i for i in json.loads(out)["stacks"]}
    assert items["web-class-bob"]["action"] == "failed"
    assert "outputs unreadable" in items["web-class-bob"]["detail"]
    assert items["web-class"]["action"] == "waiting"
    assert "1 student stack still holds resources (1 unreadable: web-class-bob)" in \
        items["web-class"]["detail"]
    assert "web-class" not in engine.operations("destroy")
    assert engine.states["web-class"]["resources"] and engine.states["web-class-bob"]["resources"]
    assert code == 1


def test_a_student_stack_no_spec_knows_still_keeps_the_shared_stack(engine, capsys):
    Classroom(CLASS, target=AWS).up()
    expire(engine, *class_stacks())
    # The roster lost dana, yet her stack is in the backend, readable, and not expired:
    engine.states["web-class-dana"]["outputs"]["expires"] = OutputValue("2999-01-01T00:00Z",
                                                                        False)
    code, out, _err = reap(capsys, "--yes", "--json")
    items = {i["stack"]: i for i in json.loads(out)["stacks"]}
    assert items["web-class-dana"]["action"] == "active"
    assert items["web-class"]["action"] == "waiting" and code == 1


def test_a_cancelled_reap_stops_at_once_and_exits_130(engine, capsys):
    """SIGTERM during a reap (a scheduled job stopped): the destroy under way is cancelled
    by its CLI, the remaining expired stacks are left for the next run, and exit 130."""
    import signal

    from envkit import interrupts

    Classroom(CLASS, target=AWS).up()
    expire(engine, *class_stacks())

    class Cancelled(dict):
        def get(self, name, default=None):
            interrupts.note_interrupt(signal.SIGTERM)  # envkit's handler saw it
            return auto_errors.CommandError(CommandResult("", "error: update canceled", 255))

    engine.failures = Cancelled()
    code, out, err = reap(capsys, "--yes", "--json")
    assert code == 130, err
    report = json.loads(out)
    assert report["cancelled"] and report["exit_code"] == 130
    actions = [i["action"] for i in report["stacks"]]
    assert actions.count("cancelled") == 1 and "destroyed" not in actions
    assert len(engine.operations("destroy")) <= 1
