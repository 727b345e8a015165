"""The ``envkit`` command line: parse, call the API, render. Nothing else lives here.

Exit codes: 0 ok, 1 operation failed, 2 bad input, 3 missing prerequisite, 4 policy
violation. Errors print one clear message and no traceback unless ``--debug``. Heavy
imports (pulumi, pulumi_aws, boto3, moto) happen inside commands so ``--help`` stays fast.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from .errors import EXIT_BAD_INPUT, EXIT_FAILED, EnvkitError

app = typer.Typer(
    name="envkit",
    help="Declarative AWS lab environments: plan offline, deploy with Pulumi, tear down.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    rich_markup_mode=None,
)

_STATE = {"debug": False}

SpecArg = Annotated[
    Path,
    typer.Argument(help="The environment spec (YAML).", show_default=True),
]


@app.callback()
def _root(
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks on errors.")] = False,
) -> None:
    """envkit: declarative AWS lab environments."""
    _STATE["debug"] = debug


@app.command()
def plan(
    spec: SpecArg = Path("envkit.yaml"),
    as_json: Annotated[bool, typer.Option("--json", help="Print the plan as JSON.")] = False,
) -> None:
    """Show what the spec would create, offline: no Pulumi CLI, credentials or network."""
    from .planner import plan as make_plan

    result = make_plan(spec)
    if as_json:
        typer.echo(json.dumps(result.to_dict(), indent=2, sort_keys=False))
        return
    from .render import render_plan

    render_plan(result)


@app.command()
def validate(spec: SpecArg = Path("envkit.yaml")) -> None:
    """Check a spec and report every problem with its line; exit 2 if there is one."""
    from .spec import load_spec

    loaded = load_spec(spec)
    typer.echo(f"{spec}: ok ({loaded.name}, {loaded.region}: "
               f"{len(loaded.iam.users)} users, {len(loaded.ec2.instances)} instances)")


def _fail(exc: BaseException, code: int, message: str | None = None) -> int:
    if _STATE["debug"]:
        import traceback

        traceback.print_exception(exc)
    message = message or str(exc) or type(exc).__name__
    for line in message.splitlines():
        typer.echo(f"error: {line}", err=True)
    return code


def _usage_error() -> type[Exception]:
    # Typer vendors its own click; its usage errors derive from this class.
    try:
        from typer._click.exceptions import ClickException
    except ImportError:  # older Typer releases use click itself
        from click.exceptions import ClickException
    return ClickException


def main(argv: list[str] | None = None) -> Any:
    """Console-script entry point: run the app and map errors to exit codes."""
    try:
        code = app(args=argv, standalone_mode=False)
    except EnvkitError as exc:
        code = _fail(exc, exc.exit_code)
    except typer.Abort:
        typer.echo("aborted", err=True)
        code = EXIT_FAILED
    except _usage_error() as exc:
        exc.show()  # type: ignore[attr-defined]
        code = EXIT_BAD_INPUT if exc.exit_code == 2 else exc.exit_code  # type: ignore[attr-defined]
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        code = 130
    except Exception as exc:
        code = _fail(exc, EXIT_FAILED,
                     f"unexpected error: {exc!r} (run with --debug for details)")
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    main()
