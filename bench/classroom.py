"""Benchmark: the offline plan of a 200-student class beside the Pulumi-mocks floor.

The class: each student gets a console user, a generated key pair, a security group and an
instance with an elastic IP and an extra network interface (11 resources with the stack's
provider), about 2,200 resources in all. The floor is a bare program registering the same
resources (same pulumi_aws classes, names, parents, dependency edges, inputs) under the same
mocks: what any Pulumi program of that size costs offline (bench/plan.py's floor).

Time is measured in this process, envkit and the floor alternating. Memory in fresh child
processes, one per side, alternating too: the peak of what the plan itself allocates
(tracemalloc, started once both sides have imported the same modules), and beside it the
process's peak resident set (imports included, so it says more about pulumi_aws than about
either side). Also prints the planned wall time of
`envkit class up` at the chosen parallelism: the shared stack, then waves of students, for
an assumed time per stack (a real run records its own; see `envkit class plan`).

Prints one JSON document. Target: time and memory each at most 1.3x the floor.
Usage: python bench/classroom.py [--students N] [--repeat N] [--parallel P]
       [--stack-seconds S]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
from pathlib import Path
from types import SimpleNamespace

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))


def class_spec(n: int) -> dict:
    """A class of ``n`` students (quotas declared: a class this size needs them raised)."""
    return {
        "name": "bench-class", "owner": "bench@example.com", "ttl": "8h",
        "classroom": {
            "roster": {"count": n, "pattern": "student{n:03}"},
            "per_student": {"users": ["student"], "key_pairs": ["lab"],
                            "security_groups": ["ssh"], "instances": ["web"]},
            "concurrency": 64,
            "quotas": {"elastic_ips": n + 10, "instances": n + 10},
        },
        "iam": {"account_alias": "bench-class-lab", "password_policy": {},
                "users": {"student": {"console": True}},
                "roles": {"web": {"trusted_service": "ec2"}}},
        "ec2": {
            "network": {"vpc_cidr": "10.70.0.0/16"},
            "key_pairs": {"lab": {}},
            "security_groups": {
                "web": {"ingress": [{"service": "http", "from": "0.0.0.0/0"}]},
                "ssh": {"ingress": [{"service": "ssh", "from": "203.0.113.0/24"}]}},
            "instances": {"web": {"type": "t3.micro", "key_pair": "lab", "role": "web",
                                  "security_groups": ["web", "ssh"], "elastic_ip": True,
                                  "extra_network_interfaces": 1, "user_data": "web-server"}},
        },
    }


def _records(path: Path) -> list:
    rows = json.loads(path.read_text())
    return [SimpleNamespace(**r) for r in rows]


def _plan_and_floor(n: int):
    from plan import _floor_body

    from envkit import Classroom

    plan = Classroom(class_spec(n)).plan()
    records = sorted(plan.plan.resources, key=lambda r: r.urn.count("$"))
    return plan, _floor_body(records)


def child(kind: str, n: int, records: Path) -> None:
    """One side in a fresh process: the Python memory its plan allocates at the peak
    (tracemalloc, started after the imports both sides share) and the process's peak RSS."""
    import tracemalloc

    import pulumi_aws.ec2
    import pulumi_aws.iam
    from plan import _floor_body

    import envkit.classroom.driver  # noqa: F401 - the same imports on both sides
    from envkit.planner import _LOCK, run_mocked

    del pulumi_aws
    if kind == "floor":
        body = _floor_body(_records(records))
    tracemalloc.start()
    if kind == "envkit":
        from envkit import Classroom

        Classroom(class_spec(n)).plan()
    else:
        with _LOCK:
            run_mocked("bench-class", "us-east-1", "us-east-1a", body)
    _, traced_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"traced_peak_mb": traced_peak / 2**20, "rss_peak_mb": rss / 1024}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--parallel", type=int, default=None)
    parser.add_argument("--stack-seconds", type=float, default=90.0)
    parser.add_argument("--child", choices=["envkit", "floor"])
    parser.add_argument("--records", type=Path)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.students, args.records)
        return

    import statistics

    from plan import _side_by_side

    from envkit.classroom.driver import Classroom, default_parallel
    from envkit.planner import _LOCK, run_mocked

    plan, floor = _plan_and_floor(args.students)  # also the warm-up

    def run_floor() -> None:
        with _LOCK:
            run_mocked("bench-class", "us-east-1", "us-east-1a", floor)

    envkit_s, floor_s = _side_by_side([lambda: Classroom(class_spec(args.students)).plan(),
                                       run_floor], args.repeat)
    with tempfile.TemporaryDirectory() as tmp:
        records = Path(tmp) / "records.json"
        records.write_text(json.dumps([
            {"urn": r.urn, "type": r.type, "name": r.name, "parent": r.parent,
             "custom": r.custom, "dependencies": r.dependencies, "inputs": r.inputs}
            for r in sorted(plan.plan.resources, key=lambda r: r.urn.count("$"))]))
        memory: dict[str, list[dict]] = {"envkit": [], "floor": []}
        for _ in range(max(1, args.repeat - 1)):
            for kind in ("envkit", "floor"):
                done = subprocess.run(
                    [sys.executable, __file__, "--child", kind, "--students",
                     str(args.students), "--records", str(records)],
                    capture_output=True, text=True, check=True)
                memory[kind].append(json.loads(done.stdout))
    traced = {k: statistics.median(m["traced_peak_mb"] for m in v) for k, v in memory.items()}
    rss = {k: statistics.median(m["rss_peak_mb"] for m in v) for k, v in memory.items()}
    parallel = min(args.parallel or default_parallel(), 64)
    schedule = Classroom(class_spec(args.students), parallel=parallel).estimated_wall_time(
        args.stack_seconds)
    time_ratio = envkit_s / floor_s
    memory_ratio = traced["envkit"] / traced["floor"]
    print(json.dumps({
        "benchmark": "classroom",
        "students": args.students, "stacks": 1 + len(plan.students),
        "resources": len(plan.plan.resources), "custom_resources": plan.total(),
        "targets": {"time_ratio_max": 1.3, "memory_ratio_max": 1.3},
        "time": {"envkit_s": round(envkit_s, 3), "floor_s": round(floor_s, 3),
                 "ratio": round(time_ratio, 3)},
        "memory": {"envkit_plan_peak_mb": round(traced["envkit"], 1),
                   "floor_plan_peak_mb": round(traced["floor"], 1),
                   "ratio": round(memory_ratio, 3),
                   "envkit_process_rss_peak_mb": round(rss["envkit"], 1),
                   "floor_process_rss_peak_mb": round(rss["floor"], 1)},
        "class_up_schedule": {**schedule, "note": "stack_seconds is assumed (--stack-seconds);"
                                                  " envkit class plan uses recorded runs"},
        "met": time_ratio <= 1.3 and memory_ratio <= 1.3,
    }, indent=2))


if __name__ == "__main__":
    main()
