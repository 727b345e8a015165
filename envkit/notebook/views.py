"""Rich displays for notebooks: HTML for Jupyter, readable text everywhere else.

Each view wraps an envkit result (plan, policy report, outputs, inspection, operation
result, error) and implements ``_repr_html_`` plus ``__repr__``; secrets arrive masked
from the API and stay masked here.
"""

from __future__ import annotations

import html
import re
from typing import Any

from ..planner import SECRET, UNKNOWN, Plan
from ..render import _flatten

# The selectors repeat the class and carry element names so that they outrank JupyterLab's
# rendered-HTML rules (`:not(.jp-RenderedMarkdown).jp-RenderedHTMLCommon td` right-aligns
# output tables; `.jp-RenderedHTMLCommon table` centres them).
_STYLE = ("<style>div.envkit.envkit table{border-collapse:collapse;margin:4px 0;"
          "table-layout:auto}"
          "div.envkit.envkit td,div.envkit.envkit th{border:1px solid #ccc;padding:2px 8px;"
          "text-align:left;vertical-align:top}"
          "div.envkit .muted{color:#888}div.envkit .bad{color:#b00020;font-weight:600}"
          "div.envkit .warn{color:#9a6700}div.envkit ul{margin:0;padding-left:1.2em}"
          "div.envkit code.envkit-rule{white-space:nowrap}</style>")

#: Plans with at most this many resources show their resource tree expanded.
TREE_OPEN_MAX = 60


def _e(value: Any) -> str:
    return html.escape(str(value))


def prose_html(text: str) -> str:
    """Plain text as HTML a reader understands: escaped, `code` spans as code, lines kept."""
    escaped = _e(text)
    return "<br>".join(re.sub(r"`([^`]+)`", r"<code>\1</code>", line)
                       for line in escaped.splitlines())


def _ordered(report: Any) -> list[Any]:
    """Violations, mandatory first (each group in the pack's order)."""
    found = [f for f in report.findings if f.kind == "violation"]
    return sorted(found, key=lambda f: f.level != "mandatory")


def _value_html(value: Any) -> str:
    if value in (SECRET, UNKNOWN):
        return f"<span class='muted'>{_e(value)}</span>"
    if isinstance(value, str) and value.startswith(("http://", "https://")):
        return f"<a href='{_e(value)}' target='_blank'>{_e(value)}</a>"
    if isinstance(value, list):
        return ", ".join(_value_html(v) for v in value) or "[]"
    return _e("-" if value is None else value)


def outputs_table(outputs: dict[str, Any]) -> str:
    """An HTML table of outputs, flattened (users.ann.arn), secrets masked."""
    rows = "".join(f"<tr><td>{_e(k)}</td><td>{_value_html(v)}</td></tr>"
                   for key, value in outputs.items() for k, v in _flatten(value, key))
    return f"<table class='envkit-outputs'><tr><th>output</th><th>value</th></tr>{rows}</table>"


def policy_html(report: Any) -> str:
    """Violations with rule, resource and fix."""
    if report is None:
        return ""
    head = (f"<b>Policy</b> ({_e(report.pack)}): "
            f"<span class='{'bad' if report.mandatory else ''}'>{len(report.mandatory)} "
            f"mandatory</span>, <span class='warn'>{len(report.advisory)} advisory</span>")
    rows = "".join(
        f"<tr><td class='{'bad' if f.level == 'mandatory' else 'warn'}'>{_e(f.level)}</td>"
        f"<td><code class='envkit-rule'>{_e(f.policy)}</code></td>"
        f"<td>{_e(f.resource_name or 'stack')}</td>"
        f"<td>{_e(f.message)}<br><span class='muted'>fix: {_e(f.remediation)}</span></td></tr>"
        for f in _ordered(report))
    table = (f"<table class='envkit-policy'><tr><th>level</th><th>rule</th><th>resource</th>"
             f"<th>finding and fix</th></tr>{rows}</table>") if rows else ""
    return f"<div>{head}{table}</div>"


def policy_text(report: Any) -> str:
    """The same, as text."""
    lines = [f"Policy ({report.pack}): {len(report.mandatory)} mandatory, "
             f"{len(report.advisory)} advisory"]
    for f in _ordered(report):
        lines.append(f"  {f.level:<9} {f.policy}  {f.resource_name or 'stack'}: {f.message}")
        lines.append(f"            fix: {f.remediation}")
    return "\n".join(lines)


class PlanView:
    """A plan (and its policy verdict): resource tree with counts, outputs, violations."""

    def __init__(self, plan: Plan, report: Any = None, with_outputs: bool = True) -> None:
        self.plan = plan
        self.report = report
        #: False in the dashboard's Plan tab: the outputs and the verdict have tabs of their
        #: own there, and with them the tab was three screens tall.
        self.with_outputs = with_outputs

    def _tree(self, parent: str | None) -> str:
        items = []
        for r in self.plan.children(parent):
            mark = "+ " if r.custom else ""
            items.append(f"<li>{mark}<b>{_e(r.name)}</b> <span class='muted'>{_e(r.type)}"
                         f"</span>{self._tree(r.urn)}</li>")
        return f"<ul>{''.join(items)}</ul>" if items else ""

    def _repr_html_(self) -> str:
        counts = "".join(f"<tr><td>{_e(t)}</td><td>{n}</td></tr>"
                         for t, n in self.plan.counts().items())
        total = sum(self.plan.counts().values())
        return (f"{_STYLE}<div class='envkit envkit-plan'><h4>{_e(self.plan.environment)} "
                f"({_e(self.plan.region)}): {total} resources to create</h4>"
                f"<details{' open' if total <= TREE_OPEN_MAX else ''}><summary>resource tree"
                f"</summary>{self._tree(None)}</details>"
                f"<table class='envkit-counts'><tr><th>type</th><th>count</th></tr>{counts}"
                f"<tr><td><b>total</b></td><td><b>{total}</b></td></tr></table>"
                f"{outputs_table(self.plan.outputs) if self.with_outputs else ''}"
                f"{policy_html(self.report)}</div>")

    def __repr__(self) -> str:
        lines = [f"{self.plan.environment} ({self.plan.region}): "
                 f"{sum(self.plan.counts().values())} resources to create"]
        lines += [f"  {n:>4}  {t}" for t, n in self.plan.counts().items()]
        lines.append("Outputs:")
        for key, value in self.plan.outputs.items():
            lines += [f"  {k} = {v}" for k, v in _flatten(value, key)]
        if self.report is not None:
            lines.append(policy_text(self.report))
        return "\n".join(lines)


