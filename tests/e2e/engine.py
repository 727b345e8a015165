"""What every e2e module needs first: the real Pulumi CLI and the aws plugin that matches
pulumi-aws. Without either, the module is skipped with the reason printed."""

from __future__ import annotations

import subprocess
from importlib import metadata
from pathlib import Path

import pytest

from envkit.engine import find_pulumi


def require_engine(covered_by: str) -> Path:
    """The Pulumi CLI, or skip the calling module saying what covers it here instead."""
    pulumi = find_pulumi()
    if pulumi is None:
        pytest.skip("e2e: the Pulumi CLI is not installed (envkit install-pulumi needs "
                    f"internet); {covered_by}", allow_module_level=True)
    version = metadata.version("pulumi_aws")
    plugins = subprocess.run([str(pulumi), "plugin", "ls"], capture_output=True,
                             text=True).stdout
    if not any(line.split()[:1] == ["aws"] and version in line
               for line in plugins.splitlines()):
        pytest.skip(f"e2e: the Pulumi aws plugin v{version} is not installed "
                    f"(pulumi plugin install resource aws v{version})",
                    allow_module_level=True)
    return pulumi
