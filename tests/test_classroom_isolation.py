"""A classroom's isolation is proved (Z3, through iamprover's encoding of IAM evaluation) for
every principal a student reaches: the shipped class passes, every known bypass is refused
with the principal, the statement and a request that succeeds, and AWS's tag-on-create
pattern is accepted."""

from __future__ import annotations

import pytest

from envkit import Classroom, load_spec
from envkit.classroom.layout import student_policy
from envkit.policy.rules._isolation import Lab, Principal, _Query, prove, prove_all

from .conftest import LABS

CLASS = LABS / "classroom.yaml"
LAB = Lab("web-class", "aws", frozenset({"t3.micro"}), frozenset({"us-east-1"}))
OWN_TAG = {"aws:ResourceTag/envkit:student": "${aws:username}"}


def class_dict() -> dict:
    return load_spec(CLASS).model_dump(mode="json", by_alias=True, exclude_none=True)


def scope_findings(data: dict) -> list[str]:
    return [f.message for f in Classroom(data).check().mandatory
            if f.policy == "classroom-student-scope"]


def student(name: str, *extra: dict, boundary: dict | None = None) -> Principal:
    return Principal(f"student '{name}'", name,
                     [("group 'web-class-students' policy 'envkit-student-access'",
                       student_policy("aws", "us-east-1", list(extra)))],
                     ("boundary", boundary) if boundary else None,
                     {"aws:username": name}, is_user=True)


def props(found) -> set[str]:
    return {v.prop for v in found}


# --- the evaluator on the IAM User Guide's documented cases -----------------------------------


def allows(doc: dict, action: str, resource: str, tag: str | None = None,
           variables: dict | None = None) -> bool:
    p = Principal("p", "ann", [("doc", doc)], None, variables or {"aws:username": "ann"})
    return _Query(p, LAB).possible(action, resource, tag)


def test_evaluator_explicit_deny_overrides_allow():
    # "Determining whether a request is allowed or denied within an account": an explicit
    # deny in any policy overrides any allow.
    doc = {"Statement": [{"Effect": "Allow", "Action": "ec2:*", "Resource": "*"},
                         {"Effect": "Deny", "Action": "ec2:TerminateInstances",
                          "Resource": "*"}]}
    assert allows(doc, "ec2:StopInstances", "*")
    assert not allows(doc, "ec2:TerminateInstances", "*")


def test_evaluator_default_deny_and_case_insensitive_actions():
    doc = {"Statement": [{"Effect": "Allow", "Action": "EC2:stopinstances", "Resource": "*"}]}
    assert allows(doc, "ec2:StopInstances", "*")
    assert not allows(doc, "ec2:StartInstances", "*")


def test_evaluator_not_action_allows_everything_else():
    # "IAM JSON policy elements: NotAction": Allow with NotAction allows all other actions.
    doc = {"Statement": [{"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"}]}
    assert allows(doc, "ec2:TerminateInstances", "*")
    assert not allows(doc, "iam:CreateUser", "*")


def test_evaluator_resolves_aws_username_and_matches_wildcards_after_it():
    # "IAM policy elements: Variables and tags": ${aws:username} is the caller's name;
    # user/${aws:username}* also matches names that start with it.
    doc = {"Statement": [{"Effect": "Allow", "Action": "iam:ChangePassword",
                          "Resource": "arn:aws:iam::*:user/envkit/${aws:username}*"}]}
    assert allows(doc, "iam:ChangePassword", "arn:aws:iam::111122223333:user/envkit/anna")
    exact = {"Statement": [{**doc["Statement"][0],
                            "Resource": "arn:aws:iam::*:user/envkit/${aws:username}"}]}
    assert not allows(exact, "iam:ChangePassword",
                      "arn:aws:iam::111122223333:user/envkit/anna")


