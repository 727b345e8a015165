"""The ``envkit`` command line: parse, call the API, render. Nothing else lives here.

One module per command group: ``lifecycle`` (plan, up, down, status ...), ``policy``,
``kernel``, ``local``, ``classroom`` and ``reap`` (the last two load only when they run);
``_shared`` holds what they share and imports none of them. This module builds the root
app and is the one place where errors become messages and exit codes.

Exit codes: 0 ok, 1 operation failed, 2 bad input, 3 missing prerequisite, 4 policy
violation, 130 cancelled. Errors print one clear message and no traceback unless
``--debug``. Heavy imports (pulumi, pulumi_aws, boto3, moto) happen inside commands so
``--help`` stays fast.
"""

from __future__ import annotations

import contextlib
import gc
import json
import os
import sys
from typing import Annotated, Any

import typer
import typer.core

from .. import cli_types
from ..errors import EXIT_BAD_INPUT, EXIT_FAILED, EnvkitError
from ..limits import clip, printable
from . import kernel, lifecycle, local, policy
from ._shared import SETTINGS, STATE

__all__ = ["app", "main"]

app = typer.Typer(
    name="envkit",
    help="Declarative AWS lab environments: plan offline, deploy with Pulumi, tear down.",
    **SETTINGS,
)


def _show_version(value: bool) -> None:
    if value:
        from .. import __version__

        typer.echo(f"envkit {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    debug: Annotated[bool, typer.Option(
        "--debug", help="Show tracebacks on errors (accepted anywhere on the line).")] = False,
    version: Annotated[bool, typer.Option(
        "--version", callback=_show_version, is_eager=True,
        help="Print envkit's version and exit.")] = False,
) -> None:
    """envkit: declarative AWS lab environments."""
    STATE["debug"] = STATE["debug"] or debug
    cli_types.check_environment()


app.registered_commands.extend(lifecycle.app.registered_commands)
app.add_typer(policy.policy_app, name="policy")
app.add_typer(kernel.kernel_app, name="kernel")
app.add_typer(local.local_app, name="local")


def _fail(exc: BaseException, code: int, message: str | None = None,
          as_json: bool = False) -> int:
    if STATE["debug"]:
        import traceback

        traceback.print_exception(exc)
    message = printable(message or str(exc) or type(exc).__name__)
    if getattr(exc, "bail", False):  # a declined question: one plain line, as Pulumi
        typer.echo(message, err=as_json)
        if as_json:
            typer.echo(json.dumps(error_document(exc, code, message)))
        return code
    first, *rest = message.splitlines() or [""]
    typer.echo(f"error: {first}", err=True)
    for line in rest:
        typer.echo(f"  {line}", err=True)
    if as_json:
        typer.echo(json.dumps(error_document(exc, code, message)))
    return code


def error_document(exc: BaseException, code: int, message: str) -> dict[str, Any]:
    """What `--json` prints on stdout when a command fails: the error and the exit code."""
    error: dict[str, Any] = {"type": type(exc).__name__, "message": message}
    issues = getattr(exc, "issues", None)
    if issues:
        error["issues"] = [{"file": i.file, "line": i.line, "field": i.field,
                            "message": i.message} for i in issues]
    return {"error": error, "exit_code": code}


def _wants_json(argv: list[str] | None) -> bool:
    args = list(sys.argv[1:] if argv is None else argv)
    if "--" in args:
        args = args[:args.index("--")]
    return "--json" in args


def _usage_error() -> type[Exception]:
    # Typer vendors its own click; its usage errors derive from this class.
    try:
        from typer._click.exceptions import ClickException
    except ImportError:  # older Typer releases use click itself
        from click.exceptions import ClickException
    return ClickException


def main(argv: list[str] | None = None) -> Any:
    """Console-script entry point: run the app and map errors to exit codes."""
    # Importing pulumi_aws, pydantic and parliament leaves well over a million long-lived
    # objects, and the cyclic collector walks all of them again and again while a command
    # starts: about 0.5 s of a 1.8 s `envkit plan`, for no memory back (measured: 154 MB
    # with collection, 159 MB without, on a 100-user lab). A command is short-lived, so
    # collection is off; engine work, which can run for many minutes, turns it back on
    # (see _long_running).
    # The console script (argv None) keeps it off to the end, which also spares the
    # interpreter's final full collection at exit (~0.25 s more).
    collecting = gc.isenabled()
    gc.disable()
    try:
        code = _run(argv)
    finally:
        if collecting and argv is not None:  # called in-process with arguments (tests,
            gc.enable()                       # embedding): leave the collector as it was
    code = code if isinstance(code, int) else 0
    if argv is None and STATE.get("quick_exit"):
        _quick_exit(code)
    sys.exit(code)


