"""Leases that end in AWS: EventBridge Scheduler schedules per student, a budget per class.

The components run under Pulumi's mocks (the offline plan, and the class driver's deploy
stand-ins, which give ids and ARNs as a provider would) for their resource shape; the AWS
calls the provider makes for them run with boto3 against the real moto server, with the
exact arguments the plan produced. What moto does not implement is asserted here too
(docs/classroom-leases.md lists it): it never fires a schedule, and of Budgets it lacks every
budget action call and DescribeSubscribersForNotification.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest
import yaml

from envkit import Classroom, local
from envkit.classroom import aws_lease
from envkit.targets import Target

from . import classroom_fakes
from .conftest import LABS

CLASS = LABS / "classroom.yaml"
AWS = Target("aws", "us-east-1", "test")
ACCOUNT = "123456789012"


def variant(tmp_path, **classroom) -> str:
    doc = yaml.safe_load(CLASS.read_text())
    doc["classroom"].update(classroom)
    path = tmp_path / "class.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return str(path)


BUDGET = {"monthly_usd": 150, "notify": ["ta@example.edu"], "thresholds": [50, 90],
          "deny_at": 100}


def by_type(resources, kind: str) -> list:
    return [r for r in resources if r.type == kind]


def document(value) -> dict:
    return json.loads(value) if isinstance(value, str) else value


@pytest.fixture(scope="module")
def plan():
    return Classroom(CLASS).plan()


# --- shape, offline -----------------------------------------------------------------------------


def test_each_student_stack_ends_its_lease_with_two_universal_target_schedules(plan):
    ann = plan.students["ann"]
    schedules = {r.inputs["name"]: r.inputs for r in
                 by_type(ann.resources, "aws:scheduler/schedule:Schedule")}
    assert set(schedules) == {"web-class-ann-stop", "web-class-ann-signin"}
    expires = ann.outputs["expires"]  # the envkit:expires tag every resource carries
    for inputs in schedules.values():
        assert inputs["scheduleExpression"] == aws_lease.at_expression(expires)
        assert inputs["scheduleExpression"].startswith("at(") and \
            inputs["scheduleExpression"].endswith(":00)")
        assert inputs["scheduleExpressionTimezone"] == "UTC"
        assert inputs["flexibleTimeWindow"] == {"mode": "OFF"}
        assert inputs["groupName"] == "envkit-web-class" and inputs["state"] == "ENABLED"
    stop = schedules["web-class-ann-stop"]["target"]
    signin = schedules["web-class-ann-signin"]["target"]
    assert stop["arn"] == "arn:aws:scheduler:::aws-sdk:ec2:stopInstances"
    assert signin["arn"] == "arn:aws:scheduler:::aws-sdk:iam:deleteLoginProfile"
    assert json.loads(signin["input"]) == {"UserName": "ann"}
    assert ann.outputs["lease_end"]["at"] == aws_lease.at_expression(expires)


def test_the_shared_stack_holds_the_schedule_group_and_a_tightly_scoped_role(plan):
    shared = plan.shared.resources
    (group,) = by_type(shared, "aws:scheduler/scheduleGroup:ScheduleGroup")
    assert group.inputs["name"] == "envkit-web-class"
    assert group.inputs["tags"]["envkit:class"] == "web-class"
    role = next(r for r in by_type(shared, "aws:iam/role:Role")
                if r.inputs["name"] == "web-class-lease-end")
    assert document(role.inputs["assumeRolePolicy"]) == aws_lease.scheduler_trust(
        "aws", "us-east-1", ACCOUNT, "envkit-web-class")
    (policy,) = [r for r in by_type(shared, "aws:iam/rolePolicy:RolePolicy")
                 if r.inputs["name"] == "envkit-lease-end"]
    statements = document(policy.inputs["policy"])["Statement"]
    assert [(s["Action"], s["Resource"]) for s in statements] == [
        ("ec2:StopInstances", f"arn:aws:ec2:us-east-1:{ACCOUNT}:instance/*"),
        ("iam:DeleteLoginProfile", f"arn:aws:iam::{ACCOUNT}:user/envkit/*")]
    for s in statements:  # only students' resources of this class: never shared ones
        assert s["Condition"] == {"StringEquals": {"aws:ResourceTag/envkit:class": "web-class"},
                                  "Null": {"aws:ResourceTag/envkit:student": "false"}}
    trust = document(role.inputs["assumeRolePolicy"])["Statement"][0]
    assert trust["Principal"] == {"Service": "scheduler.amazonaws.com"}
    # The group's ARN, as the Scheduler User Guide requires ("Confused deputy prevention").
    assert trust["Condition"]["StringEquals"] == {
        "aws:SourceAccount": ACCOUNT,
        "aws:SourceArn": f"arn:aws:scheduler:us-east-1:{ACCOUNT}:schedule-group/envkit-web-class"}


def test_the_generated_class_with_schedules_and_a_budget_passes_the_policy_pack(tmp_path):
    classroom = Classroom(variant(tmp_path, budget=BUDGET))
    report = classroom.check()
    assert not report.mandatory, report.refusal()


def test_a_class_with_a_budget_gets_a_tag_filtered_budget_and_a_deny_action(tmp_path):
    plan = Classroom(variant(tmp_path, budget=BUDGET)).plan()
    shared = plan.shared.resources
    (budget,) = by_type(shared, "aws:budgets/budget:Budget")
    assert budget.inputs["name"] == "envkit-web-class"
    assert budget.inputs["budgetType"] == "COST" and budget.inputs["timeUnit"] == "MONTHLY"
    assert (budget.inputs["limitAmount"], budget.inputs["limitUnit"]) == ("150.00", "USD")
    assert budget.inputs["costFilters"] == [{"name": "TagKeyValue",
                                             "values": ["user:envkit:class$web-class"]}]
    assert sorted((n["threshold"], n["notificationType"], tuple(n["subscriberEmailAddresses"]))
                  for n in budget.inputs["notifications"]) == [
        (50, "ACTUAL", ("ta@example.edu",)), (90, "ACTUAL", ("ta@example.edu",))]
    (action,) = by_type(shared, "aws:budgets/budgetAction:BudgetAction")
    assert action.inputs["actionType"] == "APPLY_IAM_POLICY"
    assert action.inputs["approvalModel"] == "AUTOMATIC"
    assert action.inputs["actionThreshold"] == {"actionThresholdType": "PERCENTAGE",
                                                "actionThresholdValue": 100}
    assert action.inputs["definition"]["iamActionDefinition"]["groups"] == \
        ["web-class-students"]
    (deny,) = by_type(shared, "aws:iam/policy:Policy")
    assert document(deny.inputs["policy"]) == aws_lease.over_budget_policy()
    role = next(r for r in by_type(shared, "aws:iam/role:Role")
                if r.inputs["name"] == "web-class-budget-action")
    assert document(role.inputs["assumeRolePolicy"])["Statement"][0]["Principal"] == {
        "Service": "budgets.amazonaws.com"}


def test_without_expiry_schedules_no_schedule_is_made(tmp_path):
    plan = Classroom(variant(tmp_path, expiry_schedule=False)).plan()
    types = {r.type for r in plan.plan.resources}
    assert "aws:scheduler/schedule:Schedule" not in types
    assert "aws:scheduler/scheduleGroup:ScheduleGroup" not in types
    assert plan.total() == 55  # the lab without its lease guards


def test_the_local_target_gets_schedules_but_no_budget(tmp_path):
    from envkit.classroom.planning import lease_extension
    from envkit.planner import run_mocked
    from envkit.stack_program import program

    layout = Classroom(variant(tmp_path, budget=BUDGET)).layout
    spec = layout.shared_spec
    records, outputs = run_mocked(spec.name, spec.region, spec.availability_zone, lambda: program(
        spec, target="local", with_network=True,
        extend=lease_extension(layout, None, None, "local")))
    types = {r.type for r in records}
    assert "aws:scheduler/scheduleGroup:ScheduleGroup" in types
    assert not {"aws:budgets/budget:Budget", "aws:budgets/budgetAction:BudgetAction"} & types
    assert outputs["budget"] == {"name": None, "note": "no budget on the local emulator"}


def test_a_budget_without_anyone_to_tell_is_exit_2(tmp_path, capsys):
    from envkit.cli import main

    doc = yaml.safe_load(CLASS.read_text())
    doc["owner"] = "instructor"
    doc["classroom"]["budget"] = {"monthly_usd": 10}
    path = tmp_path / "class.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    with pytest.raises(SystemExit) as done:
        main(["validate", str(path)])
    out = capsys.readouterr()
    assert done.value.code == 2 and "classroom.budget: a budget tells someone" in out.out + out.err


def test_names_stay_within_schedulers_limits():
    long = "x" * 100
    assert len(aws_lease.schedule_name(long, "signin")) == 64
    assert aws_lease.schedule_name(long, "stop") != aws_lease.schedule_name(long + "y", "stop")
    assert aws_lease.at_expression("2026-12-07T14:05Z") == "at(2026-12-07T14:05:00)"


# --- deployed (driver stand-ins give real ids), and moved by extend ------------------------------


@pytest.fixture
def engine(monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")  # reaches nothing
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-a-secret")
    return classroom_fakes.install(monkeypatch)


def deployed(engine, stack: str, kind: str) -> dict:
    return {r.inputs.get("name"): r.inputs for r in engine.states[stack]["resources"]
            if r.type == kind}


def test_a_deployed_schedule_stops_exactly_the_students_instances(engine):
    Classroom(CLASS, target=AWS).up()
    instance = next(r for r in engine.states["web-class-ann"]["resources"]
                    if r.type == "aws:ec2/instance:Instance")
    instance_id = engine.states["web-class-ann"]["known"][(instance.type, instance.name)][0]
    stop = deployed(engine, "web-class-ann", "aws:scheduler/schedule:Schedule")[
        "web-class-ann-stop"]
    assert json.loads(stop["target"]["input"]) == {"InstanceIds": [instance_id]}
    assert stop["target"]["roleArn"] == f"arn:aws:iam::{ACCOUNT}:role/envkit/web-class-lease-end"
    # The instance carries the tags the role's conditions require.
    assert instance.inputs["tags"]["envkit:class"] == "web-class"
    assert instance.inputs["tags"]["envkit:student"] == "ann"


def test_class_extend_moves_the_schedules_with_the_tags(engine):
    classroom = Classroom(CLASS, target=AWS)
    classroom.up()
    before = deployed(engine, "web-class-bob", "aws:scheduler/schedule:Schedule")
    classroom.extend("2d", "ann")
    expires = engine.states["web-class-ann"]["outputs"]["expires"].value
    after = deployed(engine, "web-class-ann", "aws:scheduler/schedule:Schedule")
    moved = datetime.fromisoformat(expires.replace("Z", "+00:00"))
    assert moved - datetime.now(timezone.utc) > timedelta(days=2)
    for inputs in after.values():
        assert inputs["scheduleExpression"] == aws_lease.at_expression(expires)
    assert deployed(engine, "web-class-bob", "aws:scheduler/schedule:Schedule") == before


# --- the provider's calls, against the real moto server ------------------------------------------


@pytest.fixture
def moto_clients(monkeypatch):
    import boto3
    from botocore.config import Config

    server = local.start()
    config = Config(retries={"total_max_attempts": 1})
    session = boto3.session.Session(aws_access_key_id="test", aws_secret_access_key="test",
                                    region_name="us-east-1")
    yield lambda name: session.client(name, endpoint_url=server.endpoint, config=config)
    local.stop()


def _schedule_request(inputs: dict) -> dict:
    """The CreateSchedule request the provider builds from these inputs
    (terraform-provider-aws internal/service/scheduler/schedule.go resourceScheduleCreate)."""
    target = inputs["target"]
    return {"Name": inputs["name"], "GroupName": inputs["groupName"],
            "Description": inputs["description"],
            "ScheduleExpression": inputs["scheduleExpression"],
            "ScheduleExpressionTimezone": inputs["scheduleExpressionTimezone"],
            "FlexibleTimeWindow": {"Mode": inputs["flexibleTimeWindow"]["mode"]},
            "State": inputs["state"],
            "Target": {"Arn": target["arn"], "RoleArn": target["roleArn"],
                       "Input": target["input"]}}


def test_the_schedule_calls_work_on_moto_with_the_planned_arguments(engine, moto_clients):
    classroom = Classroom(CLASS, target=AWS)
    classroom.up()
    shared = engine.states["web-class"]["resources"]
    role = next(r.inputs for r in shared if r.type == "aws:iam/role:Role"
                and r.inputs["name"] == "web-class-lease-end")
    policy = next(r.inputs for r in shared if r.type == "aws:iam/rolePolicy:RolePolicy"
                  and r.inputs["name"] == "envkit-lease-end")
    iam, scheduler = moto_clients("iam"), moto_clients("scheduler")
    made = iam.create_role(RoleName=role["name"], Path=role["path"],
                           AssumeRolePolicyDocument=role["assumeRolePolicy"])["Role"]
    iam.put_role_policy(RoleName=role["name"], PolicyName=policy["name"],
                        PolicyDocument=policy["policy"])
    assert made["Arn"] == f"arn:aws:iam::{ACCOUNT}:role/envkit/web-class-lease-end"
    scheduler.create_schedule_group(Name="envkit-web-class",
                                    Tags=[{"Key": "envkit:class", "Value": "web-class"}])
    schedules = deployed(engine, "web-class-ann", "aws:scheduler/schedule:Schedule")
    for inputs in schedules.values():
        scheduler.create_schedule(**_schedule_request(inputs))
        got = scheduler.get_schedule(Name=inputs["name"], GroupName="envkit-web-class")
        assert got["ScheduleExpression"] == inputs["scheduleExpression"]
        assert got["Target"]["Arn"] == inputs["target"]["arn"]
        assert json.loads(got["Target"]["Input"]) == json.loads(inputs["target"]["input"])
        assert got["Target"]["RoleArn"] == made["Arn"]
    # extend: the provider's UpdateSchedule with the moved expression.
    classroom.extend("1d", "ann")
    for inputs in deployed(engine, "web-class-ann", "aws:scheduler/schedule:Schedule").values():
        request = _schedule_request(inputs)
        request.pop("Description")
        scheduler.update_schedule(**request)
        got = scheduler.get_schedule(Name=inputs["name"], GroupName="envkit-web-class")
        assert got["ScheduleExpression"] == inputs["scheduleExpression"]
    names = {s["Name"] for s in scheduler.list_schedules(GroupName="envkit-web-class")
             ["Schedules"]}
    assert names == {"web-class-ann-stop", "web-class-ann-signin"}
    for name in names:  # reap / class down: the provider's DeleteSchedule, then the group
        scheduler.delete_schedule(Name=name, GroupName="envkit-web-class")
    scheduler.delete_schedule_group(Name="envkit-web-class")
    assert not scheduler.list_schedule_groups(NamePrefix="envkit-")["ScheduleGroups"]


def test_the_budget_calls_moto_implements_work_and_the_rest_are_missing(tmp_path, moto_clients):
    from botocore.exceptions import ClientError

    plan = Classroom(variant(tmp_path, budget=BUDGET)).plan()
    (inputs,) = [r.inputs for r in plan.shared.resources if r.type == "aws:budgets/budget:Budget"]
    budgets = moto_clients("budgets")
    notifications = [{"NotificationType": n["notificationType"],
                      "ComparisonOperator": n["comparisonOperator"],
                      "Threshold": n["threshold"], "ThresholdType": n["thresholdType"]}
                     for n in inputs["notifications"]]
    # resourceBudgetCreate: CreateBudget, then CreateNotification per notification.
    budgets.create_budget(AccountId=ACCOUNT, Budget={
        "BudgetName": inputs["name"], "BudgetType": inputs["budgetType"],
        "TimeUnit": inputs["timeUnit"],
        "BudgetLimit": {"Amount": inputs["limitAmount"], "Unit": inputs["limitUnit"]},
        "CostFilters": {f["name"]: f["values"] for f in inputs["costFilters"]}})
    for notification in notifications:
        budgets.create_notification(AccountId=ACCOUNT, BudgetName=inputs["name"],
                                    Notification=notification, Subscribers=[
                                        {"SubscriptionType": "EMAIL", "Address": a}
                                        for a in BUDGET["notify"]])
    got = budgets.describe_budget(AccountId=ACCOUNT, BudgetName="envkit-web-class")["Budget"]
    assert got["CostFilters"] == {"TagKeyValue": ["user:envkit:class$web-class"]}
    assert got["BudgetLimit"] == {"Amount": "150.00", "Unit": "USD"}
    listed = budgets.describe_notifications_for_budget(AccountId=ACCOUNT,
                                                       BudgetName="envkit-web-class")
    assert sorted(n["Threshold"] for n in listed["Notifications"]) == [50, 90]
    # What the provider calls next and moto does not implement (docs/classroom-leases.md).
    named = {"AccountId": ACCOUNT, "BudgetName": "envkit-web-class"}
    missing = {
        "describe_subscribers_for_notification": {**named, "Notification": notifications[0]},
        "update_budget": {"AccountId": ACCOUNT, "NewBudget": {
            "BudgetName": "envkit-web-class", "BudgetType": "COST", "TimeUnit": "MONTHLY"}},
        "describe_budget_actions_for_budget": named,
        "describe_budget_action": {**named,
                                   "ActionId": "00000000-0000-0000-0000-000000000000"},
    }
    for call, arguments in missing.items():
        with pytest.raises(ClientError) as refused:
            getattr(budgets, call)(**arguments)
        assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 500, call
    budgets.delete_budget(AccountId=ACCOUNT, BudgetName="envkit-web-class")


def test_the_handout_tells_the_student_when_and_how_the_lease_ends(engine, tmp_path):
    classroom = Classroom(CLASS, target=AWS)
    classroom.up()
    written = classroom.handouts(tmp_path / "handouts")
    page = written.pages["ann"].read_text()
    expires = engine.states["web-class-ann"]["outputs"]["expires"].value
    assert f"Your lease ends at {expires} (UTC): your instances stop and your console " \
           "password is removed then" in page
