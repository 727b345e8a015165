"""``envkit reap``: destroy every expired environment in the backend and list orphans.

Loaded by envkit.cli only when it runs.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from ..limits import plural
from ._shared import BackendOpt, ProfileOpt, TargetOpt, YesOpt, ask, ensure_engine, make_console


def reap(
    specs: Annotated[list[Path] | None, typer.Argument(
        help="Specs of environments or classes deployed from elsewhere (so the reaper can "
             "run their programs to destroy them).", show_default=False)] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Report only.")] = False,
    yes: YesOpt = False, as_json: Annotated[bool, typer.Option(
        "--json", help="Print the report as JSON.")] = False,
    backend: BackendOpt = None, target: TargetOpt = None, profile: ProfileOpt = None,
    region: Annotated[list[str] | None, typer.Option(
        "--regions", "--region",
        help="Regions to look for orphans in (comma-separated or repeated; default: every "
             "region the account has enabled, from ec2:DescribeRegions).")] = None,
    no_orphans: Annotated[bool, typer.Option("--no-orphans", help="Skip the orphan "
                                                                  "search.")] = False,
) -> None:
    """Destroy every expired environment in the backend (idempotent, locked, safe for cron)
    and list orphans: tagged resources whose environment no stack holds. Exit 1 when an
    expired environment could not be destroyed, when orphans were found, or when a region
    could not be searched; exit 2 when a class record in ENVKIT_HOME is damaged."""
    from ..classroom.reaper import reap as run_reaper
    from ..errors import OperationError

    ensure_engine(as_json)
    say = make_console(stderr=True).print

    def confirm(items: list[Any]) -> bool:
        if not as_json:
            say(f"{plural(len(items), 'expired environment')}: "
                + ", ".join(f"{i.stack} (expired {i.expires})" for i in items[:20]))
        return ask("Destroy them?", yes, as_json)

    regions = _regions(region)
    report = run_reaper(backend=backend, specs=[str(s) for s in specs or []], target=target,
                        profile=profile, regions=regions, dry_run=dry_run,
                        confirm=confirm, orphans=not no_orphans)
    if as_json:  # the report is the one document; it carries the exit code
        typer.echo(json.dumps(report.to_dict(), indent=2))
    else:
        _render_reap(report)
    if report.cancelled:
        from ..errors import CancelledError

        message = ("reap cancelled; the stacks destroyed so far are gone, the rest are left "
                   "for the next run")
        if as_json:
            typer.echo(f"error: {message}", err=True)
            raise typer.Exit(130)
        raise CancelledError(message)
    if report.exit_code:
        message = _attention(report)
        if as_json:
            typer.echo(f"error: {message}", err=True)
            raise typer.Exit(report.exit_code)
        raise OperationError(message)


def _regions(values: list[str] | None) -> list[str] | None:
    """``--regions a,b --regions c`` as a list of region names (UsageError, exit 2, for
    anything that is not one)."""
    import re

    from ..errors import UsageError
    from ..limits import clip

    names = [n.strip() for v in values or [] for n in v.split(",") if n.strip()]
    for name in names:
        if not re.fullmatch(r"[a-z]{2}(-[a-z]+)+-\d{1,2}", name):
            raise UsageError(f"--regions: '{clip(name)}' is not a region name (such as "
                             "us-east-1)")
    return names or None


def _attention(report: Any) -> str:
    """Why reap exits non-zero, in one message."""
    parts = []
    if report.failed and not report.dry_run:
        parts.append(f"{plural(len(report.failed), 'expired environment')} could not be "
                     "destroyed: " + ", ".join(f"{i.stack} ({i.action}: {i.detail})"
                                               for i in report.failed[:10]))
    if report.orphans:
        envs = sorted({o.environment for o in report.orphans})
        parts.append(f"{plural(len(report.orphans), 'orphaned resource')} of "
                     f"{plural(len(envs), 'environment')} no stack holds: "
                     + ", ".join(envs[:10]) + " (delete them, or deploy their environment "
                     "again and destroy it)")
    if report.unscanned:
        parts.append("orphans were not searched in " + ", ".join(report.unscanned[:10])
                     + " (see the notes)")
    return "; ".join(parts)


def _render_reap(report: Any) -> None:
    from rich.markup import escape
    from rich.table import Table

    console = make_console()
    table = Table(show_edge=False, title="envkit reap" + (" (dry run)" if report.dry_run
                                                         else ""), title_justify="left")
    for col in ("stack", "expires", "resources", "action", "detail"):
        table.add_column(col, overflow="fold")
    for item in report.items:
        table.add_row(escape(item.stack), item.expires or "-",
                      "-" if item.resources is None else str(item.resources), item.action,
                      escape(item.detail))
    console.print(table)
    if report.orphans:
        orphans = Table(show_edge=False, title="Orphans (tagged envkit:environment, no stack "
                                               "holds them)", title_justify="left")
        for col in ("environment", "region", "kind", "id"):
            orphans.add_column(col, overflow="fold")
        for o in report.orphans:
            orphans.add_row(escape(o.environment), o.region, o.kind, escape(o.id))
        console.print(orphans)
    else:
        console.print("no orphans found")
    for note in report.notes:
        console.print(f"[dim]{escape(note)}[/dim]")