def _quick_exit(code: int) -> None:
    """End the process without tearing down its modules one object at a time (~0.15 s
    after `policy check` has loaded pulumi-policy, the IAM data and the SDK): the exit
    handlers still run (they flush logs, remove temporary folders) and the output is
    flushed. Only for commands that leave no thread or child behind (`policy check`: its
    program's process is reaped before it returns)."""
    import atexit

    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(code)


#: Metavars that read as words, by option name (a parser= hides the type, so Typer would
#: show `<str>` or `<list[str]>`).
_METAVARS = {
    "--target": "[local|aws]", "--profile": "NAME", "--region": "REGION",
    "--regions": "REGIONS", "--backend": "URL",
    "--policy-pack": "DIR", "--policy-pack-config": "FILE", "--policy-config": "FILE",
    "--output": "PATH", "--prefix": "DIR", "--name": "NAME", "--port": "PORT", "--limit": "N",
    "--stack": "NAME", "--config": "KEY=VALUE", "--timeout": "SECONDS",
    "--format": "[text|json|sarif]", "--level": "[advisory|mandatory]", "--students": "IDS",
    "--parallel": "N", "--prices": "FILE", "--stack-seconds": "SECONDS", "--python": "PYTHON",
}
_ARGUMENT_METAVARS = {"spec": "SPEC", "template": "LAB", "instance": "INSTANCE",
                      "target": "SPEC|PROJECT", "args": "LAB [STUDENT] DURATION",
                      "specs": "SPEC"}


def _first_sentence(text: str) -> str:
    """A help text's first sentence, whole (Click would cut it at 45-60 columns)."""
    flat = " ".join(text.split())
    end = flat.find(". ")
    return flat[:end + 1] if end >= 0 else flat


def _polish(command: Any) -> Any:
    """Conventional help for every command: metavars as words, summaries not truncated."""
    for param in command.params:
        long = next((o for o in param.opts if o.startswith("--")), None)
        if param.param_type_name == "option" and not param.is_flag and long in _METAVARS:
            param.metavar = _METAVARS[long]
        elif param.param_type_name == "argument" and param.name in _ARGUMENT_METAVARS:
            param.metavar = _ARGUMENT_METAVARS[param.name]
            param.display_type_rich = lambda ctx: None  # the metavar says it: no `<Path>`
    if command.help and not command.short_help:
        command.short_help = _first_sentence(command.help)
    for sub in getattr(command, "commands", {}).values():
        _polish(sub)
    return command


#: Commands that live in envkit/cli/classroom.py and reap.py, loaded only when one of them
#: runs (or a whole tree is asked for): their summaries here keep `envkit --help` from
#: importing and building them.
_DEFERRED = {
    "class": "Classrooms: one lab, a roster, an isolated environment per student, leases.",
    "reap": "Destroy every expired environment in the backend (idempotent, locked, safe "
            "for cron) and list orphans: tagged resources whose environment no stack holds.",
}


def _load_deferred(name: str) -> Any:
    """The real click command for a deferred name, polished."""
    if name == "class":
        from .classroom import class_app

        command = typer.main.get_command(class_app)
    else:
        from .reap import reap

        single = typer.Typer(**{**SETTINGS, "no_args_is_help": False})
        single.command(name=name)(reap)
        command = typer.main.get_command(single)
    command.name = name
    return _polish(command)


class _Deferred(typer.core.TyperCommand):
    """A placeholder row in `envkit --help` for a command loaded when it is run."""


def _resolve_deferred(group: Any, name: str | None, command: Any) -> Any:
    if isinstance(command, _Deferred) and name:
        command = group.commands[name] = _load_deferred(name)
    return command


class _EnvkitGroup(typer.core.TyperGroup):
    """The root group: resolves a deferred command to the real one when it is run."""

    def resolve_command(self, ctx: Any, args: list[str]) -> Any:
        name, command, rest = super().resolve_command(ctx, args)
        return name, _resolve_deferred(self, name, command), rest


app.info.cls = _EnvkitGroup

def _command(full: bool = False) -> Any:
    """The click command tree of the app, polished (built once per process); ``full``
    loads the deferred commands too (for tools and tests that walk every command)."""
    if "command" not in STATE:
        root = _polish(typer.main.get_command(app))
        for name, summary in _DEFERRED.items():
            root.add_command(_Deferred(name=name, short_help=summary, help=summary), name)
        STATE["command"] = root
    root = STATE["command"]
    if full:
        for name in _DEFERRED:
            _resolve_deferred(root, name, root.commands[name])
    return root


