"""What is true of an environment right now, in one line with the next step.

``status``, ``outputs``, ``ls`` and the notebook dashboard all describe an environment
through :func:`state_of`, from what envkit recorded after its last operation (the registry
in ENVKIT_HOME) and, for the local target, whether the emulator that holds its resources is
still the one that runs. Nothing here starts the emulator or the engine.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

StateKind = Literal["never-deployed", "deployed", "destroyed", "emulator-restarted",
                    "emulator-stopped"]


@dataclass(frozen=True)
class EnvironmentState:
    """One environment's state: a kind, what it means, and what to do next."""

    kind: StateKind
    message: str
    next_step: str | None = None

    @property
    def deployed(self) -> bool:
        """Whether the environment's resources exist and can be reached."""
        return self.kind == "deployed"

    def line(self) -> str:
        """The one line a person reads."""
        return f"{self.message}: {self.next_step}" if self.next_step else self.message

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form, as `--json` prints it."""
        return {**asdict(self), "deployed": self.deployed}


def state_of(name: str, record: dict[str, Any] | None, emulator_id: str | None = None,
             spec_hint: str | None = None) -> EnvironmentState:
    """The state of environment ``name``.

    ``record`` is envkit's registry entry (None or empty: envkit never deployed it here);
    ``emulator_id`` identifies the local emulator running now (None: it is not running).
    ``spec_hint`` is how the user named the environment, for the next-step commands.
    """
    spec = spec_hint or name
    if not record or not record.get("status"):
        return EnvironmentState("never-deployed", f"{name} has never been deployed",
                                f"`envkit up {spec}` creates it")
    if record.get("status") == "destroyed":
        return EnvironmentState("destroyed", f"{name} was destroyed"
                                + (f" ({record['last_update']})" if record.get("last_update")
                                   else ""),
                                f"`envkit up {spec}` creates it again")
    if record.get("target") == "local" and record.get("resources"):
        if emulator_id is None:
            return EnvironmentState(
                "emulator-stopped",
                f"{name} was deployed to the local emulator, which is not running now, so "
                "its resources are gone",
                f"`envkit up --refresh {spec}` starts it and recreates them")
        if record.get("emulator") and record["emulator"] != emulator_id:
            return EnvironmentState(
                "emulator-restarted",
                f"{name} was deployed to a local emulator that has restarted since, so its "
                "resources are gone",
                f"`envkit up --refresh {spec}` recreates them")
    target = record.get("target") or "?"
    count = record.get("resources")
    what = f"{count} resource{'' if count == 1 else 's'}" if isinstance(count, int) else \
        "resources"
    return EnvironmentState("deployed", f"{name} is deployed on {target} ({what})")


def current_state(name: str, spec_hint: str | None = None) -> EnvironmentState:
    """The state of environment ``name`` now, from ENVKIT_HOME: its record and, when it was
    deployed to the local emulator, whether that emulator still runs (never started here)."""
    from . import home

    record = home.read_registry().get(name, {})
    emulator_id = None
    if record.get("target") == "local":
        from . import local

        emulator_id = local.status().instance_id
    return state_of(name, record, emulator_id, spec_hint)
