"""Rosters as teachers hold them: GitHub Classroom's exported classroom_roster.csv, Classroom
50's roster.csv (keyed by GitHub username), and a roster kept in the backend's S3 bucket
(read with the ambient credentials, against moto's S3 server on 127.0.0.1). Also the CI
clean-up commands: `class cancel` releases a shard's locks, `class down --shared-only` waits
for every student's stack."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from envkit.errors import SpecError
from envkit.spec import load_spec

from . import classroom_fakes
from .conftest import LABS

CLASS = LABS / "classroom.yaml"


def spec_with_roster(folder: Path, roster: str) -> Path:
    text = CLASS.read_text()
    start, end = text.index("  roster:"), text.index("  per_student:")
    path = folder / "class.yaml"
    path.write_text(text[:start] + f"  roster: {roster}\n" + text[end:])
    return path


def students(path: Path) -> list[tuple[str, str | None, str | None]]:
    return [(s.id, s.email, s.name) for s in load_spec(path).classroom.students()]


def messages(path: Path) -> list[str]:
    with pytest.raises(SpecError) as caught:
        load_spec(path).classroom.students()
    return [str(i) for i in caught.value.issues]


def test_github_classrooms_export_is_keyed_by_github_username(tmp_path):
    (tmp_path / "classroom_roster.csv").write_text(
        '"identifier","github_username","github_id","name"\n'
        '"ann@uni.edu","ann-lee","1001","Ann Lee"\n'
        '"Bob Stone","bstone","1002","Bob Stone"\n'
        '"chen@uni.edu","","",""\n')  # nobody has claimed this entry yet: no account
    path = spec_with_roster(tmp_path, "{csv: classroom_roster.csv}")
    assert students(path) == [("ann-lee", "ann@uni.edu", "Ann Lee"),
                              ("bstone", None, "Bob Stone")]


def test_classroom_50s_roster_skips_staff_and_pending_invitations(tmp_path):
    (tmp_path / "roster.csv").write_text(
        "username,first_name,last_name,email,section,github_id,role,team\n"
        "ann-lee,Ann,Lee,ann@uni.edu,A,1001,student,red\n"
        "prof-x,Charles,X,x@uni.edu,,1003,teacher,\n"
        ",,,invited@uni.edu,A,,,\n"  # an email invitation not accepted yet
        "dana,'=Dana,,,B,1004,,blue\n")  # a cell Classroom 50 defanged
    path = spec_with_roster(tmp_path, "{csv: roster.csv}")
    assert students(path) == [("ann-lee", "ann@uni.edu", "Ann Lee"),
                              ("dana", None, "=Dana")]
    # The pre-role file (ends at github_id) is read too.
    (tmp_path / "roster.csv").write_text(
        "username,first_name,last_name,email,section,github_id\nbob,Bob,,,,7\n")
    assert students(path) == [("bob", None, "Bob")]


def test_a_bad_row_in_a_teachers_roster_names_its_line(tmp_path):
    (tmp_path / "roster.csv").write_text(
        "username,first_name,last_name,email,section,github_id\n"
        "ann,Ann,Lee,ann@,A,1\n"
        "bob,Bob\n")
    path = spec_with_roster(tmp_path, "{csv: roster.csv}")
    roster = tmp_path / "roster.csv"
    assert messages(path) == [f"{roster}:2: email: 'ann@' is not an email address",
                              f"{roster}:3: expected 6 fields (username,first_name,last_name,"
                              "email,section,github_id), found 2"]


# --- a roster in the backend's bucket -----------------------------------------------------------


@pytest.fixture
def s3(monkeypatch):
    """moto's S3 server on 127.0.0.1, reached by boto3 through AWS_ENDPOINT_URL_S3."""
    import boto3
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", f"http://{host}:{port}")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    client = boto3.client("s3", endpoint_url=f"http://{host}:{port}")
    client.create_bucket(Bucket="class-state")
    yield client
    server.stop()


def test_a_roster_in_the_bucket_is_read_with_the_same_credentials(tmp_path, s3):
    s3.put_object(Bucket="class-state", Key="rosters/web-class.csv",
                  Body=b"id,email,name\nann,ann@uni.edu,Ann\nbob,,\n")
    path = spec_with_roster(tmp_path, "{csv: 's3://class-state/rosters/web-class.csv'}")
    assert students(path) == [("ann", "ann@uni.edu", "Ann"), ("bob", None, None)]


