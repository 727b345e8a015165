"""The ``envkit`` command line: parse, call the API, render. Nothing else lives here.

Exit codes: 0 ok, 1 operation failed, 2 bad input, 3 missing prerequisite, 4 policy
violation. Errors print one clear message and no traceback unless ``--debug``. Heavy
imports (pulumi, pulumi_aws, boto3, moto) happen inside commands so ``--help`` stays fast.
"""

from __future__ import annotations

import gc
import json
import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
import typer.core

from . import cli_types
from .errors import EXIT_BAD_INPUT, EXIT_FAILED, EnvkitError
from .limits import clip, plural, printable

#: How every envkit (sub)command behaves: plain help text, no shell-completion options, no
#: pretty tracebacks (envkit reports errors itself), -h as well as --help.
SETTINGS: dict[str, Any] = {
    "no_args_is_help": True, "pretty_exceptions_enable": False, "add_completion": False,
    "rich_markup_mode": None, "context_settings": {"help_option_names": ["-h", "--help"]},
}

app = typer.Typer(
    name="envkit",
    help="Declarative AWS lab environments: plan offline, deploy with Pulumi, tear down.",
    **SETTINGS,
)

_STATE: dict[str, Any] = {"debug": False}

SpecArg = Annotated[
    Path,
    typer.Argument(help="The environment spec (YAML).", show_default=True,
                   parser=cli_types.spec_path),
]


def _show_version(value: bool) -> None:
    if value:
        from . import __version__

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
    _STATE["debug"] = _STATE["debug"] or debug
    cli_types.check_environment()


@app.command()
def plan(
    spec: SpecArg = Path("envkit.yaml"),
    as_json: Annotated[bool, typer.Option("--json", help="Print the plan as JSON.")] = False,
    no_policy: Annotated[bool, typer.Option("--no-policy", help="Skip the policy check.")
                         ] = False,
    show_user_data: Annotated[bool, typer.Option(
        "--show-user-data", help="Print each instance's user data (else its size and "
                                 "SHA-256).")] = False,
) -> None:
    """Show what the spec would create, offline: no Pulumi CLI, credentials or network.
    The policy pack's verdict follows the plan."""
    from .planner import plan as make_plan
    from .policy.gate import check_spec

    result = make_plan(spec)
    report = None if no_policy else check_spec(spec, plan=result)
    if as_json:
        doc = result.to_dict()
        if report is not None:
            doc["policy"] = report.to_dict()
        typer.echo(json.dumps(doc, indent=2, sort_keys=False))
        return
    from .render import render_plan, render_policy

    render_plan(result, _console(), show_user_data=show_user_data)
    if report is not None:
        render_policy(report, _console(), title="Policy")


@app.command()
def validate(spec: SpecArg = Path("envkit.yaml")) -> None:
    """Check a spec and report every problem with its line; exit 2 if there is one."""
    from .spec import load_spec

    loaded = load_spec(spec)
    typer.echo(f"{printable(str(spec))}: ok ({loaded.name}, {loaded.region}: "
               f"{len(loaded.iam.users)} users, {len(loaded.ec2.instances)} instances)")



# --- shared helpers --------------------------------------------------------------------------

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


def _packs(policy_pack: list[str] | None, no_policy: bool, say) -> list[str]:
    """The policy packs for the engine: --policy-pack (each must exist), else envkit's own
    pack prepared for this interpreter (a warning when it cannot be)."""
    from rich.markup import escape

    from .policy.pack import engine_packs

    return engine_packs(policy_pack, not no_policy,
                        warn=lambda m: say(f"[yellow]{escape(m)}[/yellow]"))


def _gate(spec: Path, offline, configs: list[str] | None, say) -> None:
    """The offline policy gate before `up`: mandatory violations stop it here."""
    from .errors import PolicyViolationError
    from .policy.gate import check_spec, load_config

    config = load_config(configs[0]) if configs else {}
    report = check_spec(_spec_source(spec), config, plan=offline)
    if report.mandatory:
        raise PolicyViolationError(report.refusal())
    say(f"policy: no mandatory violations ({len(report.advisory)} advisory; "
        "`envkit policy check` lists them)")


#: Columns for output written to a pipe or a file (no terminal to fit): wide enough that
#: nothing a user copies (a URL, a rule id, an ARN) is broken across lines.
PIPE_WIDTH = 1000


