"""Classrooms: one lab, a roster, an isolated environment per student, leases that end on time.

``Classroom`` (the driver every front end uses) is imported lazily, so reading a class's
layout or prices does not load the engine.
"""

from __future__ import annotations

from typing import Any

__all__ = ["Classroom"]


def __getattr__(name: str) -> Any:
    if name == "Classroom":
        from .driver import Classroom

        return Classroom
    raise AttributeError(name)
