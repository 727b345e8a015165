"""The offline plan: run the program under Pulumi's own mocks and record what it declares.

No Pulumi CLI, no credentials, no network: ``pulumi.runtime`` is pointed at a recording
:class:`~pulumi.runtime.mocks.MockMonitor` in preview mode, so values a provider computes
(ids, ARNs, IPs) stay unknown exactly as in ``pulumi preview``, and lookups (the AMI, the
default VPC) answer with realistic values from moto's data. Secrets stay secrets:
the plan shows them as ``[secret]`` and never holds their values.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import os
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from typing import Any

from .spec.models import EnvironmentSpec

SECRET = "[secret]"
UNKNOWN = "(known after up)"
PLAN_SCHEMA_VERSION = 1

# Mocked programs must not run concurrently in one process (pulumi's runtime settings are
# process-wide), so plans are taken one at a time.
_LOCK = threading.Lock()


@dataclass
class PlannedResource:
    """One resource the program declares."""

    urn: str
    type: str
    name: str
    parent: str | None
    custom: bool
    dependencies: list[str] = field(default_factory=list)
    inputs: dict[str, Any] = field(default_factory=dict)
    provider: str | None = None
    #: The inputs as the engine would hand them to a policy analyzer: unknowns as Pulumi's
    #: unknown sentinel, secrets wrapped. Kept out of ``to_dict`` and ``repr``.
    wire_inputs: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    def to_dict(self) -> dict[str, Any]:
        """The resource as it appears in ``envkit plan --json``."""
        return {
            "urn": self.urn, "type": self.type, "name": self.name, "parent": self.parent,
            "custom": self.custom, "dependencies": self.dependencies,
            "provider": self.provider, "inputs": self.inputs,
        }


@dataclass
class Plan:
    """What ``up`` would create: resources (in declaration order) and stack outputs."""

    environment: str
    region: str
    resources: list[PlannedResource]
    outputs: dict[str, Any]
    source: str | None = None
    #: The validated spec the plan was made from (not part of the JSON document).
    spec: Any = field(default=None, repr=False, compare=False)

    def counts(self) -> dict[str, int]:
        """How many resources of each type (custom resources only)."""
        return dict(sorted(Counter(r.type for r in self.resources if r.custom).items()))

    def find(self, type_: str, name: str | None = None) -> list[PlannedResource]:
        """Resources of a type, optionally with one logical name."""
        return [r for r in self.resources if r.type == type_ and (name is None or r.name == name)]

    def get(self, type_: str, name: str) -> PlannedResource:
        """The one resource with this type and logical name (KeyError if absent)."""
        found = self.find(type_, name)
        if not found:
            raise KeyError(f"no {type_} named {name} in the plan")
        return found[0]

    def children(self, urn: str | None) -> list[PlannedResource]:
        """Resources whose parent is ``urn`` (None: top level)."""
        return [r for r in self.resources if r.parent == urn]

    def to_dict(self) -> dict[str, Any]:
        """The stable JSON document of ``envkit plan --json`` (docs/reference.md, "Plan JSON")."""
        return {
            "schema_version": PLAN_SCHEMA_VERSION,
            "environment": self.environment,
            "region": self.region,
            "source": self.source,
            "summary": {"resources": sum(self.counts().values()), "by_type": self.counts()},
            "resources": [r.to_dict() for r in self.resources],
            "outputs": self.outputs,
        }


# --- mocks ----------------------------------------------------------------------------------


@cache
def _latest_amis(region: str) -> list[dict[str, Any]]:
    # moto's latest_amis table only: every envkit AMI alias names an image there (the gate
    # on foreign programs also reads moto's ECS-optimized table).
    from .spec.catalog import moto_data

    path = moto_data("latest_amis", f"{region}.json.gz")
    if not path.is_file():
        return []
    with path.open("rb") as fh:
        return json.loads(gzip.decompress(fh.read()))


class _LabMocks:
    """Answers for lookups (envkit.lookups, as for any checked program); resources echo
    their inputs so computed values stay unknown."""

    def __init__(self, region: str, availability_zone: str) -> None:
        from .lookups import OfflineAws, region_facts

        self.region = region
        self.zone = availability_zone
        self.aws = OfflineAws(region, region_info=region_facts, amis=_latest_amis)

    def call(self, args: Any) -> tuple[dict[str, Any], list]:
        from .lookups import TOKENS

        request = dict(args.args)
        if args.token == TOKENS["subnet"]:
            request.setdefault("availabilityZone", self.zone)
        if self.aws.can_answer(args.token, request):
            return self.aws.answer(args.token, request), []
        return {}, []

    def new_resource(self, args: Any) -> tuple[str, dict[str, Any]]:
        # An empty id in a preview means "assigned by the provider": unknown, as in a preview.
        return "", dict(args.inputs)


def _monitor_class():
    from pulumi.runtime import mocks, rpc
    from pulumi.runtime.proto import resource_pb2
    from pulumi.runtime.sync_await import _ensure_event_loop, _sync_await

    class RecordingMonitor(mocks.MockMonitor):
        """A MockMonitor that keeps every registration and honours secret outputs."""

        def __init__(self, lab_mocks: _LabMocks) -> None:
            super().__init__(lab_mocks)  # type: ignore[arg-type]
            self.records: list[PlannedResource] = []
            # MockMonitor makes an event loop in each executor thread it is called on;
            # they are closed after the run so none is left to die noisily at exit.
            self.loops: set[asyncio.AbstractEventLoop] = set()

        def Invoke(self, request):
            response = super().Invoke(request)
            self.loops.add(_ensure_event_loop())
            return response

        def RegisterResource(self, request):
            response = super().RegisterResource(request)
            self.loops.add(_ensure_event_loop())
            if request.type == "pulumi:pulumi:Stack":
                return response
            inputs = rpc.deserialize_properties(request.object, keep_unknowns=True)
            self.records.append(PlannedResource(
                urn=response.urn, type=request.type, name=request.name,
                parent=None if _is_stack(request.parent) else request.parent,
                custom=bool(request.custom),
                dependencies=sorted(set(request.dependencies)),
                inputs=_clean(inputs),
                wire_inputs=_wire(inputs),
                provider=request.provider.rsplit("::", 2)[-2] if request.provider else None,
            ))
            secret_outputs = list(request.additionalSecretOutputs)
            if not secret_outputs:
                return response
            # The engine marks additionalSecretOutputs as secret; under mocks we must.
            reg = self.resources[response.urn]
            state = dict(reg.state)
            for key in secret_outputs:
                state[key] = rpc.wrap_rpc_secret(state.get(key, rpc.UNKNOWN))
            props = _sync_await(rpc.serialize_properties(state, {}))
            return resource_pb2.RegisterResourceResponse(urn=response.urn, id=response.id,
                                                         object=props)

    return RecordingMonitor


def _is_stack(urn: str) -> bool:
    """Whether a parent URN is the root stack (or absent)."""
    return not urn or urn.split("::")[2].split("$")[-1] == "pulumi:pulumi:Stack"


def _wire(value: Any) -> Any:
    """Inputs in the engine's wire form for the analyzer (JSON-able; unknowns as sentinel)."""
    from pulumi.output import Unknown
    from pulumi.runtime import rpc

    if rpc.is_rpc_secret(value):
        return {rpc._special_sig_key: rpc._special_secret_sig,
                "value": _wire(rpc.unwrap_rpc_secret(value))}
    if isinstance(value, Unknown):
        return rpc.UNKNOWN
    if isinstance(value, dict):
        return {k: _wire(v) for k, v in value.items() if not str(k).startswith("__")}
    if isinstance(value, list):
        return [_wire(v) for v in value]
    return value


