"""Driving a class: the shared stack then the students in a bounded pool, idempotent ups,
removed students destroyed after confirmation, slices, leases, handouts and status, through
the Python API and the CLI, with the engine replaced by stand-ins that run each stack's real
program under Pulumi's mocks (tests/classroom_fakes.py)."""

from __future__ import annotations

import csv
import io
import json
import stat
import threading
import time
from datetime import datetime, timedelta

import pytest
from pulumi.automation import errors as auto_errors
from pulumi.automation._cmd import CommandResult

from envkit import Classroom, OperationError, load_spec
from envkit.classroom.driver import StackEvent, StackState
from envkit.targets import Target

from . import classroom_fakes
from .conftest import LABS

CLASS = LABS / "classroom.yaml"
STUDENTS = ["ann", "bob", "chen", "dana", "emil"]
AWS = Target("aws", "us-east-1", "test")


@pytest.fixture
def engine(monkeypatch):
    return classroom_fakes.install(monkeypatch)


@pytest.fixture
def aws_env(monkeypatch):
    """Credentials that reach nothing, so `--target aws` resolves without a network call."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-a-secret")


def class_file(tmp_path, edit=lambda d: d):
    data = load_spec(CLASS).model_dump(mode="json", by_alias=True, exclude_none=True)
    path = tmp_path / "class.json.yaml"
    path.write_text(json.dumps(edit(data)))  # JSON is YAML
    return path


def ups(engine) -> list[str]:
    return engine.operations("up")


def cli(capsys, *args):
    from envkit.cli import main

    with pytest.raises(SystemExit) as done:
        main(list(args))
    out = capsys.readouterr()
    return done.value.code, out.out, out.err


# --- up ---------------------------------------------------------------------------------------


def test_up_deploys_the_shared_stack_first_then_every_student(engine):
    events = []
    result = Classroom(CLASS, target=AWS).up(events.append)
    assert result.counts() == {"deployed": 6}
    assert ups(engine)[0] == "web-class"
    assert sorted(ups(engine)[1:]) == [f"web-class-{s}" for s in STUDENTS]
    shared = {k: v.value for k, v in engine.states["web-class"]["outputs"].items()}
    config = {k: v.value for k, v in engine.configs["web-class-ann"].items()}
    refs = json.loads(config["envkit:shared"])
    assert refs["network"] == {k: shared[k] for k in ("vpc_id", "subnet_id", "vpc_cidr")}
    assert refs["security_groups"] == {"web": shared["security_groups"]["web"]}
    assert refs["groups"]["students"] == "web-class-students"
    ann = {k: v.value for k, v in engine.states["web-class-ann"]["outputs"].items()}
    assert ann["classroom"]["fingerprint"] == config["envkit:fingerprint"]
    assert ann["instances"]["web"]["network_interfaces"]
    # Engine events arrive tagged with their student; each stack reports its state.
    tagged = [e for e in events if isinstance(e, StackEvent)]
    assert {e.student for e in tagged} == {None, *STUDENTS}
    assert all(e.to_dict()["student"] == e.student for e in tagged)
    states = [(e.student, e.state) for e in events if isinstance(e, StackState)]
    assert ("ann", "running") in states and ("ann", "deployed") in states


def test_a_second_up_touches_nothing(engine):
    Classroom(CLASS, target=AWS).up()
    before = len(ups(engine))
    result = Classroom(CLASS, target=AWS).up()
    assert result.counts() == {"unchanged": 6} and len(ups(engine)) == before


def test_an_unchanged_student_deployed_elsewhere_is_recognised_from_the_backend(engine):
    from envkit import home

    Classroom(CLASS, target=AWS).up()
    (home.home() / "classes" / "web-class.json").unlink()  # another machine: no record
    before = len(ups(engine))
    result = Classroom(CLASS, target=AWS).up()
    assert len(ups(engine)) == before
    assert {s.state for s in result.stacks.values()} == {"unchanged"}


def test_one_failing_student_blocks_no_one_and_is_retried_alone(engine, tmp_path):
    engine.failures["web-class-bob"] = auto_errors.CommandError(
        CommandResult("", "error: creating EC2 Instance: InsufficientInstanceCapacity", 1))
    result = Classroom(CLASS, target=AWS).up()
    assert result.stacks["web-class-bob"].state == "failed"
    assert "InsufficientInstanceCapacity" in result.stacks["web-class-bob"].error
    assert result.counts() == {"deployed": 5, "failed": 1}
    del engine.failures["web-class-bob"]
    path = class_file(tmp_path, lambda d: {**d, "classroom": {
        **d["classroom"], "roster": [*d["classroom"]["roster"]["students"], "finn"]}})
    before = len(ups(engine))
    result = Classroom(path, target=AWS).up()
    # The shared stack records the roster (an output only); of the students, only the one
    # who failed and the one who was added are touched.
    assert sorted(ups(engine)[before:]) == ["web-class", "web-class-bob", "web-class-finn"]
    assert result.counts() == {"deployed": 3, "unchanged": 4}


def test_a_removed_student_is_destroyed_after_confirmation(engine, tmp_path):
    Classroom(CLASS, target=AWS).up()
    path = class_file(tmp_path, lambda d: {**d, "classroom": {
        **d["classroom"], "roster": d["classroom"]["roster"]["students"][:-1]}})
    seen = []
    with pytest.raises(OperationError, match="not confirmed"):
        Classroom(path, target=AWS).up(confirm=lambda s: seen.append(s) or False)
    assert seen[0]["remove"] == ["emil"] and not engine.operations("destroy")
    result = Classroom(path, target=AWS).up(confirm=lambda s: True)
    assert engine.operations("destroy") == ["web-class-emil"]
    assert result.removed == ["emil"] and "web-class-emil" in engine.workspace.removed
    shared = engine.states["web-class"]["outputs"]["classroom"].value
    assert shared["students"] == STUDENTS[:-1]


def test_the_pool_runs_at_most_parallel_stacks_at_once(engine, monkeypatch):
    active, peak, lock = [0], [0], threading.Lock()
    original = classroom_fakes.ClassStack.up

    def counting(self, **kwargs):
        with lock:
            active[0] += 1
            peak[0] = max(peak[0], active[0])
        time.sleep(0.2)
        try:
            return original(self, **kwargs)
        finally:
            with lock:
                active[0] -= 1

    monkeypatch.setattr(classroom_fakes.ClassStack, "up", counting)
    classroom = Classroom(CLASS, target=AWS, parallel=2)
    assert classroom.parallel == 2
    classroom.up()
    assert peak[0] == 2
    assert Classroom(CLASS, parallel=50).parallel == 8  # the spec's classroom.concurrency


def student_template(data, **changes):
    data["iam"]["users"]["student"].update(changes)
    return data


def test_slices_update_only_their_students_and_need_the_shared_stack(engine, tmp_path):
    with pytest.raises(OperationError, match="without --students once"):
        Classroom(CLASS, target=AWS, students="1-2").up()
    assert not ups(engine)
    Classroom(CLASS, target=AWS).up()
    # The student template changes: every student's stack is out of date, the shared one not.
    path = class_file(tmp_path, lambda d: student_template(d, console=False))
    before = len(ups(engine))
    first = Classroom(path, target=AWS, students="1/2").up()
    # 1/2 of five students is the first two (balanced slices: 2 and 3).
    assert sorted(ups(engine)[before:]) == ["web-class-ann", "web-class-bob"]
    assert first.stacks["web-class"].state == "unchanged"
    second = Classroom(path, target=AWS, students="dana,emil").up()
    assert sorted(ups(engine)[before + 2:]) == ["web-class-dana", "web-class-emil"]
    assert set(second.stacks) == {"web-class", "web-class-dana", "web-class-emil"}


def test_several_machines_start_with_the_shared_stack_then_take_slices(engine, aws_env,
                                                                        capsys):
    code, _, err = cli(capsys, "class", "up", str(CLASS), "--target", "aws", "--yes",
                       "--shared-only")
    assert code == 0, err
    assert ups(engine) == ["web-class"]
    for share in ("1/2", "2/2"):
        code, _, err = cli(capsys, "class", "up", str(CLASS), "--yes", "--students", share)
        assert code == 0, err
    assert ups(engine)[0] == "web-class" and sorted(ups(engine)[1:]) == [
        f"web-class-{s}" for s in STUDENTS]
    code, _, err = cli(capsys, "class", "up", str(CLASS), "--yes", "--shared-only",
                       "--students", "1/2")
    assert code == 2 and "exclude each other" in err


def test_ctrl_c_starts_no_further_student_and_lets_running_ones_finish(engine):
    def interrupt(event):
        if isinstance(event, StackState) and event.state == "deployed" and event.student:
            raise KeyboardInterrupt  # what Ctrl-C raises in the waiting main thread

    classroom = Classroom(CLASS, target=AWS, parallel=2)
    result = classroom.up(interrupt)
    started = [s for s in ups(engine) if s != "web-class"]
    assert 1 <= len(started) <= 3  # those running finished; the queued never started
    assert all(engine.states[s]["resources"] for s in started)
    cancelled = [s for s, st in result.stacks.items() if st.state == "cancelled"]
    assert cancelled and not set(cancelled) & set(started)


class _CancelledByTheCli:
    """What a student's Pulumi CLI does on SIGTERM: it cancels and exits non-zero
    (pkg/backend/cancellation_scope.go:118); envkit's handler, on the main thread, has
    noted the signal. The engine runs on a worker thread of the class pool."""

    def __init__(self) -> None:
        from pulumi.automation import errors as auto_errors
        from pulumi.automation._cmd import CommandResult

        self.error = auto_errors.CommandError(CommandResult("", "error: update canceled", 255))

    def __get__(self, instance, owner):  # raised from whichever worker runs the stack
        import signal

        from envkit import interrupts

        interrupts.note_interrupt(signal.SIGTERM)
        return self.error


def test_a_cancel_on_any_thread_is_cancelled_per_stack_and_exit_130(engine, aws_env, capsys):
    """The students run on the pool's threads: an interrupt noted by the main thread's
    handler makes each running student's failure a cancel (not "failed"), queued ones
    never start, and `class up` exits 130 naming the cancelled stacks."""
    code, _, err = cli(capsys, "class", "up", str(CLASS), "--target", "aws", "--yes",
                       "--shared-only")
    assert code == 0, err

    class Failures(dict):
        def get(self, name, default=None):
            return _CancelledByTheCli().__get__(None, None) if name == "web-class-ann" \
                else default

    engine.failures = Failures()
    code, _, err = cli(capsys, "class", "up", str(CLASS), "--yes", "--parallel", "1")
    assert code == 130, err
    assert "class up cancelled" in err and "ann" in err
    assert "failed" not in err.split("class up done")[-1].split("\n")[0]
    from envkit.classroom.driver import ClassRecord

    assert ClassRecord("web-class").stack("web-class-ann")["state"] == "cancelled"


def test_an_unknown_slice_is_bad_input():
    from envkit.errors import UsageError

    with pytest.raises(UsageError, match="no student 'zoe'") as info:
        Classroom(CLASS, students="ann,zoe")
    assert info.value.exit_code == 2
    with pytest.raises(UsageError, match="positions run from 1 to 5"):
        Classroom(CLASS, students="4-9")


# --- the CLI ----------------------------------------------------------------------------------


def test_class_up_json_streams_events_tagged_with_the_student(engine, aws_env, capsys):
    code, out, err = cli(capsys, "class", "up", str(CLASS), "--target", "aws", "--yes",
                         "--json")
    assert code == 0, err
    lines = [json.loads(line) for line in out.splitlines()]
    assert lines[-1]["kind"] == "class_result" and lines[-1]["counts"] == {"deployed": 6}
    finished = [e for e in lines if e["kind"] == "resource_finished"]
    assert {e["student"] for e in finished} == {None, *STUDENTS}
    assert all(e["stack"] == (f"web-class-{e['student']}" if e["student"] else "web-class")
               for e in finished)
    assert "Pw-" not in out and "PRIVATE KEY" not in out  # no secret in the stream


def test_class_up_live_view_and_exit_1_listing_failures(engine, aws_env, capsys):
    engine.failures["web-class-dana"] = auto_errors.CommandError(
        CommandResult("", "error: creating IAM User (dana): EntityAlreadyExists", 1))
    code, out, err = cli(capsys, "class", "up", str(CLASS), "--target", "aws", "--yes")
    assert code == 1
    assert "class up: web-class" in out and "dana" in out and "failed" in out
    assert "class up done: 5 deployed, 1 failed" in err
    assert "1 stack failed (run the command again to retry them):" in err
    assert "dana: web-class-dana: up failed:" in " ".join(err.split())


def test_class_up_without_a_terminal_or_yes_refuses_and_changes_nothing(engine, aws_env,
                                                                       capsys):
    code, _, err = cli(capsys, "class", "up", str(CLASS), "--target", "aws")
    assert code == 2 and "pass --yes" in err and not ups(engine)


def test_class_status_lists_every_stack(engine, aws_env, capsys):
    Classroom(CLASS, target=AWS).up()
    code, out, _ = cli(capsys, "class", "status", str(CLASS), "--json")
    assert code == 0
    rows = {r["stack"]: r for r in json.loads(out)["stacks"]}
    assert rows["web-class-ann"]["state"] == "deployed"
    assert rows["web-class-ann"]["resources"] == 10 and rows["web-class"]["resources"] == 18
    assert rows["web-class-ann"]["expires"]
    code, out, _ = cli(capsys, "class", "status", "web-class")  # by name, from the record
    assert code == 0 and "emil" in out and "deployed" in out and "(shared)" in out


def expiry_of(engine, stack):
    return engine.states[stack]["outputs"]["expires"].value


def test_extend_moves_one_students_lease_and_the_shared_stack_follows(engine, aws_env,
                                                                      capsys):
    Classroom(CLASS, target=AWS).up()
    before = {s: expiry_of(engine, s) for s in ("web-class", "web-class-ann", "web-class-bob")}
    code, _, err = cli(capsys, "class", "extend", str(CLASS), "ann", "1d")
    assert code == 0, err
    moved = datetime.strptime(expiry_of(engine, "web-class-ann"), "%Y-%m-%dT%H:%MZ")
    was = datetime.strptime(before["web-class-ann"], "%Y-%m-%dT%H:%MZ")
    assert moved - was == timedelta(days=1)
    assert expiry_of(engine, "web-class-bob") == before["web-class-bob"]
    assert expiry_of(engine, "web-class") == expiry_of(engine, "web-class-ann")
    config = engine.configs["web-class-ann"]["envkit:expires"].value
    assert config.startswith(moved.strftime("%Y-%m-%dT%H:%M"))
    code, _, err = cli(capsys, "class", "extend", str(CLASS), "zoe", "1d")
    assert code == 2 and "no student 'zoe'" in err
    code, _, err = cli(capsys, "class", "extend", str(CLASS), "soon")
    assert code == 2 and "cannot parse ttl 'soon'" in err


def test_class_down_destroys_students_then_the_shared_stack(engine, aws_env, capsys):
    Classroom(CLASS, target=AWS).up()
    code, _, err = cli(capsys, "class", "down", str(CLASS), "--students", "ann", "--yes")
    assert code == 0, err
    assert engine.operations("destroy") == ["web-class-ann"]
    code, _, err = cli(capsys, "class", "down", str(CLASS), "--yes")
    assert code == 0, err
    destroyed = engine.operations("destroy")
    assert destroyed[-1] == "web-class" and len(destroyed) == 1 + 5 + 1
    assert all(not engine.states[s]["resources"] for s in engine.states)


# --- handouts ---------------------------------------------------------------------------------


def test_handout_writes_private_files_and_prints_no_secret(engine, aws_env, capsys, tmp_path):
    Classroom(CLASS, target=AWS).up()
    out_dir = tmp_path / "handouts"
    code, out, err = cli(capsys, "class", "handout", str(CLASS), "-o", str(out_dir),
                         "--target", "aws")
    assert code == 0, err
    assert "wrote handouts for 5 students" in out
    passwords = {s: engine.states[f"web-class-{s}"]["outputs"]["passwords"].value[s]
                 for s in STUDENTS}
    assert not any(p in out + err for p in passwords.values()) and "PRIVATE" not in out + err
    assert stat.S_IMODE(out_dir.stat().st_mode) == 0o700
    rows = list(csv.reader(io.StringIO((out_dir / "web-class-credentials.csv").read_text())))
    assert rows[0] == ["User name", "Password", "Console sign-in URL"]
    assert rows[1] == ["ann", passwords["ann"],
                       "https://web-class-lab.signin.aws.amazon.com/console"]
    assert len(rows) == 6
    page = out_dir / "chen" / "chen.md"
    key = out_dir / "chen" / "chen-lab.pem"
    assert stat.S_IMODE(page.stat().st_mode) == 0o600
    assert stat.S_IMODE(key.stat().st_mode) == 0o400
    assert stat.S_IMODE((out_dir / "chen").stat().st_mode) == 0o700
    text = page.read_text()
    assert "# web-class: Chen Wei" in text and passwords["chen"] in text
    address = engine.states["web-class-chen"]["outputs"]["instances"].value["web"]["public_ip"]
    assert f"ssh -i chen-lab.pem ec2-user@{address}" in text
    assert key.read_text().startswith("-----BEGIN OPENSSH PRIVATE KEY-----")


def test_handout_before_anything_is_deployed_says_so(engine, aws_env, capsys, tmp_path):
    code, _, err = cli(capsys, "class", "handout", str(CLASS), "-o", str(tmp_path / "h"))
    assert code == 1 and "no student is deployed yet" in err
