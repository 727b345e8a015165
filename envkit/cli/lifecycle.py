"""The lab lifecycle: ``plan``, ``validate``, ``init``, ``preview``, ``up``, ``down``,
``refresh``, ``status``, ``outputs``, ``ls``, ``history``, ``cancel``, ``ssh``,
``install-pulumi`` and ``doctor``. Each command parses, calls the API and renders.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated, Any

import typer

from .. import cli_types
from ..errors import EnvkitError
from ..limits import clip, plural, printable
from ._shared import (
    SETTINGS,
    BackendOpt,
    EventsJsonOpt,
    JsonOpt,
    NoPolicyOpt,
    PolicyConfigOpt,
    PolicyPackOpt,
    ProfileOpt,
    RegionOpt,
    SpecArg,
    TargetOpt,
    YesOpt,
    chosen_packs,
    confirm,
    ensure_cli,
    environment_for,
    is_interactive,
    make_console,
    offline_gate,
    print_outputs,
    recorded_environment,
    require_deployed,
    run_operation,
    spec_source,
)

#: The lifecycle commands; the root app lists them at its top level.
app = typer.Typer(**SETTINGS)


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
    from ..planner import plan as make_plan
    from ..policy.gate import check_spec

    result = make_plan(spec)
    report = None if no_policy else check_spec(spec, plan=result)
    if as_json:
        doc = result.to_dict()
        if report is not None:
            doc["policy"] = report.to_dict()
        typer.echo(json.dumps(doc, indent=2, sort_keys=False))
        return
    from ..render import render_plan, render_policy

    render_plan(result, make_console(), show_user_data=show_user_data)
    if report is not None:
        render_policy(report, make_console(), title="Policy")


@app.command()
def validate(spec: SpecArg = Path("envkit.yaml"), as_json: JsonOpt = False) -> None:
    """Check a spec and report every problem with its line; exit 2 if there is one."""
    from ..spec import load_spec

    loaded = load_spec(spec)
    if as_json:
        typer.echo(json.dumps({"valid": True, "source": str(spec), "environment": loaded.name,
                               "region": loaded.region, "users": len(loaded.iam.users),
                               "instances": len(loaded.ec2.instances)}))
        return
    typer.echo(f"{printable(str(spec))}: ok ({loaded.name}, {loaded.region}: "
               f"{plural(len(loaded.iam.users), 'user')}, "
               f"{plural(len(loaded.ec2.instances), 'instance')})")


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
    from .. import shipped
    from ..errors import UsageError

    labs = shipped.labs()
    if template not in labs:
        from ..spec.models import did_you_mean

        raise UsageError(f"unknown lab '{template}'{did_you_mean(template, list(labs))}; "
                         f"shipped labs: {', '.join(labs) or 'none found'}")
    copies: dict[Path, Any] = {output: None}
    if notebooks:
        folder = output.parent / "notebooks"
        copies.update({folder / name: nb for name, nb in shipped.notebooks().items()})
    existing = [str(p) for p in copies if p.exists()]
    if existing and not force:
        raise UsageError(f"{', '.join(existing)} exist{'s' if len(existing) == 1 else ''}; "
                         "pass --force to overwrite")
    shown = printable(str(output))
    for path, source in copies.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        if source is None:
            path.write_text(shipped.starter_spec(template, shown), encoding="utf-8")
        else:
            path.write_bytes(source.read_bytes())
    typer.echo(f"wrote {shown} from {template}; next: {shipped.next_command(template, shown)}")
    if notebooks:
        typer.echo(f"wrote {len(copies) - 1} notebooks to {output.parent / 'notebooks'}; "
                   "open these copies with the envkit kernel (envkit kernel install)")


@app.command()
def preview(spec: SpecArg = Path("envkit.yaml"), target: TargetOpt = None,
            profile: ProfileOpt = None, region: RegionOpt = None, backend: BackendOpt = None,
            as_json: EventsJsonOpt = False, policy_pack: PolicyPackOpt = None,
            policy_pack_config: PolicyConfigOpt = None, no_policy: NoPolicyOpt = False) -> None:
    """Ask the engine what `up` would change (the policy packs run in the engine)."""
    say = (lambda m: None) if as_json else make_console(stderr=True).print
    packs = chosen_packs(policy_pack, no_policy, make_console(stderr=True).print,
                         policy_pack_config)
    ensure_cli(not as_json, say)
    env = environment_for(spec, target, profile, region, backend, packs,
                          policy_pack_config if packs else None, say)
    run_operation(env, "preview", lambda cb: env.preview(cb), 0, as_json)



RunProgramOpt = Annotated[bool | None, typer.Option(
    "--run-program/--no-run-program",
    help="Run the program for the provider configuration instead of using the one stored "
         "in the state (default: on the local target only; on aws a wrong --profile or "
         "--region would then find nothing and empty the state).")]


@app.command()
def up(spec: SpecArg = Path("envkit.yaml"), target: TargetOpt = None,
       profile: ProfileOpt = None, region: RegionOpt = None, backend: BackendOpt = None,
       as_json: Annotated[bool, typer.Option(
           "--json", help="Stream NDJSON events, then one result (or error) document; needs "
           "--yes.")] = False,
       yes: Annotated[bool, typer.Option(
           "--yes", "-y", help="Do not ask for confirmation (required without a terminal, "
           "as `pulumi up --yes`); installs the Pulumi CLI when none is found.")] = False,
       refresh: Annotated[bool, typer.Option(
           "--refresh", help="Refresh state first (recovers after an emulator restart).")] = False,
       run_program: RunProgramOpt = None,
       details: Annotated[bool, typer.Option(
           "--details", help="Before the question, show the full plan tables too.")] = False,
       policy_pack: PolicyPackOpt = None, policy_pack_config: PolicyConfigOpt = None,
       no_policy: NoPolicyOpt = False) -> None:
    """Create or update the environment, as `pulumi up`: the plan and the policy verdict
    first, then a question (--yes skips it). A mandatory violation stops it before the
    engine starts; your own --policy-pack packs run in an engine preview before any
    change."""
    from ..errors import UsageError
    from ..planner import plan as make_plan

    interactive = not as_json and is_interactive()
    if not yes and not interactive:
        raise UsageError("refusing to update without a terminal to confirm: pass --yes "
                         "(as `pulumi up --yes`)")
    console = make_console(stderr=as_json)
    say = (lambda m: None) if as_json else console.print
    offline = make_plan(spec_source(spec))
    total = sum(offline.counts().values())
    if interactive:
        from ..render import render_plan

        render_plan(offline, console, details=details)
    else:
        say(f"plan: {offline.environment} ({offline.region}) has {total} resources "
            "(offline plan; `envkit plan` shows them)")
    if not no_policy:
        offline_gate(spec, offline, policy_pack_config, say)
    packs = chosen_packs(policy_pack, no_policy, make_console(stderr=True).print,
                         policy_pack_config)
    ensure_cli(interactive, say, yes)
    if interactive and not yes:
        from ..targets import resolve_target

        chosen = resolve_target(target or recorded_environment(offline.environment).get("target"),
                                region or offline.region, profile, start_emulator=False)
        confirm(f"Do you want to perform this update? ('{offline.environment}', + {total} "
                f"to create or update, on {chosen.kind})")
    env = environment_for(spec, target, profile, region, backend, packs,
                          policy_pack_config if packs else None, say,
                          preview_packs=bool(policy_pack) and not no_policy,
                          run_program=run_program)
    result = run_operation(env, "up", lambda cb: env.up(cb, refresh=refresh), total, as_json)
    if not as_json:
        print_outputs(result.outputs, console)
        from .. import home

        folder = home.keys_dir(env.name)
        keys = sorted(p.name for p in folder.glob("*.pem"))
        if keys:
            from ..render import inert

            say(f"private keys (mode 0400) in {inert(folder)}: {inert(', '.join(keys))}")


@app.command()
def down(spec: SpecArg = Path("envkit.yaml"), target: TargetOpt = None,
         profile: ProfileOpt = None, region: RegionOpt = None, backend: BackendOpt = None,
         as_json: EventsJsonOpt = False, yes: YesOpt = False,
         run_program: RunProgramOpt = None,
         remove: Annotated[bool, typer.Option(
             "--remove", help="Also forget the stack's state and history.")] = False) -> None:
    """Destroy every resource of the environment (asks first unless --yes)."""
    from ..errors import UsageError

    if not yes and (as_json or not is_interactive()):
        raise UsageError("refusing to destroy without a terminal to confirm: pass --yes")
    require_deployed(spec, backend)
    say = (lambda m: None) if as_json else make_console(stderr=True).print
    ensure_cli(not as_json, say)
    env = environment_for(spec, target, profile, region, backend, say=say,
                          run_program=run_program)
    if not yes:
        from ..render import render_state_tree

        count = render_state_tree(env.name, env.resources(), make_console(stderr=True))
        confirm(f"Do you want to perform this destroy? ('{env.name}', - {count} to delete, "
                f"on {env.target.kind})", "destroy")
    run_operation(env, "destroy", lambda cb: env.destroy(cb), 0, as_json)
    if remove:
        env.remove()
        say(f"removed the stack '{env.name}' and its history")


@app.command()
def refresh(spec: SpecArg = Path("envkit.yaml"), target: TargetOpt = None,
            profile: ProfileOpt = None, region: RegionOpt = None, backend: BackendOpt = None,
            as_json: EventsJsonOpt = False, yes: YesOpt = False,
            run_program: RunProgramOpt = None) -> None:
    """Bring the stack's state in line with what really exists (asks first unless --yes,
    which is required without a terminal, as `pulumi refresh`)."""
    from ..errors import UsageError

    if not yes and (as_json or not is_interactive()):
        raise UsageError("refusing to refresh without a terminal to confirm: pass --yes "
                         "(as `pulumi refresh --yes`)")
    require_deployed(spec, backend)
    say = (lambda m: None) if as_json else make_console(stderr=True).print
    ensure_cli(not as_json, say)
    env = environment_for(spec, target, profile, region, backend, say=say,
                          run_program=run_program)
    if not yes:
        confirm(f"Do you want to perform this refresh? ('{env.name}' on {env.target.kind}; "
                "no resources will be modified, just the stack's state)", "refresh")
    run_operation(env, "refresh", lambda cb: env.refresh(cb), 0, as_json)


@app.command()
def status(spec: SpecArg = Path("envkit.yaml"), target: TargetOpt = None,
           profile: ProfileOpt = None, region: RegionOpt = None,
           as_json: JsonOpt = False,
           check_web: Annotated[bool, typer.Option(
               "--check-web", help="GET each web server's URL.")] = False) -> None:
    """The environment's record plus a live inspection of what exists on the target."""
    from .. import home
    from ..inspect import inspect_environment
    from ..render import render_inspection
    from ..spec import load_spec
    from ..states import current_state

    loaded = load_spec(spec_source(spec))
    record = home.read_registry().get(loaded.name, {})
    state = current_state(loaded.name, str(spec))
    if not state.deployed and not target:  # nothing there to inspect: say what is true
        if as_json:
            typer.echo(json.dumps({"environment": loaded.name, "state": state.to_dict(),
                                   "record": record, "inspection": None}, default=str))
        else:
            typer.echo(printable(state.line()))
        return
    env = environment_for(spec, target, profile, region, None, start_emulator=False)
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
        from ..errors import OperationError

        raise OperationError(f"cannot reach the {env.target.kind} target: "
                             f"{clip(str(exc), 300)}") from None
    if as_json:
        typer.echo(json.dumps({"environment": loaded.name, "state": state.to_dict(),
                               "record": record, "inspection": seen.to_dict()}, default=str))
        return
    render_inspection(loaded.name, record, seen, make_console())


