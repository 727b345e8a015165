"""Benchmark: the full policy pack beside a floor, measured in the same run.

The subject is the 100-user/100-instance lab from bench/plan.py. The floor is the same
analyzer (pulumi-policy's servicer: Configure, Analyze per resource, AnalyzeStack) running
one trivial rule over the same resources, so the ratio is the cost of envkit's rules.
Also times `envkit policy check labs/aws-basics.yaml` as a user runs it (fresh process).
Prints JSON. Targets: pack <= 3x floor; the CLI within 2.5 s.
Usage: python bench/policy.py [--repeat N]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    from plan import _side_by_side, generated_lab
    from pulumi_policy import EnforcementLevel, ResourceValidationPolicy

    import envkit
    from envkit.policy import gate, rules

    plan = envkit.plan(generated_lab(100))
    resources = plan.resources
    trivial = ResourceValidationPolicy(
        name="trivial", description="Does nothing.", enforcement_level=EnforcementLevel.ADVISORY,
        validate=lambda a, report: None)

    def full() -> None:
        gate.evaluate(resources)

    def floor() -> None:
        saved = list(rules.POLICIES)
        rules.POLICIES[:] = [trivial]
        try:
            gate.evaluate(resources, routed=False)  # the trivial rule sees every resource
        finally:
            rules.POLICIES[:] = saved

    full()
    floor()  # warm caches (parliament, imports) for both
    full_s, floor_s = _side_by_side([full, floor], args.repeat)

    cmd = [sys.executable, "-m", "envkit.cli", "policy", "check", "labs/aws-basics.yaml"]
    subprocess.run(cmd, cwd=ROOT, capture_output=True)
    (cli_s,) = _side_by_side([lambda: subprocess.run(cmd, cwd=ROOT, capture_output=True)],
                             args.repeat)
    print(json.dumps({
        "benchmark": "policy",
        "resources": sum(r.custom for r in resources),
        "rules": len(rules.POLICIES),
        "full_pack_s": round(full_s, 4),
        "floor_one_trivial_rule_s": round(floor_s, 4),
        "ratio": round(full_s / floor_s, 2),
        "cli_policy_check_aws_basics_s": round(cli_s, 3),
        "targets": {"ratio_max": 3.0, "cli_max_s": 2.5},
        "met": full_s / floor_s <= 3.0 and cli_s <= 2.5,
    }, indent=2))


if __name__ == "__main__":
    main()
