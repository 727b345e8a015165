"""``envkit policy check|list``: the least-privilege policy pack, offline."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from .. import cli_types
from ..limits import plural, printable
from ._shared import STATE, JsonOpt, make_console

policy_app = typer.Typer(help="The least-privilege policy pack, offline.", no_args_is_help=True)


@policy_app.command("check")
def policy_check(
    target: Annotated[Path, typer.Argument(help="An envkit spec, or a Pulumi Python project "
                                                "directory.", parser=cli_types.spec_path)
                      ] = Path("envkit.yaml"),
    policy_config: Annotated[Path | None, typer.Option(
        "--policy-config", "--policy-pack-config",
        help="Policy pack config file (the `pulumi preview --policy-pack-config` format).")
    ] = None,
    stack: Annotated[str | None, typer.Option(
        "--stack", help="Project only: the stack whose name and Pulumi.<stack>.yaml config "
                        "the program sees (default: dev).")] = None,
    config: Annotated[list[str] | None, typer.Option(
        "--config", help="Project only: a stack config value KEY=VALUE (repeatable; a bare "
                         "key gets the project's namespace, as `pulumi config set`).")] = None,
    timeout: Annotated[float, typer.Option(
        "--timeout", help="Project only: seconds the program may run before it is stopped "
                          "(exit 2).")] = 180.0,
    fmt: Annotated[str, typer.Option("--format", help="text, json or sarif (json and sarif "
                                                      "are written on every exit code).")
                   ] = "text",
    as_json: Annotated[bool, typer.Option(
        "--json", help="Print one JSON document: the same as --format json.")] = False,
    level: Annotated[str, typer.Option(
        "--level", help="Report advisory and up (default) or mandatory only.")] = "advisory",
    output: Annotated[Path | None, typer.Option("--output", "-o", parser=cli_types.output_file,
                                                help="Write to a file.")] = None,
    no_install: Annotated[bool, typer.Option(
        "--no-install", help="Project only: never create or update the project's virtualenv "
                             "(as `pulumi install` would); exit 2 where one is needed.")
    ] = False,
    python: Annotated[str | None, typer.Option(
        "--python", help="Project only: run the program with this interpreter (one your "
                         "pipeline installed the requirements into); nothing is installed.")
    ] = None,
    strict: Annotated[bool, typer.Option(
        "--strict", help="Exit 4 when the verdict is incomplete: a component not evaluated, "
                         "or a rule that could not check a value offline.")] = False,
) -> None:
    """Evaluate the policy pack offline; exit 4 on any mandatory violation.

    A Pulumi project's program is run (in a child process, under Pulumi's mocks, without
    AWS credentials): it is your code, so check only projects you would run. A program
    that does not finish normally (an exception, sys.exit, a signal, the timeout) is
    exit 2, never a pass. A project whose Pulumi.yaml names a virtualenv that does not
    exist (or sets toolchain: poetry|uv) gets it made first, as `pulumi install` would;
    docs/gate-projects.md says what the gate needs from a project."""
    from ..errors import EXIT_POLICY, UsageError
    from ..policy.gate import check, load_config

    STATE["quick_exit"] = True  # nothing is left running when it returns (see cli.main)

    if as_json and fmt not in ("text", "json"):
        raise UsageError(f"--json and --format {fmt} ask for two formats: give one")
    fmt = "json" if as_json else fmt
    if fmt not in ("text", "json", "sarif"):
        raise UsageError(f"unknown format '{fmt}': use text, json or sarif")
    try:
        if level not in ("advisory", "mandatory"):
            raise UsageError(f"unknown level '{level}': use advisory or mandatory")
        report = check(target, load_config(policy_config), stack=stack, config=config or [],
                       timeout=timeout, debug=STATE["debug"], install=not no_install,
                       python=python)
    except (Exception, KeyboardInterrupt) as exc:  # every ending gets its document
        if fmt == "text":
            raise
        # A pipeline uploads the document whatever happened: it says the check did not run.
        raise typer.Exit(_failed(exc, str(target), fmt, output)) from None
    if fmt == "text":
        from ..render import render_policy

        if output:
            with output.open("w") as fh:
                render_policy(report, make_console(file=fh), minimum=level)
        else:
            render_policy(report, make_console(), minimum=level)
    else:
        if fmt == "json":
            doc = report.to_dict(level)
        else:
            from ..policy.sarif import to_sarif

            doc = to_sarif(report, level)
        text = json.dumps(doc, indent=2)
        if output:
            output.write_text(text + "\n")
        else:
            typer.echo(text)
    if output:  # the report went to a file: one line here says how it came out
        notices = sum(f.kind == "notice" for f in report.findings)
        mandatory = plural(len(report.mandatory), "mandatory violation")
        typer.echo(f"{printable(str(target))}: {mandatory}, {len(report.advisory)} advisory"
                   + (f", {notices} not checkable offline" if notices else "")
                   + f"; {fmt} report written to {printable(str(output))}", err=True)
    incomplete = report.strict_problems() if strict else []
    if incomplete:
        shown = "\n".join(f"  {printable(line)}" for line in incomplete[:20])
        more = f"\n  ... and {len(incomplete) - 20} more" if len(incomplete) > 20 else ""
        typer.echo(f"--strict: the verdict is incomplete ({plural(len(incomplete), 'gap')}):"
                   f"\n{shown}{more}", err=True)
    if report.mandatory or incomplete:
        raise typer.Exit(EXIT_POLICY)


def _failed(exc: BaseException, target: str, fmt: str, output: Path | None) -> int:
    """Write the json or sarif document of a check that could not finish, say why on
    stderr, and return the exit code."""
    from ..errors import EXIT_FAILED, EnvkitError
    from ..policy.gate import failure_location, failure_to_dict
    from ..policy.sarif import failure_sarif
    from ..text import clip

    if isinstance(exc, EnvkitError):
        code, message = exc.exit_code, str(exc) or type(exc).__name__
    elif isinstance(exc, KeyboardInterrupt):
        code, message = 130, "interrupted"
    else:  # the same words as every command's unexpected error (envkit/cli/__init__.py)
        if STATE["debug"]:
            import traceback

            traceback.print_exception(exc)
        code, message = EXIT_FAILED, (f"unexpected error: {clip(repr(exc), 500)} (run with "
                                      "--debug for details)")
    message = printable(message)
    if fmt == "json":
        doc = failure_to_dict(target, message, exc, code)
    else:
        doc = failure_sarif(message, *failure_location(exc), exit_code=code)
    text = json.dumps(doc, indent=2)
    if output:
        output.write_text(text + "\n")
    else:
        typer.echo(text)
    first, *rest = message.splitlines() or [""]
    typer.echo(f"error: {first}", err=True)
    for line in rest:
        typer.echo(f"  {line}", err=True)
    if output:
        typer.echo(f"{printable(target)}: not checked; {fmt} report written to "
                   f"{printable(str(output))}", err=True)
    return code


@policy_app.command("list")
def policy_list(as_json: JsonOpt = False) -> None:
    """Every rule: level, severity, what it checks (`--json` adds controls and fixes)."""
    from rich.table import Table

    from ..policy.rules import RULES

    if as_json:
        typer.echo(json.dumps([r.to_dict() for r in RULES], indent=2))
        return
    table = Table(show_edge=False)
    table.add_column("rule", no_wrap=True)
    table.add_column("level")
    table.add_column("severity")
    table.add_column("what it checks", overflow="fold", ratio=1)
    for r in RULES:
        table.add_row(r.name, r.level.value, r.severity.value, r.summary)
    make_console().print(table)
