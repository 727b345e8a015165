"""Benchmark: offline plan time of envkit beside a floor measured in the same run.

The floor is a bare program that registers the same resources (same pulumi_aws classes,
names, parents, dependency edges and inputs) under the same mocks: what any Pulumi program
of that size costs offline. envkit's overhead is spec loading, validation,
components and output resolution on top of it. Also times `envkit plan` as a user runs it
(a fresh process, wall clock) beside a process that only imports pulumi and pulumi_aws.

Prints one JSON document. Targets: overhead <= 30%, the CLI under 2 s.
Usage: python bench/plan.py [--repeat N]
"""

from __future__ import annotations

import argparse
import json
import random
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def generated_lab(n: int) -> dict:
    """A lab with n users (each in a group) and n instances (each with its own group)."""
    return {
        "name": f"bench-{n}", "owner": "bench@example.com", "ttl": "1h",
        "iam": {
            "groups": {"students": {"managed_policies": ["ReadOnlyAccess"]}},
            "users": {f"student{i}": {"groups": ["students"], "console": True}
                      for i in range(n)},
        },
        "ec2": {
            "network": {"vpc_cidr": "10.30.0.0/16"},
            "key_pairs": {"lab": {}},
            "security_groups": {f"sg{i}": {"ingress": [{"service": "http", "from": "0.0.0.0/0"}]}
                                for i in range(n)},
            "instances": {f"vm{i}": {"type": "t3.micro", "key_pair": "lab",
                                     "security_groups": [f"sg{i}"]} for i in range(n)},
        },
    }


def _snake(key: str) -> str:
    return re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", key).lower()


def _python_args(value, under_tags: bool = False):
    """Recorded (wire, camelCase) inputs back to pulumi_aws's Python argument names.

    Values unknown at plan time stay as their placeholder string: the floor registers
    plain values, which only makes it cheaper, never dearer, than the real program.
    """
    if isinstance(value, dict):
        return {(k if under_tags else _snake(k)): _python_args(v, k == "tags")
                for k, v in value.items()}
    if isinstance(value, list):
        return [_python_args(v) for v in value]
    return value


def _aws_class(type_: str):
    """aws:ec2/instance:Instance -> pulumi_aws.ec2.Instance; None for other packages."""
    import importlib

    package, module, name = type_.split(":")
    if package != "aws" or "/" not in module:
        return None
    return getattr(importlib.import_module(f"pulumi_aws.{module.split('/')[0]}"), name)


def _floor_body(records):
    """A bare program: the recorded resources, as pulumi_aws classes, nothing else."""
    import pulumi

    classes = {r.type: _aws_class(r.type) for r in records if r.custom}

    def body():
        made = {}
        for r in records:  # parents before children
            # The same graph: parent and every dependency edge the program had.
            opts = pulumi.ResourceOptions(parent=made.get(r.parent),
                                          depends_on=[made[d] for d in r.dependencies
                                                      if d in made])
            cls = classes.get(r.type)
            if cls is not None:
                made[r.urn] = cls(r.name, opts=opts, **_python_args(r.inputs))
            elif r.custom:
                made[r.urn] = pulumi.CustomResource(r.type, r.name, _python_args(r.inputs),
                                                    opts=opts)
            else:
                made[r.urn] = pulumi.ComponentResource(r.type, r.name, None, opts=opts)
    return body


def _side_by_side(fns, repeat: int) -> list[float]:
    """Median time of each function, run in alternation so that whatever else the machine
    is doing weighs on both sides alike. Each round takes the sides in a shuffled (seeded)
    order: a cost that comes back every k runs, such as a full garbage collection, would
    otherwise fall on the same side every time in strict a, b, a, b order."""
    order = random.Random(20261207)
    times: list[list[float]] = [[] for _ in fns]
    for _ in range(repeat):
        for i in order.sample(range(len(fns)), len(fns)):
            start = time.perf_counter()
            fns[i]()
            times[i].append(time.perf_counter() - start)
    return [statistics.median(t) for t in times]


def measure(name: str, source, repeat: int) -> dict:
    import envkit
    from envkit.planner import run_mocked

    plan = envkit.plan(source)  # warm-up, and the resources the floor registers
    spec = envkit.load_spec(source)
    records = sorted(plan.resources, key=lambda r: r.urn.count("$"))
    body = _floor_body(records)
    envkit_s, floor_s = _side_by_side(
        [lambda: envkit.plan(source),
         lambda: run_mocked(spec.name, spec.region, spec.availability_zone, body)], repeat)
    return {
        "lab": name, "resources": len(plan.resources),
        "envkit_s": round(envkit_s, 4), "floor_s": round(floor_s, 4),
        "overhead": round(envkit_s / floor_s - 1, 3),
    }


def cli_wall(repeat: int) -> dict:
    def run(args):
        subprocess.run(args, check=True, capture_output=True, cwd=ROOT)

    envkit_cmd = [sys.executable, "-m", "envkit.cli", "plan", "labs/aws-basics.yaml"]
    floor_cmd = [sys.executable, "-c", "import pulumi, pulumi_aws.ec2, pulumi_aws.iam"]
    run(envkit_cmd)
    return {
        **dict(zip(("envkit_plan_aws_basics_s", "floor_import_pulumi_aws_s"), (
            round(t, 3) for t in _side_by_side([lambda: run(envkit_cmd),
                                                lambda: run(floor_cmd)], repeat)), strict=True)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    results = [
        # Small labs take tens of milliseconds: more rounds cost little and steady the median.
        measure("labs/aws-basics.yaml", ROOT / "labs" / "aws-basics.yaml", 4 * args.repeat),
        measure("generated-10", generated_lab(10), 2 * args.repeat),
        measure("generated-100", generated_lab(100), max(3, args.repeat // 2)),
    ]
    cli = cli_wall(args.repeat)
    print(json.dumps({
        "benchmark": "plan",
        "targets": {"overhead_max": 0.30, "cli_wall_max_s": 2.0},
        "results": results,
        "cli": cli,
        "met": all(r["overhead"] <= 0.30 for r in results)
        and cli["envkit_plan_aws_basics_s"] <= 2.0,
    }, indent=2))


if __name__ == "__main__":
    main()