class PolicyView:
    """A policy report."""

    def __init__(self, report: Any) -> None:
        self.report = report

    def _repr_html_(self) -> str:
        return f"{_STYLE}<div class='envkit'>{policy_html(self.report)}</div>"

    def __repr__(self) -> str:
        return policy_text(self.report)


class OutputsView:
    """Stack outputs (masked unless the caller asked otherwise)."""

    def __init__(self, outputs: dict[str, Any], title: str = "Outputs") -> None:
        self.outputs = outputs
        self.title = title

    def _repr_html_(self) -> str:
        table = outputs_table(self.outputs)
        return f"{_STYLE}<div class='envkit'><b>{_e(self.title)}</b>{table}</div>"

    def __repr__(self) -> str:
        lines = [f"{self.title}:"]
        for key, value in self.outputs.items():
            lines += [f"  {k} = {v}" for k, v in _flatten(value, key)]
        return "\n".join(lines)


class InspectionView:
    """What exists on the target (instances, users)."""

    def __init__(self, inspection: Any) -> None:
        self.inspection = inspection

    def _repr_html_(self) -> str:
        i = self.inspection
        rows = "".join(
            f"<tr><td>{_e(x.name)}</td><td>{_e(x.state)}</td><td>{_e(x.public_ip or '-')}</td>"
            f"<td>{_e(x.private_ip or '-')}</td><td>{_e(x.public_dns or '-')}</td>"
            f"<td>{_e('; '.join(f'{g}: ' + ', '.join(r) for g, r in x.security_groups.items()))}"
            f"</td><td>{_value_html((x.web or {}).get('url'))}</td></tr>" for x in i.instances)
        users = "".join(
            f"<tr><td>{_e(u.name)}</td><td>{_e(', '.join(u.groups) or '-')}</td>"
            f"<td>{'yes' if u.console else 'no'}</td><td>{u.mfa_devices}</td></tr>"
            for u in i.users)
        parts = [f"<b>{_e(i.environment)}</b> on {_e(i.target)}"]
        if rows:
            parts.append("<table><tr><th>instance</th><th>state</th><th>public ip</th>"
                         "<th>private ip</th><th>public dns</th><th>security groups</th>"
                         f"<th>web</th></tr>{rows}</table>")
        if users:
            parts.append("<table><tr><th>user</th><th>groups</th><th>console</th>"
                         f"<th>MFA devices</th></tr>{users}</table>")
        parts += [f"<div class='muted'>{_e(n)}</div>" for n in i.notes]
        return f"{_STYLE}<div class='envkit'>{''.join(parts)}</div>"

    def __repr__(self) -> str:
        i = self.inspection
        lines = [f"{i.environment} on {i.target}"]
        lines += [f"  instance {x.name}: {x.state} {x.public_ip or '-'} {x.private_ip or '-'}"
                  for x in i.instances]
        lines += [f"  user {u.name}: groups {', '.join(u.groups) or '-'}, console "
                  f"{'yes' if u.console else 'no'}, MFA {u.mfa_devices}" for u in i.users]
        lines += [f"  {n}" for n in i.notes]
        return "\n".join(lines)


class ResultView:
    """An engine operation's result."""

    def __init__(self, result: Any) -> None:
        self.result = result

    def _summary(self) -> str:
        changes = ", ".join(f"{n} {k}" for k, n in self.result.changes.items() if k != "same")
        return f"{self.result.operation} {self.result.environment} on {self.result.target}: " \
               f"{changes or 'no changes'}"

    def _repr_html_(self) -> str:
        outputs = outputs_table(self.result.outputs) if self.result.outputs else ""
        return f"{_STYLE}<div class='envkit'><b>{_e(self._summary())}</b>{outputs}</div>"

    def __repr__(self) -> str:
        text = self._summary()
        if self.result.outputs:
            text += "\n" + repr(OutputsView(self.result.outputs))
        return text


class MessageView:
    """An error or a notice, shown without a traceback."""

    def __init__(self, message: str, kind: str = "error") -> None:
        self.message = message
        self.kind = kind

    def _repr_html_(self) -> str:
        css = {"error": "bad", "ok": ""}.get(self.kind, "warn")
        label = f"<span class='{css}'>{_e(self.kind)}:</span>"
        return f"{_STYLE}<div class='envkit'>{label} {prose_html(self.message)}</div>"

    def __repr__(self) -> str:
        return f"{self.kind}: {self.message}"
