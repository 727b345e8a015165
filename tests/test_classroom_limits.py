"""AWS's IAM and EC2 limits a class can hit are refused by `validate` and `class plan`, exit 2
with the file and line, before anything is created."""

from __future__ import annotations

import subprocess
import sys

import pytest

from envkit.spec.iam_limits import policy_size, tag_value_problem

from .conftest import LABS

CLASS = (LABS / "classroom.yaml").read_text()


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "envkit.cli", *args], capture_output=True,
                          text=True, timeout=300)


def line_of(text: str, needle: str) -> int:
    return next(i for i, t in enumerate(text.splitlines(), 1) if needle in t)


def big_permissions(count: int) -> str:
    return "".join(
        f"    - {{Sid: S{i}, Effect: Allow, Action: ec2:StartInstances, "
        f"Resource: 'arn:aws:ec2:us-east-1:*:instance/*', Condition: {{StringEquals: "
        f"{{aws:ResourceTag/envkit:student: '${{aws:username}}', "
        f"aws:ResourceTag/Name: 'web-server-number-{i:04d}-of-the-class'}}}}}}\n"
        for i in range(count))


CASES = {
    "comma-in-a-student-id": (
        lambda t: t.replace("    - bob\n", "    - 'bo,b'\n"), "'bo,b'",
        "IAM refuses commas in tag values"),
    "student-policy-over-the-group-inline-limit": (
        lambda t: t.replace("  concurrency: 8", "  concurrency: 8\n  student_permissions:\n"
                            + big_permissions(19)),
        "student_permissions:", "IAM takes at most 5,120 for inline policies of a group"),
    "eleven-groups-per-student": (
        lambda t: t.replace(
            "  users:\n    student: {console: true}",
            "  groups:\n" + "".join(f"    g{i}: {{}}\n" for i in range(10))
            + "  users:\n    student: {console: true, groups: ["
            + ", ".join(f"g{i}" for i in range(10)) + "]}"),
        "student: {console: true, groups:", "IAM allows at most 10 per user"),
    "roles-over-the-declared-quota": (
        lambda t: t.replace("  concurrency: 8", "  concurrency: 8\n  quotas: {roles: 3}"),
        "roster:", "5 IAM roles, over the quota of 3 per account"),
    "owner-with-a-comma": (
        lambda t: t.replace("owner: instructor@example.edu", "owner: 'Doe, Jane'"),
        "owner:", "the character ',' is not allowed in tags"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_validate_and_class_plan_refuse_with_the_line(tmp_path, case):
    change, needle, message = CASES[case]
    text = change(CLASS)
    path = tmp_path / "class.yaml"
    path.write_text(text)
    line = line_of(text, needle)
    for args in (("validate", str(path)), ("class", "plan", str(path))):
        done = run(*args)
        assert done.returncode == 2, (args, done.stdout, done.stderr)
        assert f"{path}:{line}:" in done.stderr and message in done.stderr, done.stderr
        assert "Traceback" not in done.stderr


def test_policy_size_is_counted_without_white_space():
    doc = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:Get Object",
                                                   "Resource": "*"}]}
    compact = '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject",' \
              '"Resource":"*"}]}'
    assert policy_size(doc) == len(compact)
    assert policy_size(compact.replace(",", ",\n    ")) == len(compact)


@pytest.mark.parametrize(("value", "ok"), [("ann", True), ("Ann Lee", True), ("a@b.c", True),
                                           ("x+y=z:/_-.", True), ("Zoë", True),
                                           ("a,b", False), ("a;b", False), ("x" * 257, False)])
def test_tag_values_follow_iams_rules(value, ok):
    assert (tag_value_problem(value) is None) is ok
