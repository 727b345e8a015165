"""Stand-ins for pulumi.automation's Stack and Workspace (the engine cannot run here).

They record every call envkit makes and answer with pulumi.automation's own result,
output and event classes, so envkit's handling of those is exercised for real.
"""

from __future__ import annotations

import json
import threading
import time
from types import SimpleNamespace
from typing import Any

from pulumi.automation.events import EngineEvent

USER_URN = "urn:pulumi:lab::envkit::envkit:iam:IamLab$aws:iam/user:User::lab-user-ann"

EVENTS = [
    {"sequence": 1, "timestamp": 100, "resourcePreEvent": {"metadata": {
        "op": "create", "urn": USER_URN, "type": "aws:iam/user:User", "provider": ""}}},
    {"sequence": 2, "timestamp": 101, "diagnosticEvent": {
        "message": "a provider warning\n", "color": "never", "severity": "warning"}},
    {"sequence": 3, "timestamp": 102, "resOutputsEvent": {"metadata": {
        "op": "create", "urn": USER_URN, "type": "aws:iam/user:User", "provider": ""}}},
    {"sequence": 4, "timestamp": 103, "summaryEvent": {
        "maybeCorrupt": False, "durationSeconds": 3, "resourceChanges": {"create": 1},
        "PolicyPacks": {}}},
]

PEM = "-----BEGIN OPENSSH PRIVATE KEY-----\nAAAA\n-----END OPENSSH PRIVATE KEY-----"


class Secret:
    """A secret value in a stand-in stack's outputs (the state's secret marker)."""

    def __init__(self, value: Any) -> None:
        self.value = value


