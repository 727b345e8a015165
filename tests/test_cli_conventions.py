"""envkit behaves like the command-line tools its users know: --version and -h, --debug
anywhere, real choices and word metavars in help, summaries that are not cut, output to a
pipe that is not wrapped, counts in good English, messages that name what they are about,
and reports that point at the line to change."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from importlib import metadata

import pytest

from .conftest import BASICS, ROOT


def envkit(*args: str, cwd=ROOT) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_") and k != "COLUMNS"}
    return subprocess.run([sys.executable, "-m", "envkit.cli", *args], capture_output=True,
                          text=True, cwd=cwd, env=env, timeout=120)


def test_version_and_short_help():
    done = envkit("--version")
    assert done.returncode == 0 and done.stdout == f"envkit {metadata.version('envkit')}\n"
    for argv in (["-h"], ["plan", "-h"], ["policy", "check", "-h"], ["class", "up", "-h"]):
        shown = envkit(*argv)
        assert shown.returncode == 0 and shown.stdout.startswith("Usage: envkit"), argv


@pytest.mark.parametrize("argv", [["--debug", "plan", "/nonexistent/x.yaml"],
                                  ["plan", "/nonexistent/x.yaml", "--debug"],
                                  ["plan", "--debug", "/nonexistent/x.yaml"]])
def test_debug_is_accepted_before_or_after_the_subcommand(argv):
    done = envkit(*argv)
    assert done.returncode == 2
    assert "Traceback" in done.stderr and "no such spec file" in done.stderr


def test_without_debug_there_is_no_traceback():
    done = envkit("plan", "/nonexistent/x.yaml")
    assert done.returncode == 2 and "Traceback" not in done.stderr


def test_target_is_a_choice_in_help_and_in_validation():
    assert "--target [local|aws]" in envkit("up", "--help").stdout
    done = envkit("status", str(BASICS), "--target", "mars")
    assert done.returncode == 2 and len(done.stderr.splitlines()) == 1
    assert "mars" in done.stderr and "local" in done.stderr and "aws" in done.stderr


def _commands():
    import click

    from envkit.cli import _command

    def walk(command, path):
        yield path, command
        for name, sub in getattr(command, "commands", {}).items():
            yield from walk(sub, [*path, name])

    for path, command in walk(_command(full=True), ["envkit"]):
        yield " ".join(path), command, click.Context(command, info_name=path[-1])


def test_every_option_has_help_and_a_metavar_that_reads_as_a_word():
    for where, command, ctx in _commands():
        assert command.help, f"{where}: no help"
        for param in command.params:
            if getattr(param, "hidden", False):
                continue
            assert (param.help or "").strip(), f"{where} {param.opts}: no help text"
            name = param.get_help_record(ctx)[0]
            assert "<" not in name and "list[" not in name, f"{where}: {name}"


def test_help_summaries_are_whole_sentences():
    from envkit.cli import _first_sentence

    for where, command, _ in _commands():
        if command.help:
            assert command.get_short_help_str(limit=45) == _first_sentence(command.help), where
    listing = envkit("--help").stdout.split("Commands:")[1]
    assert "..." not in listing
    assert "Show what the spec would create, offline: no Pulumi CLI, credentials or network." \
        in " ".join(listing.split())


def test_output_into_a_pipe_is_not_wrapped_at_80_columns():
    out = envkit("plan", str(BASICS)).stdout
    assert "https://aws-basics-lab.signin.aws.amazon.com/console" in out  # one piece
    assert re.search(r"^advisory  iam-console-users-mfa  aws-basics-user-dev1-console  \(.*"
                     r"aws-basics.yaml:\d+\)$", out, re.M)
    assert max(len(line) for line in out.splitlines()) > 80


def test_counts_are_pluralized(tmp_path):
    one = tmp_path / "one.yaml"
    one.write_text(BASICS.read_text().replace("203.0.113.0/24", "0.0.0.0/0"))
    done = envkit("up", "--yes", str(one))
    assert done.returncode == 4
    assert "1 mandatory policy violation; nothing was deployed" in done.stderr


@pytest.mark.parametrize("argv,fragment", [
    (["init", "nope", "-o", "x.yaml"], "unknown lab 'nope'"),
    (["up", "envkit.yaml"], "refusing to update without a terminal"),
    (["policy", "check", str(BASICS), "--format", "xml"], "unknown format 'xml'"),
    (["class", "up", str(BASICS), "--shared-only", "--students", "a"], "exclude each other"),
])
def test_only_errors_about_a_spec_carry_the_spec_prefix(argv, fragment, tmp_path):
    done = envkit(*argv, cwd=tmp_path)
    assert done.returncode == 2 and fragment in done.stderr
    assert "<spec>" not in done.stderr


def test_plan_in_a_folder_without_envkit_yaml_suggests_init(tmp_path):
    done = envkit("plan", cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.startswith("error: envkit.yaml: no envkit.yaml here: `envkit init`")


def test_init_suggests_the_nearest_lab(tmp_path):
    done = envkit("init", "aws-basic", cwd=tmp_path)
    assert done.returncode == 2
    assert "unknown lab 'aws-basic' (did you mean 'aws-basics'?)" in done.stderr
    assert "shipped labs: aws-basics, classroom, ec2-default-vpc, iam-basics" in done.stderr


def test_policy_check_into_a_file_says_one_line_on_stderr(tmp_path):
    report = tmp_path / "report.sarif"
    done = envkit("policy", "check", str(BASICS), "--format", "sarif", "-o", str(report))
    assert done.returncode == 0 and done.stdout == ""
    assert done.stderr == (f"{BASICS}: 0 mandatory violations, 4 advisory; sarif report "
                           f"written to {report}\n")
    assert json.loads(report.read_text())["version"] == "2.1.0"


def _sarif_lines(spec) -> dict[str, list[int]]:
    done = envkit("policy", "check", str(spec), "--format", "sarif")
    lines: dict[str, list[int]] = {}
    for result in json.loads(done.stdout)["runs"][0]["results"]:
        region = result["locations"][0]["physicalLocation"]["region"]
        lines.setdefault(result["ruleId"], []).append(region["startLine"])
    return lines


def _line_of(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if needle in line)


def test_sarif_regions_point_at_the_offending_keys_own_line(tmp_path):
    text = BASICS.read_text().replace(
        "        - {service: ssh, from: 203.0.113.0/24}\n"
        "        - {service: http, from: 0.0.0.0/0}\n",
        "        - {service: http, from: 0.0.0.0/0}\n"
        "        - {service: ssh, from: 0.0.0.0/0}\n").replace(
        "Resource: \"arn:aws:ec2:*:*:instance/*\"", "Resource: \"*\"")
    spec = tmp_path / "lab.yaml"
    spec.write_text(text)
    lines = _sarif_lines(spec)
    # The rule that opens SSH to the world, not the group's name or the open http rule.
    assert lines["ec2-no-public-admin-ingress"] == [_line_of(text, "{service: ssh, from:")]
    # The inline policy that allows instances on every resource, by its own key.
    assert _line_of(text, "start-stop-lab-instances:") in \
        lines["iam-no-resource-star-for-scopable-actions"]
    # dev1's own `console: true` (the second user's), not the user's name.
    consoles = [i for i, line in enumerate(text.splitlines(), 1) if "console: true" in line]
    assert lines["iam-console-users-mfa"] == [consoles[1]]