@app.command()
def outputs(spec: SpecArg = Path("envkit.yaml"), target: TargetOpt = None,
            profile: ProfileOpt = None, backend: BackendOpt = None, as_json: JsonOpt = False,
            show_secrets: Annotated[bool, typer.Option(
                "--show-secrets", help="Print passwords and private keys in clear.")] = False
            ) -> None:
    """The stack outputs: sign-in URL, users, instances, SSH commands, web URLs."""
    from ..errors import OperationError
    from ..spec import load_spec
    from ..states import current_state

    name = load_spec(spec_source(spec)).name
    state = current_state(name, str(spec))
    if state.kind in ("never-deployed", "destroyed") and not backend:
        raise OperationError(state.line())
    ensure_cli(False, print)
    env = environment_for(spec, target, profile, None, backend, start_emulator=False, live=False)
    values = env.outputs(show_secrets=show_secrets)
    if not state.deployed and state.kind != "never-deployed":
        # The outputs come from the stack's state; say when the resources they name are gone.
        typer.echo(f"note: {printable(state.line())}", err=True)
    if as_json:
        typer.echo(json.dumps(values, indent=2))
    else:
        print_outputs(values, make_console())


@app.command(name="ls")
def list_environments(as_json: Annotated[bool, typer.Option(
        "--json", help="Print one JSON document: a list of each environment's record and "
                       "state.")
        ] = False) -> None:
    """Every environment envkit knows: target, resources, last update, expiry, state."""
    from rich.table import Table

    from .. import home, local
    from ..states import state_of

    registry = home.read_registry()
    emulator_id = local.status().instance_id if any(
        r.get("target") == "local" for r in registry.values()) else None
    states = {name: state_of(name, r, emulator_id) for name, r in registry.items()}
    if as_json:
        # A list, as every listing envkit prints: `[]` when there is none.
        typer.echo(json.dumps([{"environment": name, **registry[name],
                                "state": states[name].to_dict()}
                               for name in sorted(registry)], indent=2))
        return
    if not registry:
        typer.echo("no environments yet: envkit up SPEC creates one")
        return
    from ..render import inert

    table = Table(show_edge=False)
    for col in ("environment", "target", "region", "resources", "last update", "expires",
                "state"):
        table.add_column(col)
    for name, r in sorted(registry.items()):
        table.add_row(*(inert(v) for v in (
            name, r.get("target", ""), r.get("region", ""), r.get("resources", ""),
            r.get("last_update", ""), r.get("expires") or "-", states[name].kind)))
    make_console().print(table)
    for name in sorted(registry):
        if not states[name].deployed:
            make_console().print(inert(states[name].line()))