def cli_stack_output_json(outputs: dict[str, Any], show_secrets: bool) -> str:
    """What `pulumi stack output --json [--show-secrets]` prints for these outputs.

    The CLI replaces each secret, at whatever depth, with "[secret]" unless --show-secrets
    (pulumi/pulumi pkg/backend/display/json.go, massagePropertyValue), and prints the map
    with Go's encoding/json: keys sorted, two-space indent, no HTML escaping, a trailing
    newline (pkg/cmd/pulumi/ui/json.go, MakeJSONString with multiline=true).
    """
    def massage(value: Any) -> Any:
        if isinstance(value, Secret):
            return massage(value.value) if show_secrets else "[secret]"
        if isinstance(value, dict):
            return {k: massage(v) for k, v in value.items()}
        if isinstance(value, list):
            return [massage(v) for v in value]
        return value

    return json.dumps(massage(outputs), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def default_outputs() -> dict[str, Any]:
    """A deployed lab's outputs as envkit exports them: each secret map is ONE secret."""
    return {
        "environment": "lab",
        "sign_in_url": "https://lab-alias.signin.aws.amazon.com/console",
        "passwords": Secret({"ann": "Sup3r-Secret-Passw0rd!"}),
        "access_keys": Secret({"ann": {"id": "AKIAEXAMPLE", "secret": "wJalrXUtnFEMI/K7MDENG"}}),
        "private_keys": Secret({"lab-key": PEM}),
        "instances": {"web": {"ssh_command": "ssh -i k ec2-user@1.2.3.4",
                              "public_ip": "1.2.3.4", "private_ip": "10.20.0.5",
                              "web_url": "http://1.2.3.4/"}},
    }


class CliStandIn:
    """Stands in for `pulumi.automation.PulumiCommand`: answers `stack output --json`
    exactly as the CLI prints it, from each stack's outputs; records every call."""

    version = None

    def __init__(self) -> None:
        self.outputs: dict[str, dict[str, Any]] = {}
        self.calls: list[list[str]] = []
        #: Where a stack's outputs come from when not set in ``outputs`` (name -> outputs).
        self.lookup = lambda stack: default_outputs()

    def run(self, args: list[str], cwd: str, additional_env: Any, on_output: Any = None,
            on_error: Any = None):
        from pulumi.automation._cmd import CommandResult

        self.calls.append(list(args))
        if args[:3] != ["stack", "output", "--json"]:
            raise AssertionError(f"the stand-in CLI does not answer {args}")
        stack = args[args.index("--stack") + 1]
        outputs = self.outputs[stack] if stack in self.outputs else self.lookup(stack)
        text = cli_stack_output_json(outputs, show_secrets="--show-secrets" in args)
        return CommandResult(stdout=text, stderr="", code=0)


class FakeWorkspace:
    """A workspace whose output reading is the SDK's own (LocalWorkspace.stack_outputs over
    the CLI stand-in), so envkit meets the SDK's real parsing of the CLI's JSON."""

    from pulumi.automation import LocalWorkspace as _Local

    stack_outputs = _Local.stack_outputs
    _run_pulumi_cmd_sync = _Local._run_pulumi_cmd_sync
    _remote = False
    pulumi_home = None

    def __init__(self, plugins: list[tuple[str, str]] | None = None,
                 install_error: Exception | None = None) -> None:
        self.plugins = list(plugins or [])
        self.installed: list[tuple[str, str]] = []
        self.install_error = install_error
        self.removed: list[str] = []
        self.pulumi_command = CliStandIn()
        self.work_dir = "/nonexistent-workspace"
        self.env_vars: dict[str, str] = {}

    def list_plugins(self):
        return [SimpleNamespace(name=n, version=v) for n, v in self.plugins]

    def install_plugin(self, name: str, version: str, kind: str = "resource") -> None:
        if self.install_error is not None:
            raise self.install_error
        self.installed.append((name, version))
        self.plugins.append((name, version.lstrip("v")))

    def remove_stack(self, name: str) -> None:
        self.removed.append(name)


class FakeStack:
    """Records calls; ``fail`` makes operations raise; emits real EngineEvents."""

    def __init__(self, name: str, program: Any, opts: Any, workspace: FakeWorkspace) -> None:
        self.name = name
        self.program = program
        self.opts = opts
        self.workspace = workspace
        self.config: dict[str, Any] = {}
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.fail: Exception | None = None

    def get_all_config(self):
        return dict(self.config)

    def set_config(self, key: str, value: Any) -> None:
        self.config[key] = value

    def _operation(self, name: str, **kwargs: Any):
        self.calls.append((name, kwargs))
        if self.fail is not None:
            raise self.fail
        for raw in EVENTS:
            kwargs["on_event"](EngineEvent.from_json(raw))
        kwargs["on_output"]("Updating (lab)\n")
        summary = SimpleNamespace(resource_changes={"create": 1})
        return SimpleNamespace(summary=summary, change_summary={"create": 1})

    def preview(self, **kwargs: Any):
        return self._operation("preview", **kwargs)

    def up(self, **kwargs: Any):
        return self._operation("up", **kwargs)

    def refresh(self, **kwargs: Any):
        return self._operation("refresh", **kwargs)

    def destroy(self, **kwargs: Any):
        return self._operation("destroy", **kwargs)

    def outputs(self):
        return self.workspace.stack_outputs(self.name)  # as pulumi.automation.Stack does

    def export_stack(self):
        return SimpleNamespace(deployment={"resources": [
            {"urn": "urn:pulumi:lab::envkit::pulumi:pulumi:Stack::envkit-lab",
             "type": "pulumi:pulumi:Stack", "custom": False},
            {"urn": "urn:pulumi:lab::envkit::pulumi:providers:aws::lab",
             "type": "pulumi:providers:aws", "custom": True, "id": "p"},
            {"urn": USER_URN, "type": "aws:iam/user:User", "custom": True, "id": "ann"},
        ]})

    def history(self, page_size=None, page=None, show_secrets=True):
        self.calls.append(("history", {"show_secrets": show_secrets}))
        return []

    def cancel(self) -> None:
        self.calls.append(("cancel", {}))


class FakeAutomation:
    """Replaces ``create_or_select_stack``; detects overlapping calls."""

    def __init__(self, workspace: FakeWorkspace | None = None, delay: float = 0.0) -> None:
        self.workspace = workspace or FakeWorkspace(plugins=[])
        self.stacks: list[FakeStack] = []
        self.configs: dict[str, dict[str, Any]] = {}  # stack config persists, as on disk
        self.delay = delay
        self.active = 0
        self.overlapped = False
        self._lock = threading.Lock()

    def create_or_select_stack(self, stack_name: str, project_name: str, program: Any,
                               opts: Any) -> FakeStack:
        with self._lock:
            self.active += 1
            self.overlapped |= self.active > 1
        time.sleep(self.delay)
        stack = FakeStack(stack_name, program, opts, self.workspace)
        stack.config = self.configs.setdefault(stack_name, {})
        stack.project_name = project_name
        self.stacks.append(stack)
        with self._lock:
            self.active -= 1
        return stack


class SlowStack(FakeStack):
    """An up that blocks until released (to test responsiveness and busy refusals)."""

    release = threading.Event()

    def up(self, **kwargs: Any):
        SlowStack.release.wait(timeout=60)
        return self._operation("up", **kwargs)


class InterruptibleStack(FakeStack):
    """An up that behaves like the Pulumi CLI child: a process in the kernel's process group
    that cancels on SIGINT. The CLI is a Go program, whose signal.Notify takes SIGINT back
    even when the parent ignores it, so the child here installs its own handler too."""

    CHILD = (
        "import signal, sys, time\n"
        "signal.signal(signal.SIGINT, lambda *a: sys.exit(130))\n"
        "print('ready', flush=True)\n"
        "time.sleep(60)\n"
    )

    def up(self, **kwargs: Any):
        import subprocess
        import sys

        from pulumi.automation import errors
        from pulumi.automation._cmd import CommandResult

        self.calls.append(("up", kwargs))
        child = subprocess.Popen([sys.executable, "-c", self.CHILD], stdout=subprocess.PIPE,
                                 text=True)
        child.stdout.readline()
        code = child.wait()
        if code == 130:
            raise errors.CommandError(CommandResult("", "error: update canceled", 255))
        return self._operation("up", **kwargs)


def install_engine_stand_in(stack_class: type = FakeStack) -> FakeAutomation:
    """Replace the engine in this process (used inside a real kernel by the tests)."""
    from pulumi import automation as auto

    import envkit.engine

    fake = FakeAutomation()
    original = fake.create_or_select_stack

    def create(*args: Any, **kwargs: Any) -> FakeStack:
        stack = original(*args, **kwargs)
        stack.__class__ = stack_class
        return stack

    auto.create_or_select_stack = create
    envkit.engine.pulumi_command = lambda: "cmd"
    envkit.engine.find_pulumi = lambda: "/opt/pulumi/bin/pulumi"
    return fake
