"""Stand-ins for a class's stacks and for the backend (the engine cannot run here).

Like tests/fakes.py they answer with pulumi.automation's own classes (OutputValue,
StackSummary, EngineEvent, CommandError). What they add: ``up`` runs the stack's real
inline program (the one envkit hands the Automation API) under Pulumi's mocks with preview
off, with the stack's config, and keeps what it declared and exported per stack name, so
outputs have exactly the shape the program exports (secret ones marked as the engine marks
them) and later operations, other stacks and the backend listing see them.
"""

from __future__ import annotations

import asyncio
import itertools
import secrets
import threading
from datetime import datetime, timezone
from types import SimpleNamespace
from typing import Any

from pulumi.automation import OutputValue, StackSummary
from pulumi.automation.events import EngineEvent

from .fakes import FakeAutomation, FakeStack, FakeWorkspace, Secret

ACCOUNT = "123456789012"


class DeployMocks:
    """Values a provider would return: ids, ARNs, addresses, a generated password and key."""

    def __init__(self, region: str, known: dict[tuple[str, str], tuple[str, dict]]) -> None:
        self.region = region
        self.counter = itertools.count(10)
        # What earlier deployments of the stack made: an update keeps ids and computed values.
        self.known = known

    def call(self, args: Any) -> tuple[dict[str, Any], list]:
        from envkit.planner import _LabMocks

        return _LabMocks(self.region, f"{self.region}a").call(args)

    def new_resource(self, args: Any) -> tuple[str, dict[str, Any]]:
        key = (args.typ, args.name)
        if key in self.known:
            rid, state = self.known[key]
            return rid, {**state, **dict(args.inputs)}
        rid, state = self._create(args)
        self.known[key] = (rid, state)
        return rid, state

    def _create(self, args: Any) -> tuple[str, dict[str, Any]]:
        t, name, inputs = args.typ, args.name, dict(args.inputs)
        n = next(self.counter) + 100 * len(self.known)
        hexid = f"{n:017x}"
        if t == "aws:iam/user:User":
            arn = f"arn:aws:iam::{ACCOUNT}:user{inputs.get('path', '/')}{inputs['name']}"
            return inputs["name"], {**inputs, "arn": arn}
        if t in ("aws:iam/group:Group", "aws:iam/role:Role"):
            kind = t.rsplit(":", 1)[-1].lower()
            arn = f"arn:aws:iam::{ACCOUNT}:{kind}{inputs.get('path', '/')}{inputs['name']}"
            return inputs["name"], {**inputs, "arn": arn}
        if t == "aws:iam/policy:Policy":
            arn = f"arn:aws:iam::{ACCOUNT}:policy{inputs.get('path', '/')}{inputs['name']}"
            return arn, {**inputs, "arn": arn}
        if t == "aws:scheduler/scheduleGroup:ScheduleGroup":
            arn = f"arn:aws:scheduler:{self.region}:{ACCOUNT}:schedule-group/{inputs['name']}"
            return inputs["name"], {**inputs, "arn": arn}
        if t == "aws:scheduler/schedule:Schedule":
            arn = (f"arn:aws:scheduler:{self.region}:{ACCOUNT}:schedule/"
                   f"{inputs.get('groupName') or 'default'}/{inputs['name']}")
            return f"{inputs.get('groupName')}/{inputs['name']}", {**inputs, "arn": arn}
        if t == "aws:iam/instanceProfile:InstanceProfile":
            return inputs["name"], inputs
        if t == "aws:iam/userLoginProfile:UserLoginProfile":
            return inputs["user"], {**inputs, "password": "Pw-" + secrets.token_urlsafe(18)}
        if t == "aws:ec2/instance:Instance":
            return f"i-{hexid}", {**inputs, "privateIp": f"10.50.0.{n % 250}",
                                  "publicIp": f"203.0.113.{n % 250}",
                                  "publicDns": f"ec2-203-0-113-{n % 250}.compute-1.amazonaws.com",
                                  "primaryNetworkInterfaceId": f"eni-{hexid}"}
        if t == "aws:ec2/eip:Eip":
            return f"eipalloc-{hexid}", {**inputs, "publicIp": f"198.51.100.{n % 250}",
                                         "publicDns": f"ec2-198-51-100-{n % 250}.compute-1."
                                                      "amazonaws.com"}
        if t.startswith("pulumi-python:dynamic"):
            from envkit.components.keys import generate_openssh_key

            public, private = generate_openssh_key(inputs.get("algorithm", "ed25519"))
            return f"sshkey-{hexid}", {**inputs, "public_key": public, "private_key": private}
        if t == "aws:ec2/keyPair:KeyPair":
            return inputs["keyName"], inputs
        prefix = {"aws:ec2/securityGroup:SecurityGroup": "sg", "aws:ec2/vpc:Vpc": "vpc",
                  "aws:ec2/subnet:Subnet": "subnet",
                  "aws:ec2/networkInterface:NetworkInterface": "eni"}.get(t)
        return (f"{prefix}-{hexid}" if prefix else f"{name}-id"), inputs