def test_evaluator_compares_resource_tags():
    doc = {"Statement": [{"Effect": "Allow", "Action": "ec2:StopInstances", "Resource": "*",
                          "Condition": {"StringEquals": OWN_TAG}}]}
    assert allows(doc, "ec2:StopInstances", "*", tag="ann")
    assert not allows(doc, "ec2:StopInstances", "*", tag="bob")
    assert not allows(doc, "ec2:StopInstances", "*", tag="")  # untagged: key absent


# --- the shipped class ---------------------------------------------------------------------


def test_the_shipped_class_is_proved_isolated_for_users_and_instance_roles():
    from envkit.policy.rules import _reach

    seen = {}
    original = _reach.read_graph

    def spy(resources):
        graph = original(resources)
        seen["graph"] = graph
        return graph

    _reach.read_graph = spy
    try:
        assert scope_findings(class_dict()) == []
    finally:
        _reach.read_graph = original
    principals = seen["graph"].principals
    users = [p for p in principals if p.is_user]
    roles = [p for p in principals if not p.is_user]
    assert sorted(p.student for p in users) == ["ann", "bob", "chen", "dana", "emil"]
    assert all(p.boundary and "web-class-student-boundary" in p.boundary[0] for p in users)
    assert sorted(p.label.split("'")[1] for p in roles) == [
        f"web-class-{s}-web-server" for s in ("ann", "bob", "chen", "dana", "emil")]
    assert all(p.variables["aws:PrincipalTag/envkit:student"] == p.student for p in roles)


# --- bypasses, refused ---------------------------------------------------------------------


def test_if_exists_on_the_student_tag_is_refused():
    stmt = {"Sid": "Terminate", "Effect": "Allow", "Action": "ec2:TerminateInstances",
            "Resource": "arn:aws:ec2:*:*:instance/*",
            "Condition": {"StringEqualsIfExists": OWN_TAG}}
    (v,) = prove(student("ann", stmt), LAB)
    assert v.prop == "others" and "statement 'Terminate'" in v.statement
    assert v.action == "ec2:terminateinstances"
    # any instance not tagged with ann: another student's, or untagged ('' is no tag)
    assert dict(v.context)["aws:resourcetag/envkit:student"] != "ann"


def test_a_wildcard_after_the_user_name_variable_is_refused():
    stmt = {"Sid": "Passwords", "Effect": "Allow", "Action": "iam:ChangePassword",
            "Resource": "arn:aws:iam::*:user/envkit/${aws:username}*"}
    (v,) = prove(student("ann", stmt), LAB)
    assert v.prop == "iam" and "statement 'Passwords'" in v.statement
    # the request succeeds on a user whose name only starts with ann
    assert v.resource.split("user/envkit/")[1].startswith("ann")
    assert v.resource.split("user/envkit/")[1] != "ann"


@pytest.mark.parametrize("actions", [["ec2:CreateTags"], ["ec2:DeleteTags"]])
def test_editing_tags_of_the_students_own_instance_is_refused(actions):
    stmt = {"Sid": "Tags", "Effect": "Allow", "Action": actions,
            "Resource": "arn:aws:ec2:*:*:instance/*", "Condition": {"StringEquals": OWN_TAG}}
    (v,) = prove(student("ann", stmt), LAB)
    assert v.prop == "tags" and v.action == actions[0].lower()
    assert dict(v.context)["aws:tagkeys"].startswith("envkit:")


@pytest.mark.parametrize("action", ["iam:UpdateUser", "iam:TagUser"])
def test_editing_the_students_own_user_is_refused(action):
    stmt = {"Sid": "Self", "Effect": "Allow", "Action": action,
            "Resource": "arn:aws:iam::*:user/envkit/${aws:username}"}
    found = prove(student("ann", stmt), LAB)
    assert "iam" in props(found)
    (v,) = [v for v in found if v.prop == "iam"]
    assert v.action == action.lower() and v.resource.endswith(":user/envkit/ann")


