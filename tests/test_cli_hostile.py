"""Every argument, every command: each command and option of `envkit`, enumerated from the
Typer app (a new command is covered without touching this file), is driven with hostile
values. Whatever the value, the exit code is never 1 (an unexpected error is a bug when
input causes it), there is no traceback, and a refusal (exit 2) writes nothing first."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from envkit.cli import _command, main

from .conftest import BASICS

HOSTILE = ["", "-1", "0", "65536", "abc", "9" * 30, "../../etc/passwd", "a b", "x/y", "..",
           "$(touch pwned)", "\x1b[31mred", "ünï", "-oProxyCommand=id", "x" * 5000,
           "{dir}", "{fifo}", "/dev/zero", "{missing}/f.yaml", "{file}"]
#: Exit 1 with one of these is a truthful answer about the environment's state (see
#: envkit.states), not an unexpected error.
STATE_LINES = ("the local emulator is not running, so nothing deployed to it exists any more",
               "emulator is not running", "has never been deployed", "was destroyed")


def _state_answer(text: str) -> bool:
    return any(line in text for line in STATE_LINES)
#: A benign value for each required argument, so the option under test is what is judged.
REQUIRED = {"instance": "web"}


def _commands(group=None, prefix=()):
    group = group or _command(full=True)
    for name, command in sorted(group.commands.items()):
        if hasattr(command, "commands"):
            yield from _commands(command, (*prefix, name))
        else:
            yield (*prefix, name), command


COMMANDS = list(_commands())


def _cases():
    for path, command in COMMANDS:
        name = " ".join(path)
        params = [p for p in command.params if p.name not in ("help",)]
        yield pytest.param(path, None, None, id=f"{name} extra-argument")
        for param in params:
            if getattr(param, "is_flag", False):
                yield pytest.param(path, param, "flag", id=f"{name} {param.opts[0]}=value")
            else:
                yield pytest.param(path, param, "value", id=f"{name} {param.name}")


def _files(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*") if not p.is_dir()}


@pytest.fixture
def playground(tmp_path, monkeypatch):
    """A working folder with a valid spec, a folder, a FIFO and a file; HOME and Jupyter's
    folders inside it, so a kernel command cannot reach the real ones."""
    work = tmp_path / "work"
    work.mkdir()
    shutil.copy(BASICS, work / "envkit.yaml")
    (work / "a-dir").mkdir()
    os.mkfifo(work / "a-fifo")
    (work / "a-file").write_text("not yaml: [\n")
    for var in ("HOME", "JUPYTER_DATA_DIR", "JUPYTER_CONFIG_DIR", "IPYTHONDIR"):
        monkeypatch.setenv(var, str(tmp_path / var.lower()))
    monkeypatch.delenv("ENVKIT_LOCAL_PORT", raising=False)
    monkeypatch.chdir(work)
    return work


def _value(raw: str, work: Path) -> str:
    return raw.format(dir=work / "a-dir", fifo=work / "a-fifo", missing=work / "no-such",
                      file=work / "a-file")


def _argv(path, param, value: str, work: Path) -> list[str]:
    """The command with benign required arguments, the spec in the working folder, and
    ``value`` for ``param``."""
    argv = list(path)
    extra = [] if param is not None else [value]
    positional = []
    for p in COMMANDS_BY_PATH[path].params:
        if p.param_type_name != "argument":
            continue
        if p is param:
            positional.append(value)
        elif p.required:
            positional.append(REQUIRED.get(p.name, "x"))
    options = []
    if param is not None and param.param_type_name == "option":
        options = [f"{param.opts[0]}={value}"] if value.startswith("-") or \
            getattr(param, "is_flag", False) else [param.opts[0], value]
    if path[0] == "kernel" and (param is None or param.name != "prefix"):
        options += ["--prefix", str(work / "prefix")]  # never the system's kernel folder
    return [*argv, *positional, *options, *extra]


COMMANDS_BY_PATH = dict(COMMANDS)


def _run(argv: list[str], capsys) -> tuple[int, str]:
    with pytest.raises(SystemExit) as done:
        main(argv)
    out, err = capsys.readouterr()
    return done.value.code, out + err


def test_every_command_is_covered():
    names = {" ".join(p) for p, _ in COMMANDS}
    assert {"plan", "validate", "up", "down", "ssh", "policy check", "kernel install",
            "local start", "local stop"} <= names
    assert len(names) >= 20


@pytest.mark.parametrize("path,param,kind", list(_cases()))
def test_hostile_values_never_cause_an_unexpected_error(path, param, kind, playground,
                                                        capsys):
    home = Path(os.environ["ENVKIT_HOME"])
    values = ["x"] if kind in (None, "flag") else HOSTILE
    for raw in values:
        value = _value(raw, playground)
        argv = _argv(path, param, value, playground)
        before = _files(playground), _files(home)
        code, text = _run(argv, capsys)
        shown = [a[:60] for a in argv]
        # `status` on the local target needs the emulator: not running is the machine's
        # state (exit 1, said plainly), whatever the input; the test never starts one.
        assert code != 1 or _state_answer(text), (shown, text[-1500:])
        assert "Traceback" not in text and "unexpected error" not in text, (shown, text)
        if code == 2:
            assert (_files(playground), _files(home)) == before, (shown, "wrote files")
            assert len(text.strip().splitlines()) <= 60, (shown, text[:500])
    assert not (playground / "pwned").exists()


@pytest.mark.parametrize("variable,value", [
    ("ENVKIT_LOCAL_PORT", "abc"), ("ENVKIT_LOCAL_PORT", "0"), ("ENVKIT_LOCAL_PORT", "70000"),
    ("ENVKIT_HOME", "{file}"), ("ENVKIT_HOME", "{fifo}")])
@pytest.mark.parametrize("path", [p for p, _ in COMMANDS if p != ("install-pulumi",)],
                         ids=" ".join)
def test_bad_environment_variables_are_one_line_and_exit_2(path, variable, value,
                                                           playground, monkeypatch, capsys):
    monkeypatch.setenv(variable, _value(value, playground))
    code, text = _run(_argv(path, None, "x", playground)[:-1] or list(path), capsys)
    if code == 2 and variable in text:
        assert text.count("\n") == 1 and text.startswith("error: "), text
    assert code == 2, text
    assert variable in text or "Usage" in text or "error:" in text


@pytest.mark.parametrize("argv,fragment", [
    (["local", "start", "--port", "0"], "from 1 to 65535"),
    (["local", "start", "--port", "abc"], "from 1 to 65535"),
    # Read by the gate, so --format json/sarif still write their document (issue 15).
    (["policy", "check", "envkit.yaml", "--policy-config", "a-dir"], "a-dir: is a directory"),
    (["policy", "check", "envkit.yaml", "-o", "a-dir"], "is a folder"),
    (["policy", "check", "envkit.yaml", "-o", "a-fifo"], "not a regular file"),
    (["init", "-o", "a-dir", "--force"], "is a folder"),
    (["init", "../../labs/aws-basics"], "is not a lab name"),
    (["kernel", "install", "--name", "../evil"], "is not a kernel name"),
    (["kernel", "install", "--name", "a b"], "is not a kernel name"),
    (["up", "--target", "moon"], "unknown target 'moon'"),
    (["preview", "--policy-pack-config", "a-file"], "a-file: not valid JSON"),
    (["up", "--policy-pack-config", "a-fifo"], "not a regular file"),
])
def test_bad_arguments_are_one_line_naming_the_option(argv, fragment, playground, capsys):
    code, text = _run(argv, capsys)
    assert code == 2 and fragment in text
    assert text.count("\n") == 1 and text.startswith("error: "), text


#: Commands left out below: they would start a server or download (they take no spec).
ACTING = {("local", "start"), ("install-pulumi",)}


@pytest.mark.parametrize("path", [p for p, _ in COMMANDS if p not in ACTING], ids=" ".join)
def test_an_envkit_home_with_markup_and_control_characters_is_just_a_folder(
        path, playground, monkeypatch, capsys):
    monkeypatch.setenv("ENVKIT_HOME", str(playground.parent / "home [/b] [red]\x1b[2J"))
    code, text = _run(_argv(path, None, "x", playground)[:-1], capsys)
    assert "Traceback" not in text and "unexpected error" not in text, text
    assert code != 1 or _state_answer(text), text
    assert "\x1b[2J" not in text
