"""Leases that end in AWS: EventBridge Scheduler schedules and an AWS Budgets budget.

A student's lease ends at its ``envkit:expires`` time even when nobody runs ``envkit reap``:
each student stack makes one-time schedules (``at(...)``, UTC) whose targets are Scheduler's
*universal targets* (``arn:aws:scheduler:::aws-sdk:<service>:<apiAction>``, no Lambda, no
code), one per API call: ``ec2:stopInstances`` on the student's instances and
``iam:deleteLoginProfile`` on their user (their console password; with it gone the student
cannot sign in, and their instances stop costing compute). ``envkit class extend`` moves the
schedules with the tags: both are derived from the same expiry. ``envkit reap`` remains the
full cleanup (it destroys the stacks, schedules included).

The shared stack holds what the schedules share: a schedule group for the class and the
execution role Scheduler assumes. The role may stop only instances and remove only login
profiles of users tagged with this class *and* a student (``envkit:student`` present), in
this account, and only Scheduler may assume it, for schedules of this class's group
(``aws:SourceAccount``, and ``aws:SourceArn`` = the group's ARN: the confused-deputy guard
of the Scheduler User Guide, "Confused deputy prevention").

A class with ``classroom.budget`` gets a monthly COST budget filtered by the cost-allocation
tag ``envkit:class`` (``TagKeyValue`` = ``user:envkit:class$<class>``) that emails the
instructor at each threshold; with ``deny_at``, a budget action (APPLY_IAM_POLICY, automatic)
attaches a policy to the student group that denies starting and launching instances. The
tag must be activated as a cost-allocation tag in Billing once per account (an account-wide
setting no class should own or destroy); docs/classroom-leases.md says how.

Read-only actions cannot be universal targets (get/describe/list... prefixes), so each
schedule names the instance ids and the user name it acts on.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

from ..components.base import IAM_PATH
from .layout import TAG_CLASS, TAG_STUDENT

#: The API calls a lease's end makes (service, apiAction), as universal targets take them.
STOP_INSTANCES = ("ec2", "stopInstances")
REMOVE_CONSOLE = ("iam", "deleteLoginProfile")
#: Scheduler's and Budgets' service principals.
SCHEDULER_PRINCIPAL = "scheduler.amazonaws.com"
BUDGETS_PRINCIPAL = "budgets.amazonaws.com"
#: What a class over its budget may no longer do (with ``deny_at``).
OVER_BUDGET_DENIED = ["ec2:StartInstances", "ec2:RunInstances"]
#: Longest schedule and schedule-group name (CreateSchedule: 1-64 of [0-9a-zA-Z-_.]).
MAX_SCHEDULE_NAME = 64
#: Longest IAM role name.
MAX_ROLE_NAME = 64


def fit(name: str, limit: int) -> str:
    """``name`` within ``limit`` characters of ``[0-9A-Za-z._-]``: cut, with a digest of the
    whole name at the end, so long names stay distinct."""
    clean = re.sub(r"[^0-9A-Za-z._-]", "-", name)
    if len(clean) <= limit:
        return clean
    digest = hashlib.sha256(name.encode()).hexdigest()[:8]
    return f"{clean[:limit - 9]}-{digest}"


def schedule_group(class_name: str) -> str:
    """The class's schedule group."""
    return fit(f"envkit-{class_name}", MAX_SCHEDULE_NAME)


def schedule_name(stack: str, what: str) -> str:
    """A student's schedule (``what``: stop, signin)."""
    return fit(f"{stack}-{what}", MAX_SCHEDULE_NAME)


def scheduler_role_name(class_name: str) -> str:
    """The execution role of the class's schedules."""
    return fit(f"{class_name}-lease-end", MAX_ROLE_NAME)


def budget_name(class_name: str) -> str:
    """The class's budget (Budgets names may not hold ':' or '\\')."""
    return f"envkit-{class_name}"[:100]


def at_expression(expires: str) -> str:
    """``at(...)`` for an ``envkit:expires`` value (``2026-12-07T14:00Z``), in UTC."""
    day, _, time = expires.rstrip("Z").partition("T")
    time = (time + ":00:00")[:8] if time else "00:00:00"
    return f"at({day}T{time})"


