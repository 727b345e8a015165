"""Releasing a class's stack locks after a run was cancelled or killed (``class cancel``).

A CI job that is cancelled or times out can leave its stacks locked: GitHub's runner sends
SIGINT, then SIGTERM, then kills the process tree, and a Pulumi CLI killed mid-update
keeps its lock. The workflow's clean-up step runs this for the shard's students.

The semantics are the engine's (:meth:`envkit.engine.Environment.cancel`): on a DIY
backend (``file://``, ``s3://``, ...) ``pulumi cancel`` only deletes the stack's lock files,
stops nothing, and does not fail when the stack holds no lock (pulumi/pulumi
pkg/backend/diy/backend.go ``CancelCurrentUpdate``, and its ``TestCancel``); on a
``file://`` backend a lock whose process is still running on this machine is kept. Unlike
``envkit cancel``, a stack the backend does not hold is reported, never created: the
backend's stack list is read first and each stack is selected, not created.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ..errors import EnvkitError, OperationError


@dataclass
class Released:
    """What ``class cancel`` did to one stack: released, no lock, kept, not deployed, failed."""

    student: str | None
    stack: str
    result: str
    detail: str = ""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return asdict(self)


def release_locks(classroom: Any, shared: bool) -> list[Released]:
    """Release the update locks of the selected students' stacks (and of the shared stack
    when ``shared``), for stacks that exist in the backend."""
    from pulumi import automation as auto

    from ..engine import PROJECT, backend_url, file_backend_locks
    from .backend import backend_workspace

    workspace = backend_workspace(classroom.backend)
    try:
        existing = {s.name for s in workspace.list_stacks()}
    except EnvkitError:
        raise
    except Exception as exc:  # noqa: BLE001 - mapped at one boundary
        raise OperationError(f"cannot list the stacks of the backend: {exc}") from None
    url = backend_url(classroom.backend) or os.environ.get("PULUMI_BACKEND_URL") or ""
    folder = Path(url[len("file://"):]).expanduser() if url.startswith("file://") else None
    out: list[Released] = []
    for student in ([None] if shared else []) + list(classroom.selected):
        sid = student.id if student is not None else None
        stack = classroom.name if student is None else classroom.layout.stack_name(student)
        if stack not in existing:
            out.append(Released(sid, stack, "not deployed"))
            continue
        if folder is not None:
            holders = file_backend_locks(folder, PROJECT, stack)
            alive = [h for h in holders if h.alive]
            if alive:
                who = ", ".join(f"pid {h.pid} (started {h.timestamp})" for h in alive)
                out.append(Released(sid, stack, "kept", f"the update holding it is still "
                                                        f"running here ({who})"))
                continue
            if not holders:
                out.append(Released(sid, stack, "no lock"))
                continue
        try:
            auto.Stack.select(stack, workspace).cancel()
        except Exception as exc:  # noqa: BLE001 - one stack's failure stops no other
            out.append(Released(sid, stack, "failed", str(exc).strip().splitlines()[-1][:300]
                                if str(exc).strip() else type(exc).__name__))
            continue
        # Other backends do not say whether a lock was there; a DIY one removed it if so.
        out.append(Released(sid, stack, "released"))
    return out


def require_students_gone(classroom: Any) -> None:
    """Refuse (OperationError) while a roster student's stack still holds resources in the
    backend: the shared stack (network, groups) must outlive every student's."""
    from .backend import backend_stacks

    held = {s.name: s.resource_count for s in backend_stacks(classroom.backend)}
    left = [classroom.layout.stack_name(s) for s in classroom.layout.students
            if held.get(classroom.layout.stack_name(s))]
    if left:
        raise OperationError(f"{classroom.name}: {len(left)} student stacks still hold "
                             f"resources ({', '.join(left[:5])}); destroy them first")