def _console(stderr: bool = False, file: Any = None):
    """A rich console for stdout (or stderr, or ``file``). At a terminal it fits the
    terminal; into a pipe or a file it does not wrap at 80 columns (COLUMNS still wins)."""
    from rich.console import Console

    stream = file or (sys.stderr if stderr else sys.stdout)
    tty = hasattr(stream, "isatty") and stream.isatty()
    width = None if tty or os.environ.get("COLUMNS", "").isdigit() else PIPE_WIDTH
    return Console(file=file, stderr=stderr, highlight=False, width=width, soft_wrap=not tty)


def _spec_source(spec: Path) -> Path:
    """A spec path, or the spec recorded for an environment of that name."""
    if spec.exists() or spec.suffix in (".yaml", ".yml"):
        return spec
    from . import home

    recorded = home.read_registry().get(str(spec), {}).get("spec")
    return Path(recorded) if recorded else spec


def _long_running() -> None:
    """Collect garbage again from here on, ignoring what start-up left (it lives on)."""
    if not gc.isenabled():
        gc.freeze()
        gc.enable()


def _environment(spec: Path, target: str | None, profile: str | None, region: str | None,
                 backend: str | None, policy_packs: list[str] | None = None,
                 policy_configs: list[str] | None = None, say=None,
                 start_emulator: bool = True, live: bool = True):
    """The Environment a command works on. Commands that only read pass
    ``start_emulator=False``; those that read the stack's state, not live resources, also
    pass ``live=False`` and work while the emulator is stopped."""
    _long_running()
    from . import home
    from .engine import Environment
    from .spec import load_spec
    from .targets import resolve_target

    path = _spec_source(spec)
    loaded = load_spec(path)
    if region and region != loaded.region:
        data = loaded.model_dump(mode="json", by_alias=True, exclude_none=True)
        loaded = load_spec({**data, "region": region})
    recorded = home.read_registry().get(loaded.name, {})
    resolved = resolve_target(target or recorded.get("target"), loaded.region, profile,
                              start_emulator=start_emulator)
    if resolved.kind == "local" and resolved.endpoint is None and live:
        from .errors import OperationError

        raise OperationError("the local emulator is not running, so nothing deployed to it "
                             "exists any more: `envkit local start` or `envkit up`")
    env = Environment(loaded, target=resolved, profile=profile,
                      backend=backend, policy_packs=policy_packs,
                      policy_pack_configs=policy_configs, spec_path=str(path.resolve()))
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


def _ensure_cli(interactive: bool, say) -> None:
    """Check for the Pulumi CLI before anything starts; offer to install it when missing."""
    from . import home
    from .engine import MISSING_CLI, find_pulumi, install_pulumi
    from .errors import PrerequisiteError

    if find_pulumi() is not None:
        return
    if interactive and sys.stdin.isatty():
        say("The Pulumi CLI is not installed; envkit needs it to deploy.")
        if typer.confirm("Install it now into ENVKIT_HOME/pulumi?", default=True):
            from .render import inert

            say(f"installed {inert(install_pulumi())}")
            return
    raise PrerequisiteError(MISSING_CLI.format(home=home.home()))


def _run_operation(env, operation: str, call, total: int, as_json: bool):
    """Run an engine operation with a live view (or NDJSON events)."""
    if as_json:
        def emit(event) -> None:
            typer.echo(json.dumps(event.to_dict()))
        result = call(emit)
        typer.echo(json.dumps(result.to_dict()))
        return result
    from rich.live import Live

    from .progress import LiveProgress

    console = _console()
    view = LiveProgress(console, total, f"{operation}: {env.name} ({env.target.kind})")
    with Live(view, console=console, refresh_per_second=4):
        result = call(view)
    changes = ", ".join(f"{n} {k}" for k, n in result.changes.items() if k != "same") or \
        "no changes"
    console.print(f"[bold]{operation} done[/bold]: {changes}")
    return result


def _print_outputs(outputs: dict[str, Any], console) -> None:
    from rich.table import Table

    from .render import _flatten, _show, inert

    table = Table(title="Outputs", show_edge=False, title_justify="left")
    table.add_column("output")
    table.add_column("value", overflow="fold")
    for key, value in outputs.items():
        for name, leaf in _flatten(value, key):
            table.add_row(inert(name), _show(leaf))
    console.print(table)


# --- commands --------------------------------------------------------------------------------


