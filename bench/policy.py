"""Benchmark: the full policy pack beside a floor, measured in the same run.

Two subjects, each against its own floor run side by side (pulumi-policy's analyzer
servicer: Configure, Analyze per resource, AnalyzeStack, running one trivial rule over the
same resources), so each ratio is the cost of envkit's rules:

- the 100-user/100-instance lab from bench/plan.py;
- hostile IAM: ``--documents`` (50) distinct policy documents that all allow ``"*"``
  (every timed run gets documents it has never seen, so no per-document cache helps).

Also times `envkit policy check labs/aws-basics.yaml` as a user runs it (fresh process).
Prints JSON. Targets: pack <= 3x floor on the lab; the wildcard documents within 1 s
(milliseconds each); the CLI within 2.5 s.
Usage: python bench/policy.py [--repeat N] [--documents N]
"""

from __future__ import annotations

import argparse
import itertools
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

_SALT = itertools.count()


def wildcard_documents(n: int) -> list:
    """Recorded resources: n IAM policies, each a distinct document allowing "*"."""
    import pulumi_aws as aws

    from envkit.planner import run_mocked

    salt = next(_SALT)
    shapes = ["*", "arn:aws:s3:::bucket-{i}/*", ["arn:aws:ec2:*:*:instance/*", "*"]]

    def body() -> None:
        for i in range(n):
            resource = shapes[i % len(shapes)]
            resource = resource.format(i=i) if isinstance(resource, str) else resource
            statement = {"Sid": f"Run{salt}Doc{i}", "Effect": "Allow", "Action": "*",
                         "Resource": resource}
            aws.iam.Policy(f"wild-{i}", policy=json.dumps(
                {"Version": "2012-10-17", "Statement": [statement]}))

    records, _ = run_mocked("bench", "us-east-1", "us-east-1a", body)
    return records


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--documents", type=int, default=50)
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

    def full(records) -> None:
        gate.evaluate(records)

    def floor(records) -> None:
        saved = list(rules.POLICIES)
        rules.POLICIES[:] = [trivial]
        try:
            gate.evaluate(records, routed=False)  # the trivial rule sees every resource
        finally:
            rules.POLICIES[:] = saved

    full(resources)
    floor(resources)  # warm caches (parliament, imports) for both
    full_s, floor_s = _side_by_side([lambda: full(resources), lambda: floor(resources)],
                                    args.repeat)

    # Fresh documents for every timed run: one set per repetition, made before timing.
    full(wildcard_documents(2))  # warm imports and the action index
    fresh = [wildcard_documents(args.documents) for _ in range(args.repeat)]
    fulls, floors = iter(fresh), iter(fresh)
    wild_s, wild_floor_s = _side_by_side(
        [lambda: full(next(fulls)), lambda: floor(next(floors))], args.repeat)

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
        "wildcard_documents": args.documents,
        "wildcard_full_pack_s": round(wild_s, 4),
        "wildcard_floor_s": round(wild_floor_s, 4),
        "wildcard_ratio": round(wild_s / wild_floor_s, 2),
        "wildcard_ms_per_document": round(1000 * wild_s / args.documents, 2),
        "cli_policy_check_aws_basics_s": round(cli_s, 3),
        "targets": {"ratio_max": 3.0, "wildcard_max_s": 1.0, "cli_max_s": 2.5},
        "met": full_s / floor_s <= 3.0 and wild_s <= 1.0 and cli_s <= 2.5,
    }, indent=2))


if __name__ == "__main__":
    main()
