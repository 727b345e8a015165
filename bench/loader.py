"""Benchmark: envkit's bounded YAML loader beside ruamel's plain safe load of the same text.

Two legitimate specs: one of about 1 MiB (just under the size limit) written out in full,
and one that leans on anchors, aliases and merge keys (`<<: *base`) the way a long course
spec would. For each, envkit's `parse_yaml` (composition, limits counted while reading,
line map) runs alternating with the floor, `YAML(typ="safe", pure=True).load` of the same
text, in the same process; the whole `load_spec` (with validation) is reported beside them.
Also reported, not compared: how long an alias bomb takes to be refused and the peak memory
allocated meanwhile (tracemalloc).

Prints one JSON document. Target: parse_yaml <= 1.5x the floor.
Usage: python bench/loader.py [--repeat N]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import tracemalloc
from pathlib import Path

from plan import _side_by_side

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

POLICY = """\
          Statement:
            - Sid: ReadLabBucket{i}
              Effect: Allow
              Action: [s3:GetObject, s3:ListBucket]
              Resource: ["arn:aws:s3:::lab-bucket-{i}", "arn:aws:s3:::lab-bucket-{i}/*"]
              Condition:
                NumericLessThan: {{aws:MultiFactorAuthAge: 3600}}
                Bool: {{aws:SecureTransport: true}}
"""


def large_spec(limit: int) -> str:
    """A spec written out in full, grown until the next block would pass ``limit`` bytes."""
    head = ["name: bench-large", "owner: bench@example.com", "ttl: 8h",
            "tags: {course: aws-101, cohort: spring}", "iam:", "  groups:"]
    groups = [f"    team{i}:\n      managed_policies: [ReadOnlyAccess]\n      inline_policies:\n"
              f"        read-bucket-{i}:\n" + POLICY.format(i=i) for i in range(300)]
    users = [f"    student{i:05d}: {{groups: [team{i % 300}], console: true}}"
             for i in range(10_000)]
    sgs = [f"    sg{i}:\n      description: lab group {i}\n      ingress:\n"
           + "".join(f"        - {{protocol: tcp, ports: {8000 + j}, from: 10.{i % 250}.{j}.0/24"
                     "}\n" for j in range(30)) for i in range(400)]
    text = "\n".join(head) + "\n"
    for block in groups:
        text += block
    text += "  users:\n"
    for line in users:
        if len(text) + 40_000 > limit:
            break
        text += line + "\n"
    text += "ec2:\n  network: {vpc_cidr: 10.30.0.0/16}\n  security_groups:\n"
    for block in sgs:
        if len(text) + len(block) > limit:
            break
        text += block
    return text


def aliased_spec() -> str:
    """A legitimate spec that reuses anchors: shared rule lists, policies and a merged
    instance template, as a long course spec written by hand would."""
    lines = ["name: bench-aliases", "owner: bench@example.com", "iam:", "  groups:",
             "    base:", "      inline_policies:", "        read: &read",
             "          Statement:", "            - Effect: Allow",
             "              Action: &actions [s3:GetObject, s3:ListBucket]",
             "              Resource: &bucket [\"arn:aws:s3:::lab\", \"arn:aws:s3:::lab/*\"]"]
    lines += [f"    team{i}: {{inline_policies: {{read: *read}}}}" for i in range(299)]
    lines += ["  users:", "    student0: &student {groups: [base], console: true}"]
    lines += [f"    student{i}: *student" for i in range(1, 5000)]
    lines += ["ec2:", "  network: {vpc_cidr: 10.30.0.0/16}", "  security_groups:",
              "    web: &web", "      ingress: &rules"]
    lines += [f"        - {{protocol: tcp, ports: {8000 + j}, from: 10.0.{j}.0/24}}"
              for j in range(50)]
    lines += [f"    web{i}: *web" for i in range(1, 300)]
    lines += ["  instances:", "    vm0: &vm {type: t3.micro, security_groups: [web],"
              " tags: {course: aws-101}}"]
    lines += [f"    vm{i}: {{<<: *vm, security_groups: [web{i % 299 + 1}]}}"
              for i in range(1, 1000)]
    return "\n".join(lines) + "\n"


def alias_bomb(levels: int = 9) -> str:
    """The classic billion laughs, in an IAM Condition (a free-form field)."""
    lines = ["name: bomb", "owner: me", "iam:", "  groups:", "    g:", "      inline_policies:",
             "        p:", "          Statement:", "            - Effect: Allow",
             "              Action: s3:GetObject", "              Resource: '*'",
             "              Condition:", "                StringEquals:",
             "                  l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    lines += [f"                  l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * 10) + "]"
              for i in range(1, levels)]
    return "\n".join(lines) + "\n"


def measure(name: str, text: str, repeat: int) -> dict:
    from ruamel.yaml import YAML

    import envkit
    from envkit.spec.loader import parse_yaml

    def floor() -> None:
        YAML(typ="safe", pure=True).load(text)

    envkit.load_spec(text)  # a legitimate spec: it must load
    parse_s, floor_s = _side_by_side([lambda: parse_yaml(text), floor], repeat)
    start = time.perf_counter()
    envkit.load_spec(text)
    return {"spec": name, "bytes": len(text.encode()), "parse_yaml_s": round(parse_s, 4),
            "floor_s": round(floor_s, 4), "ratio": round(parse_s / floor_s, 2),
            "load_spec_s": round(time.perf_counter() - start, 4)}


def bomb() -> dict:
    from envkit.errors import SpecError
    from envkit.spec.loader import parse_yaml

    text = alias_bomb()
    tracemalloc.start()
    start = time.perf_counter()
    try:
        parse_yaml(text)
        refused = False
    except SpecError:
        refused = True
    seconds = time.perf_counter() - start
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return {"spec": "alias bomb (10^9 values)", "bytes": len(text), "refused": refused,
            "seconds": round(seconds, 4), "peak_mib": round(peak / 2**20, 2)}


def main() -> None:
    from envkit.limits import MAX_SPEC_BYTES

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    results = [measure("1 MiB spec", large_spec(MAX_SPEC_BYTES), args.repeat),
               measure("alias-heavy spec", aliased_spec(), args.repeat), bomb()]
    print(json.dumps({"benchmark": "loader", "repeat": args.repeat, "results": results},
                     indent=2))


if __name__ == "__main__":
    main()