def universal_target(partition: str, call: tuple[str, str]) -> str:
    """The universal target ARN of an API call."""
    service, action = call
    return f"arn:{partition}:scheduler:::aws-sdk:{service}:{action}"


def _student_resource(class_name: str) -> dict[str, Any]:
    """Resources of this class that belong to a student (shared ones carry no envkit:student
    tag, so the role cannot stop the instructor's instance or remove a TA's password)."""
    return {"StringEquals": {f"aws:ResourceTag/{TAG_CLASS}": class_name},
            "Null": {f"aws:ResourceTag/{TAG_STUDENT}": "false"}}


def scheduler_policy(partition: str, region: str, account: str, class_name: str
                     ) -> dict[str, Any]:
    """What the schedules' execution role may do: exactly the two lease-end calls, on
    students' resources of this class in this account."""
    return {"Version": "2012-10-17", "Statement": [
        {"Sid": "StopStudentInstancesOfThisClass", "Effect": "Allow",
         "Action": "ec2:StopInstances",
         "Resource": f"arn:{partition}:ec2:{region}:{account}:instance/*",
         "Condition": _student_resource(class_name)},
        {"Sid": "RemoveStudentConsolePasswordsOfThisClass", "Effect": "Allow",
         "Action": "iam:DeleteLoginProfile",
         "Resource": f"arn:{partition}:iam::{account}:user{IAM_PATH}*",
         "Condition": _student_resource(class_name)},
    ]}


def scheduler_trust(partition: str, region: str, account: str, group: str) -> dict[str, Any]:
    """Only EventBridge Scheduler may assume the role, for this account's schedules of the
    class's group. ``aws:SourceArn`` is the schedule *group's* ARN: the Scheduler User Guide
    ("Confused deputy prevention") says it must be a group's, never a schedule's or a
    schedule name prefix."""
    return {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"Service": SCHEDULER_PRINCIPAL},
        "Action": "sts:AssumeRole",
        "Condition": {"StringEquals": {
            "aws:SourceAccount": account,
            "aws:SourceArn": f"arn:{partition}:scheduler:{region}:{account}:schedule-group/"
                             f"{group}"}}}]}


def budgets_trust(partition: str, account: str) -> dict[str, Any]:
    """Only AWS Budgets may assume the budget action's role, for this account's budgets
    (Cost Management User Guide, "Cross-service confused deputy prevention": for Budgets
    ``aws:SourceArn`` must be ``arn:aws:budgets::ACCOUNT:budget/*``)."""
    return {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"Service": BUDGETS_PRINCIPAL},
        "Action": "sts:AssumeRole",
        "Condition": {"StringEquals": {"aws:SourceAccount": account},
                      "ArnLike": {"aws:SourceArn": f"arn:{partition}:budgets::{account}:"
                                                   "budget/*"}}}]}


def over_budget_policy() -> dict[str, Any]:
    """The deny policy a budget action attaches to the student group."""
    return {"Version": "2012-10-17", "Statement": [
        {"Sid": "ClassOverBudget", "Effect": "Deny", "Action": OVER_BUDGET_DENIED,
         "Resource": "*"}]}


def budget_action_policy(group_arn: str, policy_arn: str) -> dict[str, Any]:
    """The budget action's role: attach (and detach, when reset) that one policy to that
    one group."""
    return {"Version": "2012-10-17", "Statement": [
        {"Sid": "AttachTheOverBudgetPolicyToTheStudentGroup", "Effect": "Allow",
         "Action": ["iam:AttachGroupPolicy", "iam:DetachGroupPolicy"],
         "Resource": group_arn,
         "Condition": {"ArnEquals": {"iam:PolicyARN": policy_arn}}}]}


def tag_filter(class_name: str) -> str:
    """The Budgets ``TagKeyValue`` filter value for the class's cost-allocation tag."""
    return f"user:{TAG_CLASS}${class_name}"


# --- the components (pulumi imports stay inside: planning the layout needs none) ---------------


