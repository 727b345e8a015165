"""The CLI as a user runs it: a real subprocess, exit codes, messages, no tracebacks."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest

from .conftest import BASICS, ROOT, five_mistakes


def envkit(*args: str, cwd=ROOT, env: dict | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "COLUMNS": "120", **(env or {})}
    return subprocess.run([sys.executable, "-m", "envkit.cli", *args], capture_output=True,
                          text=True, cwd=cwd, env=env, timeout=120)


def test_plan_prints_tree_counts_and_outputs():
    done = envkit("plan", str(BASICS))
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "aws-basics (us-east-1):" in out and "resources to create" in out
    assert "aws-basics-iam  envkit:iam:IamLab" in out
    assert "aws-basics-web  aws:ec2:Instance" in out
    assert "aws:iam/user:User" in out and "total" in out
    assert "https://aws-basics-lab.signin.aws.amazon.com/console" in out
    assert "[secret]" in out and "PRIVATE KEY" not in out


def test_plan_json_is_machine_readable():
    done = envkit("plan", "--json", str(BASICS))
    assert done.returncode == 0
    doc = json.loads(done.stdout)
    assert doc["environment"] == "aws-basics" and doc["schema_version"] == 1


def test_spec_defaults_to_envkit_yaml(tmp_path):
    (tmp_path / "envkit.yaml").write_text(BASICS.read_text())
    done = envkit("plan", cwd=tmp_path)
    assert done.returncode == 0, done.stderr


def test_bad_spec_exits_2_with_file_line_field_and_no_traceback(tmp_path):
    bad = tmp_path / "x.yaml"
    bad.write_text(BASICS.read_text().replace("type: t2.micro", "type: t2.mega"))
    done = envkit("plan", str(bad))
    assert done.returncode == 2
    lines = BASICS.read_text().splitlines()
    line = next(i for i, text in enumerate(lines, 1) if "type: t2.micro" in text)
    assert (f"error: {bad}:{line}: ec2.instances.web.type: unknown instance type 't2.mega'"
            in done.stderr)
    assert "Traceback" not in done.stderr + done.stdout


@pytest.mark.parametrize("command", ["validate", "plan"])
def test_every_mistake_in_a_spec_is_one_line_in_file_order(tmp_path, command):
    """Field errors and cross-references (different sections, both kinds) in one run."""
    bad = tmp_path / "x.yaml"
    text, expected = five_mistakes(BASICS.read_text())
    bad.write_text(text)
    done = envkit(command, str(bad))
    assert done.returncode == 2 and done.stdout == "", done.stdout
    lines = done.stderr.splitlines()
    assert len(lines) == 5, done.stderr
    assert lines[0].startswith("error: ") and all(line.startswith("  ") for line in lines[1:])
    for shown, (line, field, fragment) in zip(lines, expected, strict=True):
        assert shown.removeprefix("error: ").strip().startswith(f"{bad}:{line}: {field}: "), \
            shown
        assert fragment in shown


def test_missing_spec_exits_2(tmp_path):
    done = envkit("plan", cwd=tmp_path)
    assert done.returncode == 2
    assert "envkit.yaml: no envkit.yaml here: `envkit init` writes one" in done.stderr
    assert "Traceback" not in done.stderr


def test_malformed_yaml_exits_2_with_its_line(tmp_path):
    bad = tmp_path / "x.yaml"
    bad.write_text("name: lab\nowner: me\ntags: [oops\n")
    done = envkit("validate", str(bad))
    assert done.returncode == 2 and "malformed YAML" in done.stderr
    assert f"{bad}:" in done.stderr and "Traceback" not in done.stderr


def test_validate_ok():
    done = envkit("validate", str(BASICS))
    assert done.returncode == 0 and "ok" in done.stdout


def test_debug_shows_the_traceback(tmp_path):
    bad = tmp_path / "x.yaml"
    bad.write_text("name: lab\n")
    done = envkit("--debug", "validate", str(bad))
    assert done.returncode == 2 and "Traceback" in done.stderr


def test_unknown_option_is_a_usage_error():
    done = envkit("plan", "--nope")
    assert done.returncode == 2 and "Traceback" not in done.stderr


def test_help_does_not_import_pulumi():
    code = ("import sys; from envkit.cli import app; "
            "print(any(m.startswith(('pulumi', 'boto3', 'moto')) for m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.stdout.strip() == "False"


def test_in_process_main_leaves_the_garbage_collector_as_it_was():
    """The console script runs with the cyclic GC off (start-up speed); a program that
    calls main() itself gets its collector back."""
    import gc

    from envkit.cli import main

    assert gc.isenabled()
    with pytest.raises(SystemExit) as done:
        main(["validate", str(BASICS)])
    assert done.value.code == 0
    assert gc.isenabled()


# --- output is inert ---------------------------------------------------------------------------

EVIL = "\x1b[31m[bold]evil[/bold]\x07\u202e"


@pytest.fixture
def evil_lab(tmp_path):
    (tmp_path / "boot.sh").write_text(f"#!/bin/sh\necho '{EVIL}'\n")
    spec = tmp_path / "lab.yaml"
    spec.write_text(BASICS.read_text().replace("user_data: web-server",
                                               "user_data: {file: boot.sh}"))
    return spec


@pytest.mark.parametrize("terminal", [False, True], ids=["pipe", "terminal"])
def test_plan_shows_user_data_as_size_and_sha256(evil_lab, terminal):
    import hashlib

    data = (evil_lab.parent / "boot.sh").read_bytes()
    env = {"FORCE_COLOR": "1"} if terminal else {}
    done = envkit("plan", str(evil_lab), env=env)
    assert done.returncode == 0, done.stderr
    plain = re.sub(r"\x1b\[[0-9;]*m", "", done.stdout)  # rich's own styling, if any
    assert f"{len(data):,} bytes, sha256 {hashlib.sha256(data).hexdigest()}" in plain
    assert "evil" not in plain and "--show-user-data prints it" in plain
    shown = envkit("plan", str(evil_lab), "--show-user-data", env=env)
    assert shown.returncode == 0
    plain = re.sub(r"\x1b\[[0-9;]*m", "", shown.stdout)
    assert "\\x1b[31m[bold]evil[/bold]\\x07\\u202e" in plain  # escaped, literal
    assert "\x1b[31m[bold]" not in shown.stdout and "\x07" not in shown.stdout
    assert "\u202e" not in shown.stdout


def test_error_messages_escape_control_characters(tmp_path):
    bad = tmp_path / "x\x1b[2Jy.yaml"
    bad.write_text('name: lab\nowner: me\nregion: "\\e[31mred\\u202e"\n')
    done = envkit("validate", str(bad))
    assert done.returncode == 2
    assert "\\x1b[2J" in done.stderr and "\\x1b[31mred\\u202e" in done.stderr
    assert "\x1b" not in done.stderr and "\u202e" not in done.stderr


def test_plan_tree_and_outputs_do_not_render_markup_from_the_spec(tmp_path):
    spec = tmp_path / "lab.yaml"
    spec.write_text(BASICS.read_text().replace(
        "user_data: web-server", "user_data: {template: web-server, index_html: "
                                 '"[link=http://x]click[/link] \\u001b[5m"}\n'
                                 '      tags: {note: "[red]x[/red] \\u001b[2J"}'))
    done = envkit("plan", str(spec), "--show-user-data")
    assert done.returncode == 0, done.stderr
    assert "[link=http://x]click[/link] \\x1b[5m" in done.stdout
    assert "\x1b" not in done.stdout
