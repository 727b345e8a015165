"""ENVKIT_HOME, price tables, class records, rosters and handout folders are hostile input.

Each symptom of issue 16 is reproduced here first, as the user met it: a FIFO class record
that hung `reap --yes` holding the reaper's lock, prices.json pointing at /dev/zero, damaged
records and price tables that gave "unexpected error" (exit 1), `class plan` on a read-only
ENVKIT_HOME, `class handout -o` tightening a shared 1777 folder, and a roster error that
printed the first line of the passphrase file.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from envkit import Classroom, home
from envkit.targets import Target

from . import classroom_fakes
from .conftest import LABS, ROOT

CLASS = LABS / "classroom.yaml"
AWS = Target("aws", "us-east-1", "test")
PRICES = {"ec2:t3.micro:Linux:Shared": {"usd": 0.0104, "date": "2025-01-15"},
          "ebs:gp3": {"usd": 0.08, "date": "2025-01-15"},
          "ipv4": {"usd": 0.005, "date": "2025-01-15"}}


def envkit(*args: str, env_home: Path | None = None, **kwargs) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    if env_home is not None:
        env["ENVKIT_HOME"] = str(env_home)
    return subprocess.run([sys.executable, "-m", "envkit.cli", *args], capture_output=True,
                          text=True, cwd=ROOT, env={**env, "COLUMNS": "200"}, timeout=180,
                          **kwargs)


def in_process(capsys, *args: str) -> tuple[int, str, str]:
    from envkit.cli import main

    with pytest.raises(SystemExit) as done:
        main(list(args))
    out = capsys.readouterr()
    return done.value.code, out.out, out.err


def record_path() -> Path:
    folder = home.home() / "classes"
    folder.mkdir(exist_ok=True)
    return folder / "web-class.json"


def price_table(**overrides) -> dict:
    return {"format": "envkit-prices/1", "prices": {"us-east-1": {**PRICES, **overrides}}}


@pytest.fixture
def engine(monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")  # reaches nothing
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-a-secret")
    return classroom_fakes.install(monkeypatch)


# --- class records --------------------------------------------------------------------------


def test_a_fifo_class_record_is_refused_at_once_and_the_reaper_lock_stays_free(engine, capsys):
    from envkit.classroom.reaper import reaper_lock

    Classroom(CLASS, target=AWS).up()
    path = record_path()
    path.unlink()
    os.mkfifo(path)  # reading it would block until a writer comes: forever, from cron
    result: dict = {}

    def run() -> None:
        result["done"] = in_process(capsys, "reap", "--yes", "--no-orphans")

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(timeout=60)
    assert not worker.is_alive(), "reap hung on a FIFO class record"
    code, _, err = result["done"]
    assert code == 2 and f"{path}: is a FIFO (named pipe), not a regular file" in err
    assert not engine.operations("destroy")
    with reaper_lock():  # nobody holds it: the next cron run is not "another reap is running"
        pass


@pytest.mark.parametrize(("record", "message"), [
    ({"stacks": {"web-class-ann": "x"}}, "stacks.web-class-ann: expected an object, found a "
                                         "string"),
    ([], "is not a class record: expected an object, found a list"),
    ({"spec": ["x"]}, "spec: expected a string, found a list"),
    ({"stacks": {"web-class-ann": {"resources": int("9" * 400)}}},
     "stacks.web-class-ann.resources: expected a number, found a number too long to read"),
])
def test_a_damaged_class_record_is_exit_2_naming_the_file_and_key(record, message, engine,
                                                                  capsys):
    path = record_path()
    path.write_text(json.dumps(record))
    for args in (["class", "plan", "web-class"], ["class", "plan", str(CLASS)],
                 ["class", "status", str(CLASS)], ["reap", "--yes", "--no-orphans"]):
        code, _out, err = in_process(capsys, *args)
        assert code == 2, (args, err)
        assert f"{path}: {message}" in err, (args, err)
        assert "unexpected error" not in err and "Traceback" not in err
    assert not engine.operations("destroy")


def test_a_class_record_that_links_out_of_envkit_home_is_not_read(tmp_path, capsys):
    outside = tmp_path / "elsewhere.json"
    outside.write_text(json.dumps({"spec": str(CLASS), "stacks": {}}))
    path = record_path()
    path.symlink_to(outside)
    code, _, err = in_process(capsys, "class", "status", str(CLASS))
    assert code == 2 and "is a link that leads out of" in err and str(path) in err


# --- price tables -----------------------------------------------------------------------------


HOSTILE_TABLES = {
    "400-digit price": ('{"format": "envkit-prices/1", "prices": {"us-east-1": {"ipv4": '
                        '{"usd": 1' + "0" * 400 + '}}}}',
                        "prices.us-east-1.ipv4: usd must be a non-negative number"),
    "deep nesting": ('{"format": "envkit-prices/1", "prices": {"us-east-1": '
                     + "[" * 5000 + "]" * 5000 + "}}",
                     "nests deeper than 32 levels"),
    "deeper than the parser": ("[" * 200_000 + "]" * 200_000, "nests deeper than 32 levels"),
    "markup in a date": (json.dumps(price_table(ipv4={"usd": 0.005, "date": "[/x]"})),
                         "prices.us-east-1.ipv4: date must be an ISO date"),
    "NaN price": ('{"format": "envkit-prices/1", "prices": {"us-east-1": {"ipv4": '
                  '{"usd": NaN}}}}', "NaN is not a JSON number"),
}


@pytest.mark.parametrize("case", sorted(HOSTILE_TABLES))
def test_a_hostile_price_table_is_exit_2_naming_the_file_and_key(case, tmp_path, capsys):
    text, message = HOSTILE_TABLES[case]
    table = tmp_path / "prices.json"
    table.write_text(text)
    code, _, err = in_process(capsys, "class", "plan", str(CLASS), "--prices", str(table))
    assert code == 2, err
    assert f"{table}" in err and message in err and "unexpected error" not in err


@pytest.mark.parametrize("case", sorted(HOSTILE_TABLES))
def test_a_hostile_price_cache_is_ignored_with_a_note(case, capsys):
    text, _ = HOSTILE_TABLES[case]
    cache = home.home() / "prices.json"
    cache.write_text(text)
    code, out, err = in_process(capsys, "class", "plan", str(CLASS))
    assert code == 0, err
    flat = " ".join(out.split())
    assert f"the price cache {cache} was ignored" in flat
    assert "Cost: unknown" in flat
    doc = json.loads(in_process(capsys, "class", "plan", str(CLASS), "--json")[1])
    assert doc["cost"]["price_note"].startswith(f"the price cache {cache} was ignored")


def test_a_price_cache_linked_to_dev_zero_is_refused_without_reading_it(capsys):
    cache = home.home() / "prices.json"
    cache.symlink_to("/dev/zero")
    code, out, err = in_process(capsys, "class", "plan", str(CLASS))
    assert code == 0, err
    assert "the price cache" in out and "was ignored" in out and "leads out of" in out


def test_a_fifo_price_cache_does_not_block_the_plan(capsys):
    os.mkfifo(home.home() / "prices.json")
    code, out, _err = in_process(capsys, "class", "plan", str(CLASS))
    assert code == 0 and "a FIFO (named pipe)" in " ".join(out.split())


def test_a_device_given_as_price_table_is_exit_2(capsys):
    code, _, err = in_process(capsys, "class", "plan", str(CLASS), "--prices", "/dev/zero")
    assert code == 2 and "/dev/zero" in err and "not a regular file" in err


def test_a_good_price_cache_still_prices_the_class(capsys):
    (home.home() / "prices.json").write_text(json.dumps(price_table()))
    code, out, _err = in_process(capsys, "class", "plan", str(CLASS))
    assert code == 0 and "class of 5 $0.0814/h" in " ".join(out.split())


# --- read-only ENVKIT_HOME --------------------------------------------------------------------


def _tree(root: Path) -> list[tuple[str, int]]:
    return sorted((str(p.relative_to(root)), p.lstat().st_mode) for p in root.rglob("*"))


def test_class_plan_creates_no_folder_not_even_envkit_home(tmp_path):
    missing = tmp_path / "never-made"
    done = envkit("class", "plan", str(CLASS), env_home=missing)
    assert done.returncode == 0, done.stderr
    assert not missing.exists()


def test_class_plan_leaves_an_existing_envkit_home_as_it_was(tmp_path):
    root = tmp_path / "home"
    root.mkdir(mode=0o700)
    (root / "prices.json").write_text(json.dumps(price_table()))
    before = _tree(root)
    done = envkit("class", "plan", str(CLASS), env_home=root)
    assert done.returncode == 0, done.stderr
    assert _tree(root) == before


#: Mounts ENVKIT_HOME ($1) read-only in a private mount namespace, then runs the rest:
#: root writes through any mode bits, so for root "read-only" must be the file system's.
READ_ONLY = ('mount --bind "$1" "$1" && mount -o remount,bind,ro "$1" "$1" && shift && '
             'exec "$@"')


def test_class_plan_works_on_a_read_only_envkit_home(tmp_path):
    root = tmp_path / "ro"
    root.mkdir()
    (root / "prices.json").write_text(json.dumps(price_table()))
    command = [sys.executable, "-m", "envkit.cli", "class", "plan", str(CLASS)]
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("AWS_")},
           "ENVKIT_HOME": str(root), "COLUMNS": "200"}
    if os.geteuid() == 0:
        probe = subprocess.run(["unshare", "-m", "sh", "-c", READ_ONLY, "sh", str(root),
                                "touch", str(root / "probe")], capture_output=True, text=True)
        if probe.returncode == 0 or "Read-only file system" not in probe.stderr:
            pytest.skip(f"cannot make a read-only mount here as root ({probe.stderr.strip()})")
        command = ["unshare", "-m", "sh", "-c", READ_ONLY, "sh", str(root), *command]
    else:
        root.chmod(0o555)
    try:
        done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, env=env,
                              timeout=180)
    finally:
        root.chmod(0o700)
    assert done.returncode == 0, done.stderr
    assert "class of 5 $0.0814/h" in " ".join(done.stdout.split())


# --- handout folders --------------------------------------------------------------------------


@pytest.fixture
def deployed(engine):
    classroom = Classroom(CLASS, target=AWS)
    classroom.up()
    return classroom


@pytest.mark.parametrize("mode", [0o1777, 0o755, 0o770])
def test_handouts_refuse_a_folder_open_to_others_and_never_change_its_mode(mode, deployed,
                                                                           tmp_path, capsys):
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(mode)
    code, _, err = in_process(capsys, "class", "handout", str(CLASS), "-o", str(shared))
    assert code == 2 and f"is open to other users (mode {mode:04o})" in err
    assert stat.S_IMODE(shared.stat().st_mode) == mode  # untouched
    assert not list(shared.iterdir())


def test_handouts_refuse_someone_elses_folder(deployed, tmp_path, capsys):
    if os.geteuid() != 0:
        pytest.skip("needs root to give a folder to another user (chown)")
    theirs = tmp_path / "theirs"
    theirs.mkdir(mode=0o700)
    os.chown(theirs, 65534, 65534)
    code, _, err = in_process(capsys, "class", "handout", str(CLASS), "-o", str(theirs))
    assert code == 2 and "belongs to another user" in err
    assert not list(theirs.iterdir())


def test_handouts_go_into_a_private_folder_of_ours_as_it_is(deployed, tmp_path, capsys):
    mine = tmp_path / "mine"
    mine.mkdir(mode=0o700)
    code, _out, err = in_process(capsys, "class", "handout", str(CLASS), "-o", str(mine))
    assert code == 0, err
    assert (mine / "web-class-credentials.csv").is_file()
    assert stat.S_IMODE(mine.stat().st_mode) == 0o700


# --- roster errors never quote a file that is not a roster -------------------------------------


def test_a_roster_pointed_at_the_passphrase_never_prints_it(tmp_path, capsys):
    secret = "correct-horse-battery-staple-4711"
    passphrase = tmp_path / "passphrase"
    passphrase.write_text(secret + "\n")
    spec = tmp_path / "class.yaml"
    spec.write_text(CLASS.read_text().replace(
        "  roster:                        # or {count: 30, pattern: \"student{n:02}\"}, or "
        "{csv: students.csv}\n    - ann\n    - bob\n"
        "    - {id: chen, email: chen@example.edu, name: Chen Wei}\n    - dana\n"
        "    - {id: emil, name: Emil Berg}\n",
        f"  roster: {{csv: {passphrase}}}\n"))
    assert "csv:" in spec.read_text()
    for args in (["validate", str(spec)], ["class", "plan", str(spec)],
                 ["class", "plan", str(spec), "--json"]):
        code, out, err = in_process(capsys, *args)
        assert code == 2, (args, err)
        assert secret not in out + err and secret[:12] not in out + err
        assert f"{passphrase}:1: the first line must be a roster header" in out + err
        assert "found a line of 1 field, 33 characters" in out + err


def test_a_fifo_roster_is_refused_at_once(tmp_path, capsys):
    fifo = tmp_path / "students.csv"
    os.mkfifo(fifo)
    spec = tmp_path / "class.yaml"
    spec.write_text(CLASS.read_text().replace("  roster:  ", f"  roster: {{csv: {fifo}}}\n"
                                              "  _old_roster:  ", 1))
    text = spec.read_text()
    start = text.index("  _old_roster:")
    end = text.index("  per_student:")
    spec.write_text(text[:start] + text[end:])
    code, out, err = in_process(capsys, "validate", str(spec))
    assert code == 2 and "is a FIFO (named pipe), not a regular file" in out + err


def test_a_record_rewritten_while_it_is_read_is_read_whole():
    """Students update the class record from parallel threads (each write an atomic
    rename): a reader sees the old record or the new one, never an error."""
    from envkit.classroom.records import ClassRecord

    record = ClassRecord("web-class")
    record.update("web-class-ann", state="deployed")
    stop = threading.Event()

    def writer() -> None:
        n = 0
        while not stop.is_set():
            n += 1
            record.update("web-class-bob", resources=n)

    thread = threading.Thread(target=writer, daemon=True)
    thread.start()
    try:
        for _ in range(300):
            assert record.stack("web-class-ann")["state"] == "deployed"
    finally:
        stop.set()
        thread.join(timeout=30)