@app.command()
def init(
    template: Annotated[str, typer.Argument(
        help="A shipped lab: aws-basics, classroom, ec2-default-vpc or iam-basics.",
        parser=cli_types.template_name)] = "aws-basics",
    output: Annotated[Path, typer.Option("--output", "-o", help="The spec file to write.",
                                         parser=cli_types.output_file)] = Path("envkit.yaml"),
    force: Annotated[bool, typer.Option("--force", help="Overwrite existing files.")] = False,
    notebooks: Annotated[bool, typer.Option(
        "--notebooks", help="Also copy the lab notebooks into notebooks/ beside the spec.")
    ] = False,
) -> None:
    """Write a starter envkit.yaml from a shipped lab."""
    from . import shipped
    from .errors import UsageError

    labs = shipped.labs()
    if template not in labs:
        from .spec.models import did_you_mean

        raise UsageError(f"unknown lab '{template}'{did_you_mean(template, list(labs))}; "
                         f"shipped labs: {', '.join(labs) or 'none found'}")
    copies = {output: labs[template]}
    if notebooks:
        folder = output.parent / "notebooks"
        copies.update({folder / name: nb for name, nb in shipped.notebooks().items()})
    existing = [str(p) for p in copies if p.exists()]
    if existing and not force:
        raise UsageError(f"{', '.join(existing)} exist{'s' if len(existing) == 1 else ''}; "
                         "pass --force to overwrite")
    for path, source in copies.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(source.read_bytes())
    shown = printable(str(output))
    typer.echo(f"wrote {shown} from {template}; next: envkit plan {shown}")
    if notebooks:
        typer.echo(f"wrote {len(copies) - 1} notebooks to {output.parent / 'notebooks'}; "
                   "open them with the envkit kernel (envkit kernel install)")


@app.command()
def preview(spec: SpecArg = Path("envkit.yaml"), target: TargetOpt = None,
            profile: ProfileOpt = None, region: RegionOpt = None, backend: BackendOpt = None,
            as_json: EventsJsonOpt = False, policy_pack: PolicyPackOpt = None,
            policy_pack_config: PolicyConfigOpt = None, no_policy: NoPolicyOpt = False) -> None:
    """Ask the engine what `up` would change (the policy packs run in the engine)."""
    say = (lambda m: None) if as_json else _console(stderr=True).print
    _ensure_cli(not as_json, say)
    env = _environment(spec, target, profile, region, backend,
                       _packs(policy_pack, no_policy, _console(stderr=True).print),
                       policy_pack_config, say)
    _run_operation(env, "preview", lambda cb: env.preview(cb), 0, as_json)


def _interactive() -> bool:
    """Whether a person can answer a question here, by Pulumi's rule (sdk/go/common/util/
    cmdutil/console.go ``Interactive``): stdin and stdout are terminals, TERM is not
    ``dumb``, and no CI system is running us."""
    if os.environ.get("TERM", "").lower() == "dumb" or os.environ.get("CI", "").lower() in (
            "1", "true", "yes"):
        return False
    return sys.stdin.isatty() and sys.stdout.isatty()