def test_ssm_parameters_on_star_are_refused():
    stmt = {"Sid": "Params", "Effect": "Allow", "Action": "ssm:GetParameter", "Resource": "*"}
    (v,) = prove(student("ann", stmt), LAB)
    assert v.prop == "secrets" and v.action == "ssm:getparameter"


def test_launching_other_types_or_regions_is_refused():
    stmt = {"Sid": "Run", "Effect": "Allow", "Action": "ec2:RunInstances",
            "Resource": "arn:aws:ec2:*:*:instance/*",
            "Condition": {"StringEquals": {"aws:RequestTag/envkit:student": "${aws:username}"}}}
    (v,) = prove(student("ann", stmt), LAB)
    assert v.prop == "launch"


def test_the_documented_tag_on_create_pattern_is_accepted():
    # IAM User Guide, "Grant permission to tag resources during creation": RequestTag +
    # TagKeys on the create call, CreateTags only as part of it (ec2:CreateAction).
    run = {"Sid": "Run", "Effect": "Allow", "Action": "ec2:RunInstances",
           "Resource": "arn:aws:ec2:us-east-1:*:instance/*",
           "Condition": {"StringEquals": {"aws:RequestTag/envkit:student": "${aws:username}",
                                          "ec2:InstanceType": "t3.micro"},
                         "ForAllValues:StringEquals": {"aws:TagKeys": ["envkit:student",
                                                                       "Name"]}}}
    tag = {"Sid": "TagOnCreate", "Effect": "Allow", "Action": "ec2:CreateTags",
           "Resource": "arn:aws:ec2:us-east-1:*:instance/*",
           "Condition": {"StringEquals": {"ec2:CreateAction": "RunInstances"}}}
    assert prove(student("ann", run, tag), LAB) == []


def test_a_boundary_caps_whatever_else_a_student_is_given():
    everything = {"Effect": "Allow", "Action": "*", "Resource": "*"}
    capped = Principal("student 'ann'", "ann", [("admin", {"Statement": [everything]})],
                       ("boundary", student_policy("aws", "us-east-1")),
                       {"aws:username": "ann"}, is_user=True)
    assert prove(capped, LAB) == []
    uncapped = Principal("student 'ann'", "ann", [("admin", {"Statement": [everything]})],
                         None, {"aws:username": "ann"}, is_user=True)
    assert {"others", "iam", "tags", "secrets", "launch", "create"} <= props(
        prove(uncapped, LAB))


def test_a_boundary_that_blocks_the_lab_is_reported():
    tiny = {"Statement": [{"Effect": "Allow", "Action": "ec2:DescribeInstances",
                           "Resource": "*"}]}
    found = prove(student("ann", boundary=tiny), LAB)
    assert props(found) == {"intended"}
    assert {v.action for v in found} >= {"iam:ChangePassword", "ec2:StartInstances"}


def test_one_proof_serves_every_student_with_the_same_documents():
    found = prove_all([student(s, {"Effect": "Allow", "Action": "ssm:GetParameter",
                                   "Resource": "*"}) for s in ("ann", "bob")], LAB)
    assert [(v.student, v.principal, v.prop) for v in found] == [
        ("ann", "student 'ann'", "secrets"), ("bob", "student 'bob'", "secrets")]


# --- through the class plan: the roles students reach ------------------------------------------


def test_a_role_with_ec2_write_on_student_instances_is_refused():
    data = class_dict()
    data["iam"]["roles"]["web-server"]["inline_policies"]["terminate"] = {"Statement": [
        {"Sid": "Terminate", "Effect": "Allow", "Action": "ec2:TerminateInstances",
         "Resource": "arn:aws:ec2:*:*:instance/*"}]}
    (found,) = scope_findings(data)  # one finding for the class, naming its students
    assert found.startswith("role 'web-class-<student>-web-server' (on instance "
                            "'web-class-<student>-web' of student '<student>') acts on a "
                            "resource that is not the student's own")
    assert "policy 'terminate', statement 'Terminate' allows ec2:TerminateInstances" in found
    assert found.endswith("(for 5 students: ann, bob, chen, dana, emil)")


