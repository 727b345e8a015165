"""Benchmark: a verdict on a Pulumi program beside the program under bare Pulumi mocks.

Issue 15, point 7: once the project's environment exists, a verdict costs at most 1.5x
running the same program under bare Pulumi mocks in the same interpreter. Both sides run
in a fresh process of this interpreter, in alternation (bench/plan.py _side_by_side):

- floor: the program under ``pulumi.runtime.set_mocks`` with mocks that echo their inputs
  (Pulumi's own unit-testing recipe), as ``pulumi preview`` would run it (dry run, the
  same config in PULUMI_CONFIG);
- gate: ``envkit policy check PROJECT --format json``, the whole verdict: the project read,
  the program run by envkit's runner (provider-shaped outputs, placeholders, lookups), the
  pack evaluated and findings checked against other placeholders.

Subjects: a generated program of ``--size`` roles (each with a policy built with apply()
from the role's ARN), security groups and instances, and the unsafe fixture project.
Prints JSON; target: ratio <= 1.5 on each.
Usage: python bench/gate_program.py [--repeat N] [--size N]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

FLOOR = '''
import json, os, runpy, sys
import pulumi
from pulumi.runtime import mocks

class Echo(mocks.Mocks):
    def new_resource(self, args):
        return (args.name + "-id" if args.custom else ""), dict(args.inputs)
    def call(self, args):
        return {}, []

root = sys.argv[1]
pulumi.runtime.set_all_config(json.loads(os.environ["PULUMI_CONFIG"]))
mocks.set_mocks(Echo(), project=sys.argv[2], stack="dev", preview=True)
os.chdir(root)
runpy.run_path("__main__.py", run_name="__main__")
'''

PROGRAM = '''import json
import pulumi_aws as aws

TRUST = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
    "Action": "sts:AssumeRole", "Principal": {"Service": "ec2.amazonaws.com"}}]})
for i in range(SIZE):
    role = aws.iam.Role(f"app-{i}", assume_role_policy=TRUST)
    aws.iam.RolePolicy(f"app-{i}", role=role.id, policy=role.arn.apply(lambda arn: json.dumps({
        "Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": "iam:PassRole", "Resource": arn},
            {"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": "*"}]})))
    sg = aws.ec2.SecurityGroup(f"web-{i}", description="web", ingress=[{
        "protocol": "tcp", "from_port": 443, "to_port": 443, "cidr_blocks": ["0.0.0.0/0"],
        "description": "https"}])
    aws.ec2.Instance(f"web-{i}", ami="ami-0123456789abcdef0", instance_type="t3.micro",
                     vpc_security_group_ids=[sg.id],
                     metadata_options={"http_tokens": "required"})
'''


def generated(folder: Path, size: int) -> Path:
    """A Pulumi project of ``size`` roles, policies, security groups and instances."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "Pulumi.yaml").write_text("name: bench\nruntime: python\n")
    (folder / "Pulumi.dev.yaml").write_text("config:\n  aws:region: us-east-1\n")
    (folder / "__main__.py").write_text(PROGRAM.replace("SIZE", str(size)))
    return folder


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "PULUMI_"))}
    env["PULUMI_CONFIG"] = json.dumps({"aws:region": "us-east-1"})
    env["PYTHONPATH"] = str(ROOT)
    return env


def measure(name: str, project: Path, floor_file: Path, repeat: int) -> dict:
    from plan import _side_by_side

    project_name = "bench" if name.startswith("generated") else project.name
    floor_cmd = [sys.executable, str(floor_file), str(project), project_name]
    gate_cmd = [sys.executable, "-m", "envkit.cli", "policy", "check", str(project),
                "--format", "json", "--config", "aws:region=us-east-1"]
    env = _env()
    floor = subprocess.run(floor_cmd, env=env, capture_output=True, text=True)
    if floor.returncode != 0:
        raise SystemExit(f"{name}: the floor failed: {floor.stderr[-800:]}")
    gate = subprocess.run(gate_cmd, env=env, capture_output=True, text=True, cwd=ROOT)
    if gate.returncode not in (0, 4):
        raise SystemExit(f"{name}: the gate failed: {gate.stderr[-800:]}")
    resources = json.loads(gate.stdout)["resources"]
    gate_s, floor_s = _side_by_side(
        [lambda: subprocess.run(gate_cmd, env=env, capture_output=True, cwd=ROOT),
         lambda: subprocess.run(floor_cmd, env=env, capture_output=True)], repeat)
    return {"program": name, "resources": resources, "gate_verdict_s": round(gate_s, 3),
            "floor_bare_mocks_s": round(floor_s, 3), "ratio": round(gate_s / floor_s, 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--size", type=int, default=50)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        floor_file = Path(tmp) / "floor.py"
        floor_file.write_text(FLOOR)
        rows = [measure(f"generated-{args.size}", generated(Path(tmp) / "gen", args.size),
                        floor_file, args.repeat),
                measure("unsafe-project", ROOT / "tests" / "fixtures" / "unsafe-project",
                        floor_file, args.repeat)]
    print(json.dumps({"benchmark": "gate_program", "python": sys.version.split()[0],
                      "subjects": rows, "targets": {"ratio_max": 1.5},
                      "met": all(r["ratio"] <= 1.5 for r in rows)}, indent=2))


if __name__ == "__main__":
    main()
