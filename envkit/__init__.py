"""envkit: declarative AWS lab environments on Pulumi.

The public API is re-exported here lazily, so ``import envkit`` (and the CLI's start-up)
does not pay for pulumi_aws until a component or a plan is actually used.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS = {
    "Environment": "envkit.engine",
    "EnvironmentSpec": "envkit.spec",
    "load_spec": "envkit.spec",
    "plan": "envkit.planner",
    "Classroom": "envkit.classroom",
    "Plan": "envkit.planner",
    "program": "envkit.stack_program",
    "IamLab": "envkit.components",
    "Ec2Lab": "envkit.components",
    "LabNetwork": "envkit.components",
    "EnvkitError": "envkit.errors",
    "SpecError": "envkit.errors",
    "SpecIssue": "envkit.errors",
    "PrerequisiteError": "envkit.errors",
    "PolicyViolationError": "envkit.errors",
    "OperationError": "envkit.errors",
    "StackLockedError": "envkit.errors",
    "CancelledError": "envkit.errors",
}

__all__ = [
    "CancelledError",
    "Classroom",
    "Ec2Lab",
    "Environment",
    "EnvironmentSpec",
    "EnvkitError",
    "IamLab",
    "LabNetwork",
    "OperationError",
    "Plan",
    "PolicyViolationError",
    "PrerequisiteError",
    "SpecError",
    "SpecIssue",
    "StackLockedError",
    "load_spec",
    "plan",
    "program",
]

if TYPE_CHECKING:
    from .classroom import Classroom
    from .components import Ec2Lab, IamLab, LabNetwork
    from .engine import Environment
    from .errors import (
        CancelledError,
        EnvkitError,
        OperationError,
        PolicyViolationError,
        PrerequisiteError,
        SpecError,
        SpecIssue,
        StackLockedError,
    )
    from .planner import Plan, plan
    from .spec import EnvironmentSpec, load_spec
    from .stack_program import program


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'envkit' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


def load_ipython_extension(ipython: Any) -> None:
    """`%load_ext envkit` in any IPython kernel: the %envkit and %%envkit magics."""
    from .notebook import load_ipython_extension as load

    load(ipython)
