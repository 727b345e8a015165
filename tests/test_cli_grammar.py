"""One grammar for every envkit command, checked by walking the whole command tree (the
deferred `class` and `reap` commands included): `--json` wherever a command can print a
document or events, `--format` (with `-o FILE`) only where there are several formats, and
`--yes`, `--target` and `--students` spelled, helped and checked the same everywhere.
Names that are not files are looked up as environments or classes, and commands on a
never-deployed environment say so before anything asks for the Pulumi CLI."""

from __future__ import annotations

import json

import pytest

from envkit.cli import _command, _run

from .conftest import BASICS, ROOT

CLASS = ROOT / "labs" / "classroom.yaml"

#: Commands that print a line or write files, never a document: each with the reason.
NO_DOCUMENT = {
    "init": "writes files and names them",
    "cancel": "one line: the lock it released",
    "ssh": "prints the ssh command to run (or runs it)",
    "install-pulumi": "one line: where the CLI went",
    "kernel install": "one line: where the kernelspec went",
    "kernel uninstall": "one line",
    "local start": "one line: the endpoint",
    "local stop": "one line",
    "local reset": "one line",
    "class handout": "writes files (secrets) into a folder, never to the screen",
}

#: Commands with several output formats (and so --format and -o FILE).
FORMATS = {"policy check": ["text", "json", "sarif"]}


def _leaves():
    def walk(command, path):
        subs = getattr(command, "commands", None)
        if subs:
            for name, sub in subs.items():
                yield from walk(sub, [*path, name])
        else:
            yield " ".join(path), command
    return dict(walk(_command(full=True), []))


LEAVES = _leaves()


def _option(command, name):
    return next((p for p in command.params if name in p.opts), None)


def test_the_walk_sees_every_group():
    assert {"plan", "up", "policy check", "class up", "reap", "local status"} <= set(LEAVES)
    assert not set(NO_DOCUMENT) - set(LEAVES), "NO_DOCUMENT names a command that is gone"


@pytest.mark.parametrize("where", sorted(LEAVES))
def test_every_command_that_prints_a_document_takes_json(where):
    has_json = _option(LEAVES[where], "--json") is not None
    if where in NO_DOCUMENT:
        assert not has_json, f"{where} takes --json: take it off NO_DOCUMENT"
    else:
        assert has_json, f"`envkit {where}` prints a document or events but has no --json"
        option = _option(LEAVES[where], "--json")
        assert option.is_flag and option.opts == ["--json"]


@pytest.mark.parametrize("where", sorted(LEAVES))
def test_format_only_where_there_are_several_and_output_is_o(where):
    command = LEAVES[where]
    fmt = _option(command, "--format")
    assert (fmt is not None) == (where in FORMATS), where
    if fmt is not None:
        assert _option(command, "-o") is not None, f"{where}: --format without -o FILE"
        for name in FORMATS[where]:
            assert name in fmt.help, (where, name)
    output = _option(command, "--output")
    if output is not None:
        assert sorted(output.opts) == ["--output", "-o"], where


@pytest.mark.parametrize("name,opts", [("--yes", ["--yes", "-y"]),
                                       ("--target", ["--target", "-t"]),
                                       ("--students", ["--students"])])
def test_shared_options_are_spelled_the_same_everywhere(name, opts):
    found = {where: _option(command, name) for where, command in LEAVES.items()}
    found = {where: option for where, option in found.items() if option is not None}
    assert len(found) >= 2, name
    for where, option in found.items():
        assert option.opts == opts, (where, option.opts)
        assert option.is_flag == (name == "--yes"), where
    if name == "--target":
        assert {o.metavar for o in found.values()} == {"[local|aws]"}


def _code(argv, capsys):
    code = _run(argv) or 0
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.mark.parametrize("where", sorted(w for w, c in LEAVES.items()
                                         if _option(c, "--target") is not None))
def test_target_is_checked_the_same_everywhere(where, capsys):
    argv = [*where.split(), *(["web"] if where == "ssh" else []),
            *([str(CLASS)] if where.startswith("class") else
              [] if where == "reap" else [str(BASICS)]),
            *(["1d"] if where == "class extend" else []), "--target", "mars"]
    code, _, err = _code(argv, capsys)
    assert code == 2, (argv, err)
    assert "unknown target 'mars': use local or aws" in err


@pytest.mark.parametrize("where", sorted(w for w, c in LEAVES.items()
                                         if _option(c, "--students") is not None))
def test_students_is_checked_the_same_everywhere(where, capsys):
    argv = [*where.split(), str(CLASS), "--students", "5/4",
            *(["--yes"] if _option(LEAVES[where], "--yes") else []),
            *(["-o", str(ROOT / "no-such-folder-here")] if where == "class handout" else [])]
    code, _, err = _code(argv, capsys)
    assert code == 2, (argv, err)
    assert "5/4" in err


def test_policy_check_takes_json_as_every_command_does(capsys):
    code, out, _ = _code(["policy", "check", str(BASICS), "--json"], capsys)
    assert code == 0 and json.loads(out)["kind"] == "spec"
    code, _, err = _code(["policy", "check", str(BASICS), "--json", "--format", "sarif"],
                         capsys)
    assert code == 2 and "two formats" in err


def test_validate_json_is_one_document(capsys):
    code, out, _ = _code(["validate", str(BASICS), "--json"], capsys)
    assert code == 0
    assert json.loads(out) == {"valid": True, "source": str(BASICS),
                               "environment": "aws-basics", "region": "us-east-1",
                               "users": 2, "instances": 1}


@pytest.mark.parametrize("argv", [["status", "web-class"], ["class", "status", "web-class"],
                                  ["class", "handout", "web-class"], ["outputs", "nosuch"],
                                  ["history", "nosuch"], ["down", "nosuch", "--yes"]])
def test_a_name_that_is_no_file_is_looked_up_and_the_error_lists_what_exists(argv, capsys):
    code, _, err = _code(argv, capsys)
    assert code == 2, err
    assert f"no environment or class named '{argv[-1] if argv[-1] != '--yes' else argv[-2]}'" \
        in err
    assert "known: none yet" in err and len(err.splitlines()) == 1


def test_an_environment_name_given_to_a_class_command_says_what_it_is(capsys, monkeypatch):
    from envkit import home

    monkeypatch.setattr(home, "read_registry",
                        lambda: {"aws-basics": {"spec": str(BASICS), "target": "local"}})
    code, _, err = _code(["class", "status", "aws-basics"], capsys)
    assert code == 2 and "'aws-basics' is an environment, not a class" in err
    code, _, err = _code(["class", "status", "web-class"], capsys)
    assert code == 2 and "known: aws-basics (environment)" in err


@pytest.mark.parametrize("argv", [["history"], ["down", "--yes"], ["refresh", "--yes"], ["cancel"],
                                  ["ssh", "web"], ["outputs"]])
def test_never_deployed_is_said_before_any_engine_check(argv, capsys, monkeypatch):
    from envkit import engine

    def no_engine_check(*args, **kwargs):
        raise AssertionError("the Pulumi CLI was looked for")
    monkeypatch.setattr(engine, "find_pulumi", no_engine_check)
    full = ["ssh", "web", str(BASICS)] if argv[0] == "ssh" else [argv[0], str(BASICS), *argv[1:]]
    code, _, err = _code(full, capsys)
    assert code == 1, err
    assert "aws-basics has never been deployed: `envkit up" in err


def test_ls_json_is_a_list_even_when_there_is_nothing(capsys):
    code, out, _ = _code(["ls", "--json"], capsys)
    assert code == 0 and json.loads(out) == []
