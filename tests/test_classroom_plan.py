"""A class planned offline: its stacks, the generated isolation (statement by statement),
the classroom policy rules both ways, and the cost from recorded Price List responses."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from datetime import datetime, timezone

import boto3
import botocore.loaders
import pytest
from botocore.stub import Stubber

from envkit import Classroom, load_spec
from envkit.classroom import cost
from envkit.classroom.layout import TAG_CLASS, TAG_STUDENT, USER_PATH, student_policy

from .conftest import LABS, ROOT

CLASS = LABS / "classroom.yaml"


@pytest.fixture(scope="module")
def classroom():
    return Classroom(CLASS)


@pytest.fixture(scope="module")
def plan(classroom):
    return classroom.plan()


def class_dict() -> dict:
    """The shipped class as a mapping, to derive variants from."""
    return load_spec(CLASS).model_dump(mode="json", by_alias=True, exclude_none=True)


def variant(**classroom_fields) -> Classroom:
    data = class_dict()
    data["classroom"].update(classroom_fields)
    return Classroom(data)


# --- topology ---------------------------------------------------------------------------------


def test_one_shared_stack_and_one_stack_per_student(plan):
    assert plan.shared.stack == "web-class"
    assert {s.stack for s in plan.students.values()} == {
        "web-class-ann", "web-class-bob", "web-class-chen", "web-class-dana", "web-class-emil"}
    shared_types = plan.shared.counts()
    # One role: the class's lease-end (Scheduler) role; the lab's web-server role is copied
    # into each student's stack, never shared. The Policy is the students' boundary.
    assert shared_types["aws:ec2/vpc:Vpc"] == 1 and shared_types["aws:iam/role:Role"] == 1
    assert shared_types["aws:iam/policy:Policy"] == 1
    assert shared_types["aws:scheduler/scheduleGroup:ScheduleGroup"] == 1
    assert shared_types["aws:iam/accountAlias:AccountAlias"] == 1
    assert "aws:ec2/instance:Instance" not in shared_types
    for one in plan.students.values():
        assert one.counts() == {
            "aws:ec2/instance:Instance": 1, "aws:ec2/keyPair:KeyPair": 1,
            "aws:ec2/securityGroup:SecurityGroup": 1, "aws:iam/user:User": 1,
            "aws:iam/userGroupMembership:UserGroupMembership": 1,
            "aws:iam/userLoginProfile:UserLoginProfile": 1,
            "aws:iam/role:Role": 1, "aws:iam/rolePolicy:RolePolicy": 2,
            "aws:iam/instanceProfile:InstanceProfile": 1,
            "aws:scheduler/schedule:Schedule": 2,
            "pulumi-python:dynamic/envkit:SshKey": 1, "pulumi:providers:aws": 1}
    assert plan.total() == plan.shared.total + 5 * 14


def test_each_student_gets_their_own_user_tagged_and_in_the_student_group(plan):
    ann = plan.students["ann"]
    user = next(r for r in ann.resources if r.type == "aws:iam/user:User")
    assert user.inputs["name"] == "ann" and user.inputs["path"] == USER_PATH
    assert user.inputs["tags"][TAG_STUDENT] == "ann" and user.inputs["tags"][TAG_CLASS] == \
        "web-class"
    membership = next(r for r in ann.resources
                      if r.type == "aws:iam/userGroupMembership:UserGroupMembership")
    assert membership.inputs["groups"] == ["web-class-students"]
    instance = next(r for r in ann.resources if r.type == "aws:ec2/instance:Instance")
    assert instance.inputs["tags"][TAG_STUDENT] == "ann"
    assert instance.inputs["tags"]["envkit:environment"] == "web-class-ann"
    assert instance.inputs["iamInstanceProfile"] == "web-class-ann-web-server"
    assert user.inputs["permissionsBoundary"] is not None  # the shared stack's boundary


def test_student_stacks_use_the_shared_network_and_groups(plan):
    shared_sg = next(r.urn for r in plan.shared.resources
                     if r.type == "aws:ec2/securityGroup:SecurityGroup")
    subnet = next(r.urn for r in plan.shared.resources if r.type == "aws:ec2/subnet:Subnet")
    for one in plan.students.values():
        instance = next(r for r in one.resources if r.type == "aws:ec2/instance:Instance")
        assert shared_sg in instance.dependencies and subnet in instance.dependencies
        own_sg = next(r for r in one.resources if r.type == "aws:ec2/securityGroup:SecurityGroup")
        assert own_sg.inputs["name"] == f"{one.stack}-ssh"
        assert not any(r.type == "aws:ec2/vpc:Vpc" for r in one.resources)


def test_every_student_output_has_the_shape_of_a_lab(plan):
    outputs = plan.students["chen"].outputs
    assert outputs["users"]["chen"]["groups"] == ["web-class-students"]
    assert outputs["passwords"] == "[secret]"  # each secret output is one secret value
    assert outputs["private_keys"] == "[secret]"
    assert outputs["classroom"] == {"class": "web-class", "student": "chen",
                                    "fingerprint": None,
                                    "sign_in_url": "https://web-class-lab.signin.aws.amazon.com"
                                                   "/console"}
    assert plan.shared.outputs["classroom"]["students"] == ["ann", "bob", "chen", "dana", "emil"]


# --- isolation, generated ---------------------------------------------------------------------


def test_the_student_policy_statement_by_statement():
    own = {"StringEquals": {"aws:ResourceTag/envkit:student": "${aws:username}"}}
    statements = student_policy("aws", "us-east-1")["Statement"]
    assert statements == [
        {"Sid": "OwnPasswordAndMfa", "Effect": "Allow",
         "Action": ["iam:ChangePassword", "iam:GetUser", "iam:ListMFADevices",
                    "iam:EnableMFADevice", "iam:ResyncMFADevice"],
         "Resource": "arn:aws:iam::*:user/envkit/${aws:username}"},
        {"Sid": "OwnVirtualMfaDevice", "Effect": "Allow",
         "Action": ["iam:CreateVirtualMFADevice"],
         "Resource": "arn:aws:iam::*:mfa/${aws:username}"},
        {"Sid": "ReadPasswordPolicyAndMfaDevices", "Effect": "Allow",
         "Action": ["iam:GetAccountPasswordPolicy", "iam:ListVirtualMFADevices"],
         "Resource": "*"},
        {"Sid": "SeeInstances", "Effect": "Allow",
         "Action": ["ec2:DescribeInstances", "ec2:DescribeInstanceStatus"], "Resource": "*"},
        {"Sid": "OperateOwnInstances", "Effect": "Allow",
         "Action": ["ec2:StartInstances", "ec2:StopInstances", "ec2:RebootInstances",
                    "ec2-instance-connect:SendSSHPublicKey"],
         "Resource": "arn:aws:ec2:us-east-1:*:instance/*", "Condition": own},
    ]
    # No wildcard over other students' resources: every statement on "*" is read-only.
    for s in statements:
        if s["Resource"] == "*":
            assert all(a.split(":")[1].startswith(("Get", "List", "Describe")) for a in s["Action"])


def test_the_student_policy_names_the_user_path_the_components_use(plan):
    user = next(r for r in plan.students["ann"].resources if r.type == "aws:iam/user:User")
    assert user.inputs["path"] == USER_PATH  # the ARN in the policy must match real users


def test_the_generated_class_passes_every_mandatory_rule(classroom, plan):
    group = next(r for r in plan.shared.resources if r.type == "aws:iam/groupPolicy:GroupPolicy"
                 and r.inputs["group"] == "web-class-students")
    assert json.loads(group.inputs["policy"]) == classroom.layout.policy_document()
    report = classroom.check()
    assert not report.mandatory, [f.message for f in report.mandatory]
    from envkit.policy.rules._iamdata import parliament_findings

    # parliament's core analysis (escalation is the classroom rule's, asserted above)
    issues = {issue for issue, _ in parliament_findings(group.inputs["policy"])}
    assert not issues & {"RESOURCE_STAR", "UNKNOWN_ACTION", "RESOURCE_MISMATCH"}


def mandatory(report, rule):
    return [f for f in report.mandatory if f.policy == rule]


def test_a_student_permission_on_everyones_instances_is_caught():
    broad = {"Sid": "Terminate", "Effect": "Allow", "Action": ["ec2:TerminateInstances"],
             "Resource": "arn:aws:ec2:*:*:instance/*"}
    found = mandatory(variant(student_permissions=[broad]).check(), "classroom-student-scope")
    assert len(found) == 5  # one proof per student: each can terminate a classmate's
    ann = next(f.message for f in found if "student 'ann'" in f.message)
    assert ann.startswith("student 'ann' (user ann) acts on a resource that is not the "
                          "student's own: group 'web-class-students' policy "
                          "'envkit-student-access', statement 'Terminate' allows "
                          "ec2:TerminateInstances on ")
    tied = {**broad, "Condition": {"StringEquals": {
        "aws:ResourceTag/envkit:student": "${aws:username}"}}}
    assert not mandatory(variant(student_permissions=[tied]).check(), "classroom-student-scope")


def test_account_wide_writes_and_not_action_are_caught_and_reads_pass():
    alias = {"Sid": "Alias", "Effect": "Allow", "Action": "iam:CreateAccountAlias",
             "Resource": "*"}
    found = mandatory(variant(student_permissions=[alias]).check(), "classroom-student-scope")
    assert found and all("writes IAM beyond the student's own password and MFA" in f.message
                         and "iam:CreateAccountAlias on '*'" in f.message for f in found)
    everything_else = {"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"}
    found = mandatory(variant(student_permissions=[everything_else]).check(),
                      "classroom-student-scope")
    assert any("acts on a resource that is not the student's own" in f.message for f in found)
    read = {"Effect": "Allow", "Action": "s3:ListAllMyBuckets", "Resource": "*"}
    assert not mandatory(variant(student_permissions=[read]).check(), "classroom-student-scope")


def test_policies_of_other_student_groups_are_capped_by_the_boundary():
    data = class_dict()
    data["iam"]["groups"] = {"readers": {"managed_policies": ["ReadOnlyAccess"]}}
    data["iam"]["users"]["student"]["groups"] = ["readers"]
    # ReadOnlyAccess reads every student's data, but the students' permissions boundary
    # (the lab's own policy) caps it: proved isolated all the same.
    assert not mandatory(Classroom(data).check(), "classroom-student-scope")


def test_privilege_escalation_for_students_is_caught_with_parliaments_knowledge():
    own_user = "arn:aws:iam::*:user/envkit/${aws:username}"
    attach = {"Sid": "Attach", "Effect": "Allow", "Action": "iam:AttachUserPolicy",
              "Resource": own_user}
    (finding,) = mandatory(variant(student_permissions=[attach]).check(),
                           "classroom-no-privilege-escalation")
    assert "iam:AttachUserPolicy" in finding.message
    assert "AttachUserPolicy (parliament)" in finding.message
    passrole = {"Effect": "Allow", "Action": ["iam:PassRole", "ec2:RunInstances"],
                "Resource": "*"}
    (finding,) = mandatory(variant(student_permissions=[passrole]).check(),
                           "classroom-no-privilege-escalation")
    assert "CreateEC2WithExistingIP (parliament)" in finding.message


def test_findings_point_at_the_student_permissions_line(tmp_path):
    text = CLASS.read_text().replace(
        "  concurrency: 8", "  concurrency: 8\n  student_permissions:\n"
        "    - {Effect: Allow, Action: ec2:TerminateInstances, "
        "Resource: 'arn:aws:ec2:*:*:instance/*'}")
    path = tmp_path / "class.yaml"
    path.write_text(text)
    found = mandatory(Classroom(path).check(), "classroom-student-scope")
    line = next(i for i, t in enumerate(text.splitlines(), 1) if "student_permissions:" in t)
    assert len(found) == 5
    assert {(f.file, f.line) for f in found} == {(str(path.resolve()), line)}


# --- cost ---------------------------------------------------------------------------------------

US_EAST = {"ec2:t3.micro:Linux:Shared": 0.0104, "ebs:gp3": 0.08, "ipv4": 0.005}


def price_file(tmp_path, prices=US_EAST, region="us-east-1"):
    units = {"ec2": "Hrs", "ebs": "GB-Mo", "ipv4": "Hrs", "spot": "Hrs"}
    path = tmp_path / "prices.json"
    path.write_text(json.dumps({"format": "envkit-prices/1", "currency": "USD", "prices": {
        region: {k: {"usd": v, "unit": units[k.split(":")[0]], "date": "2025-01-15"}
                 for k, v in prices.items()}}}))
    return path


def test_offline_without_a_cache_the_cost_is_unknown_with_the_reason(classroom):
    estimate = classroom.cost()
    assert estimate.class_hourly is None and estimate.lease is None
    assert estimate.reason == ("no price for ebs:gp3, ec2:t3.micro:Linux:Shared, ipv4 in "
                               "us-east-1: offline: no AWS credentials for the Price List API "
                               "and no cached price (pass --prices FILE with a saved price "
                               "table)")


def test_cost_per_student_class_and_lease_from_a_price_table(classroom, tmp_path):
    estimate = classroom.cost(price_file(tmp_path))
    # t3.micro + 8 GB gp3 (0.08 / 730 per GB-hour) + one public IPv4 address
    student = 0.0104 + 8 * 0.08 / 730 + 0.005
    assert estimate.per_student.hourly == pytest.approx(student)
    assert estimate.shared.hourly == 0
    assert estimate.class_hourly == pytest.approx(5 * student)
    assert estimate.lease_hours == 8 and estimate.lease == pytest.approx(40 * student)
    assert estimate.dates == ["2025-01-15"]


def test_a_price_table_missing_a_price_says_which(classroom, tmp_path):
    prices = {k: v for k, v in US_EAST.items() if k != "ipv4"}
    estimate = classroom.cost(price_file(tmp_path, prices))
    assert estimate.class_hourly is None and estimate.per_student.missing == ["ipv4"]
    assert "has no ipv4 for us-east-1" in estimate.reason


def test_the_budget_policy_refuses_a_class_over_it(classroom, tmp_path):
    table = cost.load_price_file(price_file(tmp_path))
    config = {"classroom-max-hourly-cost": {"maxClassHourlyCost": 0.05}}
    (finding,) = mandatory(classroom.check(config, table), "classroom-max-hourly-cost")
    assert finding.message == ("the class costs $0.0814/hour, over the budget of "
                               "maxClassHourlyCost $0.0500/hour")
    config["classroom-max-hourly-cost"]["maxClassHourlyCost"] = 1
    assert not mandatory(classroom.check(config, table), "classroom-max-hourly-cost")
    (finding,) = mandatory(classroom.check(config), "classroom-max-hourly-cost")
    assert "cannot be estimated" in finding.message and "cannot be checked" in finding.message
    assert not mandatory(classroom.check(None), "classroom-max-hourly-cost")  # no budget set


def stubbed_session(monkeypatch, region="us-east-1"):
    """Real botocore clients (credentials that reach nothing) with Stubbers attached."""
    session = boto3.session.Session(aws_access_key_id="AKIDEXAMPLE",
                                    aws_secret_access_key="not-a-secret", region_name=region)
    clients = {"pricing": session.client("pricing", region_name="us-east-1"),
               "ec2": session.client("ec2", region_name=region)}
    stubs = {name: Stubber(client) for name, client in clients.items()}
    for stub in stubs.values():
        stub.activate()

    class Session:
        def client(self, name, region_name=None):
            return clients[name]

    return Session(), stubs


def recorded_item(**changes) -> str:
    """A Price List item in the API's own shape: botocore's recorded GetProducts example
    (data/pricing/2017-10-15/examples-1.json), with the product and price changed."""
    examples = botocore.loaders.Loader().load_service_model("pricing", "examples-1")
    item = json.loads(examples["examples"]["GetProducts"][0]["output"]["PriceList"][0])
    item = copy.deepcopy(item)
    item["product"]["productFamily"] = changes["family"]
    item["product"]["attributes"].update(changes["attributes"])
    (term,) = item["terms"]["OnDemand"].values()
    (dimension,) = term["priceDimensions"].values()
    dimension["unit"] = changes["unit"]
    dimension["pricePerUnit"] = {"USD": changes["usd"]}
    return json.dumps(item)


def test_prices_from_recorded_price_list_responses_are_cached_with_their_date(monkeypatch):
    session, stubs = stubbed_session(monkeypatch)
    pricing = stubs["pricing"]
    ec2_filters = [{"Type": "TERM_MATCH", "Field": k, "Value": v} for k, v in (
        ("instanceType", "t3.micro"), ("regionCode", "us-east-1"), ("operatingSystem", "Linux"),
        ("tenancy", "Shared"), ("preInstalledSw", "NA"), ("capacitystatus", "Used"),
        ("licenseModel", "No License required"))]
    # sorted keys: ebs:gp3, ec2:t3.micro:Linux:Shared, ipv4
    pricing.add_response("get_products", {"FormatVersion": "aws_v1", "PriceList": [recorded_item(
        family="Storage", unit="GB-Mo", usd="0.0800000000",
        attributes={"volumeApiName": "gp3", "regionCode": "us-east-1"})]})
    pricing.add_response("get_products", {"FormatVersion": "aws_v1", "PriceList": [recorded_item(
        family="Compute Instance", unit="Hrs", usd="0.0104000000",
        attributes={"instanceType": "t3.micro", "operatingSystem": "Linux",
                    "regionCode": "us-east-1"})]},
        {"ServiceCode": "AmazonEC2", "Filters": ec2_filters, "FormatVersion": "aws_v1",
         "MaxResults": 100})
    pricing.add_response("get_products", {"FormatVersion": "aws_v1", "PriceList": [
        recorded_item(family="VPC Public IPv4 Address", unit="Hrs", usd="0.0050000000",
                      attributes={"usagetype": "USE1-PublicIPv4:IdleAddress"}),
        recorded_item(family="VPC Public IPv4 Address", unit="Hrs", usd="0.0050000000",
                      attributes={"usagetype": "USE1-PublicIPv4:InUseAddress"})]})
    classroom = Classroom(CLASS)
    estimate = classroom.cost(session=session)
    pricing.assert_no_pending_responses()
    assert estimate.per_student.hourly == pytest.approx(0.0104 + 8 * 0.08 / 730 + 0.005)
    today = datetime.now(timezone.utc).date().isoformat()
    assert estimate.dates == [today] and estimate.source == "AWS Price List API"
    cached = json.loads((cost._cache_path()).read_text())
    assert cached["prices"]["us-east-1"]["ec2:t3.micro:Linux:Shared"] == {
        "usd": 0.0104, "unit": "Hrs", "date": today}
    # A second estimate uses the cache: a stubbed client with no responses left would fail.
    again = Classroom(CLASS).cost(session=session)
    assert again.class_hourly == pytest.approx(estimate.class_hourly)
    assert again.source == "cache" and again.dates == [today]


def test_spot_prices_come_from_the_spot_price_history(monkeypatch):
    session, stubs = stubbed_session(monkeypatch)
    stubs["ec2"].add_response("describe_spot_price_history", {"SpotPriceHistory": [
        {"AvailabilityZone": "us-east-1a", "InstanceType": "t3.micro",
         "ProductDescription": "Linux/UNIX", "SpotPrice": "0.003100",
         "Timestamp": datetime(2025, 1, 15, tzinfo=timezone.utc)}]})
    table, problem = cost.fetch_prices("us-east-1", ["spot:t3.micro:us-east-1a"], session)
    assert problem is None and table.get("us-east-1", "spot:t3.micro:us-east-1a").usd == 0.0031


def test_a_refused_price_query_is_a_reason_not_a_number(monkeypatch):
    session, stubs = stubbed_session(monkeypatch)
    stubs["pricing"].add_client_error("get_products", "AccessDeniedException", "denied")
    table, problem = cost.fetch_prices("us-east-1", ["ipv4"], session)
    assert not table.prices and problem == "AWS refused the price query (AccessDeniedException)"


def test_a_bad_price_table_is_exit_2_naming_the_file_and_key(tmp_path):
    bad = tmp_path / "prices.json"
    bad.write_text(json.dumps({"format": "envkit-prices/1", "prices": {"us-east-1": {
        "ec2:t3.micro:Linux:Shared": {"usd": -1}, "gpu:x": {"usd": 1}}}}))
    done = envkit("class", "plan", str(CLASS), "--prices", str(bad))
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert f"{bad}: prices.us-east-1.ec2:t3.micro:Linux:Shared: usd must be a non-negative " \
           "number" in done.stderr
    assert f"{bad}: prices.us-east-1.gpu:x: unknown price key" in done.stderr


# --- the CLI ------------------------------------------------------------------------------------


def envkit(*args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    return subprocess.run([sys.executable, "-m", "envkit.cli", *args], capture_output=True,
                          text=True, cwd=ROOT, env={**env, "COLUMNS": "200"}, timeout=180)


def test_class_plan_shows_stacks_isolation_policy_cost_and_schedule(tmp_path):
    done = envkit("class", "plan", str(CLASS), "--parallel", "2")
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "web-class (us-east-1): 5 students, 6 stacks, 86 resources (offline plan)" in out
    assert "each student (web-class-<student>): 14 resources" in out
    assert "roster: ann, bob, chen, dana, emil" in out
    assert "Policy (envkit-least-privilege, 86 resources): 0 mandatory" in out
    assert "Cost: unknown: no price for" in out and "pass --prices FILE" in out
    assert "5 students at --parallel 2: the shared stack, then 3 waves" in out
    priced = envkit("class", "plan", str(CLASS), "--prices", str(price_file(tmp_path)),
                    "--stack-seconds", "60")
    text = " ".join(priced.stdout.split())  # rich wraps long lines
    assert "class of 5 $0.0814/h; the lease (8 h) $0.65" in text
    assert "fetched 2025-01-15" in text and "wall time about 180 s" in text


def test_class_plan_json_and_exit_4_on_a_mandatory_violation(tmp_path):
    doc = json.loads(envkit("class", "plan", str(CLASS), "--json").stdout)
    assert doc["class"] == "web-class" and doc["students"] == 5
    assert doc["summary"] == {"resources": 86, "stacks": 6, "shared": 16, "per_student": 14}
    assert doc["cost"]["class_hourly"] is None and "offline" in doc["cost"]["unknown_because"]
    assert doc["student_policy"]["Statement"][-1]["Sid"] == "OperateOwnInstances"
    assert doc["stacks"]["ann"] == {"stack": "web-class-ann", "resources": 14}
    text = CLASS.read_text().replace(
        "  concurrency: 8", "  concurrency: 8\n  student_permissions:\n"
        "    - {Effect: Allow, Action: ec2:TerminateInstances, "
        "Resource: 'arn:aws:ec2:*:*:instance/*'}")
    broad = tmp_path / "broad.yaml"
    broad.write_text(text)
    done = envkit("class", "plan", str(broad))
    assert done.returncode == 4
    assert "mandatory  classroom-student-scope" in done.stdout
    up = envkit("class", "up", str(broad), "--yes")
    assert up.returncode == 4 and "nothing was deployed" in up.stderr
    assert "classroom-student-scope" in up.stderr and "Traceback" not in up.stderr


def test_class_up_without_the_pulumi_cli_plans_checks_then_exits_3():
    done = envkit("class", "up", str(CLASS), "--yes")
    assert done.returncode == 3, done.stderr
    assert "plan: web-class: 5 students, 86 resources in 6 stacks" in done.stderr
    assert "policy: no mandatory violations" in done.stderr
    assert "Pulumi CLI is not installed" in done.stderr and "Traceback" not in done.stderr
    as_json = envkit("class", "up", str(CLASS), "--yes", "--json")
    assert as_json.returncode == 3
    doc = json.loads(as_json.stdout.splitlines()[-1])
    assert doc["exit_code"] == 3 and doc["error"]["type"] == "PrerequisiteError"
    assert "Pulumi CLI is not installed" in doc["error"]["message"]


def test_class_findings_are_reported_once_per_class_naming_the_students(classroom):
    report = classroom.check()
    mfa = [f for f in report.findings if f.policy == "iam-console-users-mfa"]
    assert len(mfa) == 1  # not once per student
    (finding,) = mfa
    assert finding.students == ["ann", "bob", "chen", "dana", "emil"]
    assert finding.message == ("console user '<student>' is in no MFA-enforcing group (for 5 "
                               "students: ann, bob, chen, dana, emil)")
    assert finding.resource_name == "web-class-<student>-user-<student>-console"
    assert finding.to_dict()["students"] == finding.students
    flow = next(f for f in report.findings if f.policy == "ec2-vpc-flow-logs")
    assert flow.resource_name == "web-class-vpc"  # the shared stack's finding is as it was
    # Once per class each: monitoring, flow logs, MFA, and the http/https egress to the
    # internet of the two security groups (trivy AVD-AWS-0104).
    assert sorted(f.policy for f in report.advisory) == [
        "ec2-detailed-monitoring", "ec2-no-open-egress", "ec2-no-open-egress",
        "ec2-vpc-flow-logs", "iam-console-users-mfa"]
    done = envkit("class", "plan", str(CLASS))
    assert done.stdout.count("iam-console-users-mfa") == 1
    assert "(for 5 students: ann, bob, chen, dana, emil)" in done.stdout
