"""`envkit doctor`: every prerequisite, each with pass/fail and the fix."""

from __future__ import annotations

import json
import os
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
    """The CLI found, its version against envkit's minimum, and the aws plugin."""
    from .pulumi_cli import (
        MIN_CLI_VERSION,
        _new_enough,
        aws_plugin_version,
        cli_version,
        find_pulumi,
        sdk_cli_version,
    )

    want = aws_plugin_version()
    path = find_pulumi()
    if path is None:
        return [Check("Pulumi CLI", "fail", f"not found on PATH, in ENVKIT_HOME/pulumi or "
                      f"~/.pulumi (envkit needs {MIN_CLI_VERSION} or newer)",
                      f"envkit install-pulumi (installs {sdk_cli_version()}; needs internet), "
                      "or envkit up --yes; envkit plan works without it"),
                Check("aws provider plugin", "info",
                      f"v{want} needed; the Pulumi CLI is needed to check it")]
    version = cli_version(path)
    if version is None:
        return [Check("Pulumi CLI", "fail", f"{path} does not run", "envkit install-pulumi")]
    ok = _new_enough(version)
    checks = [Check("Pulumi CLI", "pass" if ok else "fail",
                    f"{version} at {path} (minimum {MIN_CLI_VERSION})",
                    f"envkit install-pulumi (installs {sdk_cli_version()} into "
                    "ENVKIT_HOME/pulumi, which envkit then prefers)")]
    try:  # `plugin ls --json`: [{"name", "kind", "version", ...}] (pulumi/pulumi
        # pkg/cmd/pulumi/plugin/plugin_list.go:97-100, pluginInfoJSON)
        plugins = subprocess.run([str(path), "plugin", "ls", "--json"], capture_output=True,
                                 text=True, timeout=60,
                                 env={**os.environ, "PULUMI_SKIP_UPDATE_CHECK": "true"}).stdout
        found = sorted(str(p.get("version", "")).lstrip("v") for p in json.loads(plugins or "[]")
                       if isinstance(p, dict) and p.get("name") == "aws")
    except (OSError, subprocess.SubprocessError, ValueError):
        found = []
    present = want in found
    checks.append(Check("aws provider plugin", "pass" if present else "fail",
                        f"v{want} needed; installed: "
                        + (", ".join(f"v{v}" for v in found) or "none"),
                        f"pulumi plugin install resource aws v{want} (envkit up installs it "
                        "when online)"))
    return checks


def _settings() -> list[Check]:
    """Where the backend URL and the passphrase come from (never the passphrase)."""
    from .engine_settings import passphrase_source, resolve_backend

    backend = resolve_backend(None, create=False)
    checks = [Check("backend", "info", f"{backend.value} (from {backend.source}; "
                    "PULUMI_BACKEND_URL, then --backend, then ENVKIT_HOME/state)")]
    source = passphrase_source()
    check = Check("passphrase", "info", f"from {source} (PULUMI_CONFIG_PASSPHRASE, then "
                  "PULUMI_CONFIG_PASSPHRASE_FILE, then ENVKIT_PASSPHRASE, then the generated "
                  "one)")
    file = os.environ.get("PULUMI_CONFIG_PASSPHRASE_FILE")
    if source == "PULUMI_CONFIG_PASSPHRASE_FILE" and file and not os.path.isfile(file):
        check = Check("passphrase", "fail", "from PULUMI_CONFIG_PASSPHRASE_FILE, which names "
                      "no readable file", "point PULUMI_CONFIG_PASSPHRASE_FILE at the file")
    checks.append(check)
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

    root = home.location()  # a check creates nothing
    if not root.is_dir():
        return [Check("ENVKIT_HOME", "info", f"{root} (not created yet: the first `envkit up` "
                                             "makes it, mode 700)")]
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
    return _packages() + _pulumi() + _settings() + _target() + _home()