def _clean(value: Any) -> Any:
    """Inputs as JSON: secrets masked, unknowns marked, internal keys dropped."""
    from pulumi.output import Unknown
    from pulumi.runtime import rpc

    if rpc.is_rpc_secret(value):
        return SECRET
    if isinstance(value, Unknown) or value == rpc.UNKNOWN:
        return UNKNOWN
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items() if not str(k).startswith("__")}
    if isinstance(value, list):
        return [_clean(v) for v in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)  # the gRPC wire has only floats; the spec said integers
    return value


async def _resolve(value: Any) -> Any:
    """A stack output as far as it is known, leaf by leaf; secrets masked."""
    import pulumi

    if isinstance(value, pulumi.Output):
        if await value.is_secret():
            return SECRET
        if not await value.is_known():
            return UNKNOWN
        return await _resolve(await value.future())
    if isinstance(value, dict):
        return {k: await _resolve(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [await _resolve(v) for v in value]
    return _clean(value)


def plan(spec: EnvironmentSpec | Any, *, expires_at: datetime | None = None) -> Plan:
    """Run the lab program offline under Pulumi's mocks and return what it would create.

    ``spec`` is an :class:`EnvironmentSpec` or anything :func:`envkit.load_spec` takes.
    """
    from .spec import load_spec

    source = str(spec) if isinstance(spec, (str, os.PathLike)) and "\n" not in str(spec) else None
    spec = load_spec(spec)
    from .stack_program import program

    with _LOCK:
        _freeze_long_lived()
        resources_, outputs = run_mocked(
            spec.name, spec.region, spec.availability_zone,
            lambda: program(spec, expires_at=expires_at))
        _freeze_long_lived()
    return Plan(environment=spec.name, region=spec.region, resources=resources_,
                outputs=outputs, source=source, spec=spec)


_FREEZES = 0


def _freeze_long_lived() -> None:
    """Move the objects that live as long as the process into Python's permanent GC
    generation: before the first plan (pulumi, pulumi_aws, envkit's program) and once
    more after it (what the first run imported lazily: more pulumi_aws, botocore, ruamel).

    Those are ~180,000 objects. Unfrozen, every full (generation 2) collection during a
    plan walks all of them: 45-450 ms each on the 2-core bench machine, several per
    plan, whatever the lab's size. That fixed cost was bench/plan.py's "+76-110%" on the
    generated 10-user lab (docs/benchmarks.md has the profile). A young-generation
    collection before the second freeze keeps the first run's garbage out of it but for
    a few thousand objects, once per process.
    """
    global _FREEZES
    if _FREEZES >= 2:
        return
    import gc

    if _FREEZES == 0:
        # Imported here on the calling thread, also because pulumi_aws's lazy submodule
        # import is not thread-safe.
        import pulumi_aws.ec2
        import pulumi_aws.iam  # noqa: F401

        from . import stack_program  # noqa: F401
    else:
        gc.collect(1)
    gc.freeze()
    _FREEZES += 1


def run_mocked(stack: str, region: str, zone: str, body: Any
               ) -> tuple[list[PlannedResource], dict[str, Any]]:
    """Run ``body`` (a Pulumi program function) under the recording mocks.

    Returns the registered resources and the resolved stack outputs. Callers hold no
    other mocked run at the same time (``plan`` takes a lock). The program runs on a thread
    of its own with its own event loop: Pulumi's runtime pumps whatever loop the calling
    thread has, and inside a Jupyter kernel that is the kernel's own running loop.
    """
    outcome: dict[str, Any] = {}

    def target() -> None:
        try:
            outcome["value"] = _run_mocked(stack, region, zone, body)
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
            outcome["error"] = exc

    worker = threading.Thread(target=target, name="envkit-mocks", daemon=True)
    worker.start()
    worker.join()
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


def _run_mocked(stack: str, region: str, zone: str, body: Any
                ) -> tuple[list[PlannedResource], dict[str, Any]]:
    import logging

    from google.protobuf import empty_pb2
    from pulumi.runtime import mocks, settings
    from pulumi.runtime.stack import run_in_stack
    from pulumi.runtime.sync_await import _ensure_event_loop, _sync_await

    monitor = _monitor_class()(_LabMocks(region, zone))
    settings.ROOT.set(None)
    settings.configure(mocks.MockSettings(
        monitor=monitor,
        monitor_features=set(monitor.GetDeploymentInfo(empty_pb2.Empty()).supportedFeatures),
        engine=mocks.MockEngine(logging.getLogger("envkit.plan")),
        project="envkit", stack=stack, dry_run=True, organization="organization",
        callbacks=None,
    ))
    holder: dict[str, Any] = {}

    async def run() -> None:
        body()
        root = settings.get_root_resource()
        holder["outputs"] = {k: await _resolve(v) for k, v in root.outputs.items()}

    # A fresh executor per run: its threads (and the event loops MockMonitor made in them)
    # end with the run instead of lingering until interpreter exit.
    main_loop = _ensure_event_loop()
    executor = ThreadPoolExecutor(thread_name_prefix="envkit-plan")
    main_loop.set_default_executor(executor)
    try:
        _sync_await(run_in_stack(run))
    finally:
        settings.ROOT.set(None)
        executor.shutdown(wait=True)
        for loop in monitor.loops:
            if loop is not main_loop and not loop.is_running() and not loop.is_closed():
                loop.close()
        # This thread ends with the run; so does its loop.
        asyncio.set_event_loop(None)
        main_loop.close()
    # Registration order depends on thread scheduling; URN order is stable and groups
    # children under their parents.
    return sorted(monitor.records, key=lambda r: r.urn), holder.get("outputs", {})
