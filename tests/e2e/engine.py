"""What every e2e module needs first: the real Pulumi CLI, new enough for envkit, and the
aws plugin that matches pulumi-aws. A missing plugin is installed when the internet is
reachable (into the tests' own PULUMI_HOME, never the user's). Without either, the module
is skipped with the reason printed."""

from __future__ import annotations

import json
import os
import subprocess
from importlib import metadata
from pathlib import Path

import pytest

from envkit.pulumi_cli import MIN_CLI_VERSION, _new_enough, cli_version, find_pulumi


def _aws_plugins(pulumi: Path) -> list[str]:
    done = subprocess.run([str(pulumi), "plugin", "ls", "--json"], capture_output=True,
                          text=True, env={**os.environ, "PULUMI_SKIP_UPDATE_CHECK": "true"})
    try:
        return [str(p.get("version", "")).lstrip("v") for p in json.loads(done.stdout or "[]")
                if p.get("name") == "aws"]
    except ValueError:
        return []


def require_engine(covered_by: str) -> Path:
    """The Pulumi CLI, or skip the calling module saying what covers it here instead."""
    pulumi = find_pulumi()
    if pulumi is None:
        pytest.skip("e2e: the Pulumi CLI is not installed (envkit install-pulumi needs "
                    f"internet); {covered_by}", allow_module_level=True)
    version = cli_version(pulumi)
    if not _new_enough(version):
        pytest.skip(f"e2e: the Pulumi CLI at {pulumi} is {version}, older than envkit's "
                    f"minimum {MIN_CLI_VERSION} (envkit install-pulumi)",
                    allow_module_level=True)
    wanted = metadata.version("pulumi_aws")
    if wanted not in _aws_plugins(pulumi):
        subprocess.run([str(pulumi), "plugin", "install", "resource", "aws", f"v{wanted}"],
                       capture_output=True, text=True, timeout=900)
    if wanted not in _aws_plugins(pulumi):
        pytest.skip(f"e2e: the Pulumi aws plugin v{wanted} is not installed and could not "
                    f"be (pulumi plugin install resource aws v{wanted} needs internet)",
                    allow_module_level=True)
    return pulumi
