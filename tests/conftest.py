"""Shared fixtures: every test runs with ENVKIT_HOME in a temporary folder and no AWS
credentials, so nothing can reach a real account."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
LABS = ROOT / "labs"
BASICS = LABS / "aws-basics.yaml"


@pytest.fixture(autouse=True)
def _isolated(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("ENVKIT_HOME", str(tmp_path_factory.mktemp("envkit-home")))
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
                "AWS_PROFILE"):
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


@pytest.fixture(scope="session")
def basics_plan():
    import envkit

    return envkit.plan(BASICS)
