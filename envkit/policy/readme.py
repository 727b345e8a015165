"""docs/rules.md's rule table, generated from the rule metadata (a test keeps them in sync).

Run ``python -m envkit.policy.readme`` to print it.
"""

from __future__ import annotations


def rules_table() -> str:
    """Markdown table of every rule: name, service, level, severity, the peer checks and
    controls it covers, what it checks."""
    from .rules import RULES

    lines = ["| rule | service | level | severity | covers (CIS, Security Hub, Checkov, trivy, "
             "AWSGuard) | what it checks |",
             "|---|---|---|---|---|---|"]
    for r in RULES:
        config = f" Config: {', '.join(f'`{k}`' for k in r.config)}." if r.config else ""
        fix = " Remediates." if r.can_remediate else ""
        foreign = (f" {r.foreign_level.value.capitalize()} on programs envkit did not write."
                   if r.foreign_level else "")
        lines.append(f"| `{r.name}` | {r.service} | {r.level.value} | {r.severity.value} | "
                     f"{', '.join(r.controls)} | {r.description}{config}{fix}{foreign} |")
    return "\n".join(lines)


if __name__ == "__main__":
    print(rules_table())