@app.command()
def up(spec: SpecArg = Path("envkit.yaml"), target: TargetOpt = None,
       profile: ProfileOpt = None, region: RegionOpt = None, backend: BackendOpt = None,
       as_json: Annotated[bool, typer.Option(
           "--json", help="Stream NDJSON events, then one result (or error) document; needs "
           "--yes.")] = False,
       yes: Annotated[bool, typer.Option(
           "--yes", "-y", help="Do not ask for confirmation (required without a terminal, "
           "as `pulumi up --yes`).")] = False,
       refresh: Annotated[bool, typer.Option(
           "--refresh", help="Refresh state first (recovers after an emulator restart).")] = False,
       policy_pack: PolicyPackOpt = None, policy_pack_config: PolicyConfigOpt = None,
       no_policy: NoPolicyOpt = False) -> None:
    """Create or update the environment, as `pulumi up`: the plan and the policy verdict
    first, then a question (--yes skips it). A mandatory violation stops it before the
    engine starts."""
    from .errors import UsageError
    from .planner import plan as make_plan

    interactive = not as_json and _interactive()
    if not yes and not interactive:
        raise UsageError("refusing to update without a terminal to confirm: pass --yes "
                         "(as `pulumi up --yes`)")
    console = _console(stderr=as_json)
    say = (lambda m: None) if as_json else console.print
    offline = make_plan(_spec_source(spec))
    total = sum(offline.counts().values())
    if interactive:
        from .render import render_plan

        render_plan(offline, console)
    else:
        say(f"plan: {offline.environment} ({offline.region}) has {total} resources "
            "(offline plan; `envkit plan` shows them)")
    if not no_policy:
        _gate(spec, offline, policy_pack_config, say)
    _ensure_cli(interactive, say)
    if interactive and not yes:
        from .targets import resolve_target

        chosen = resolve_target(target or _recorded(offline.environment).get("target"),
                                region or offline.region, profile, start_emulator=False)
        typer.confirm(f"Create or update '{offline.environment}' ({total} resources) on "
                      f"{chosen.kind}?", default=False, abort=True)
    env = _environment(spec, target, profile, region, backend,
                       _packs(policy_pack, no_policy, _console(stderr=True).print),
                       policy_pack_config, say)
    result = _run_operation(env, "up", lambda cb: env.up(cb, refresh=refresh), total, as_json)
    if not as_json:
        _print_outputs(result.outputs, console)
        from . import home

        folder = home.keys_dir(env.name)
        keys = sorted(p.name for p in folder.glob("*.pem"))
        if keys:
            from .render import inert

            say(f"private keys (mode 0400) in {inert(folder)}: {inert(', '.join(keys))}")


def _recorded(name: str) -> dict[str, Any]:
    """What envkit recorded about an environment (empty when it never ran)."""
    from . import home

    return home.read_registry().get(name, {})


@app.command()
def down(spec: SpecArg = Path("envkit.yaml"), target: TargetOpt = None,
         profile: ProfileOpt = None, region: RegionOpt = None, backend: BackendOpt = None,
         as_json: EventsJsonOpt = False, yes: YesOpt = False,
         remove: Annotated[bool, typer.Option(
             "--remove", help="Also forget the stack's state and history.")] = False) -> None:
    """Destroy every resource of the environment (asks first unless --yes)."""
    from .errors import UsageError

    if not yes and (as_json or not _interactive()):
        raise UsageError("refusing to destroy without a terminal to confirm: pass --yes")
    say = (lambda m: None) if as_json else _console(stderr=True).print
    _ensure_cli(not as_json, say)
    env = _environment(spec, target, profile, region, backend, say=say)
    if not yes:
        typer.confirm(f"Destroy every resource of '{env.name}' on {env.target.kind}?",
                      abort=True)
    _run_operation(env, "destroy", lambda cb: env.destroy(cb), 0, as_json)
    if remove:
        env.remove()
        say(f"removed the stack '{env.name}' and its history")


@app.command()
def refresh(spec: SpecArg = Path("envkit.yaml"), target: TargetOpt = None,
            profile: ProfileOpt = None, region: RegionOpt = None, backend: BackendOpt = None,
            as_json: EventsJsonOpt = False) -> None:
    """Bring the stack's state in line with what really exists."""
    say = (lambda m: None) if as_json else _console(stderr=True).print
    _ensure_cli(not as_json, say)
    env = _environment(spec, target, profile, region, backend, say=say)
    _run_operation(env, "refresh", lambda cb: env.refresh(cb), 0, as_json)


@app.command()
def status(spec: SpecArg = Path("envkit.yaml"), target: TargetOpt = None,
           profile: ProfileOpt = None, region: RegionOpt = None,
           as_json: JsonOpt = False,
           check_web: Annotated[bool, typer.Option(
               "--check-web", help="GET each web server's URL.")] = False) -> None:
    """The environment's record plus a live inspection of what exists on the target."""
    from . import home
    from .inspect import inspect_environment
    from .render import render_inspection
    from .spec import load_spec
    from .states import current_state

    loaded = load_spec(_spec_source(spec))
    record = home.read_registry().get(loaded.name, {})
    state = current_state(loaded.name, str(spec))
    if not state.deployed and not target:  # nothing there to inspect: say what is true
        if as_json:
            typer.echo(json.dumps({"environment": loaded.name, "state": state.to_dict(),
                                   "record": record, "inspection": None}, default=str))
        else:
            typer.echo(printable(state.line()))
        return
    env = _environment(spec, target, profile, region, None, start_emulator=False)
    web_urls: dict[str, str] = {}
    if check_web:
        try:
            web_urls = {n: i["web_url"] for n, i in (env.outputs().get("instances") or {})
                        .items() if i.get("web_url")}
        except EnvkitError:
            web_urls = {}
    try:
        seen = inspect_environment(loaded.name, env.target, check_web, web_urls)
    except Exception as exc:  # noqa: BLE001 - botocore's connection errors, one line
        from .errors import OperationError

        raise OperationError(f"cannot reach the {env.target.kind} target: "
                             f"{clip(str(exc), 300)}") from None
    if as_json:
        typer.echo(json.dumps({"environment": loaded.name, "state": state.to_dict(),
                               "record": record, "inspection": seen.to_dict()}, default=str))
        return
    render_inspection(loaded.name, record, seen, _console())


