"""A second evaluator agrees: the cloud-copilot iam-simulate engine (npm, the Service
Authorization Reference as data) gives the same answer as the Z3 proof's encoding on a
representative set of concrete requests, for the shipped student policy, its boundary, the
shipped instance role and every bypass.

The engine is found in ``$ENVKIT_IAM_SIMULATE`` (a folder with node_modules) or
``tests/tools`` (where .ci/run installs it, locked); without node or the package the test
skips and says why."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from envkit.classroom.layout import pin_to_instance_policy, student_policy
from envkit.policy.rules._isolation import Lab, Principal, _Query

from .conftest import ROOT

DRIVER = Path(__file__).parent / "tools" / "iam_simulate.cjs"
ACCOUNT = "111122223333"
LAB = Lab("web-class", "aws", frozenset({"t3.micro"}), frozenset({"us-east-1"}))
ANN_INSTANCE = f"arn:aws:ec2:us-east-1:{ACCOUNT}:instance/i-0123456789abcdef0"
OWN = {"aws:ResourceTag/envkit:student": "${aws:username}"}


def _modules() -> Path | None:
    for base in (os.environ.get("ENVKIT_IAM_SIMULATE"), ROOT / "tests" / "tools"):
        if base and (Path(base) / "node_modules" / "@cloud-copilot" / "iam-simulate").is_dir():
            return Path(base) / "node_modules"
    return None


def simulate(items: list[dict]) -> list[str]:
    modules = _modules()
    if shutil.which("node") is None or modules is None:
        pytest.skip("the cross-check needs node and @cloud-copilot/iam-simulate (.ci/run "
                    "installs it into tests/tools; or set ENVKIT_IAM_SIMULATE)")
    done = subprocess.run(["node", str(DRIVER)], input=json.dumps(items), text=True,
                          capture_output=True, timeout=120,
                          env={**os.environ, "NODE_PATH": str(modules)})
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def z3_allows(policies: list[dict], boundary: dict | None, action: str, resource: str,
              tag: str | None, variables: dict) -> bool:
    p = Principal("p", "ann", [(f"p{i}", d) for i, d in enumerate(policies)],
                  ("boundary", boundary) if boundary else None, variables)
    return _Query(p, LAB).possible(action, resource, tag)


def case(name, policies, action, resource, tag=None, boundary=None, expected=True,
         variables=None, context=None):
    return pytest.param(policies, boundary, action, resource, tag, expected,
                        variables or {"aws:username": "ann"}, context or {}, id=name)


STUDENT = student_policy("aws", "us-east-1")
ROLE = {"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Action": ["ssm:GetParameter", "ssm:GetParameters"],
     "Resource": "arn:aws:ssm:us-east-1:*:parameter/envkit/web-class/"
                 "${aws:PrincipalTag/envkit:student}/*"}]}
ROLE_VARS = {"aws:PrincipalTag/envkit:student": "ann"}


def doc(*statements: dict) -> dict:
    return {"Version": "2012-10-17", "Statement": list(statements)}


CASES = [
    case("own-instance-start", [STUDENT], "ec2:StartInstances", ANN_INSTANCE, tag="ann"),
    case("classmate-instance-start", [STUDENT], "ec2:StartInstances", ANN_INSTANCE, tag="bob",
         expected=False),
    case("untagged-instance-stop", [STUDENT], "ec2:StopInstances", ANN_INSTANCE, tag="",
         expected=False),
    case("own-password", [STUDENT], "iam:ChangePassword",
         f"arn:aws:iam::{ACCOUNT}:user/envkit/ann"),
    case("classmate-password", [STUDENT], "iam:ChangePassword",
         f"arn:aws:iam::{ACCOUNT}:user/envkit/anna", expected=False),
    case("terminate-own", [STUDENT], "ec2:TerminateInstances", ANN_INSTANCE, tag="ann",
         expected=False),
    case("boundary-caps-admin", [doc({"Effect": "Allow", "Action": "*", "Resource": "*"})],
         "ec2:TerminateInstances", ANN_INSTANCE, tag="bob", boundary=STUDENT, expected=False),
    case("boundary-keeps-the-lab", [doc({"Effect": "Allow", "Action": "*", "Resource": "*"})],
         "ec2:StartInstances", ANN_INSTANCE, tag="ann", boundary=STUDENT),
    case("bypass-if-exists", [doc({"Effect": "Allow", "Action": "ec2:TerminateInstances",
                                   "Resource": "*", "Condition": {"StringEqualsIfExists": OWN}})],
         "ec2:TerminateInstances", ANN_INSTANCE, tag=""),
    case("bypass-wildcard-after-variable",
         [doc({"Effect": "Allow", "Action": "iam:DeleteLoginProfile",
               "Resource": "arn:aws:iam::*:user/envkit/${aws:username}*"})],
         "iam:DeleteLoginProfile", f"arn:aws:iam::{ACCOUNT}:user/envkit/anna"),
    case("bypass-delete-own-tags",
         [doc({"Effect": "Allow", "Action": "ec2:DeleteTags", "Resource": "*",
               "Condition": {"StringEquals": OWN}})],
         "ec2:DeleteTags", ANN_INSTANCE, tag="ann",
         context={"aws:TagKeys": ["envkit:student"]}),
    case("bypass-update-self",
         [doc({"Effect": "Allow", "Action": "iam:UpdateUser",
               "Resource": "arn:aws:iam::*:user/envkit/${aws:username}"})],
         "iam:UpdateUser", f"arn:aws:iam::{ACCOUNT}:user/envkit/ann"),
    case("bypass-ssm-star", [doc({"Effect": "Allow", "Action": "ssm:GetParameter",
                                  "Resource": "*"})],
         "ssm:GetParameter", f"arn:aws:ssm:us-east-1:{ACCOUNT}:parameter/envkit/other/x"),
    case("role-own-parameter", [pin_to_instance_policy(), ROLE], "ssm:GetParameter",
         f"arn:aws:ssm:us-east-1:{ACCOUNT}:parameter/envkit/web-class/ann/db",
         variables=ROLE_VARS),
    case("role-classmate-parameter", [pin_to_instance_policy(), ROLE], "ssm:GetParameter",
         f"arn:aws:ssm:us-east-1:{ACCOUNT}:parameter/envkit/web-class/bob/db",
         variables=ROLE_VARS, expected=False),
]


def _context(tag: str | None, variables: dict, extra: dict) -> dict:
    ctx: dict = {}
    if "aws:username" in variables:
        ctx["aws:username"] = variables["aws:username"]
    for key, value in variables.items():
        if key.startswith("aws:PrincipalTag/"):
            ctx[key] = value
    if tag:  # an absent tag is an absent key
        ctx["aws:ResourceTag/envkit:student"] = tag
    return {**ctx, **extra}


@pytest.mark.parametrize(("policies", "boundary", "action", "resource", "tag", "expected",
                          "variables", "context"), CASES)
def test_both_evaluators_agree(policies, boundary, action, resource, tag, expected, variables,
                               context):
    item = {"policies": policies, "boundary": boundary, "action": action,
            "resource": resource, "context": _context(tag, variables, context)}
    if "aws:PrincipalTag/envkit:student" in variables:
        item["principal"] = f"arn:aws:iam::{ACCOUNT}:role/envkit/web-class-ann-web-server"
    (other,) = simulate([item])
    assert other in ("Allowed", "ImplicitlyDenied", "ExplicitlyDenied"), other
    mine = z3_allows(policies, boundary, action, resource, tag, variables)
    assert mine is expected
    assert (other == "Allowed") is expected, other
