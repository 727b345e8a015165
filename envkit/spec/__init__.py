"""The environment spec: models, loading and validation.

The names below load on first use, so reading one submodule (``envkit.spec.catalog``, say)
does not build every pydantic model.
"""

from __future__ import annotations

import importlib
from typing import Any

_FROM = {"load_spec": "loader", "load_spec_text": "loader"}

__all__ = [
    "Ec2Spec",
    "EnvironmentSpec",
    "GroupSpec",
    "IamSpec",
    "InstanceSpec",
    "KeyPairSpec",
    "NetworkSpec",
    "PasswordPolicySpec",
    "PolicyDocument",
    "RoleSpec",
    "RootVolumeSpec",
    "RuleSpec",
    "SecurityGroupSpec",
    "UserDataSpec",
    "UserSpec",
    "load_spec",
    "load_spec_text",
]


def __getattr__(name: str) -> Any:
    if name not in __all__:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{_FROM.get(name, 'models')}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