@app.command()
def outputs(spec: SpecArg = Path("envkit.yaml"), target: TargetOpt = None,
            profile: ProfileOpt = None, backend: BackendOpt = None, as_json: JsonOpt = False,
            show_secrets: Annotated[bool, typer.Option(
                "--show-secrets", help="Print passwords and private keys in clear.")] = False
            ) -> None:
    """The stack outputs: sign-in URL, users, instances, SSH commands, web URLs."""
    from .errors import OperationError
    from .spec import load_spec
    from .states import current_state

    name = load_spec(_spec_source(spec)).name
    state = current_state(name, str(spec))
    if state.kind in ("never-deployed", "destroyed") and not backend:
        raise OperationError(state.line())
    _ensure_cli(False, print)
    env = _environment(spec, target, profile, None, backend, start_emulator=False, live=False)
    values = env.outputs(show_secrets=show_secrets)
    if not state.deployed and state.kind != "never-deployed":
        # The outputs come from the stack's state; say when the resources they name are gone.
        typer.echo(f"note: {printable(state.line())}", err=True)
    if as_json:
        typer.echo(json.dumps(values, indent=2))
    else:
        _print_outputs(values, _console())


@app.command(name="ls")
def list_environments(as_json: Annotated[bool, typer.Option(
        "--json", help="Print one JSON document: each environment's record and state.")
        ] = False) -> None:
    """Every environment envkit knows: target, resources, last update, expiry, state."""
    from rich.table import Table

    from . import home, local
    from .states import state_of

    registry = home.read_registry()
    emulator_id = local.status().instance_id if any(
        r.get("target") == "local" for r in registry.values()) else None
    states = {name: state_of(name, r, emulator_id) for name, r in registry.items()}
    if as_json:
        typer.echo(json.dumps({name: {**r, "state": states[name].to_dict()}
                               for name, r in registry.items()}, indent=2))
        return
    if not registry:
        typer.echo("no environments yet: envkit up SPEC creates one")
        return
    from .render import inert

    table = Table(show_edge=False)
    for col in ("environment", "target", "region", "resources", "last update", "expires",
                "state"):
        table.add_column(col)
    for name, r in sorted(registry.items()):
        table.add_row(*(inert(v) for v in (
            name, r.get("target", ""), r.get("region", ""), r.get("resources", ""),
            r.get("last_update", ""), r.get("expires") or "-", states[name].kind)))
    _console().print(table)
    for name in sorted(registry):
        if not states[name].deployed:
            _console().print(inert(states[name].line()))


@app.command()
def history(spec: SpecArg = Path("envkit.yaml"), target: TargetOpt = None,
            backend: BackendOpt = None, as_json: JsonOpt = False,
            limit: Annotated[int, typer.Option(
                "--limit", "-n", min=1, max=1000,
                help="How many operations to show, newest first.")] = 10) -> None:
    """The last operations on the environment's stack."""
    _ensure_cli(False, print)
    env = _environment(spec, target, None, None, backend, start_emulator=False, live=False)
    entries = env.history(limit)
    if as_json:
        typer.echo(json.dumps(entries, indent=2))
        return
    for e in entries:
        typer.echo(printable(f"#{e['version']} {e['kind']:<8} {e['result']:<10} {e['start']} "
                             f"{e['changes']}"))


@app.command()
def cancel(spec: SpecArg = Path("envkit.yaml"), target: TargetOpt = None,
           backend: BackendOpt = None,
           force: Annotated[bool, typer.Option(
               "--force", help="Release the lock even though the update holding it is still "
               "running on this machine.")] = False) -> None:
    """Release the stack's update lock after an update was killed. On a file (DIY) backend
    this only removes the lock; it stops nothing."""
    _ensure_cli(False, print)
    env = _environment(spec, target, None, None, backend)
    typer.echo(env.cancel(force=force))