def test_the_ssm_managed_policy_on_the_instance_role_is_refused():
    data = class_dict()
    data["iam"]["roles"]["web-server"]["managed_policies"] = ["AmazonSSMManagedInstanceCore"]
    found = scope_findings(data)
    assert any("reads a parameter or secret outside the student's scope" in m and
               "managed policy AmazonSSMManagedInstanceCore" in m and "ssm:GetParameter" in m
               for m in found)


def test_a_role_the_student_may_pass_is_proved_too():
    from envkit.policy.rules._reach import read_graph

    class R:
        def __init__(self, type_, name, props, deps=()):
            self.resource_type, self.name, self.props = type_, name, props
            self.urn, self.dependencies, self.provider = f"urn:{name}", list(deps), None

    user = R("aws:iam/user:User", "ann", {"name": "ann", "tags": {"envkit:student": "ann"}})
    passer = R("aws:iam/userPolicy:UserPolicy", "p", {"user": "ann", "name": "p", "policy": {
        "Statement": [{"Effect": "Allow", "Action": "iam:PassRole",
                       "Resource": "arn:aws:iam::*:role/ops"}]}}, [user])
    ops = R("aws:iam/role:Role", "ops", {"name": "ops", "path": "/"})
    ops_policy = R("aws:iam/rolePolicy:RolePolicy", "o", {"role": "ops", "name": "o", "policy": {
        "Statement": [{"Effect": "Allow", "Action": "ssm:GetParameter", "Resource": "*"}]}},
        [ops])
    graph = read_graph([user, passer, ops, ops_policy])
    labels = [p.label for p in graph.principals]
    assert labels == ["student 'ann' (user ann)", "role 'ops' (passable of student 'ann')"]
    found = prove_all(graph.principals, graph.lab)
    assert {(v.principal, v.prop) for v in found} >= {
        ("role 'ops' (passable of student 'ann')", "secrets"),
        ("student 'ann' (user ann)", "iam")}


class _R:
    """A resource as a stack rule sees it (type, name, props, urn, dependencies)."""

    def __init__(self, type_, name, props, deps=()):
        self.resource_type, self.name, self.props = type_, name, props
        self.urn, self.dependencies, self.provider = f"urn:{name}", list(deps), None


def test_a_student_instance_role_not_pinned_to_its_instance_is_reported():
    from types import SimpleNamespace

    from envkit.policy.rules.classroom import classroom_student_scope

    user = _R("aws:iam/user:User", "ann", {"name": "ann", "tags": {"envkit:student": "ann"}})
    role = _R("aws:iam/role:Role", "r", {"name": "r", "tags": {"envkit:student": "ann"}})
    profile = _R("aws:iam/instanceProfile:InstanceProfile", "p", {"name": "p", "role": "r"},
                 [role])
    instance = _R("aws:ec2/instance:Instance", "web", {
        "iamInstanceProfile": "p", "instanceType": "t3.micro",
        "tags": {"envkit:student": "ann"}}, [profile])
    found: list[str] = []
    classroom_student_scope(SimpleNamespace(resources=[user, role, profile, instance]),
        lambda message, urn=None: found.append(message))
    assert found == ["role 'r' (on instance 'web' of student 'ann') is not pinned to its "
                     "instance: add the Deny statements on aws:EC2InstanceSourceVPC and "
                     "aws:EC2InstanceSourcePrivateIPv4 (envkit adds them to the roles of "
                     "student instances)"]


def test_the_prover_knows_envkits_student_policy_name():
    from envkit.classroom.layout import STUDENT_POLICY
    from envkit.policy.rules._isolation import STUDENT_POLICY as PROVER

    assert STUDENT_POLICY == PROVER
