"""IPython magics: ``%envkit COMMAND [SPEC] [--target local|aws] [--yes]`` and
``%%envkit [NAME]`` (a YAML spec in the cell, registered for the session).

They mirror the CLI over the same API; results display as rich HTML that also reads well
as text. Errors (bad arguments, an unknown environment, a spec error, a refusal, a failed
operation) raise IPython's :class:`UsageError`: the cell fails with one short message and
no traceback, so "Run All" stops there.
"""

from __future__ import annotations

import argparse
import re
import shlex
from pathlib import Path
from typing import Any

from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_cell_magic, magics_class
from IPython.display import display

from ..errors import EnvkitError
from ..limits import clip, plural
from .views import (
    InspectionView,
    MessageView,
    OutputsView,
    PlanView,
    PolicyView,
    ResultView,
)

COMMANDS = ("plan", "preview", "up", "down", "refresh", "status", "outputs", "policy")

#: The longest ``%envkit`` line read (a name or path longer than any file system takes).
_MAX_LINE = 4096

#: Specs registered by ``%%envkit NAME`` in this session, by environment name.
REGISTERED: dict[str, Any] = {}


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # no SystemExit inside a kernel
        raise UsageError(f"%envkit: {message}")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="%envkit", add_help=False)
    parser.add_argument("command", choices=COMMANDS)
    parser.add_argument("spec", nargs="?", default="envkit.yaml")
    parser.add_argument("--target", choices=("local", "aws"))
    parser.add_argument("--profile")
    parser.add_argument("--yes", action="store_true")
    parser.add_argument("--show-secrets", action="store_true")
    parser.add_argument("--check-web", action="store_true")
    parser.add_argument("--no-policy", action="store_true")
    return parser


def resolve_spec(name_or_path: str) -> Any:
    """A spec registered by ``%%envkit``, or a spec file; anything else is a UsageError that
    lists the registered names."""
    from ..spec import load_spec

    if name_or_path in REGISTERED:
        return REGISTERED[name_or_path]
    try:
        path = Path(name_or_path).expanduser()
        is_file = path.is_file()
    except (OSError, RuntimeError, ValueError):  # ~nosuchuser, a name too long, a NUL
        is_file = False
    if not is_file:
        known = ", ".join(sorted(REGISTERED)) or "none yet (a %%envkit NAME cell registers one)"
        shown = clip(name_or_path)
        raise UsageError(f"no environment named '{shown}' in this session and no file "
                         f"'{shown}'; registered environments: {known}")
    return load_spec(path)


#: The CLI commands that a magic does the same as, as the magic is written.
_AS_MAGIC = re.compile(r"`envkit (policy check|plan|preview|up|down|refresh|status|outputs)\b")


def as_magic(message: str) -> str:
    """A message for a notebook: `envkit up ...` advice becomes `%envkit up ...` where a
    magic does the same (other commands, such as install-pulumi, stay as they are)."""
    return _AS_MAGIC.sub(lambda m: "`%envkit " + m.group(1).replace("policy check", "policy"),
                         message)


def _warn(message: str) -> None:
    display(MessageView(message, kind="warning"))


def run_command(line: str) -> Any:
    """Run one ``%envkit`` line and return the view to display."""
    if len(line) > _MAX_LINE:
        raise UsageError(f"%envkit: the line is {len(line):,} characters; at most "
                         f"{_MAX_LINE:,}")
    try:
        words = shlex.split(line)
    except ValueError as exc:  # an unclosed quote
        raise UsageError(f"%envkit: {exc} in: {clip(line)}") from None
    args = _parser().parse_args(words)
    spec = resolve_spec(args.spec)
    if args.command in ("plan", "policy"):
        from ..planner import plan as make_plan
        from ..policy.gate import check_spec

        source = args.spec if args.spec not in REGISTERED else spec
        planned = make_plan(spec)
        report = None if args.no_policy else check_spec(source, plan=planned)
        return PlanView(planned, report) if args.command == "plan" else PolicyView(report)
    from ..engine import Environment
    from ..policy.pack import engine_packs

    if args.command == "status":  # reads only: never starts the emulator
        from ..inspect import inspect_environment
        from ..states import current_state
        from ..targets import resolve_target

        state = current_state(spec.name, args.spec)
        if not state.deployed and not args.target:
            return MessageView(as_magic(state.line()), kind="notice")
        target = resolve_target(args.target, spec.region, args.profile, start_emulator=False)
        if target.kind == "local" and target.endpoint is None:
            return MessageView("the local emulator is not running, so nothing deployed to it "
                               "exists: %envkit up starts it", kind="notice")
        return InspectionView(inspect_environment(spec.name, target, args.check_web))
    packs = engine_packs(None, not args.no_policy, _warn) if args.command in (
        "preview", "up") else []
    # envkit's own pack: the offline gate runs it before up, so no extra engine preview.
    env = Environment(spec, target=args.target, profile=args.profile, policy_packs=packs,
                      preview_packs=False)
    if args.command == "outputs":
        return OutputsView(env.outputs(show_secrets=args.show_secrets))
    if args.command == "down" and not args.yes:
        raise UsageError(f"%envkit down destroys every resource of '{env.name}': add --yes "
                         "to confirm")
    if args.command == "up" and not args.no_policy:
        from ..policy.gate import check_spec

        report = check_spec(spec)
        if report.mandatory:
            display(PolicyView(report))
            raise UsageError(f"{plural(len(report.mandatory), 'mandatory policy violation')}: "
                             "nothing was deployed (the findings are listed above)")
    operation = {"preview": env.preview, "up": env.up, "down": env.destroy,
                 "refresh": env.refresh}[args.command]
    return ResultView(operation())


@magics_class
class EnvkitMagics(Magics):
    """``%envkit`` and ``%%envkit``."""

    @line_cell_magic
    def envkit(self, line: str, cell: str | None = None) -> Any:
        """%envkit plan|preview|up|down|refresh|status|outputs|policy [SPEC] [--target ...]
        [--yes]; %%envkit [NAME] registers the YAML spec in the cell."""
        try:
            if cell is not None:
                return self._register(line.strip(), cell)
            return run_command(line)
        except EnvkitError as exc:
            raise UsageError(as_magic(str(exc))) from None

    @staticmethod
    def _register(name: str, body: str) -> Any:
        from ..spec import load_spec_text

        # Lines count from the cell's first line (the %%envkit line), as the editor shows.
        spec = load_spec_text(body, filename="<cell>", line_offset=1)
        if name and name != spec.name:
            raise UsageError(f"%%envkit {name}: the spec in the cell is named '{spec.name}'")
        REGISTERED[spec.name] = spec
        return MessageView(f"registered environment '{spec.name}' ({spec.region}, "
                           f"{len(spec.iam.users)} users, {len(spec.ec2.instances)} "
                           f"instances): %envkit plan {spec.name}", kind="ok")
