"""Terminal rendering (rich) of envkit's results; the CLI's only view code.

Text that comes from a spec, a stack or AWS is inert here: rich markup in it is escaped and
terminal control characters are written as escapes (``\x1b``), on a terminal and in a pipe
alike, so a name or a tag cannot restyle, move or hide what is shown.
"""

from __future__ import annotations

import hashlib
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.tree import Tree

from .limits import plural, printable
from .planner import SECRET, UNKNOWN, Plan, PlannedResource


def inert(value: Any) -> str:
    """``value`` as text that prints as written: control characters escaped, then rich
    markup escaped."""
    return escape(printable(str(value)))


def _short(type_: str) -> str:
    # aws:iam/userLoginProfile:UserLoginProfile -> aws:iam:UserLoginProfile
    pkg, _, rest = type_.partition(":")
    module, _, name = rest.partition(":")
    return f"{pkg}:{module.split('/')[0]}:{name}" if name else type_


def _label(r: PlannedResource) -> str:
    marker = "+" if r.custom else " "
    return f"{marker} {inert(r.name)}  [dim]{inert(_short(r.type))}[/dim]"


#: How an empty mapping or list reads in an outputs table (a lab without roles: "roles
#: none", not "roles {}").
NONE = "none"


def _flatten(value: Any, prefix: str = "") -> list[tuple[str, Any]]:
    if isinstance(value, (dict, list)) and not value:
        return [(prefix, NONE)]
    if isinstance(value, dict):
        rows: list[tuple[str, Any]] = []
        for k, v in value.items():
            rows += _flatten(v, f"{prefix}.{k}" if prefix else str(k))
        return rows
    if isinstance(value, list) and value and any(isinstance(v, (dict, list)) for v in value):
        rows = []
        for i, v in enumerate(value):
            rows += _flatten(v, f"{prefix}[{i}]")
        return rows
    return [(prefix, value)]


def _show(value: Any) -> str:
    if value in (SECRET, UNKNOWN):
        return f"[dim]{escape(value)}[/dim]"
    if isinstance(value, list):
        return ", ".join(_show(v) for v in value) or "[]"
    if value is None:
        return "-"
    return inert(value)


def user_data_summary(text: str) -> str:
    """User data as Terraform shows it in a plan: its size and SHA-256, not its text."""
    data = text.encode("utf-8", "surrogatepass")
    return f"{len(data):,} bytes, sha256 {hashlib.sha256(data).hexdigest()}"


def _user_data(plan: Plan) -> list[tuple[str, str]]:
    return [(r.name, r.inputs["userData"]) for r in plan.resources
            if r.type == "aws:ec2/instance:Instance" and isinstance(r.inputs.get("userData"), str)]


def render_plan(plan: Plan, console: Console | None = None, show_user_data: bool = False,
                details: bool = True) -> None:
    """Print the plan as a resource tree, counts per type, the instances' user data (size
    and SHA-256; the text with ``show_user_data``) and the known outputs. Without
    ``details`` (before `up`'s question, as `pulumi up` does) only the tree and a one-line
    summary (``+ 31 to create``)."""
    console = console or Console()
    total = sum(plan.counts().values())
    tree = Tree(f"[bold]{inert(plan.environment)}[/bold] ({inert(plan.region)}): "
                f"{total} resources to create")

    def add(node: Tree, parent: str | None) -> None:
        for r in plan.children(parent):
            add(node.add(_label(r)), r.urn)

    add(tree, None)
    console.print(tree)
    if not details:
        console.print(f"[bold]Resources:[/bold] [green]+ {total} to create[/green]  "
                      "[dim](--details or `envkit plan` shows every table)[/dim]")
        return

    counts = Table(title="Resources by type", show_edge=False, title_justify="left")
    counts.add_column("type")
    counts.add_column("count", justify="right")
    for type_, n in plan.counts().items():
        counts.add_row(inert(type_), str(n))
    counts.add_row("[bold]total[/bold]", f"[bold]{total}[/bold]")
    console.print(counts)

    for name, text in _user_data(plan):
        console.print(f"[bold]user data[/bold] of {inert(name)}: {user_data_summary(text)}"
                      + ("" if show_user_data else "  [dim](--show-user-data prints it)[/dim]"),
                      soft_wrap=True)
        if show_user_data:
            console.print(inert(text), soft_wrap=True)

    outputs = Table(title="Outputs", show_edge=False, title_justify="left")
    outputs.add_column("output")
    outputs.add_column("value", overflow="fold")
    for key, value in plan.outputs.items():
        for name, leaf in _flatten(value, key):
            outputs.add_row(inert(name), _show(leaf))
    console.print(outputs)
    console.print("[dim]+ create. Offline plan: nothing was contacted; values marked "
                  f"{UNKNOWN} are assigned by AWS.[/dim]")


