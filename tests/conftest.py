"""Shared fixtures. The suite is hermetic: before any test module, fixture or kernel starts,
HOME, ENVKIT_HOME, the Jupyter and IPython folders, XDG folders and the AWS config files
point into one temporary folder, and no AWS credentials or profile are set, so nothing can
read or write the user's real home or reach a real account. Each test also gets its own
ENVKIT_HOME."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
LABS = ROOT / "labs"
BASICS = LABS / "aws-basics.yaml"

_AWS_SECRETS = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
                "AWS_SECURITY_TOKEN", "AWS_PROFILE", "AWS_DEFAULT_PROFILE")


def _isolate_session() -> Path:
    """Point every per-user location at a fresh temporary folder (at import, before pytest
    collects or starts any fixture: session- and module-scoped ones included)."""
    root = Path(tempfile.mkdtemp(prefix="envkit-tests-"))
    home = root / "home"
    places = {
        "HOME": home,
        "ENVKIT_HOME": root / "envkit-home",
        "PULUMI_HOME": root / "pulumi-home",  # installed plugins: none unless a test adds one
        "JUPYTER_CONFIG_DIR": root / "jupyter" / "config",
        "JUPYTER_DATA_DIR": root / "jupyter" / "data",
        "JUPYTER_RUNTIME_DIR": root / "jupyter" / "runtime",
        "IPYTHONDIR": root / "ipython",
        "XDG_CONFIG_HOME": home / ".config",
        "XDG_DATA_HOME": home / ".local" / "share",
        "XDG_CACHE_HOME": home / ".cache",
        "AWS_CONFIG_FILE": root / "aws" / "config",
        "AWS_SHARED_CREDENTIALS_FILE": root / "aws" / "credentials",
    }
    for var, path in places.items():
        (path.parent if var.startswith("AWS_") else path).mkdir(parents=True, exist_ok=True)
        os.environ[var] = str(path)
    for var in _AWS_SECRETS:
        os.environ.pop(var, None)
    return root


SESSION_ROOT = _isolate_session()


def pytest_unconfigure(config) -> None:
    shutil.rmtree(SESSION_ROOT, ignore_errors=True)


@pytest.fixture(autouse=True)
def _isolated(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("ENVKIT_HOME", str(tmp_path_factory.mktemp("envkit-home")))
    for var in _AWS_SECRETS:
        monkeypatch.delenv(var, raising=False)


@pytest.fixture
def basics_text() -> str:
    return BASICS.read_text()


def basics_dict() -> dict:
    """The reference lab as a plain dict, to derive variants from."""
    return yaml.safe_load(BASICS.read_text())


def minimal(**extra) -> dict:
    """The smallest valid spec, plus whatever a test adds."""
    return {"name": "t-lab", "owner": "tester@example.com", **extra}


#: Five mistakes of both kinds (field errors and cross-references) in different sections of
#: the reference lab, in file order: (text, replacement, field, message fragment).
FIVE_MISTAKES = [
    ("ttl: 8h", "ttl: 8 hours", "ttl", "cannot parse ttl '8 hours'"),
    ("managed_policies: [ReadOnlyAccess]", "managed_policies: [ReadOnlyAcess]",
     "iam.groups.developers.managed_policies[0]",
     "no AWS managed policy is named 'ReadOnlyAcess' (did you mean 'ReadOnlyAccess'?)"),
    ("groups: [developers]", "groups: [devs]", "iam.users.dev1.groups[0]",
     "unknown group 'devs'; known groups: administrators, developers"),
    ("type: t2.micro", "type: t2.mega", "ec2.instances.web.type",
     "unknown instance type 't2.mega'"),
    ("key_pair: learning-ec2", "key_pair: learning", "ec2.instances.web.key_pair",
     "unknown key pair 'learning'; known key pairs: learning-ec2"),
]


def five_mistakes(text: str) -> tuple[str, list[tuple[int, str, str]]]:
    """The reference lab with FIVE_MISTAKES made, and (line, field, fragment) of each."""
    expected = []
    for old, new, field, fragment in FIVE_MISTAKES:
        assert text.count(old) == 1, old
        text = text.replace(old, new)
        expected.append((text[: text.index(new)].count("\n") + 1, field, fragment))
    return text, expected


@pytest.fixture(scope="session")
def basics_plan():
    import envkit

    return envkit.plan(BASICS)