def shared_guards(layout: Any, partition: str, tags: dict[str, str], opts: Any,
                  exports: dict[str, Any], target: str) -> dict[str, Any]:
    """The shared stack's part: the schedule group and the execution role (when the class
    ends leases in AWS), and the budget (when it has one). Returns outputs to export."""
    classroom = layout.classroom
    if not classroom.expiry_schedule and classroom.budget is None:
        return {}
    guard = _component("envkit:classroom:ClassGuards", f"{layout.name}-guards", opts)
    out: dict[str, Any] = {}
    if classroom.expiry_schedule:
        out["lease"] = _schedule_group_and_role(guard, layout, partition, tags)
    if classroom.budget is not None and target == "local":
        # moto's Budgets lacks DescribeSubscribersForNotification, which the provider reads
        # a budget's notifications with, and every budget action call: no budget there.
        out["budget"] = {"name": None, "note": "no budget on the local emulator"}
    elif classroom.budget is not None:
        group_arn = (exports.get("groups") or {}).get(classroom.student_group)
        out["budget"] = _budget(guard, layout, partition, tags, group_arn)
    guard.register_outputs({})
    return out


def _component(kind: str, name: str, opts: Any) -> Any:
    import pulumi

    return pulumi.ComponentResource(kind, name, None, opts)


def _account(parent: Any) -> Any:
    import pulumi
    import pulumi_aws as aws

    return aws.get_caller_identity_output(opts=pulumi.InvokeOptions(parent=parent)).account_id


def _schedule_group_and_role(guard: Any, layout: Any, partition: str, tags: dict[str, str]
                             ) -> dict[str, Any]:
    import pulumi
    import pulumi_aws as aws

    child = pulumi.ResourceOptions(parent=guard)
    name, region = layout.name, layout.spec.region
    group = aws.scheduler.ScheduleGroup(f"{name}-schedule-group", name=schedule_group(name),
                                        tags=tags, opts=child)
    account = _account(guard)
    role = aws.iam.Role(
        f"{name}-lease-end-role", name=scheduler_role_name(name), path=IAM_PATH,
        description=f"EventBridge Scheduler ends the leases of class {name}"[:1000],
        assume_role_policy=account.apply(lambda a: json.dumps(
            scheduler_trust(partition, region, a, schedule_group(name)))),
        tags={**tags, "Name": scheduler_role_name(name)}, opts=child)
    aws.iam.RolePolicy(
        f"{name}-lease-end-policy", role=role.name, name="envkit-lease-end",
        policy=account.apply(lambda a: json.dumps(scheduler_policy(partition, region, a, name))),
        opts=pulumi.ResourceOptions(parent=role))
    return {"schedule_group": group.name, "role_arn": role.arn}


def _budget(guard: Any, layout: Any, partition: str, tags: dict[str, str], group_arn: Any
            ) -> dict[str, Any]:
    import pulumi
    import pulumi_aws as aws

    child = pulumi.ResourceOptions(parent=guard)
    spec, name = layout.spec, layout.name
    budget_spec = layout.classroom.budget
    notify = list(budget_spec.notify) or [spec.owner]
    budget = aws.budgets.Budget(
        f"{name}-budget", name=budget_name(name), budget_type="COST", time_unit="MONTHLY",
        limit_amount=f"{budget_spec.monthly_usd:.2f}", limit_unit="USD",
        cost_filters=[aws.budgets.BudgetCostFilterArgs(name="TagKeyValue",
                                                        values=[tag_filter(name)])],
        notifications=[aws.budgets.BudgetNotificationArgs(
            comparison_operator="GREATER_THAN", threshold=float(t), threshold_type="PERCENTAGE",
            notification_type="ACTUAL", subscriber_email_addresses=notify)
            for t in budget_spec.thresholds],
        tags=tags, opts=child)
    out: dict[str, Any] = {"name": budget.name, "monthly_usd": budget_spec.monthly_usd,
                           "notify": notify, "deny_at": budget_spec.deny_at}
    if budget_spec.deny_at is None or group_arn is None:
        return out
    account = _account(guard)
    deny = aws.iam.Policy(f"{name}-over-budget", name=fit(f"{name}-over-budget", 128),
                          path=IAM_PATH, description=f"Class {name} is over its budget",
                          policy=json.dumps(over_budget_policy()), tags=tags, opts=child)
    role = aws.iam.Role(
        f"{name}-budget-action-role", name=fit(f"{name}-budget-action", MAX_ROLE_NAME),
        path=IAM_PATH,
        assume_role_policy=account.apply(lambda a: json.dumps(budgets_trust(partition, a))),
        tags={**tags, "Name": fit(f"{name}-budget-action", MAX_ROLE_NAME)}, opts=child)
    aws.iam.RolePolicy(
        f"{name}-budget-action-policy", role=role.name, name="envkit-budget-action",
        policy=pulumi.Output.all(group_arn, deny.arn).apply(
            lambda v: json.dumps(budget_action_policy(v[0], v[1]))),
        opts=pulumi.ResourceOptions(parent=role))
    group_name = layout.shared_groups()[layout.classroom.student_group]
    aws.budgets.BudgetAction(
        f"{name}-budget-action", budget_name=budget.name, action_type="APPLY_IAM_POLICY",
        approval_model="AUTOMATIC", notification_type="ACTUAL",
        action_threshold=aws.budgets.BudgetActionActionThresholdArgs(
            action_threshold_type="PERCENTAGE",
            action_threshold_value=float(budget_spec.deny_at)),
        definition=aws.budgets.BudgetActionDefinitionArgs(
            iam_action_definition=aws.budgets.BudgetActionDefinitionIamActionDefinitionArgs(
                policy_arn=deny.arn, groups=[group_name])),
        execution_role_arn=role.arn,
        subscribers=[aws.budgets.BudgetActionSubscriberArgs(address=a,
                                                            subscription_type="EMAIL")
                     for a in notify],
        tags=tags, opts=child)
    out["deny_action"] = f"at {budget_spec.deny_at}%: {', '.join(OVER_BUDGET_DENIED)} denied"
    return out