def render_state_tree(environment: str, resources: list[dict[str, Any]],
                      console: Console | None = None) -> int:
    """Print what a destroy would delete (the resources the state records) as a tree and a
    one-line summary (``- 12 to delete``); returns how many."""
    console = console or Console()
    custom = [r for r in resources if r.get("custom")]
    noun = "resource" if len(custom) == 1 else "resources"
    tree = Tree(f"[bold]{inert(environment)}[/bold]: {len(custom)} {noun} to delete")
    for r in custom:
        tree.add(f"[red]-[/red] {inert(r.get('type') or '')} {inert(r.get('name') or '')}")
    console.print(tree)
    console.print(f"[bold]Resources:[/bold] [red]- {len(custom)} to delete[/red]")
    return len(custom)


def _web_text(web: dict[str, Any] | None) -> str:
    if not web:
        return "-"
    if web.get("skipped"):
        return f"{web['url']} (check skipped: {web['skipped']})"
    if "ok" not in web:
        return web["url"]
    verdict = "ok" if web["ok"] else "FAILED"
    return f"{web['url']} {verdict} {web.get('status') or web.get('error', '')}".strip()


def render_inspection(name: str, record: dict[str, Any], seen: Any, console: Console) -> None:
    """Print `envkit status`: the environment's record, then what exists on the target."""
    facts = ", ".join(f"{k}: {record[k]}" for k in ("target", "region", "resources",
                                                    "last_update", "expires", "status")
                      if record.get(k) is not None)
    console.print(f"[bold]{inert(name)}[/bold] " + (inert(facts) if facts else
                                                   "(never deployed by envkit here)"))
    if seen.instances:
        table = Table(title="Instances", show_edge=False, title_justify="left")
        for col in ("instance", "id", "state", "public ip", "private ip", "public dns",
                    "security groups", "enis", "web"):
            table.add_column(col, overflow="fold")
        for i in seen.instances:
            rules = "; ".join(f"{g}: {', '.join(r) or 'no ingress'}"
                              for g, r in i.security_groups.items())
            web = _web_text(i.web)
            table.add_row(*(inert(v) for v in (
                i.name, i.id, i.state, i.public_ip or "-", i.private_ip or "-",
                i.public_dns or "-", rules, ", ".join(i.network_interfaces), web)))
        console.print(table)
    if seen.users:
        table = Table(title="IAM users", show_edge=False, title_justify="left")
        for col in ("user", "groups", "console", "MFA devices", "access keys (age, days)"):
            table.add_column(col)
        for u in seen.users:
            table.add_row(*(inert(v) for v in (
                u.name, ", ".join(u.groups) or "-", "yes" if u.console else "no",
                u.mfa_devices, ", ".join(map(str, u.access_key_ages_days)) or "none")))
        console.print(table)
    for note in seen.notes:
        console.print(f"[dim]{inert(note)}[/dim]")


def render_policy(report: Any, console: Console, minimum: str = "advisory",
                  title: str = "Policy check") -> None:
    """Print a policy report: violations (mandatory first) with rule, resource and fix."""
    findings = sorted(report.filtered(minimum),
                      key=lambda f: (f.kind != "violation", f.level != "mandatory", f.policy))
    verdict = (f"[red]{len(report.mandatory)} mandatory[/red]" if report.mandatory
               else "[green]0 mandatory[/green]")
    notices = sum(f.kind == "notice" for f in report.findings)
    gaps = getattr(report, "not_evaluated", [])
    console.print(f"[bold]{inert(title)}[/bold] ({inert(report.pack)}, {report.resources} "
                  "resources): "
                  f"{verdict}, {len(report.advisory)} advisory"
                  + (f", {notices} could not be checked offline" if notices else "")
                  + (f", {plural(len(gaps), 'component')} not evaluated" if gaps else ""))
    for f in findings:
        level = {"mandatory": "[red]mandatory[/red]", "advisory": "[yellow]advisory[/yellow]"
                 }.get(f.level, f.level) if f.kind == "violation" else f"[dim]{f.kind}[/dim]"
        where = f"  ({_relative(f.file)}:{f.line})" if f.file and f.line else ""
        console.print(f"{level}  [bold]{inert(f.policy)}[/bold]  "
                      f"{inert(f.resource_name or 'stack')}{inert(where)}")
        console.print(f"    {inert(f.message)}")
        if f.placeholders:
            console.print(f"    [dim]depends on values envkit assigned offline: "
                          f"{inert(', '.join(f.placeholders[:3]))}"
                          f"{', ...' if len(f.placeholders) > 3 else ''}[/dim]")
        if f.kind == "violation" and f.remediation:
            console.print(f"    [dim]fix: {inert(f.remediation)}[/dim]")
    for note in getattr(report, "notes", []):
        where = f"  ({_relative(note['file'])}:{note['line']})" if note.get("file") and \
            note.get("line") else ""
        console.print(f"[dim]note[/dim]  {inert(note['message'])}{inert(where)}")


def _relative(path: str) -> str:
    from pathlib import Path

    try:
        return str(Path(path).resolve().relative_to(Path.cwd()))
    except ValueError:
        return path
