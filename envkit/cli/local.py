"""``envkit local start|stop|status|reset``: the embedded AWS emulator."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from .. import cli_types
from ._shared import JsonOpt

local_app = typer.Typer(help="The embedded AWS emulator (moto server on 127.0.0.1).",
                        no_args_is_help=True)


@local_app.command("start")
def local_start(port: Annotated[int | None, typer.Option(
        "--port", parser=cli_types.port,
        help="Port on 127.0.0.1 (default: ENVKIT_LOCAL_PORT, else the port this ENVKIT_HOME "
             "used before, else a free one; it is kept for later starts).")] = None
        ) -> None:
    """Start the emulator, or report the running one."""
    from .. import local

    s = local.start(port)
    typer.echo(f"local emulator running at {s.endpoint} (pid {s.pid})")


@local_app.command("stop")
def local_stop() -> None:
    """Stop the emulator (every resource it held is lost)."""
    from .. import local

    stopped = local.stop(say=lambda note: typer.echo(note, err=True))
    typer.echo("local emulator stopped" if stopped else "local emulator was not running")


@local_app.command("status")
def local_status(as_json: JsonOpt = False) -> None:
    """Whether the emulator runs, and where."""
    from .. import local

    s = local.status()
    if s.note and not as_json:
        typer.echo(s.note, err=True)
    if as_json:
        typer.echo(json.dumps(s.to_dict()))
    elif s.running:
        typer.echo(f"running at {s.endpoint} (pid {s.pid})")
    else:
        typer.echo("not running (envkit local start, or envkit up starts it)")


@local_app.command("reset")
def local_reset() -> None:
    """Forget every resource the emulator holds."""
    from .. import local

    local.reset()
    typer.echo("local emulator reset: it holds no resources")