@app.command()
def ssh(instance: Annotated[str, typer.Argument(help="Instance name from the spec.")],
        spec: SpecArg = Path("envkit.yaml"), target: TargetOpt = None,
        run: Annotated[bool, typer.Option("--run", help="Run ssh instead of printing it.")
                       ] = False) -> None:
    """Print (or run) the SSH command for an instance, with its stored key."""
    import shlex

    from .errors import OperationError, UsageError
    from .ssh import ssh_argv

    env = _environment(spec, target, None, None, None, start_emulator=False, live=False)
    if instance not in env.spec.ec2.instances:
        known = ", ".join(env.spec.ec2.instances) or "none"
        raise UsageError(f"unknown instance '{clip(instance)}'; known instances: {known}")
    _ensure_cli(False, print)
    outputs = (env.outputs().get("instances") or {}).get(instance) or {}
    from . import home

    argv = ssh_argv(env.spec, instance, outputs, str(home.keys_dir(env.name)))
    if argv is None:
        raise OperationError(f"{env.name}: '{instance}' has no address recorded; "
                             "is the environment deployed (envkit up)?")
    if not run:
        typer.echo(printable(shlex.join(argv)))
        return
    os.execvp(argv[0], argv)


@app.command(name="install-pulumi")
def install_pulumi_command() -> None:
    """Install the Pulumi CLI matching the SDK into ENVKIT_HOME/pulumi (needs internet)."""
    from .engine import install_pulumi

    typer.echo(f"installed the Pulumi CLI: {install_pulumi()}")


@app.command()
def doctor(as_json: JsonOpt = False) -> None:
    """Check everything envkit needs, each with pass/fail and the fix."""
    from .doctor import run_checks
    from .errors import EXIT_PREREQUISITE

    checks = run_checks()
    if as_json:
        typer.echo(json.dumps([c.to_dict() for c in checks], indent=2))
    else:
        from .render import inert

        console = _console()
        for c in checks:
            mark = {"pass": "[green]pass[/green]", "fail": "[red]FAIL[/red]",
                    "info": "[blue]info[/blue]"}[c.status]
            console.print(f"{mark}  {inert(c.name)}: {inert(c.detail)}")
            if c.status == "fail" and c.fix:
                console.print(f"      fix: {inert(c.fix)}")
    if any(c.status == "fail" for c in checks):
        raise typer.Exit(EXIT_PREREQUISITE)


policy_app = typer.Typer(help="The least-privilege policy pack, offline.", no_args_is_help=True)
app.add_typer(policy_app, name="policy")


