"""``envkit class plan|up|status|down|extend|handout``.

Loaded by envkit.cli only when one of these commands runs. Like the rest of the CLI it only
parses, calls :class:`envkit.Classroom` or the reaper, and renders; heavy imports happen
inside the commands so ``envkit --help`` stays fast.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Annotated, Any

import typer

from .. import cli_types
from ..limits import plural
from ._shared import (
    SETTINGS,
    ask,
    chosen_packs,
    ensure_engine,
    is_interactive,
    make_console,
    spec_source,
)

class_app = typer.Typer(
    help="Classrooms: one lab, a roster, an isolated environment per student, leases.",
    **SETTINGS)

ClassSpecArg = Annotated[Path, typer.Argument(
    parser=cli_types.spec_path,
    help="The class's spec (YAML with a classroom section), or the name of a class "
         "deployed from this machine.")]
TargetOpt = Annotated[str | None, typer.Option(
    "--target", "-t", parser=cli_types.target,
    help="local (the embedded emulator) or aws (default: as recorded, else aws when AWS "
         "credentials are found).")]
ProfileOpt = Annotated[str | None, typer.Option("--profile", parser=cli_types.profile,
                                                help="AWS profile.")]
BackendOpt = Annotated[str | None, typer.Option(
    "--backend", parser=cli_types.backend,
    help="Pulumi backend URL shared by the class (s3://..., file://...).")]
JsonOpt = Annotated[bool, typer.Option(
    "--json", help="Stream NDJSON events (tagged with the student), then one result document "
                   "(an error document when it fails).")]
DocJsonOpt = Annotated[bool, typer.Option(
    "--json", help="Print one JSON document (an error document when it fails).")]
YesOpt = Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")]
StudentsOpt = Annotated[str | None, typer.Option(
    "--students", help="Only these students: ids (ann,bob), positions (1-50) or a share "
                       "(2/4: the second quarter of the roster).")]
ParallelOpt = Annotated[int | None, typer.Option(
    "--parallel", "-p", min=1, max=64,
    help="Stacks at once (default: 2 per CPU, at most the spec's classroom.concurrency).")]
PricesOpt = Annotated[Path | None, typer.Option(
    "--prices", parser=cli_types.input_file,
    help="A saved price table (the format of ENVKIT_HOME/prices.json).")]
ConfigOpt = Annotated[str | None, typer.Option(
    "--policy-config", "--policy-pack-config", parser=cli_types.policy_config,
    help="Policy pack config file (e.g. {\"classroom-max-hourly-cost\": "
                     "{\"maxClassHourlyCost\": 5}}).")]
NoPolicyOpt = Annotated[bool, typer.Option("--no-policy", help="Skip the policy check.")]


# --- helpers ------------------------------------------------------------------------------------


def _source(spec: Path) -> Path:
    """A spec path, or the spec recorded for a class deployed from this machine (its record
    read as hostile input: a damaged one is exit 2 naming the file and the key); a name
    that is neither is exit 2 listing what exists."""
    return spec_source(spec, "class")


def _classroom(spec: Path, **kwargs: Any) -> Any:
    from ..classroom.driver import Classroom

    return Classroom(_source(spec), **kwargs)



def _drive(title: str, call: Any, as_json: bool) -> Any:
    """Run a class operation with the live view, or NDJSON events and a result line."""
    if as_json:
        lock = threading.Lock()

        def emit(event: Any) -> None:
            with lock:
                typer.echo(json.dumps(event.to_dict(), default=str))
        result = call(emit)
        typer.echo(json.dumps(result.to_dict(), default=str))
        return result
    from rich.live import Live

    from ..classroom.progress import ClassProgress

    console = make_console()
    view = ClassProgress(title)
    with Live(view, console=console, refresh_per_second=4):
        result = call(view)
    return result


def _finish(result: Any, verb: str) -> None:
    """Summarise; exit 1 (listing them) when some stacks failed."""
    from ..errors import OperationError

    counts = ", ".join(f"{n} {state}" for state, n in result.counts().items()) or "nothing"
    make_console(stderr=True).print(f"[bold]class {verb} done[/bold]: {counts}")
    cancelled = [s for s in result.stacks.values() if s.state == "cancelled"]
    if cancelled:
        from ..errors import CancelledError

        raise CancelledError(
            f"class {verb} cancelled: {plural(len(cancelled), 'stack')} cancelled ("
            + ", ".join(s.student or "(shared)" for s in cancelled[:20])
            + "); each stack's state records what was done and its lock is released: run "
            "the command again to resume")
    failed = result.failed
    if failed:
        lines = [f"{plural(len(failed), 'stack')} failed (run the command again to retry them):"]
        lines += [f"{s.student or '(shared)'}: {(s.error or '').splitlines()[0][:200]}"
                  for s in failed[:20]]
        raise OperationError("\n".join(lines))


def _money(value: float | None) -> str:
    return "unknown" if value is None else f"${value:,.4f}"

# --- commands -----------------------------------------------------------------------------------


@class_app.command("plan")
def class_plan(
    spec: ClassSpecArg,
    as_json: Annotated[bool, typer.Option("--json", help="Print the plan as JSON.")] = False,
    prices: PricesOpt = None,
    refresh_prices: Annotated[bool, typer.Option(
        "--refresh-prices", help="Fetch prices again from AWS's Price List.")] = False,
    config: ConfigOpt = None, no_policy: NoPolicyOpt = False,
    parallel: ParallelOpt = None, students: StudentsOpt = None,
    stack_seconds: Annotated[float | None, typer.Option(
        "--stack-seconds", help="Seconds one student's up takes, for the wall-time "
                                "estimate (default: as recorded by earlier runs).")] = None,
) -> None:
    """Plan the class offline: stacks, resources, isolation, policy, cost and wall time."""
    from ..classroom.planning import cost_of
    from ..policy.gate import load_config

    classroom = _classroom(spec, parallel=parallel, students=students)
    plan = classroom.plan()
    table, why = classroom.prices(prices, refresh=refresh_prices)
    report = None if no_policy else classroom.check(
        load_config(config) if config else None, table)
    estimate = cost_of(plan, table, why)
    schedule = classroom.estimated_wall_time(stack_seconds)
    if as_json:
        doc = plan.to_dict()
        doc["cost"] = estimate.to_dict()
        doc["schedule"] = schedule
        # What --students selects, in roster order: a CI shard's work (`class workflow`).
        doc["selected"] = [{"student": s.id, "stack": classroom.layout.stack_name(s)}
                           for s in classroom.selected]
        doc["student_policy"] = classroom.layout.policy_document()
        if report is not None:
            doc["policy"] = report.to_dict()
        typer.echo(json.dumps(doc, indent=2, default=str))
        if report is not None and report.mandatory:
            raise typer.Exit(4)
        return
    from rich.markup import escape

    from ..render import render_policy

    console = make_console()
    layout = classroom.layout
    first = next(iter(plan.students.values()), None)
    console.print(f"[bold]{escape(classroom.name)}[/bold] ({layout.spec.region}): "
                  f"{len(plan.students)} students, {1 + len(plan.students)} stacks, "
                  f"{plan.total()} resources (offline plan)")
    console.print(f"  shared stack [bold]{escape(classroom.name)}[/bold]: {plan.shared.total} "
                  "resources: " + escape(", ".join(
                      f"{n} {t.rsplit(':', 1)[-1]}" for t, n in plan.shared.counts().items()
                      if not t.startswith("pulumi:"))))
    if first is not None:
        console.print(f"  each student ({escape(classroom.name)}-<student>): {first.total} "
                      "resources: " + escape(", ".join(
                          f"{n} {t.rsplit(':', 1)[-1]}" for t, n in first.counts().items()
                          if not t.startswith("pulumi:"))))
    shown = [s.id for s in layout.students[:12]]
    more = len(layout.students) - len(shown)
    console.print("  roster: " + escape(", ".join(shown)) + (f" and {more} more" if more else ""))
    console.print(f"  isolation: group {escape(classroom.name)}-"
                  f"{escape(layout.classroom.student_group)}: students may start, stop, "
                  "reboot and connect to instances tagged envkit:student = their user name; "
                  "`--json` shows the whole policy")
    console.print(f"  lease: {layout.student_ttl} per student (shared stack "
                  f"{layout.shared_ttl})")
    if report is not None:
        render_policy(report, console, title="Policy")
    if estimate.note:
        console.print(f"[dim]note: {escape(estimate.note)}[/dim]")
    if estimate.class_hourly is None:
        console.print(f"[bold]Cost[/bold]: unknown: {escape(estimate.reason or '')}")
    else:
        dates = estimate.dates
        when = escape(f", fetched {dates[0]}" + (f" to {dates[-1]}" if len(dates) > 1 else "")
                      if dates else "")
        console.print(
            f"[bold]Cost[/bold] (USD, {escape(estimate.source)}{when}): per student "
            f"{_money(estimate.per_student.hourly)}/h, shared {_money(estimate.shared.hourly)}"
            f"/h, class of {estimate.students} {_money(estimate.class_hourly)}/h; the "
            f"lease ({estimate.lease_hours:g} h) ${estimate.lease:,.2f}")
    wall = ("unknown until a deployment is recorded (or give --stack-seconds)"
            if schedule["wall_s"] is None else
            f"about {schedule['wall_s']:.0f} s ({schedule['source']} {schedule['stack_seconds']}"
            " s per stack)")
    console.print(f"[bold]Deploy[/bold]: {schedule['students']} students at --parallel "
                  f"{schedule['parallel']}: the shared stack, then "
                  f"{plural(schedule['waves'], 'wave')}; wall time {wall}")
    if report is not None and report.mandatory:
        raise typer.Exit(4)


@class_app.command("up")
def class_up(spec: ClassSpecArg, target: TargetOpt = None, profile: ProfileOpt = None,
             backend: BackendOpt = None, as_json: JsonOpt = False, yes: YesOpt = False,
             parallel: ParallelOpt = None, students: StudentsOpt = None,
             prices: PricesOpt = None, config: ConfigOpt = None,
             no_policy: NoPolicyOpt = False,
             shared_only: Annotated[bool, typer.Option(
                 "--shared-only", help="Only the shared stack (the first step when several "
                                       "machines each take --students slices).")] = False
             ) -> None:
    """Create or update the class: the shared stack, then every student who changed, was
    added or failed, in parallel; students removed from the roster are destroyed (asks
    first unless --yes)."""
    from ..errors import UsageError

    if shared_only and students:
        raise UsageError("--shared-only and --students exclude each other")
    if not yes and (as_json or not is_interactive()):
        ask("", yes, as_json)  # refuses before any work: no question on a JSON stream
    from ..errors import PolicyViolationError
    from ..policy.gate import load_config

    say = (lambda m: None) if as_json else make_console(stderr=True).print
    classroom = _classroom(spec, target=target, profile=profile, backend=backend,
                           parallel=parallel, students=students)
    plan = classroom.plan()
    say(f"plan: {classroom.name}: {len(plan.students)} students, {plan.total()} resources "
        f"in {1 + len(plan.students)} stacks (offline; `envkit class plan` shows them)")
    if not no_policy:
        report = classroom.check(load_config(config) if config else None,
                                 classroom.prices(prices)[0])
        if report.mandatory:
            raise PolicyViolationError(report.refusal())
        say(f"policy: no mandatory violations ({len(report.advisory)} advisory)")
    ensure_engine(as_json)
    classroom.policy_packs = [] if no_policy else _packs(say)  # written only now
    classroom.preview_packs = False  # envkit's own pack: its offline gate ran above
    def confirm(summary: dict[str, Any]) -> bool:
        removing = summary["remove"]
        say(f"class {summary['class']} on {summary['target']}: shared stack "
            f"{summary['shared']}; {plural(len(summary['students']), 'student')} selected "
            f"(unchanged ones are skipped)" + (
                f"; [red]{len(removing)} removed from the roster will be destroyed: "
                f"{', '.join(removing[:20])}[/red]" if removing else ""))
        return ask("Proceed?", yes, as_json)

    result = _drive(f"class up: {classroom.name}", lambda emit: classroom.up(
        emit, confirm=confirm, check_policy=False, shared_only=shared_only), as_json)
    _finish(result, "up")


def _packs(say: Any) -> list[str]:
    return chosen_packs(None, False, say)


@class_app.command("down")
def class_down(spec: ClassSpecArg, target: TargetOpt = None, profile: ProfileOpt = None,
               backend: BackendOpt = None, as_json: JsonOpt = False, yes: YesOpt = False,
               parallel: ParallelOpt = None, students: StudentsOpt = None,
               remove: Annotated[bool, typer.Option(
                   "--remove", help="Also forget the stacks' state and history.")] = False,
               shared_only: Annotated[bool, typer.Option(
                   "--shared-only", help="Only the shared stack, once every student's stack "
                                         "is destroyed (the last step after --students "
                                         "slices).")] = False
               ) -> None:
    """Destroy the students' stacks (all, or --students), then the shared stack."""
    from ..errors import UsageError

    if shared_only and students:
        raise UsageError("--shared-only and --students exclude each other")
    if not yes and (as_json or not is_interactive()):
        ask("", yes, as_json)  # refuses before any work: no question on a JSON stream
    say = (lambda m: None) if as_json else make_console(stderr=True).print
    classroom = _classroom(spec, target=target, profile=profile, backend=backend,
                           parallel=parallel, students=students)
    ensure_engine(as_json)

    def confirm(summary: dict[str, Any]) -> bool:
        say(f"class {summary['class']} on {summary['target']}: destroy "
            f"{plural(len(summary['students']), 'student stack')}"
            + (" and then the shared stack" if summary["shared"] else ""))
        return ask("Destroy them?", yes, as_json)

    result = _drive(f"class down: {classroom.name}", lambda emit: classroom.down(
        emit, remove=remove, confirm=confirm, shared_only=shared_only), as_json)
    _finish(result, "down")


