"""envkit's event model: what the CLI's progress view, ``--json`` NDJSON and the notebook
widget consume. Engine events (``pulumi.automation.events.EngineEvent``) are translated
here, in one place; anything that is not about a resource, a diagnostic, a policy or the
summary is dropped.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class Event:
    """Base of every envkit event."""

    kind: str = field(init=False, default="event")
    timestamp: float = field(default_factory=time.time)

    def to_dict(self) -> dict[str, Any]:
        """The event as one NDJSON line's object."""
        return asdict(self)


@dataclass
class ResourceStarted(Event):
    """The engine began an operation (create, update, delete, ...) on a resource."""

    urn: str = ""
    type: str = ""
    name: str = ""
    op: str = ""

    def __post_init__(self) -> None:
        self.kind = "resource_started"


@dataclass
class ResourceFinished(Event):
    """An operation on a resource ended, successfully or not."""

    urn: str = ""
    type: str = ""
    name: str = ""
    op: str = ""
    ok: bool = True

    def __post_init__(self) -> None:
        self.kind = "resource_finished"


@dataclass
class Diagnostic(Event):
    """A message from the engine or a provider (warnings and errors)."""

    severity: str = "info"
    message: str = ""
    urn: str | None = None

    def __post_init__(self) -> None:
        self.kind = "diagnostic"


@dataclass
class PolicyViolation(Event):
    """A policy pack reported a violation."""

    policy: str = ""
    pack: str = ""
    level: str = ""
    message: str = ""
    urn: str | None = None

    def __post_init__(self) -> None:
        self.kind = "policy_violation"


@dataclass
class Summary(Event):
    """The operation's outcome: counts per change kind and duration."""

    changes: dict[str, int] = field(default_factory=dict)
    duration_s: int = 0

    def __post_init__(self) -> None:
        self.kind = "summary"


def _name(urn: str) -> str:
    return urn.rsplit("::", 1)[-1] if urn else ""


def translate(engine_event: Any) -> Event | None:
    """One engine event as an envkit event (stamped with the engine's time), or None."""
    event = _translate(engine_event)
    if event is not None and getattr(engine_event, "timestamp", None):
        event.timestamp = float(engine_event.timestamp)
    return event


def _translate(engine_event: Any) -> Event | None:
    """One engine event as an envkit event, or None when it is of no interest.

    The engine already masks secrets (envkit never asks it to show them), so messages
    pass through unchanged.
    """
    e = engine_event
    if e.resource_pre_event is not None:
        m = e.resource_pre_event.metadata
        if m.op in ("same", "read") or m.type == "pulumi:pulumi:Stack":
            return None
        return ResourceStarted(urn=m.urn, type=m.type, name=_name(m.urn), op=str(m.op.value
                               if hasattr(m.op, "value") else m.op))
    if e.res_outputs_event is not None:
        m = e.res_outputs_event.metadata
        if m.op in ("same", "read") or m.type == "pulumi:pulumi:Stack":
            return None
        return ResourceFinished(urn=m.urn, type=m.type, name=_name(m.urn),
                                op=str(m.op.value if hasattr(m.op, "value") else m.op))
    if e.res_op_failed_event is not None:
        m = e.res_op_failed_event.metadata
        return ResourceFinished(urn=m.urn, type=m.type, name=_name(m.urn),
                                op=str(m.op.value if hasattr(m.op, "value") else m.op), ok=False)
    if e.diagnostic_event is not None:
        d = e.diagnostic_event
        if d.ephemeral or d.severity in ("debug",):
            return None
        return Diagnostic(severity=d.severity, message=d.message.strip(), urn=d.urn or None)
    if e.policy_event is not None:
        p = e.policy_event
        return PolicyViolation(policy=p.policy_name, pack=p.policy_pack_name,
                               level=p.enforcement_level, message=p.message.strip(),
                               urn=p.resource_urn)
    if e.summary_event is not None:
        s = e.summary_event
        changes = {str(k.value if hasattr(k, "value") else k): int(v)
                   for k, v in (s.resource_changes or {}).items()}
        return Summary(changes=changes, duration_s=int(s.duration_seconds or 0))
    return None
