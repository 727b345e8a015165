"""What every envkit command module shares: the Typer settings, the option types, the
console, how a spec or environment name becomes an Environment, the engine prerequisites and
the live view. Imports no command module (commands import this, never each other).
"""

from __future__ import annotations

import gc
import json
import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from .. import cli_types
from ..limits import clip

#: How every envkit (sub)command behaves: plain help text, no shell-completion options, no
#: pretty tracebacks (envkit reports errors itself), -h as well as --help.
SETTINGS: dict[str, Any] = {
    "no_args_is_help": True, "pretty_exceptions_enable": False, "add_completion": False,
    "rich_markup_mode": None, "context_settings": {"help_option_names": ["-h", "--help"]},
}

#: Process-wide CLI state: ``debug`` (tracebacks on errors) and the built command tree.
STATE: dict[str, Any] = {"debug": False}

SpecArg = Annotated[
    Path,
    typer.Argument(help="The environment spec (YAML).", show_default=True,
                   parser=cli_types.spec_path),
]

TargetOpt = Annotated[str | None, typer.Option(
    "--target", "-t", parser=cli_types.target,
    help="local (the embedded emulator) or aws. Default: aws when AWS "
    "credentials are found, else local; an existing environment keeps its target.")]
ProfileOpt = Annotated[str | None, typer.Option("--profile", parser=cli_types.profile,
                                               help="AWS profile (--target aws).")]
RegionOpt = Annotated[str | None, typer.Option("--region", parser=cli_types.region,
                                              help="Override the spec's region.")]
BackendOpt = Annotated[str | None, typer.Option(
    "--backend", parser=cli_types.backend,
    help="Pulumi backend URL (s3://..., file://...). Default: ENVKIT_HOME/state "
    "or PULUMI_BACKEND_URL.")]
EventsJsonOpt = Annotated[bool, typer.Option(
    "--json", help="Stream NDJSON events, then one result document (an error document when "
                   "it fails).")]
JsonOpt = Annotated[bool, typer.Option(
    "--json", help="Print one JSON document (an error document when it fails).")]
YesOpt = Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")]
PolicyPackOpt = Annotated[list[str] | None, typer.Option(
    "--policy-pack", parser=cli_types.policy_pack,
    help="A CrossGuard policy pack folder for preview/up (repeatable).")]
PolicyConfigOpt = Annotated[list[str] | None, typer.Option(
    "--policy-pack-config", parser=cli_types.policy_config,
    help="A policy pack config file (repeatable).")]
NoPolicyOpt = Annotated[bool, typer.Option(
    "--no-policy", help="Skip the offline policy gate and the engine's policy packs.")]


def chosen_packs(policy_pack: list[str] | None, no_policy: bool, say,
                 configs: list[str] | None = None) -> list[str]:
    """The policy packs for the engine: --policy-pack (each must exist), else envkit's own
    pack prepared for this interpreter (a warning when it cannot be); none with --no-policy.

    ``configs`` (--policy-pack-config) are checked as the CLI checks them before the engine
    starts (pkg/cmd/pulumi/operations/up.go:1014-1028): one per pack, in order."""
    from rich.markup import escape

    from ..errors import UsageError
    from ..policy.pack import engine_packs

    packs = engine_packs(policy_pack, not no_policy,
                         warn=lambda m: say(f"[yellow]{escape(m)}[/yellow]"))
    if configs and not packs:
        raise UsageError('"--policy-pack-config" must be specified with "--policy-pack" '
                         "(with --no-policy no pack runs: drop the config too)")
    if configs and len(configs) != len(packs):
        raise UsageError('the number of "--policy-pack-config" flags must match the number '
                         'of "--policy-pack" flags')
    return packs


def offline_gate(spec: Path, offline, configs: list[str] | None, say) -> None:
    """The offline policy gate before `up`: mandatory violations stop it here."""
    from ..errors import PolicyViolationError
    from ..policy.gate import check_spec, load_config

    config = load_config(configs[0]) if configs else {}
    report = check_spec(spec_source(spec), config, plan=offline)
    if report.mandatory:
        raise PolicyViolationError(report.refusal())
    say(f"policy: no mandatory violations ({len(report.advisory)} advisory; "
        "`envkit policy check` lists them)")


#: Columns for output written to a pipe or a file (no terminal to fit): wide enough that
#: nothing a user copies (a URL, a rule id, an ARN) is broken across lines.
PIPE_WIDTH = 1000


def make_console(stderr: bool = False, file: Any = None):
    """A rich console for stdout (or stderr, or ``file``). At a terminal it fits the
    terminal; into a pipe or a file it does not wrap at 80 columns (COLUMNS still wins)."""
    from rich.console import Console

    stream = file or (sys.stderr if stderr else sys.stdout)
    tty = hasattr(stream, "isatty") and stream.isatty()
    width = None if tty or os.environ.get("COLUMNS", "").isdigit() else PIPE_WIDTH
    return Console(file=file, stderr=stderr, highlight=False, width=width, soft_wrap=not tty)


