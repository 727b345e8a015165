"""Terminal rendering (rich) of envkit's results; the CLI's only view code."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.tree import Tree

from .planner import SECRET, UNKNOWN, Plan, PlannedResource


def _short(type_: str) -> str:
    # aws:iam/userLoginProfile:UserLoginProfile -> aws:iam:UserLoginProfile
    pkg, _, rest = type_.partition(":")
    module, _, name = rest.partition(":")
    return f"{pkg}:{module.split('/')[0]}:{name}" if name else type_


def _label(r: PlannedResource) -> str:
    marker = "+" if r.custom else " "
    return f"{marker} {r.name}  [dim]{_short(r.type)}[/dim]"


def _flatten(value: Any, prefix: str = "") -> list[tuple[str, Any]]:
    if isinstance(value, dict) and value:
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
    return escape(str(value))


def render_plan(plan: Plan, console: Console | None = None) -> None:
    """Print the plan as a resource tree, counts per type, and the known outputs."""
    console = console or Console()
    total = sum(plan.counts().values())
    tree = Tree(f"[bold]{plan.environment}[/bold] ({plan.region}): "
                f"{total} resources to create")

    def add(node: Tree, parent: str | None) -> None:
        for r in plan.children(parent):
            add(node.add(_label(r)), r.urn)

    add(tree, None)
    console.print(tree)

    counts = Table(title="Resources by type", show_edge=False, title_justify="left")
    counts.add_column("type")
    counts.add_column("count", justify="right")
    for type_, n in plan.counts().items():
        counts.add_row(type_, str(n))
    counts.add_row("[bold]total[/bold]", f"[bold]{total}[/bold]")
    console.print(counts)

    outputs = Table(title="Outputs", show_edge=False, title_justify="left")
    outputs.add_column("output")
    outputs.add_column("value", overflow="fold")
    for key, value in plan.outputs.items():
        for name, leaf in _flatten(value, key):
            outputs.add_row(name, _show(leaf))
    console.print(outputs)
    console.print("[dim]+ create. Offline plan: nothing was contacted; values marked "
                  f"{UNKNOWN} are assigned by AWS.[/dim]")


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
    console.print(f"[bold]{escape(name)}[/bold] " + (escape(facts) if facts else
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
            table.add_row(i.name, i.id, i.state, i.public_ip or "-", i.private_ip or "-",
                          i.public_dns or "-", escape(rules), ", ".join(i.network_interfaces),
                          escape(web))
        console.print(table)
    if seen.users:
        table = Table(title="IAM users", show_edge=False, title_justify="left")
        for col in ("user", "groups", "console", "MFA devices", "access keys (age, days)"):
            table.add_column(col)
        for u in seen.users:
            table.add_row(u.name, ", ".join(u.groups) or "-", "yes" if u.console else "no",
                          str(u.mfa_devices),
                          ", ".join(map(str, u.access_key_ages_days)) or "none")
        console.print(table)
    for note in seen.notes:
        console.print(f"[dim]{escape(note)}[/dim]")


def render_policy(report: Any, console: Console, minimum: str = "advisory",
                  title: str = "Policy check") -> None:
    """Print a policy report: violations (mandatory first) with rule, resource and fix."""
    findings = sorted(report.filtered(minimum),
                      key=lambda f: (f.kind != "violation", f.level != "mandatory", f.policy))
    verdict = (f"[red]{len(report.mandatory)} mandatory[/red]" if report.mandatory
               else "[green]0 mandatory[/green]")
    notices = sum(f.kind == "notice" for f in report.findings)
    console.print(f"[bold]{title}[/bold] ({escape(report.pack)}, {report.resources} resources): "
                  f"{verdict}, {len(report.advisory)} advisory"
                  + (f", {notices} could not be checked offline" if notices else ""))
    for f in findings:
        level = {"mandatory": "[red]mandatory[/red]", "advisory": "[yellow]advisory[/yellow]"
                 }.get(f.level, f.level) if f.kind == "violation" else f"[dim]{f.kind}[/dim]"
        where = f"  ({_relative(f.file)}:{f.line})" if f.file and f.line else ""
        console.print(f"{level}  [bold]{escape(f.policy)}[/bold]  "
                      f"{escape(f.resource_name or 'stack')}{escape(where)}")
        console.print(f"    {escape(f.message)}")
        if f.kind == "violation" and f.remediation:
            console.print(f"    [dim]fix: {escape(f.remediation)}[/dim]")
    for note in getattr(report, "notes", []):
        where = f"  ({_relative(note['file'])}:{note['line']})" if note.get("file") and \
            note.get("line") else ""
        console.print(f"[dim]note[/dim]  {escape(note['message'])}{escape(where)}")


def _relative(path: str) -> str:
    from pathlib import Path

    try:
        return str(Path(path).resolve().relative_to(Path.cwd()))
    except ValueError:
        return path