async def _resolve(value: Any) -> tuple[Any, bool]:
    """(plain value, whether any part of it is secret)."""
    import pulumi

    if isinstance(value, pulumi.Output):
        secret = await value.is_secret()
        inner, nested = await _resolve(await value.future())
        return inner, secret or nested
    if isinstance(value, dict):
        out, secret = {}, False
        for k, v in value.items():
            out[k], s = await _resolve(v)
            secret |= s
        return out, secret
    if isinstance(value, (list, tuple)):
        items = [await _resolve(v) for v in value]
        return [i for i, _ in items], any(s for _, s in items)
    return value, False


def deploy(program: Any, stack: str, region: str, config: dict[str, str],
           known: dict[tuple[str, str], tuple[str, dict]]
           ) -> tuple[dict[str, OutputValue], list[Any]]:
    """Run ``program`` as an ``up`` would (mocks, preview off): its outputs and resources.
    ``known`` holds what earlier deployments of the stack made, and is updated."""
    from envkit.planner import _LOCK, _monitor_class

    outcome: dict[str, Any] = {}

    def target() -> None:
        import logging

        from google.protobuf import empty_pb2
        from pulumi.runtime import mocks, settings
        from pulumi.runtime.config import set_all_config
        from pulumi.runtime.stack import run_in_stack
        from pulumi.runtime.sync_await import _ensure_event_loop, _sync_await

        try:
            monitor = _monitor_class()(DeployMocks(region, known))
            settings.ROOT.set(None)
            settings.configure(mocks.MockSettings(
                monitor=monitor,
                monitor_features=set(monitor.GetDeploymentInfo(empty_pb2.Empty())
                                     .supportedFeatures),
                engine=mocks.MockEngine(logging.getLogger("fake-deploy")), project="envkit",
                stack=stack, dry_run=False, organization="organization", callbacks=None))
            set_all_config(dict(config))
            holder: dict[str, Any] = {}

            async def run() -> None:
                program()
                root = settings.get_root_resource()
                holder.update({k: await _resolve(v) for k, v in root.outputs.items()})

            loop = _ensure_event_loop()
            _sync_await(run_in_stack(run))
            settings.ROOT.set(None)
            for other in monitor.loops:
                if other is not loop and not other.is_running() and not other.is_closed():
                    other.close()
            asyncio.set_event_loop(None)
            loop.close()
            outcome["value"] = ({k: OutputValue(v, s) for k, (v, s) in holder.items()},
                                monitor.records)
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller
            outcome["error"] = exc

    with _LOCK:
        worker = threading.Thread(target=target, daemon=True)
        worker.start()
        worker.join()
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


def _event(seq: int, kind: str, record: Any) -> EngineEvent:
    return EngineEvent.from_json({"sequence": seq, "timestamp": 100 + seq, kind: {"metadata": {
        "op": "create", "urn": record.urn, "type": record.type, "provider": ""}}})


class ClassStack(FakeStack):
    """A stack whose up deploys its program under mocks; state persists per stack name."""

    def _state(self) -> dict[str, Any]:
        return self.automation.states.setdefault(self.name, {"outputs": {}, "resources": []})

    def _check_failure(self, name: str, kwargs: dict[str, Any]) -> None:
        self.calls.append((name, kwargs))
        self.automation.log.append((self.name, name))
        failure = self.automation.failures.get(self.name)
        if failure is not None:
            raise failure

    def up(self, **kwargs: Any):
        self._check_failure("up", kwargs)
        config = {k: getattr(v, "value", v) for k, v in self.config.items()}
        region = self.opts.env_vars.get("AWS_REGION", "us-east-1") if self.opts else "us-east-1"
        state = self._state()
        outputs, records = deploy(self.program, self.name, region, config,
                                  state.setdefault("known", {}))
        state.update(outputs=outputs, resources=records,
                     updated=datetime.now(timezone.utc))
        for i, record in enumerate(r for r in records if r.custom):
            kwargs["on_event"](_event(2 * i, "resourcePreEvent", record))
            kwargs["on_event"](_event(2 * i + 1, "resOutputsEvent", record))
        summary = SimpleNamespace(resource_changes={"create": sum(r.custom for r in records)})
        return SimpleNamespace(summary=summary)

    def destroy(self, **kwargs: Any):
        self._check_failure("destroy", kwargs)
        state = self._state()
        count = sum(r.custom for r in state["resources"])
        state.update(outputs={}, resources=[], known={}, updated=datetime.now(timezone.utc))
        return SimpleNamespace(summary=SimpleNamespace(resource_changes={"delete": count}))

    def refresh(self, **kwargs: Any):
        self._check_failure("refresh", kwargs)
        return SimpleNamespace(summary=SimpleNamespace(resource_changes={"same": 0}))

    def outputs(self):
        return self.workspace.stack_outputs(self.name)  # as pulumi.automation.Stack does

    def export_stack(self):
        return SimpleNamespace(deployment={"resources": [
            {"urn": r.urn, "type": r.type, "custom": r.custom, "id": r.name}
            for r in self._state()["resources"]]})