def _recorded_classes() -> list[str]:
    """The names of the classes deployed from this machine (their records' names)."""
    from .. import home

    folder = home.location() / "classes"
    return sorted(p.stem for p in folder.glob("*.json")) if folder.is_dir() else []


#: What a class name may look like before it becomes a record's file name.
_CLASS_NAME = r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}"


def spec_source(spec: Path, kind: str = "environment") -> Path:
    """A spec file, or the spec recorded for an environment (``kind="environment"``) or a
    class (``kind="class"``) of that name. A name that is neither a file nor known is bad
    input, and the message says what it is and what exists."""
    import re

    from ..errors import UsageError

    if spec.exists() or spec.suffix in (".yaml", ".yml") or len(spec.parts) != 1:
        return spec
    from .. import home

    name = str(spec)
    environments = {n: r.get("spec") for n, r in home.read_registry().items()}
    classes = _recorded_classes()
    shown = f"'{clip(name)}'"
    if kind == "class" and name in classes and re.fullmatch(_CLASS_NAME, name):
        from ..classroom.records import recorded_spec

        recorded = recorded_spec(name)  # a damaged record is exit 2, naming it
        if recorded:
            return Path(recorded)
        raise UsageError(f"the class {shown} has no spec recorded on this machine: give the "
                         "spec file instead")
    if kind == "environment" and name in environments:
        if environments[name]:
            return Path(environments[name])
        raise UsageError(f"the environment {shown} has no spec recorded on this machine: "
                         "give the spec file instead")
    if kind == "environment" and name in classes:
        raise UsageError(f"{shown} is a class, not an environment: use `envkit class ...` "
                         "with it")
    if kind == "class" and name in environments:
        raise UsageError(f"{shown} is an environment, not a class: use `envkit ...` with it")
    known = [*(f"{n} (environment)" for n in sorted(environments)),
             *(f"{n} (class)" for n in classes)]
    raise UsageError(f"no environment or class named {shown}, and no such file; known: "
                     f"{', '.join(known[:20]) or 'none yet (envkit up SPEC creates one)'}")


def require_deployed(spec: Path, backend: str | None) -> None:
    """Before any engine check: an environment never deployed from here (and no other
    backend named) has no stack to act on; say so, as `status` does (exit 1)."""
    from ..errors import OperationError
    from ..spec import load_spec
    from ..states import current_state

    if backend or os.environ.get("PULUMI_BACKEND_URL"):
        return  # the stack may live there without a record on this machine
    state = current_state(load_spec(spec_source(spec)).name, str(spec))
    if state.kind == "never-deployed":
        raise OperationError(state.line())


def long_running() -> None:
    """Collect garbage again from here on, ignoring what start-up left (it lives on)."""
    if not gc.isenabled():
        gc.freeze()
        gc.enable()


def environment_for(spec: Path, target: str | None, profile: str | None, region: str | None,
                 backend: str | None, policy_packs: list[str] | None = None,
                 policy_configs: list[str] | None = None, say=None,
                 start_emulator: bool = True, live: bool = True,
                 preview_packs: bool | None = None, run_program: bool | None = None):
    """The Environment a command works on. Commands that only read pass
    ``start_emulator=False``; those that read the stack's state, not live resources, also
    pass ``live=False`` and work while the emulator is stopped."""
    long_running()
    from .. import home
    from ..engine import Environment
    from ..spec import load_spec
    from ..targets import resolve_target

    path = spec_source(spec)
    loaded = load_spec(path)
    if region and region != loaded.region:
        data = loaded.model_dump(mode="json", by_alias=True, exclude_none=True)
        loaded = load_spec({**data, "region": region})
    recorded = home.read_registry().get(loaded.name, {})
    resolved = resolve_target(target or recorded.get("target"), loaded.region, profile,
                              start_emulator=start_emulator)
    if resolved.kind == "local" and resolved.endpoint is None and live:
        from ..errors import OperationError

        raise OperationError("the local emulator is not running, so nothing deployed to it "
                             "exists any more: `envkit local start` or `envkit up`")
    env = Environment(loaded, target=resolved, profile=profile,
                      backend=backend, policy_packs=policy_packs,
                      policy_pack_configs=policy_configs, spec_path=str(path.resolve()),
                      preview_packs=preview_packs, run_program=run_program)
    from ..engine_settings import backend_conflict

    conflict = backend_conflict(backend)
    if conflict:
        typer.echo(conflict, err=True)
    chosen = env.target
    if say is not None:
        say(f"target: {chosen.kind} ({chosen.reason})"
            + (f", emulator at {chosen.endpoint}" if chosen.endpoint else ""))
    restarted = (chosen.kind == "local" and recorded.get("emulator") and chosen.emulator_id
                 and recorded.get("emulator") != chosen.emulator_id and recorded.get("resources"))
    if restarted and say is not None:
        say("[yellow]the local emulator was restarted since this environment was deployed: "
            "the resources its state records are gone. `envkit up --refresh` recreates "
            "them.[/yellow]")
    return env