@class_app.command("status")
def class_status(spec: ClassSpecArg, backend: BackendOpt = None, as_json: DocJsonOpt = False,
                 students: StudentsOpt = None) -> None:
    """Every stack of the class: state, resources, expiry, last update, last error."""
    classroom = _classroom(spec, backend=backend, students=students)
    status = classroom.status()
    if as_json:
        typer.echo(json.dumps(status, indent=2, default=str))
        return
    from rich.markup import escape
    from rich.table import Table

    table = Table(show_edge=False, title=f"class {classroom.name}", title_justify="left")
    for col in ("student", "stack", "state", "resources", "expires", "updated", "error"):
        table.add_column(col, overflow="fold")
    for row in status["stacks"]:
        state = row["state"] + (" (update running)" if row["running"] else "")
        table.add_row(escape(row["student"] or "(shared)"), escape(row["stack"]), state,
                      str(row["resources"] if row["resources"] is not None else "-"),
                      str(row["expires"] or "-"), str(row["updated"] or "-")[:16],
                      escape((row["error"] or "").splitlines()[0][:100] if row["error"]
                             else ""))
    console = make_console()
    console.print(table)
    if status["note"]:
        console.print(f"[dim]{escape(status['note'])}[/dim]")


@class_app.command("extend")
def class_extend(
    args: Annotated[list[str], typer.Argument(
        help="LAB [STUDENT] DURATION: the class, optionally one student, and how much "
             "longer (8h, 2d, 1w).", show_default=False)],
    target: TargetOpt = None, profile: ProfileOpt = None, backend: BackendOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Move the lease of the class (or one student) DURATION later; tags follow."""
    from ..errors import UsageError
    from ..spec.models import parse_ttl

    if len(args) not in (2, 3):
        raise UsageError("usage: envkit class extend LAB [STUDENT] DURATION")
    lab, duration = args[0], args[-1]
    student = args[1] if len(args) == 3 else None
    try:
        parse_ttl(duration)
    except ValueError as exc:
        raise UsageError(f"DURATION: {exc}") from None
    classroom = _classroom(cli_types.spec_path(lab), target=target, profile=profile,
                           backend=backend)
    if student is not None:
        classroom.spec.classroom.student(student)  # unknown student: exit 2 before anything
    ensure_engine(as_json)
    result = _drive(f"class extend: {classroom.name}",
                    lambda emit: classroom.extend(duration, student, emit), as_json)
    _finish(result, "extend")


@class_app.command("handout")
def class_handout(spec: ClassSpecArg,
                  output: Annotated[Path | None, typer.Option(
                      "--output", "-o", parser=lambda text: Path(cli_types.folder(text)),
                      help="Folder (created 0700; default "
                                             "ENVKIT_HOME/handouts/LAB).")] = None,
                  target: TargetOpt = None, backend: BackendOpt = None,
                  students: StudentsOpt = None) -> None:
    """Write each student's sign-in details, key and commands to a private folder (never to
    the terminal): a console-format credentials CSV and one page per student."""
    from ..errors import OperationError

    classroom = _classroom(spec, target=target, backend=backend, students=students)
    ensure_engine(False)
    written = classroom.handouts(output)
    if not written.pages:
        raise OperationError(f"{classroom.name}: no student is deployed yet (envkit class up "
                             "first); nothing was written")
    keys = sum(len(k) for k in written.keys.values())
    typer.echo(f"wrote handouts for {plural(len(written.pages), 'student')} to {written.folder} "
               f"(mode 0700): {written.csv.name} (console credentials format, 0600) and a "
               f"folder per student with their page (0600) and "
               f"{plural(keys, 'private key')} (0400)")
    if written.missing:
        typer.echo(f"not deployed, no handout: {', '.join(written.missing)}")



# `class workflow` and `class cancel` live in their own module; importing it registers them.
from . import class_workflow as _class_workflow  # noqa: E402,F401