@policy_app.command("check")
def policy_check(
    target: Annotated[Path, typer.Argument(help="An envkit spec, or a Pulumi Python project "
                                                "directory.", parser=cli_types.spec_path)
                      ] = Path("envkit.yaml"),
    policy_config: Annotated[Path | None, typer.Option(
        "--policy-config", "--policy-pack-config", parser=cli_types.input_file,
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
    fmt: Annotated[str, typer.Option("--format", help="text, json or sarif.")] = "text",
    level: Annotated[str, typer.Option(
        "--level", help="Report advisory and up (default) or mandatory only.")] = "advisory",
    output: Annotated[Path | None, typer.Option("--output", "-o", parser=cli_types.output_file,
                                                help="Write to a file.")] = None,
) -> None:
    """Evaluate the policy pack offline; exit 4 on any mandatory violation.

    A Pulumi project's program is run (in a child process, under Pulumi's mocks, without
    AWS credentials): it is your code, so check only projects you would run. A program
    that does not finish normally (an exception, sys.exit, a signal, the timeout) is
    exit 2, never a pass."""
    from .errors import EXIT_POLICY, UsageError
    from .policy.gate import check, load_config

    if fmt not in ("text", "json", "sarif"):
        raise UsageError(f"unknown format '{fmt}': use text, json or sarif")
    if level not in ("advisory", "mandatory"):
        raise UsageError(f"unknown level '{level}': use advisory or mandatory")
    report = check(target, load_config(policy_config), stack=stack, config=config or [],
                   timeout=timeout, debug=_STATE["debug"])
    if fmt == "text":
        from .render import render_policy

        if output:
            with output.open("w") as fh:
                render_policy(report, _console(file=fh), minimum=level)
        else:
            render_policy(report, _console(), minimum=level)
    else:
        if fmt == "json":
            doc = report.to_dict(level)
        else:
            from .policy.sarif import to_sarif

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
    if report.mandatory:
        raise typer.Exit(EXIT_POLICY)


@policy_app.command("list")
def policy_list(as_json: JsonOpt = False) -> None:
    """Every rule: level, severity, controls."""
    from rich.table import Table

    from .policy.rules import RULES

    if as_json:
        typer.echo(json.dumps([r.to_dict() for r in RULES], indent=2))
        return
    table = Table(show_edge=False)
    for col in ("rule", "level", "severity", "controls"):
        table.add_column(col, overflow="fold")
    for r in RULES:
        table.add_row(r.name, r.level.value, r.severity.value, ", ".join(r.controls))
    _console().print(table)


kernel_app = typer.Typer(help="The envkit Jupyter kernel.", no_args_is_help=True)
app.add_typer(kernel_app, name="kernel")

UserOpt = Annotated[bool, typer.Option("--user", help="Install for the current user (the "
                                                     "default).")]
SysPrefixOpt = Annotated[bool, typer.Option("--sys-prefix", help="Install into this Python's "
                                                                 "prefix (the venv).")]
PrefixOpt = Annotated[str | None, typer.Option("--prefix", parser=cli_types.folder,
                                              help="Install under this prefix.")]
NameOpt = Annotated[str, typer.Option("--name", parser=cli_types.kernel_name,
                                      help="Kernelspec name.")]


def _kernel_place(user: bool, sys_prefix: bool, prefix: str | None) -> tuple[bool, str | None]:
    """(for the user, under a prefix): the current user's Jupyter folder unless a prefix is
    chosen, as `jupyter kernelspec install --user` (never system-wide by default)."""
    if sum(map(bool, (user, sys_prefix, prefix))) > 1:
        raise typer.BadParameter("choose one of --user, --sys-prefix, --prefix")
    chosen = sys.prefix if sys_prefix else prefix
    return chosen is None, chosen


@kernel_app.command("install")
def kernel_install(user: UserOpt = False, sys_prefix: SysPrefixOpt = False,
                   prefix: PrefixOpt = None, name: NameOpt = "envkit") -> None:
    """Install the kernelspec ("envkit (Python 3)"), for the current user by default."""
    from .notebook.kernel import install

    for_user, under = _kernel_place(user, sys_prefix, prefix)
    folder = install(name, user=for_user, prefix=under)
    typer.echo(f"installed kernel '{name}' in {folder}")


@kernel_app.command("uninstall")
def kernel_uninstall(user: UserOpt = False, sys_prefix: SysPrefixOpt = False,
                     prefix: PrefixOpt = None, name: NameOpt = "envkit") -> None:
    """Remove the kernelspec (the current user's by default)."""
    from .notebook.kernel import uninstall

    for_user, under = _kernel_place(user, sys_prefix, prefix)
    folder = uninstall(name, user=for_user, prefix=under)
    typer.echo(f"removed kernel '{name}' ({folder})")


local_app = typer.Typer(help="The embedded AWS emulator (moto server on 127.0.0.1).",
                        no_args_is_help=True)
app.add_typer(local_app, name="local")


@local_app.command("start")
def local_start(port: Annotated[int | None, typer.Option(
        "--port", parser=cli_types.port,
        help="Port on 127.0.0.1 (default: ENVKIT_LOCAL_PORT, else the port this ENVKIT_HOME "
             "used before, else a free one; it is kept for later starts).")] = None
        ) -> None:
    """Start the emulator, or report the running one."""
    from . import local

    s = local.start(port)
    typer.echo(f"local emulator running at {s.endpoint} (pid {s.pid})")


@local_app.command("stop")
def local_stop() -> None:
    """Stop the emulator (every resource it held is lost)."""
    from . import local

    stopped = local.stop(say=lambda note: typer.echo(note, err=True))
    typer.echo("local emulator stopped" if stopped else "local emulator was not running")


@local_app.command("status")
def local_status(as_json: JsonOpt = False) -> None:
    """Whether the emulator runs, and where."""
    from . import local

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
    from . import local

    local.reset()
    typer.echo("local emulator reset: it holds no resources")


def _fail(exc: BaseException, code: int, message: str | None = None,
          as_json: bool = False) -> int:
    if _STATE["debug"]:
        import traceback

        traceback.print_exception(exc)
    message = printable(message or str(exc) or type(exc).__name__)
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
    sys.exit(code if isinstance(code, int) else 0)


#: Metavars that read as words, by option name (a parser= hides the type, so Typer would
#: show `<str>` or `<list[str]>`).
_METAVARS = {
    "--target": "[local|aws]", "--profile": "NAME", "--region": "REGION", "--backend": "URL",
    "--policy-pack": "DIR", "--policy-pack-config": "FILE", "--policy-config": "FILE",
    "--output": "PATH", "--prefix": "DIR", "--name": "NAME", "--port": "PORT", "--limit": "N",
    "--stack": "NAME", "--config": "KEY=VALUE", "--timeout": "SECONDS",
    "--format": "[text|json|sarif]", "--level": "[advisory|mandatory]", "--students": "IDS",
    "--parallel": "N", "--prices": "FILE", "--stack-seconds": "SECONDS",
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


#: Commands that live in envkit/cli_class.py, loaded only when one of them runs (or a
#: whole tree is asked for): their summaries here keep `envkit --help` from importing and
#: building them.
_DEFERRED = {
    "class": "Classrooms: one lab, a roster, an isolated environment per student, leases.",
    "reap": "Destroy every expired environment in the backend (idempotent, locked, safe "
            "for cron) and list orphans: tagged resources whose environment no stack holds.",
}


def _load_deferred(name: str) -> Any:
    """The real click command for a deferred name, polished."""
    from . import cli_class

    if name == "class":
        command = typer.main.get_command(cli_class.class_app)
    else:
        single = typer.Typer(**{**SETTINGS, "no_args_is_help": False})
        single.command(name=name)(cli_class.reap)
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
    if "command" not in _STATE:
        root = _polish(typer.main.get_command(app))
        for name, summary in _DEFERRED.items():
            root.add_command(_Deferred(name=name, short_help=summary, help=summary), name)
        _STATE["command"] = root
    root = _STATE["command"]
    if full:
        for name in _DEFERRED:
            _resolve_deferred(root, name, root.commands[name])
    return root


def _strip_debug(argv: list[str]) -> list[str]:
    """``--debug`` anywhere before ``--`` switches tracebacks on (as before a subcommand)."""
    end = argv.index("--") if "--" in argv else len(argv)
    if "--debug" in argv[:end]:
        _STATE["debug"] = True
        argv = [a for a in argv[:end] if a != "--debug"] + argv[end:]
    return argv


def _run(argv: list[str] | None) -> Any:
    """Run the app; errors become one message and an exit code (and, with --json, one
    error document on stdout)."""
    argv = _strip_debug(list(sys.argv[1:] if argv is None else argv))
    as_json = _wants_json(argv)
    try:
        code = _command().main(args=argv, prog_name="envkit", standalone_mode=False)
    except EnvkitError as exc:
        code = _fail(exc, exc.exit_code, as_json=as_json)
    except typer.Abort as exc:
        code = _fail(exc, EXIT_FAILED, "aborted", as_json=as_json)
    except _usage_error() as exc:
        _usage(exc)
        code = EXIT_BAD_INPUT if exc.exit_code == 2 else exc.exit_code  # type: ignore[attr-defined]
        if as_json:
            typer.echo(json.dumps(error_document(exc, code, exc.format_message())))  # type: ignore[attr-defined]
    except KeyboardInterrupt as exc:
        code = _fail(exc, 130, "interrupted", as_json=as_json)
    except Exception as exc:  # noqa: BLE001 - the one place an unexpected error is reported
        code = _fail(exc, EXIT_FAILED,
                     f"unexpected error: {clip(repr(exc), 500)} (run with --debug for details)",
                     as_json=as_json)
    local = sys.modules.get("envkit.local")
    if local is not None:  # an emulator started for a command that failed is stopped
        local.command_finished(ok=code in (0, None))
    return code


def _usage(exc: Exception) -> None:
    """A usage error as one line: what is wrong, and where the command's help is."""
    ctx = getattr(exc, "ctx", None)
    where = f" (see '{ctx.command_path} --help')" if ctx is not None else ""
    message = exc.format_message()  # type: ignore[attr-defined]
    typer.echo(f"error: {clip(message, 300)}{where}", err=True)


if __name__ == "__main__":
    main()