def ensure_cli(interactive: bool, say, yes: bool = False) -> None:
    """Check for the Pulumi CLI before anything starts. When none is found, install it
    (pinned, checksum-verified, into ENVKIT_HOME/pulumi): after asking at a terminal, at
    once with ``yes`` (`envkit up --yes` does the whole set-up); offline that is exit 3."""
    from .. import home
    from ..engine import MISSING_CLI, find_pulumi, install_pulumi
    from ..errors import PrerequisiteError
    from ..render import inert

    if find_pulumi() is not None:
        return
    if yes:
        typer.echo("The Pulumi CLI is not installed; installing it into "
                   f"{home.home() / 'pulumi'} (--yes).", err=True)
        typer.echo(f"installed {inert(install_pulumi())}", err=True)
        return
    if interactive and sys.stdin.isatty():
        say("The Pulumi CLI is not installed; envkit needs it to deploy.")
        if typer.confirm("Install it now into ENVKIT_HOME/pulumi?", default=True):
            say(f"installed {inert(install_pulumi())}")
            return
    raise PrerequisiteError(MISSING_CLI.format(home=home.home()))


def run_operation(env, operation: str, call, total: int, as_json: bool):
    """Run an engine operation with a live view (or NDJSON events)."""
    if as_json:
        def emit(event) -> None:
            typer.echo(json.dumps(event.to_dict()))
        result = call(emit)
        typer.echo(json.dumps(result.to_dict()))
        return result
    from rich.live import Live

    from ..progress import LiveProgress

    console = make_console()
    view = LiveProgress(console, total, f"{operation}: {env.name} ({env.target.kind})")
    with Live(view, console=console, refresh_per_second=4):
        result = call(view)
    changes = ", ".join(f"{n} {k}" for k, n in result.changes.items() if k != "same") or \
        "no changes"
    console.print(f"[bold]{operation} done[/bold]: {changes}")
    return result


def print_outputs(outputs: dict[str, Any], console) -> None:
    from rich.table import Table

    from ..render import _flatten, _show, inert

    table = Table(title="Outputs", show_edge=False, title_justify="left")
    table.add_column("output")
    table.add_column("value", overflow="fold")
    for key, value in outputs.items():
        for name, leaf in _flatten(value, key):
            table.add_row(inert(name), _show(leaf))
    console.print(table)


# --- commands --------------------------------------------------------------------------------


def is_interactive() -> bool:
    """Whether a person can answer a question here, by Pulumi's rule (see envkit.ci)."""
    from ..ci import interactive

    return interactive()


def confirm(question: str, operation: str = "update") -> None:
    """Ask at the terminal (on stderr, so stdout keeps only results). No (or end of input)
    is a bail: "confirmation declined, not proceeding with the update", exit 1, as
    ``pulumi up`` (pkg/backend/apply.go:231-233); Ctrl-C is a cancel, exit 130, its
    message on a line of its own."""
    from ..errors import CancelledError, DeclinedError
    from ..interrupts import cancel_requested

    try:
        answer = typer.confirm(question, default=False, err=True)
    except typer.Abort:
        if cancel_requested():
            typer.echo("", err=True)
            raise CancelledError(f"confirmation cancelled, not proceeding with the "
                                 f"{operation}") from None
        answer = False
    if not answer:
        raise DeclinedError(f"confirmation declined, not proceeding with the {operation}")



def recorded_environment(name: str) -> dict[str, Any]:
    """What envkit recorded about an environment (empty when it never ran)."""
    from .. import home

    return home.read_registry().get(name, {})



def ensure_engine(as_json: bool) -> None:
    """Engine work starts: collect garbage again, and the Pulumi CLI must be there."""
    long_running()
    ensure_cli(not as_json, make_console(stderr=True).print)


def ask(question: str, yes: bool, as_json: bool = False) -> bool:
    """True when confirmed: --yes, or an answer at a terminal (asked on stderr); no
    terminal, or --json (stdout is the JSON stream), is a refusal; No is a bail (exit 1)."""
    from ..errors import UsageError

    if yes:
        return True
    if as_json or not is_interactive():
        raise UsageError("refusing to change the class without a terminal to confirm: "
                         "pass --yes" + (" (--json never asks)" if as_json else ""))
    confirm(question)
    return True