class BackendWorkspace:
    """``LocalWorkspace`` on the backend: lists the stacks the stand-ins hold."""

    def __init__(self, automation: ClassAutomation, **kwargs: Any) -> None:
        self.automation = automation
        self.kwargs = kwargs
        self.pulumi_command = automation.workspace.pulumi_command  # the CLI stand-in
        self.work_dir = "/nonexistent-backend-workspace"
        self.env_vars = dict(kwargs.get("env_vars") or {})

    def list_stacks(self, include_all: bool | None = None) -> list[StackSummary]:
        return [StackSummary(name=name, current=False, update_in_progress=False,
                             last_update=state.get("updated"),
                             resource_count=sum(r.custom for r in state["resources"]) or 0)
                for name, state in sorted(self.automation.states.items())]

    stack_outputs = FakeWorkspace.stack_outputs
    _run_pulumi_cmd_sync = FakeWorkspace._run_pulumi_cmd_sync
    _remote = False
    pulumi_home = None


class ClassAutomation(FakeAutomation):
    """Replaces create_or_select_stack and LocalWorkspace; keeps each stack's state."""

    def __init__(self) -> None:
        super().__init__(FakeWorkspace(plugins=[]))
        self.states: dict[str, dict[str, Any]] = {}
        # The CLI stand-in prints each stack's deployed outputs, secrets marked as in state.
        self.workspace.pulumi_command.lookup = self._cli_outputs
        self.failures: dict[str, Exception] = {}
        #: Stacks whose outputs the CLI cannot read (a changed passphrase).
        self.unreadable: set[str] = set()
        self.log: list[tuple[str, str]] = []

    def _cli_outputs(self, stack: str) -> dict[str, Any]:
        if stack in self.unreadable:
            # What `pulumi stack output` prints, exit 1 (ExitCodeError), when the stack's
            # secrets cannot be decrypted: pkg/backend/secrets/providers.go:54 wraps
            # pkg/secrets/passphrase/manager.go:42 ErrIncorrectPassphrase; the SDK turns a
            # non-zero exit into a CommandError (pulumi/automation/_cmd.py:272).
            from pulumi.automation._cmd import CommandResult
            from pulumi.automation.errors import create_command_error

            raise create_command_error(CommandResult(
                stdout="", code=1, stderr='error: constructing secrets manager of type '
                                          '"passphrase": incorrect passphrase\n'))
        return {key: Secret(v.value) if v.secret else v.value
                for key, v in self.states.get(stack, {}).get("outputs", {}).items()}

    def create_or_select_stack(self, stack_name: str, project_name: str, program: Any,
                               opts: Any) -> ClassStack:
        stack = super().create_or_select_stack(stack_name, project_name, program, opts)
        stack.__class__ = ClassStack
        stack.automation = self
        self.states.setdefault(stack_name, {"outputs": {}, "resources": []})
        return stack  # type: ignore[return-value]

    def local_workspace(self, **kwargs: Any) -> BackendWorkspace:
        return BackendWorkspace(self, **kwargs)

    def operations(self, name: str) -> list[str]:
        """Every stack an operation ran on, in order."""
        return [stack for stack, op in self.log if op == name]


def install(monkeypatch: Any) -> ClassAutomation:
    """Put the stand-ins in place of the engine for one test."""
    from pulumi import automation as auto

    fake = ClassAutomation()
    monkeypatch.setattr(auto, "create_or_select_stack", fake.create_or_select_stack)
    monkeypatch.setattr(auto, "LocalWorkspace", fake.local_workspace)
    monkeypatch.setattr("envkit.engine.pulumi_command", lambda: "cmd")
    monkeypatch.setattr("envkit.engine.find_pulumi", lambda: "/opt/pulumi/bin/pulumi")
    return fake
