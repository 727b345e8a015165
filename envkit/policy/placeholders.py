"""Which findings on a Pulumi program depend on values envkit assigned offline.

The gate's mocks give computed outputs deterministic placeholders (envkit/policy/_shapes.py:
ARNs with account 123456789012, generated names and ids), so documents built from them with
``apply()`` are checked. A finding built on such a value must say so: it is the one that
changes when the same resources are checked again with other placeholders.
"""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any


def mark_placeholders(findings: list[Any], records: list[Any],
                      user_config: dict[str, Any] | None) -> None:
    """Say which findings depend on values envkit assigned offline (placeholder ARNs, ids,
    generated names): those that change when the resources are checked again with other
    placeholder values (the stack rules see only those resources then, so a finding of
    theirs that needs another resource is marked too: the safe side)."""
    from .gate import evaluate

    # Only resources a finding is about need the second look.
    about = {f.urn for f in findings}
    marked = {r.urn: r for r in records if r.placeholders and r.urn in about}
    if not marked:
        return
    swaps = {value: _other(value) for r in marked.values() for value, _ in r.placeholders}
    pattern = re.compile("|".join(re.escape(v) for v in sorted(swaps, key=len, reverse=True)))

    def swap(value: Any) -> Any:
        if isinstance(value, str):
            return pattern.sub(lambda m: swaps[m.group(0)], value)
        if isinstance(value, dict):
            return {k: swap(v) for k, v in value.items()}
        if isinstance(value, list):
            return [swap(v) for v in value]
        return value

    # Only the rules that found something on them can find it differently.
    rules = {f.policy for f in findings if f.urn in marked}
    again = evaluate([replace(r, wire_inputs=swap(r.wire_inputs)) for r in marked.values()],
                     user_config, only=rules)
    unchanged = {(f.policy, f.urn, f.kind, f.message) for f in again}
    for f in findings:
        resource = marked.get(f.urn or "")
        if resource is None:
            continue
        if (f.policy, f.urn, f.kind, f.message) in unchanged:
            continue
        f.placeholders = [what for _, what in resource.placeholders]


def _other(value: str) -> str:
    """Another placeholder of the same shape: another account, another name or id."""
    return "210987654321" if value == "123456789012" else \
        value.replace("123456789012", "210987654321") + "x"