@app.command()
def history(spec: SpecArg = Path("envkit.yaml"), target: TargetOpt = None,
            backend: BackendOpt = None, as_json: JsonOpt = False,
            limit: Annotated[int, typer.Option(
                "--limit", "-n", min=1, max=1000,
                help="How many operations to show, newest first.")] = 10) -> None:
    """The last operations on the environment's stack."""
    require_deployed(spec, backend)
    ensure_cli(False, print)
    env = environment_for(spec, target, None, None, backend, start_emulator=False, live=False)
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
    require_deployed(spec, backend)
    ensure_cli(False, print)
    env = environment_for(spec, target, None, None, backend)
    typer.echo(env.cancel(force=force))


@app.command()
def ssh(instance: Annotated[str, typer.Argument(help="Instance name from the spec.")],
        spec: SpecArg = Path("envkit.yaml"), target: TargetOpt = None,
        run: Annotated[bool, typer.Option("--run", help="Run ssh instead of printing it.")
                       ] = False) -> None:
    """Print (or run) the SSH command for an instance, with its stored key."""
    import shlex

    from ..errors import OperationError, UsageError
    from ..ssh import ssh_argv

    require_deployed(spec, None)
    env = environment_for(spec, target, None, None, None, start_emulator=False, live=False)
    if instance not in env.spec.ec2.instances:
        known = ", ".join(env.spec.ec2.instances) or "none"
        raise UsageError(f"unknown instance '{clip(instance)}'; known instances: {known}")
    ensure_cli(False, print)
    outputs = (env.outputs().get("instances") or {}).get(instance) or {}
    from .. import home

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
    from ..engine import install_pulumi

    typer.echo(f"installed the Pulumi CLI: {install_pulumi()}")


@app.command()
def doctor(as_json: JsonOpt = False) -> None:
    """Check everything envkit needs, each with pass/fail and the fix."""
    from ..doctor import run_checks
    from ..errors import EXIT_PREREQUISITE

    checks = run_checks()
    if as_json:
        typer.echo(json.dumps([c.to_dict() for c in checks], indent=2))
    else:
        from ..render import inert

        console = make_console()
        for c in checks:
            mark = {"pass": "[green]pass[/green]", "fail": "[red]FAIL[/red]",
                    "info": "[blue]info[/blue]"}[c.status]
            console.print(f"{mark}  {inert(c.name)}: {inert(c.detail)}")
            if c.status == "fail" and c.fix:
                console.print(f"      fix: {inert(c.fix)}")
    if any(c.status == "fail" for c in checks):
        raise typer.Exit(EXIT_PREREQUISITE)
