"""The classroom section of a spec: rosters (inline, count + pattern, CSV), per-student parts,
leases, and every kind of bad input as one message naming its file, line and field."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

from envkit import SpecError, load_spec
from envkit.spec.classroom import MAX_ROSTER_BYTES, default_quotas

from .conftest import LABS, ROOT

CLASS = LABS / "classroom.yaml"

BASE = """\
name: web101
owner: teacher@example.edu
ttl: 8h
classroom:
{classroom}
iam:
  users:
    student: {{console: true}}
    teacher: {{console: true}}
ec2:
  key_pairs:
    lab: {{}}
    shared-key: {{}}
  security_groups:
    web: {{ingress: [{{service: http, from: 0.0.0.0/0}}]}}
  instances:
    web: {{key_pair: lab, security_groups: [web]{instance}}}
"""


def spec_text(classroom: str, instance: str = "") -> str:
    return BASE.format(classroom=textwrap.indent(textwrap.dedent(classroom).strip(), "  "),
                       instance=instance)


def write(tmp_path, text: str, name: str = "class.yaml"):
    path = tmp_path / name
    path.write_text(text)
    return path


def line_of(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if needle in line)


def errors(path) -> list[str]:
    with pytest.raises(SpecError) as raised:
        load_spec(path)
    return [str(i) for i in raised.value.issues]


PER_STUDENT = "per_student: {users: [student], key_pairs: [lab], instances: [web]}"


def test_without_a_classroom_a_lab_is_as_before():
    spec = load_spec(LABS / "aws-basics.yaml")
    assert spec.classroom is None
    assert "classroom" not in spec.model_dump(exclude_none=True)


def test_shipped_class_loads_with_its_roster():
    classroom = load_spec(CLASS).classroom
    students = classroom.students()
    assert [s.id for s in students] == ["ann", "bob", "chen", "dana", "emil"]
    chen = students[2]
    assert (chen.email, chen.name, chen.display) == ("chen@example.edu", "Chen Wei", "Chen Wei")
    assert classroom.per_student.instances == ["web"] and classroom.ttl == "8h"
    assert classroom.concurrency == 8 and classroom.student_group == "students"


def test_count_and_pattern_roster(tmp_path):
    path = write(tmp_path, spec_text(f"roster: {{count: 12, pattern: 'cs101-{{n:03}}'}}\n"
                                     f"{PER_STUDENT}"))
    ids = [s.id for s in load_spec(path).classroom.students()]
    assert ids[0] == "cs101-001" and ids[-1] == "cs101-012" and len(ids) == 12


def test_csv_roster_is_read_relative_to_the_spec(tmp_path):
    (tmp_path / "students.csv").write_text("id,email,name\nann,ann@uni.edu,Ann Lee\n"
                                           "bob,bob@uni.edu,\n")
    path = write(tmp_path, spec_text(f"roster: {{csv: students.csv}}\n{PER_STUDENT}"))
    students = load_spec(path).classroom.students()
    assert [(s.id, s.email, s.name) for s in students] == [
        ("ann", "ann@uni.edu", "Ann Lee"), ("bob", "bob@uni.edu", None)]


def test_duplicate_students_point_at_the_second_entry(tmp_path):
    text = spec_text(f"roster:\n  - ann\n  - bob\n  - Ann\n{PER_STUDENT}")
    path = write(tmp_path, text)
    line = line_of(text, "- Ann")
    assert errors(path) == [f"{path}:{line}: classroom.roster[2]: duplicate student 'Ann'; "
                            "'ann' is the same IAM user name"]


def test_student_ids_are_validated_like_iam_user_names(tmp_path):
    text = spec_text(f"roster:\n  - ann\n  - 'bad id!'\n  - {{id: '{'x' * 65}'}}\n"
                     f"  - '=HYPERLINK'\n  - {{id: carl, email: not-mail}}\n{PER_STUDENT}")
    path = write(tmp_path, text)
    found = errors(path)
    assert f"{path}:{line_of(text, 'bad id!')}: classroom.roster[1]: 'bad id!' is not a valid " \
           "student id" in found[0]
    assert "at most 64" in found[1] and "classroom.roster[2].id" in found[1]
    assert f":{line_of(text, '=HYPERLINK')}: classroom.roster[3]: '=HYPERLINK' may not start " \
           "with =" in found[2]
    assert "classroom.roster[4].email: 'not-mail' is not an email address" in found[3]


def test_an_inline_roster_entry_of_the_wrong_type_is_one_problem_at_its_line(tmp_path):
    text = spec_text(f"roster:\n  - ann\n  - 5\n{PER_STUDENT}")
    path = write(tmp_path, text)
    assert errors(path) == [f"{path}:{line_of(text, '- 5')}: classroom.roster[1]: expected a "
                            "string or a mapping (key: value), got number 5"]


def test_csv_problems_name_the_csv_file_and_line(tmp_path):
    roster = tmp_path / "students.csv"
    roster.write_text("id,email\nann,ann@uni.edu\nbob,bob@\n\nann,again@uni.edu\n")
    path = write(tmp_path, spec_text(f"roster: {{csv: students.csv}}\n{PER_STUDENT}"))
    assert errors(path) == [f"{roster}:3: email: 'bob@' is not an email address"]
    roster.write_text("id,email\nann,ann@uni.edu\nbob,bob@uni.edu\n\nANN,again@uni.edu\n")
    assert errors(path) == [f"{roster}:5: id: duplicate student 'ANN' (first at line 2); "
                            "'ann' is the same IAM user name"]
    roster.write_text("name,mail\nann,x\n")
    [message] = errors(path)
    assert message.startswith(f"{roster}:1: the first line must be a roster header: "
                              "id,email[,name] (envkit)")
    assert "GitHub Classroom" in message and "Classroom 50" in message
    # Described, never quoted: a file that is not a roster may be anything (a passphrase).
    assert message.endswith("found a line of 2 fields, 8 characters")
    roster.write_text("id,email\nann,a@b.co,extra\n")
    assert errors(path) == [f"{roster}:2: expected 2 fields (id,email), found 3"]


def test_roster_csv_problems_come_with_the_specs_own_in_file_order(tmp_path):
    """The CSV's problems sit where the spec names the CSV; field errors and cross-references
    of the spec are reported in the same run."""
    roster = tmp_path / "students.csv"
    roster.write_text("id,email\nann,ann@uni.edu\nbob,bob@\n")
    text = spec_text("roster: {csv: students.csv}\n"
                     "per_student: {users: [student], instances: [webb]}\n"
                     "concurrency: 100", ", type: t3.mcro")
    path = write(tmp_path, text)
    found = errors(path)
    assert found[:3] == [
        f"{roster}:3: email: 'bob@' is not an email address",
        f"{path}:{line_of(text, '[webb]')}: classroom.per_student.instances[0]: 'webb' is not "
        "in the spec's instances (known: web)",
        f"{path}:{line_of(text, 'concurrency')}: classroom.concurrency: must be at most 64, "
        "got 100"]
    assert len(found) == 4 and found[3].startswith(
        f"{path}:{line_of(text, 't3.mcro')}: ec2.instances.web.type: unknown instance type")


def test_per_student_parts_are_checked_when_the_roster_is_invalid(tmp_path):
    text = spec_text("roster: {count: 0}\nper_student: {users: [student], instances: [db]}")
    path = write(tmp_path, text)
    assert errors(path) == [
        f"{path}:{line_of(text, 'count: 0')}: classroom.roster.count: must be at least 1, got 0",
        f"{path}:{line_of(text, '[db]')}: classroom.per_student.instances[0]: 'db' is not in "
        "the spec's instances (known: web)"]


def test_a_roster_csv_is_bounded(tmp_path):
    roster = tmp_path / "students.csv"
    roster.write_bytes(b"id,email\n" + b"x" * MAX_ROSTER_BYTES)
    path = write(tmp_path, spec_text(f"roster: {{csv: students.csv}}\n{PER_STUDENT}"))
    (message,) = errors(path)
    # The bounded reader every user file goes through (envkit/limits.py read_text).
    assert message == f"{roster}: is 1,048,585 bytes; a roster may be at most 1 MiB"
    roster.write_bytes(b"id,email\n\xff\xfe\n")
    assert errors(path) == [f"{roster}:2: is not UTF-8 text (byte 10 on line 2 cannot be read)"]


def test_missing_roster_file_points_at_the_spec_line(tmp_path):
    text = spec_text(f"roster: {{csv: nobody.csv}}\n{PER_STUDENT}")
    path = write(tmp_path, text)
    (message,) = errors(path)
    assert message.startswith(f"{path}:{line_of(text, 'nobody.csv')}: classroom.roster.csv:")
    assert "roster file 'nobody.csv' does not exist" in message


def test_roster_needs_exactly_one_source(tmp_path):
    (tmp_path / "x.csv").write_text("id,email\nann,\n")
    text = spec_text(f"roster: {{count: 3, csv: x.csv}}\n{PER_STUDENT}")
    (message,) = errors(write(tmp_path, text))
    assert "a roster is exactly one of" in message


def test_pattern_takes_only_the_student_number(tmp_path):
    text = spec_text(f"roster: {{count: 3, pattern: 's{{n.__class__}}'}}\n{PER_STUDENT}")
    (message,) = errors(write(tmp_path, text))
    assert "classroom.roster.pattern" in message and "exactly one {n}" in message


def test_per_student_parts_must_exist(tmp_path):
    text = spec_text("roster: [ann]\nper_student: {users: [student], instances: [db]}")
    path = write(tmp_path, text)
    (message,) = errors(path)
    assert message == f"{path}:{line_of(text, 'instances: [db]')}: " \
                      "classroom.per_student.instances[0]: 'db' is not in the spec's " \
                      "instances (known: web)"


def test_a_classroom_needs_a_template_user(tmp_path):
    (message,) = errors(write(tmp_path, spec_text("roster: [ann]")))
    assert "classroom.per_student: a classroom gives each student their own IAM user" in message


def test_per_student_instance_must_not_share_a_key(tmp_path):
    text = spec_text("roster: [ann]\nper_student: {users: [student], instances: [web]}")
    path = write(tmp_path, text)
    (message,) = errors(path)
    assert f"{path}:{line_of(text, 'web: {key_pair: lab')}: ec2.instances.web.key_pair: " \
           "per-student instance 'web' uses the shared key pair 'lab'" in message


def test_students_must_not_collide_with_shared_users(tmp_path):
    (message,) = errors(write(tmp_path, spec_text(f"roster: [ann, Teacher]\n{PER_STUDENT}")))
    assert "student 'Teacher' has the name of the shared user 'teacher'" in message


def test_a_classroom_needs_a_lease(tmp_path):
    text = spec_text(f"roster: [ann]\n{PER_STUDENT}").replace("ttl: 8h\n", "")
    (message,) = errors(write(tmp_path, text))
    assert "a classroom needs a lease so it ends on time" in message


def test_access_keys_are_not_handed_to_a_class(tmp_path):
    text = spec_text(f"roster: [ann]\n{PER_STUDENT}").replace(
        "student: {console: true}", "student: {console: true, access_key: true}")
    (message,) = errors(write(tmp_path, text))
    assert "iam.users.student.access_key: students get console access only" in message


def test_quotas_from_moto_data_refuse_a_class_too_big(tmp_path):
    quotas = default_quotas()
    assert quotas["elastic_ips"].value == 5
    assert "vpc-max-elastic-ips" in quotas["elastic_ips"].source
    assert quotas["instances"].value == 20 and quotas["users"].value == 5000
    assert quotas["security_groups"].value == 2500
    text = spec_text(f"roster: {{count: 6}}\n{PER_STUDENT}", ", elastic_ip: true")
    path = write(tmp_path, text)
    (message,) = errors(path)
    assert message.startswith(f"{path}:{line_of(text, 'roster:')}: classroom.roster: 6 students "
                              "x 1 elastic IPs each + 0 shared = 6 elastic IPs, over the quota "
                              "of 5 per region")
    assert "declare it as classroom.quotas.elastic_ips" in message


def test_declared_quotas_allow_a_big_class(tmp_path):
    text = spec_text(f"roster: {{count: 30}}\n{PER_STUDENT}\n"
                     "quotas: {elastic_ips: 40, instances: 50}", ", elastic_ip: true")
    assert len(load_spec(write(tmp_path, text)).classroom.students()) == 30
    text = spec_text(f"roster: {{count: 30}}\n{PER_STUDENT}\nquotas: {{instances: 25}}")
    (message,) = errors(write(tmp_path, text))
    assert "30 instances, over the quota of 25 per region: declared in classroom.quotas" in message


def test_unknown_classroom_keys_suggest_the_right_one(tmp_path):
    (message,) = errors(write(tmp_path, spec_text(f"roster: [ann]\n{PER_STUDENT}\nconcurency: 3")))
    assert "classroom.concurency: unknown key 'concurency' (did you mean 'concurrency'?)" in message


def envkit(*args: str, cwd=ROOT) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "envkit.cli", *args], capture_output=True,
                          text=True, cwd=cwd, env={**os.environ, "COLUMNS": "200"}, timeout=120)


def test_cli_reports_roster_errors_with_file_line_and_exit_2(tmp_path):
    roster = tmp_path / "students.csv"
    roster.write_text("id,email\nann,ann@uni.edu\nann,ann2@uni.edu\n")
    path = write(tmp_path, spec_text(f"roster: {{csv: students.csv}}\n{PER_STUDENT}"))
    for command in (["validate"], ["class", "plan"], ["class", "up", "--yes"]):
        done = envkit(*command, str(path))
        assert done.returncode == 2, (command, done.stderr)
        assert f"error: {roster}:3: id: duplicate student 'ann' (first at line 2)" in done.stderr
        assert "Traceback" not in done.stderr