def test_a_bucket_roster_is_bounded_and_its_problems_name_the_object(tmp_path, s3):
    from envkit.spec.classroom import MAX_ROSTER_BYTES

    url = "s3://class-state/big.csv"
    s3.put_object(Bucket="class-state", Key="big.csv",
                  Body=b"id,email\n" + b"x" * MAX_ROSTER_BYTES)
    path = spec_with_roster(tmp_path, f"{{csv: '{url}'}}")
    assert messages(path) == [f"{url}: the roster is 1,048,585 bytes; the limit is 1,048,576"]
    path = spec_with_roster(tmp_path, "{csv: 's3://class-state/missing.csv'}")
    assert messages(path) == ["s3://class-state/missing.csv: cannot read the roster: no such "
                              "object (S3 says 404)"]
    s3.put_object(Bucket="class-state", Key="bad.csv", Body=b"id,email\nann,ann@\n")
    path = spec_with_roster(tmp_path, "{csv: 's3://class-state/bad.csv'}")
    assert messages(path) == ["s3://class-state/bad.csv:2: email: 'ann@' is not an email "
                              "address"]


def test_a_malformed_s3_location_is_refused_at_its_spec_line(tmp_path):
    path = spec_with_roster(tmp_path, "{csv: 's3://Bad_Bucket/x.csv'}")
    with pytest.raises(SpecError) as caught:
        load_spec(path)
    assert "is not an S3 location" in str(caught.value)
    assert "classroom.roster.csv" in str(caught.value)


# --- clean-up commands the workflow runs --------------------------------------------------------


def cli(capsys, *args):
    from envkit.cli import main

    with pytest.raises(SystemExit) as done:
        main(list(args))
    out = capsys.readouterr()
    return done.value.code, out.out, out.err


@pytest.fixture
def engine(monkeypatch, tmp_path):
    fake = classroom_fakes.install(monkeypatch)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-a-secret")
    return fake


def test_down_shared_only_waits_for_every_students_stack(engine, capsys):
    assert cli(capsys, "class", "up", str(CLASS), "--target", "aws", "--yes")[0] == 0
    code, _, err = cli(capsys, "class", "down", str(CLASS), "--yes", "--shared-only")
    assert code == 1 and "5 student stacks still hold resources" in err
    assert engine.operations("destroy") == []
    for share in ("1/2", "2/2"):
        assert cli(capsys, "class", "down", str(CLASS), "--yes", "--students", share)[0] == 0
    assert "web-class" not in engine.operations("destroy")
    code, _, err = cli(capsys, "class", "down", str(CLASS), "--yes", "--shared-only")
    assert code == 0, err
    assert engine.operations("destroy")[-1] == "web-class"
    code, _, err = cli(capsys, "class", "down", str(CLASS), "--yes", "--shared-only",
                       "--students", "1/2")
    assert code == 2 and "exclude each other" in err


def test_cancel_releases_only_the_shards_stacks_that_exist(engine, capsys, monkeypatch,
                                                          tmp_path):
    """On a DIY backend `pulumi cancel` deletes the stack's lock files and does not fail on
    an unlocked stack (pulumi/pulumi pkg/backend/diy/backend.go CancelCurrentUpdate, and
    backend_test.go TestCancel); envkit first reads the backend's stack list, so a student
    who was never deployed is reported, not created by selecting it."""
    from pulumi import automation as auto

    backend = tmp_path / "state"
    lock_dir = backend / ".pulumi" / "locks" / "organization" / "envkit" / "web-class-bob"
    lock_dir.mkdir(parents=True)
    # A lock a killed runner left: its pid is no Pulumi CLI on this machine.
    (lock_dir / "a1.json").write_text(json.dumps({
        "pid": 999999, "username": "runner", "hostname": os.uname().nodename,
        "timestamp": "2026-12-07T06:00:00Z"}))
    cancelled: list[str] = []

    class Selected:
        def __init__(self, name: str) -> None:
            self.name = name

        def cancel(self) -> None:
            cancelled.append(self.name)
            for lock in lock_dir.glob("*.json") if self.name == "web-class-bob" else []:
                lock.unlink()  # what CancelCurrentUpdate does, and all it does

    monkeypatch.setattr(auto.Stack, "select", classmethod(lambda cls, n, ws: Selected(n)))
    engine.states["web-class-ann"] = {"outputs": {}, "resources": []}
    engine.states["web-class-bob"] = {"outputs": {}, "resources": []}
    code, out, err = cli(capsys, "class", "cancel", str(CLASS), "--backend",
                         f"file://{backend}", "--students", "1/2", "--yes", "--json")
    assert code == 0, err
    result = {row["stack"]: row["result"] for row in json.loads(out)["stacks"]}
    assert result == {"web-class-ann": "no lock", "web-class-bob": "released"}
    assert cancelled == ["web-class-bob"] and not list(lock_dir.glob("*.json"))
    code, out, err = cli(capsys, "class", "cancel", str(CLASS), "--backend",
                         f"file://{backend}", "--students", "2/2", "--yes", "--json")
    assert code == 0, err
    assert {row["result"] for row in json.loads(out)["stacks"]} == {"not deployed"}
    assert "web-class-chen" not in engine.states  # never created
    code, _, err = cli(capsys, "class", "cancel", str(CLASS), "--students", "1/2")
    assert code == 2 and "pass --yes" in err