def student_lease(layout: Any, student: Any, partition: str, opts: Any,
                  exports: dict[str, Any], refs: dict[str, Any]) -> dict[str, Any]:
    """A student stack's schedules: at the expiry, stop their instances and remove their
    console password. Returns outputs to export (the schedules' names and when)."""
    import pulumi
    import pulumi_aws as aws

    lease = refs.get("lease") or {}
    expires = exports.get("expires")
    if not layout.classroom.expiry_schedule or not lease or not expires:
        return {}
    stack = layout.stack_name(student)
    guard = _component("envkit:classroom:StudentLease", f"{stack}-lease", opts)
    child = pulumi.ResourceOptions(parent=guard)
    when = at_expression(expires)
    common = {"schedule_expression": when, "schedule_expression_timezone": "UTC",
              "flexible_time_window": aws.scheduler.ScheduleFlexibleTimeWindowArgs(mode="OFF"),
              "group_name": lease.get("schedule_group"), "state": "ENABLED"}
    made: dict[str, Any] = {}
    ids = [i.get("id") for i in (exports.get("instances") or {}).values() if isinstance(i, dict)]
    if ids:
        made["stop_instances"] = aws.scheduler.Schedule(
            f"{stack}-stop", name=schedule_name(stack, "stop"),
            description=f"envkit: {student.id}'s lease of {layout.name} ends: stop instances",
            target=aws.scheduler.ScheduleTargetArgs(
                arn=universal_target(partition, STOP_INSTANCES),
                role_arn=lease.get("role_arn"),
                input=pulumi.Output.all(*ids).apply(
                    lambda v: json.dumps({"InstanceIds": sorted(v)}))),
            **common, opts=child).name
    user = (exports.get("users") or {}).get(student.id) or {}
    if user.get("console"):
        made["remove_console"] = aws.scheduler.Schedule(
            f"{stack}-signin", name=schedule_name(stack, "signin"),
            description=f"envkit: {student.id}'s lease of {layout.name} ends: remove the "
                        "console password",
            target=aws.scheduler.ScheduleTargetArgs(
                arn=universal_target(partition, REMOVE_CONSOLE),
                role_arn=lease.get("role_arn"),
                input=json.dumps({"UserName": student.id})),
            **common, opts=child).name
    guard.register_outputs({})
    return {"lease_end": {"at": when, "timezone": "UTC", "schedules": made}} if made else {}


__all__ = ["at_expression", "budget_name", "fit", "over_budget_policy", "schedule_group",
           "schedule_name", "scheduler_policy", "scheduler_trust", "shared_guards",
           "student_lease", "tag_filter", "universal_target"]
