"""`envkit doctor`: every prerequisite, each with pass/fail and the fix."""

from __future__ import annotations

import stat
import subprocess
from dataclasses import asdict, dataclass
from importlib import metadata


@dataclass
class Check:
    """One prerequisite's verdict."""

    name: str
    status: str  # pass | fail | info
    detail: str
    fix: str = ""

    def to_dict(self) -> dict[str, str]:
        """The check as JSON-ready data."""
        return asdict(self)


def _packages() -> list[Check]:
    out = []
    for name in ("pulumi", "pulumi_aws", "pulumi_policy", "boto3", "moto", "typer", "pydantic"):
        try:
            out.append(Check(f"python package {name}", "pass", metadata.version(name)))
        except metadata.PackageNotFoundError:
            out.append(Check(f"python package {name}", "fail", "not installed",
                             "pip install -e '.[dev]' (or pip install envkit)"))
    return out


def _pulumi() -> list[Check]:
    from .engine import aws_plugin_version, find_pulumi

    path = find_pulumi()
    if path is None:
        return [Check("Pulumi CLI", "fail", "not found on PATH, in ENVKIT_HOME/pulumi or "
                      "~/.pulumi", "envkit install-pulumi (needs internet); envkit plan works "
                      "without it"),
                Check("aws provider plugin", "info", "needs the Pulumi CLI to check")]
    try:
        version = subprocess.run([str(path), "version"], capture_output=True, text=True,
                                 timeout=30, env={"PULUMI_SKIP_UPDATE_CHECK": "true",
                                                  "PATH": str(path.parent)}).stdout.strip()
        checks = [Check("Pulumi CLI", "pass", f"{version} at {path}")]
    except (OSError, subprocess.SubprocessError) as exc:
        return [Check("Pulumi CLI", "fail", f"{path} does not run: {exc}",
                      "envkit install-pulumi")]
    want = aws_plugin_version()
    plugins = subprocess.run([str(path), "plugin", "ls"], capture_output=True, text=True,
                             timeout=60).stdout
    found = any(line.split()[:1] == ["aws"] and want in line for line in plugins.splitlines())
    checks.append(Check("aws provider plugin", "pass" if found else "fail",
                        f"v{want}" + ("" if found else " not installed"),
                        f"pulumi plugin install resource aws v{want} (envkit up installs it "
                        "when online)"))
    return checks


def _target() -> list[Check]:
    from . import local
    from .targets import aws_credentials_available

    checks = []
    try:
        creds = aws_credentials_available()
    except Exception as exc:  # noqa: BLE001 - a broken profile is a finding, not a crash
        creds = False
        checks.append(Check("AWS credentials", "fail", str(exc), "aws configure"))
    else:
        checks.append(Check("AWS credentials", "info",
                            "found: default target is aws" if creds else
                            "none: default target is the local emulator"))
    s = local.status()
    checks.append(Check("local emulator", "info",
                        f"running at {s.endpoint}" if s.running else
                        "not running (envkit up starts it; envkit local start)"))
    return checks


def _home() -> list[Check]:
    from . import home

    root = home.home()
    checks = []
    mode = stat.S_IMODE(root.stat().st_mode)
    checks.append(Check("ENVKIT_HOME", "pass" if not mode & 0o077 else "fail",
                        f"{root} (mode {mode:o})", f"chmod 700 {root}"))
    secret = root / "passphrase"
    if secret.exists():
        mode = stat.S_IMODE(secret.stat().st_mode)
        checks.append(Check("passphrase file", "pass" if mode == 0o600 else "fail",
                            f"mode {mode:o}", f"chmod 600 {secret}"))
    for key in sorted((root / "keys").glob("*/*.pem")):
        mode = stat.S_IMODE(key.stat().st_mode)
        checks.append(Check(f"key {key.parent.name}/{key.name}",
                            "pass" if mode == 0o400 else "fail", f"mode {mode:o}",
                            f"chmod 400 {key}"))
    return checks


def run_checks() -> list[Check]:
    """All checks, in the order a newcomer meets them."""
    return _packages() + _pulumi() + _target() + _home()