def _strip_debug(argv: list[str]) -> list[str]:
    """``--debug`` anywhere before ``--`` switches tracebacks on (as before a subcommand)."""
    end = argv.index("--") if "--" in argv else len(argv)
    if "--debug" in argv[:end]:
        STATE["debug"] = True
        argv = [a for a in argv[:end] if a != "--debug"] + argv[end:]
    return argv


def _run(argv: list[str] | None) -> Any:
    """Run the app; errors become one message and an exit code (and, with --json, one
    error document on stdout)."""
    argv = _strip_debug(list(sys.argv[1:] if argv is None else argv))
    as_json = _wants_json(argv)
    from ..interrupts import cancellable

    try:
        # Ctrl-C, SIGTERM and SIGHUP cancel a running engine operation cleanly (exit 130).
        with cancellable():
            code = _command().main(args=argv, prog_name="envkit", standalone_mode=False)
    except EnvkitError as exc:
        if exc.exit_code == 130 and sys.stderr.isatty():
            typer.echo("", err=True)  # after the terminal's ^C, the message on its own line
        code = _fail(exc, exc.exit_code, as_json=as_json)
    except typer.Abort as exc:
        code = _fail(exc, EXIT_FAILED, "aborted", as_json=as_json)
    except _usage_error() as exc:
        code = EXIT_BAD_INPUT if exc.exit_code == 2 else exc.exit_code  # type: ignore[attr-defined]
        document = _policy_document(argv)
        if document is not None and code == EXIT_BAD_INPUT:
            # `policy check --format json|sarif` writes its document on every exit code,
            # an option the parser refused included: the pipeline's upload step gets a file.
            from ..errors import UsageError
            from .policy import _failed

            ctx = getattr(exc, "ctx", None)
            where = f" (see '{ctx.command_path} --help')" if ctx is not None else ""
            _failed(UsageError(clip(exc.format_message(), 300) + where), *document)  # type: ignore[attr-defined]
        else:
            _usage(exc)
            if as_json:
                typer.echo(json.dumps(error_document(exc, code, exc.format_message())))  # type: ignore[attr-defined]
    except KeyboardInterrupt as exc:
        from ..interrupts import last_signal, signal_name

        typer.echo("", err=True)  # after the terminal's ^C, the message on its own line
        code = _fail(exc, 130, f"cancelled ({signal_name(last_signal())})", as_json=as_json)
    except Exception as exc:  # noqa: BLE001 - the one place an unexpected error is reported
        code = _fail(exc, EXIT_FAILED,
                     f"unexpected error: {clip(repr(exc), 500)} (run with --debug for details)",
                     as_json=as_json)
    local = sys.modules.get("envkit.local")
    if local is not None:  # an emulator started for a command that failed is stopped
        local.command_finished(ok=code in (0, None))
    return code


def _policy_document(argv: list[str]) -> tuple[str, str, Any] | None:
    """(target, format, output) when ``argv`` is ``policy check`` asking for a json or
    sarif document (read leniently: the parser has just refused something in it)."""
    args = argv[:argv.index("--")] if "--" in argv else list(argv)
    valued = {"--policy-config", "--policy-pack-config", "--stack", "--config", "--timeout",
              "--format", "--level", "--output", "-o", "--python"}
    values: dict[str, str | None] = {}
    words: list[str] = []
    fmt = None
    i = 0
    while i < len(args):
        name, eq, value = args[i].partition("=")
        if name in valued:
            values[name] = value if eq else (args[i + 1] if i + 1 < len(args) else None)
            i += 1 if eq else 2
            continue
        if args[i] == "--json":
            fmt = "json"
        elif not args[i].startswith("-"):
            words.append(args[i])
        i += 1
    if words[:2] != ["policy", "check"]:
        return None
    fmt = fmt or values.get("--format")
    if fmt not in ("json", "sarif"):
        return None
    output = None
    chosen = values.get("--output") or values.get("-o")
    if chosen:
        from ..cli_types import output_file

        try:
            output = output_file(chosen)
        except Exception:  # noqa: BLE001 - an unusable -o: the document goes to stdout
            output = None
    return (words[2] if len(words) > 2 else "envkit.yaml"), fmt, output


def _usage(exc: Exception) -> None:
    """A usage error as one line: what is wrong, and where the command's help is."""
    ctx = getattr(exc, "ctx", None)
    where = f" (see '{ctx.command_path} --help')" if ctx is not None else ""
    message = exc.format_message()  # type: ignore[attr-defined]
    typer.echo(f"error: {clip(message, 300)}{where}", err=True)


