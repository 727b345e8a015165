"""The Automation API driver: :class:`Environment`, the one object every front end uses.

One Pulumi stack per environment (project ``envkit``), an inline program built by
:func:`envkit.program`, a workspace under ENVKIT_HOME, and the backend and passphrase chosen
by Pulumi's precedence (:mod:`envkit.engine_settings`). Every call passes
``show_secrets=False``. The engine's errors are turned into envkit's at one boundary
(:mod:`envkit.engine_errors`); the Pulumi CLI is found and checked in
:mod:`envkit.pulumi_cli`; interrupts are handled in :mod:`envkit.interrupts`.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from . import home, interrupts
from .engine_errors import (
    LockHolder,
    cancelled_error,
    file_backend_locks,
    map_engine_error,
    policy_error,
)
from .engine_settings import (
    WRONG_PASSPHRASE,
    backend_url,
    engine_env,
    is_shared_backend,
    passphrase_opens,
    passphrase_source,
    passphrase_value,
    resolve_backend,
    secrets_salt,
)
from .errors import EnvkitError, InputError, OperationError, PrerequisiteError
from .events import Event, PolicyViolation, translate
from .interrupts import note_interrupt
from .pulumi_cli import (
    MIN_CLI_VERSION,
    MISSING_CLI,
    MISSING_PLUGIN,
    OFFLINE_INSTALL,
    aws_plugin_version,
    find_pulumi,
    install_pulumi,
    pulumi_command,
)
from .spec.models import EnvironmentSpec
from .stack_program import SECRET_OUTPUTS
from .targets import Target, resolve_target

__all__ = ["MIN_CLI_VERSION", "MISSING_CLI", "OFFLINE_INSTALL", "PROJECT", "Environment",
           "LockHolder", "OperationResult", "aws_plugin_version", "backend_url", "cli_outputs",
           "engine_env", "file_backend_locks", "find_pulumi", "install_pulumi",
           "map_engine_error", "mask_outputs", "note_interrupt", "pulumi_command"]

PROJECT = "envkit"
SECRET_MASK = "[secret]"

# Selecting a stack rewrites its workspace's files, so selections of one environment are
# serialized (threads here, processes by a file lock); each environment has a workspace of
# its own, so different environments (a class's students) select theirs side by side.
_WORKSPACE_LOCKS: dict[str, threading.Lock] = {}
# Plugins live in one place (~/.pulumi/plugins): one install at a time, once per process.
_PLUGIN_LOCK = threading.Lock()
_PLUGIN_READY: set[str] = set()


# --- results -------------------------------------------------------------------------------


@dataclass
class OperationResult:
    """What an operation did: its kind, the change counts, and the masked outputs."""

    operation: str
    environment: str
    target: str
    changes: dict[str, int] = field(default_factory=dict)
    outputs: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The result as JSON-ready data."""
        return {"kind": "result", "operation": self.operation, "environment": self.environment,
                "target": self.target, "changes": self.changes, "outputs": self.outputs}


def mask_outputs(outputs: dict[str, Any], show_secrets: bool = False) -> dict[str, Any]:
    """Stack outputs as plain values, secret ones replaced by ``[secret]`` unless asked.

    ``outputs`` maps names to ``OutputValue``s (the SDK's ``Stack.outputs()``) or to the
    values of ``pulumi stack output --json`` (where the CLI already put ``[secret]`` in
    place of every secret leaf, at any depth). The SDK marks an output secret only when
    its whole value is masked, so a map with secret leaves arrives with ``secret=False``
    and its plaintext: :meth:`Environment.outputs` therefore reads the CLI's masked
    document and never asks for plaintext unless told to.
    """
    shown = {}
    for key, value in outputs.items():
        secret = bool(getattr(value, "secret", False))
        plain = value.value if hasattr(value, "secret") else value
        # The outputs holding secret material are masked whole, whatever the state says
        # (stacks deployed before they were exported as one secret have secret leaves).
        if not show_secrets and (secret or key in SECRET_OUTPUTS):
            plain = SECRET_MASK
        shown[key] = plain
    return shown


def cli_outputs(workspace: Any, stack_name: str) -> dict[str, Any]:
    """``pulumi stack output --json`` as the CLI prints it, without ``--show-secrets``.

    The CLI replaces every secret, at any depth, with ``"[secret]"``
    (pulumi/pulumi pkg/backend/display/json.go, ``massagePropertyValue``), so plaintext
    never reaches this process. Run the way the SDK runs its own commands
    (``LocalWorkspace._run_pulumi_cmd_sync``): the workspace's folder and variables.
    """
    import json

    env = {"PULUMI_HOME": workspace.pulumi_home} if getattr(workspace, "pulumi_home", None) \
        else {}
    env.update(workspace.env_vars or {})
    result = workspace.pulumi_command.run(["stack", "output", "--json", "--stack", stack_name],
                                          workspace.work_dir, env)
    document = json.loads(result.stdout or "{}")
    return document if isinstance(document, dict) else {}


# --- the driver ----------------------------------------------------------------------------


class Environment:
    """One lab environment on one target, driven through Pulumi's Automation API.

    ``spec`` is an :class:`EnvironmentSpec` or anything :func:`envkit.load_spec` takes.
    ``target`` is ``"local"``, ``"aws"``, a :class:`Target`, or None (aws when credentials
    exist, else the local emulator). ``backend`` and ``secrets_provider`` pass straight to
    Pulumi (``s3://...``, ``awskms://...``); ``policy_packs`` go to preview and up.
    ``passphrase`` encrypts the stack's secrets (default, by Pulumi's precedence:
    PULUMI_CONFIG_PASSPHRASE, PULUMI_CONFIG_PASSPHRASE_FILE, then ENVKIT_PASSPHRASE, else the
    one envkit generated in ENVKIT_HOME; docs/engine.md). ``preview_packs`` (default: when
    ``policy_packs`` are given) makes ``up`` preview with the packs first and stop before
    any change on a mandatory violation. ``run_program`` (default: on the local target
    only) makes ``refresh``, ``destroy`` and ``up(refresh=True)`` run the program for the
    provider configuration instead of using the one stored in the state.
    """

    def __init__(self, spec: Any, *, target: Target | str | None = None,
                 profile: str | None = None, backend: str | None = None,
                 secrets_provider: str | None = None,
                 policy_packs: list[str] | None = None,
                 policy_pack_configs: list[str] | None = None,
                 spec_path: str | None = None, passphrase: str | None = None,
                 preview_packs: bool | None = None, run_program: bool | None = None) -> None:
        from .spec import load_spec

        if spec_path is None and isinstance(spec, (str, os.PathLike)) and "\n" not in str(spec):
            spec_path = str(Path(spec).resolve())
        self.spec: EnvironmentSpec = load_spec(spec)
        self.name = self.spec.name
        self.spec_path = spec_path
        self._target_arg = target
        self._profile = profile
        self._target: Target | None = target if isinstance(target, Target) else None
        self.backend = backend
        self.secrets_provider = secrets_provider
        self.policy_packs = list(policy_packs or [])
        self.policy_pack_configs = list(policy_pack_configs or [])
        self._passphrase = passphrase
        self.preview_packs = bool(policy_packs) if preview_packs is None else preview_packs
        self._run_program = run_program
        #: Asked before each engine operation starts (the class driver's cancel): True
        #: reports the operation cancelled without starting it.
        self.stop_requested: Callable[[], bool] = lambda: False
        self._stack_obj: Any = None
        self.log: list[str] = []

    # -- plumbing --

    @property
    def target(self) -> Target:
        """The resolved target (starts the local emulator when it is the target)."""
        if self._target is None:
            self._target = resolve_target(self._target_arg, self.spec.region,  # type: ignore
                                          self._profile)
        return self._target

    @property
    def work_dir(self) -> Path:
        """This environment's Pulumi workspace folder."""
        return home.subdir("workspaces", self.name)

    def backend_url(self) -> str | None:
        """The backend written into the project (see :func:`backend_url`: None when
        PULUMI_BACKEND_URL is set, which the CLI reads itself)."""
        return backend_url(self.backend)

    def backend_in_use(self) -> str:
        """The backend the CLI will use, by Pulumi's precedence."""
        return resolve_backend(self.backend).value or ""

    @property
    def run_program(self) -> bool:
        """Whether refresh/destroy run the program (default: the local target only: on
        aws, a wrong --profile or --region would make a program-run refresh find nothing
        and empty the state; pulumi/pulumi pkg/resource/deploy/step_generator.go)."""
        if self._run_program is not None:
            return self._run_program
        return self.target.kind == "local"

    def env_vars(self) -> dict[str, str]:
        """What the Pulumi CLI runs with (on top of this process's environment, which the
        SDK passes through: pulumi/automation/_cmd.py ``PulumiCommand.run``).

        - ``PULUMI_PYTHON_CMD``: this interpreter. The SshKey dynamic provider is unpickled
          and run by ``pulumi-resource-pulumi-python``, which runs
          ``${PULUMI_PYTHON_CMD:-python3} -m pulumi.dynamic`` (pulumi/pulumi
          sdk/python/dist/pulumi-resource-pulumi-python); ``python3`` on PATH is often not
          the one envkit is installed in (pipx, a venv that is not activated, a kernel).
        - ``PULUMI_CONFIG_PASSPHRASE``: only when the user set neither it nor
          PULUMI_CONFIG_PASSPHRASE_FILE (the CLI reads those itself, in that order:
          pkg/secrets/passphrase/manager.go:378-397): the ``passphrase`` argument,
          ENVKIT_PASSPHRASE or the generated one. Not set for another secrets provider.
        - the target's variables (none for the local emulator: its test credentials go to
          the provider only, as provider config, so an ``s3://`` backend or an
          ``awskms://`` secrets provider never sees them).
        """
        return {**engine_env(self.secrets_provider, self._passphrase),
                **self.target.env_vars()}

    def program_arguments(self) -> dict[str, Any]:
        """The keyword arguments of :func:`envkit.stack_program.program` for this stack:
        the pinned expiry (stack config ``envkit:expires``), the target's provider settings,
        where keys go, and the target (subclasses add their own)."""
        import pulumi

        pinned = pulumi.Config("envkit").get("expires")
        provider_args = dict(self.target.provider_args)
        if self.target.profile:
            provider_args.setdefault("profile", self.target.profile)
        return {"expires_at": datetime.fromisoformat(pinned) if pinned else None,
                "provider_args": provider_args, "key_dir": str(home.keys_dir(self.name)),
                "target": self.target.kind}

    def _program(self) -> None:
        from .stack_program import program

        program(self.spec, **self.program_arguments())

    def configure(self, **values: str) -> None:
        """Set ``envkit:KEY`` stack config values."""
        from pulumi.automation import ConfigValue

        stack = self.stack()
        with self._engine_errors("configuration"):
            for key, value in values.items():
                stack.set_config(f"envkit:{key}", ConfigValue(value))

    def config_value(self, key: str) -> str | None:
        """The ``envkit:KEY`` stack config value, or None."""
        with self._engine_errors("configuration"):
            value = self.stack().get_all_config().get(f"envkit:{key}")
        return getattr(value, "value", value)

    def workspace_options(self, command: Any = None):
        """The LocalWorkspaceOptions this environment's stack is created with."""
        from pulumi.automation import LocalWorkspaceOptions, ProjectBackend, ProjectSettings

        url = self.backend_url()
        project = ProjectSettings(name=PROJECT, runtime="python",
                                  backend=ProjectBackend(url) if url else None)
        return LocalWorkspaceOptions(
            work_dir=str(self.work_dir), program=self._program, env_vars=self.env_vars(),
            secrets_provider=self.secrets_provider or "passphrase",
            project_settings=project, pulumi_command=command)

    def stack(self):
        """The Automation API stack (created or selected once; serialized across threads
        and processes, since it rewrites workspace files).

        On a shared backend the passphrase is checked against an existing stack first
        (:meth:`_check_passphrase`). The expiry comes from the stack's ``expires`` output in
        the backend, which every machine reads, and only then from the spec's ttl; the
        workspace's stack config merely carries it into the program.
        """
        if self._stack_obj is not None:
            return self._stack_obj
        from pulumi import automation as auto

        command = pulumi_command()
        with _PLUGIN_LOCK:
            lock = _WORKSPACE_LOCKS.setdefault(self.name, threading.Lock())
        with lock, home.locked(f"workspace-{self.name}"):
            try:
                stack = auto.create_or_select_stack(
                    stack_name=self.name, project_name=PROJECT, program=self._program,
                    opts=self.workspace_options(command))
                self._check_passphrase(stack)
                self._pin_expiry(stack)
                stack.set_config("envkit:target", auto.ConfigValue(self.target.kind))
            except EnvkitError:
                raise
            except Exception as exc:  # noqa: BLE001 - mapped to one envkit error
                raise map_engine_error(exc, "stack selection", self.name,
                                       self.target.kind) from None
        self._ensure_aws_plugin(stack.workspace)
        self._stack_obj = stack
        return stack

    def _check_passphrase(self, stack: Any) -> None:
        """On a shared backend, refuse (exit 2) a passphrase that does not open the stack's
        secrets, before anything reads or writes them: a stack that exists there is never
        given a newly generated passphrase (docs/engine.md)."""
        if (self.secrets_provider or "passphrase") != "passphrase" or \
                not is_shared_backend(self.backend):
            return
        salt = secrets_salt(stack.export_stack().deployment)
        if salt is None:
            return
        if passphrase_opens(passphrase_value(self._passphrase), salt) is False:
            from .limits import clip

            raise InputError(WRONG_PASSPHRASE.format(
                stack=self.name, backend=clip(self.backend_in_use(), 200),
                source=passphrase_source(self._passphrase)))

    def _pin_expiry(self, stack: Any) -> None:
        """Carry the expiry into the program: the ``expires`` output the backend holds for
        this stack (every machine reads the same), else a new lease from the spec's ttl (a
        stack never deployed, or destroyed: the CLI prints ``{}`` for a stack without a root
        resource, pkg/cmd/pulumi/stack/stack_output.go:308-310); a stale local value is
        never used."""
        from pulumi.automation import ConfigValue

        from .stack_program import expiry

        deployed = cli_outputs(stack.workspace, stack.name).get("expires")
        if isinstance(deployed, str) and deployed:
            pinned: str | None = deployed
        else:
            fresh = expiry(self.spec)
            pinned = fresh.isoformat() if fresh is not None else None
        if pinned is not None:
            stack.set_config("envkit:expires", ConfigValue(pinned))
        elif "envkit:expires" in stack.get_all_config():
            stack.remove_config("envkit:expires")

    def _ensure_aws_plugin(self, workspace: Any) -> None:
        version = aws_plugin_version()
        with _PLUGIN_LOCK, home.locked("plugins"):
            if version not in _PLUGIN_READY:
                self._install_aws_plugin(workspace, version)
                _PLUGIN_READY.add(version)

    def _install_aws_plugin(self, workspace: Any, version: str) -> None:
        try:
            installed = workspace.list_plugins()
            if any(p.name == "aws" and str(p.version).lstrip("v") == version for p in installed):
                return
            workspace.install_plugin("aws", f"v{version}")
        except Exception as exc:  # noqa: BLE001 - CommandError / OSError when offline
            reason = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
            raise PrerequisiteError(MISSING_PLUGIN.format(version=version, reason=reason)
                                    ) from None

    @contextlib.contextmanager
    def _engine_errors(self, operation: str) -> Iterator[None]:
        """Turn anything the engine raises during ``operation`` into one envkit error."""
        try:
            yield
        except EnvkitError:
            raise
        except Exception as exc:  # noqa: BLE001 - mapped at this one boundary
            raise map_engine_error(exc, operation, self.name, self.target.kind) from None

    def _emulator_lost(self) -> bool:
        """Whether envkit's records say this stack was deployed to a local emulator that is
        not the one running now (its resources went with it)."""
        record = home.read_registry().get(self.name, {})
        return bool(self.target.kind == "local" and record.get("target") == "local"
                    and record.get("status") == "deployed" and record.get("resources")
                    and record.get("emulator") != self.target.emulator_id)

    def _run(self, operation: str, call: Callable[..., Any],
             on_event: Callable[[Event], None] | None, **kwargs: Any) -> Any:
        """Run one engine operation; classify a failure from what envkit observed.

        An interrupt envkit saw while the operation ran (Ctrl-C, SIGTERM or SIGHUP at a
        terminal or in a pipeline, on whatever thread runs the operation; the envkit
        kernel's interrupt in a notebook) means it was cancelled; a ``PolicyEvent`` at level
        mandatory means the engine's policy packs stopped it (the CLI's text never says
        so); anything else is the engine's own error.
        """
        import time

        started = time.monotonic()
        mandatory: list[PolicyViolation] = []

        def handler(engine_event: Any) -> None:
            event = translate(engine_event)
            if event is None:
                return
            if isinstance(event, PolicyViolation) and event.level == "mandatory":
                mandatory.append(event)
            if on_event is not None:
                on_event(event)

        if self.stop_requested():
            raise cancelled_error(self.name, operation, interrupts.signal_name(
                interrupts.last_signal()))
        lost = self._emulator_lost()
        if self.target.kind == "local":
            from . import local

            local.engine_used()  # from here on the emulator holds what the state records
        with interrupts.cancellable(), interrupts.engine_operation():
            try:
                result = call(on_event=handler, on_output=self.log.append, color="never",
                              **kwargs)
                if mandatory and operation == "preview":
                    # The engine fails a preview with a mandatory violation; should one ever
                    # come back without failing, the update still must not start.
                    raise policy_error(self.name, operation, mandatory)
                return result
            except EnvkitError:
                raise
            except Exception as exc:  # noqa: BLE001 - mapped at this one boundary
                if interrupts.interrupted_since(started):
                    self._release_stale_lock()
                    raise cancelled_error(self.name, operation, interrupts.signal_name(
                        interrupts.last_signal())) from None
                if mandatory:
                    raise policy_error(self.name, operation, mandatory) from None
                raise map_engine_error(exc, operation, self.name, self.target.kind,
                                       emulator_lost=lost) from None

    def _release_stale_lock(self) -> None:
        """After a cancel: a lock left by a Pulumi CLI of this machine that no longer runs
        (it was stopped before it could release it) is released, as `envkit cancel` would."""
        holders = self.lock_holders() or []
        import socket

        if any(not h.alive and h.hostname == socket.gethostname() for h in holders):
            with contextlib.suppress(Exception):
                self.stack().cancel()

    def _result(self, operation: str, summary: Any) -> OperationResult:
        changes = {str(getattr(k, "value", k)): int(v)
                   for k, v in ((getattr(summary, "resource_changes", None) or {}).items())}
        return OperationResult(operation, self.name, self.target.kind, changes,
                               self.outputs())

    def _record(self, **fields: Any) -> None:
        home.update_registry(self.name, target=self.target.kind, region=self.spec.region,
                             spec=self.spec_path, owner=self.spec.owner,
                             last_update=datetime.now(timezone.utc).isoformat(timespec="seconds"),
                             **fields)

    # -- operations --

    def preview(self, on_event: Callable[[Event], None] | None = None) -> OperationResult:
        """What ``up`` would change, from the engine (policy packs applied)."""
        stack = self.stack()
        result = self._run("preview", stack.preview, on_event,
                           policy_packs=self.policy_packs or None,
                           policy_pack_configs=self.policy_pack_configs or None)
        changes = {str(getattr(k, "value", k)): int(v)
                   for k, v in (result.change_summary or {}).items()}
        return OperationResult("preview", self.name, self.target.kind, changes, {})

    def up(self, on_event: Callable[[Event], None] | None = None, *,
           refresh: bool = False) -> OperationResult:
        """Create or update the environment, then write generated private keys (0400).

        With policy packs to preview (``preview_packs``), a preview with them runs first and
        a mandatory violation stops the update before any change: the Automation API's
        ``up`` passes ``--skip-preview`` (pulumi/automation/_stack.py ``Stack.up``), so
        the packs would otherwise only see each resource as it is created.
        ``refresh`` refreshes first, running the program (``run_program``) so the provider
        configuration is the current one (pkg/engine/deployment_executor.go: without it a
        refresh uses the providers stored in the state).
        """
        stack = self.stack()
        if self.preview_packs and self.policy_packs:
            self.preview()
        result = self._run("up", stack.up, on_event, show_secrets=False,
                           policy_packs=self.policy_packs or None,
                           policy_pack_configs=self.policy_pack_configs or None,
                           refresh=refresh or None,
                           run_program=(refresh and self.run_program) or None)
        self.write_keys()
        outcome = self._result("up", result.summary)
        self._record(resources=self.resource_count(), expires=outcome.outputs.get("expires"),
                     emulator=self.target.emulator_id, status="deployed")
        return outcome

    def refresh(self, on_event: Callable[[Event], None] | None = None) -> OperationResult:
        """Bring the stack's state in line with what really exists."""
        stack = self.stack()
        # run_program: the provider configuration comes from the program as it is now (the
        # emulator's current endpoint), not from the state (`pulumi refresh --run-program`).
        result = self._run("refresh", stack.refresh, on_event, show_secrets=False,
                           run_program=self.run_program or None)
        outcome = self._result("refresh", result.summary)
        self._record(resources=self.resource_count(), emulator=self.target.emulator_id)
        return outcome

    def destroy(self, on_event: Callable[[Event], None] | None = None) -> OperationResult:
        """Delete every resource of the environment and its private keys."""
        stack = self.stack()
        result = self._run("destroy", stack.destroy, on_event, show_secrets=False,
                           run_program=self.run_program or None)
        shutil.rmtree(home.keys_dir(self.name), ignore_errors=True)
        changes = {str(getattr(k, "value", k)): int(v)
                   for k, v in ((result.summary.resource_changes or {}).items())}
        self._record(resources=0, status="destroyed")
        return OperationResult("destroy", self.name, self.target.kind, changes, {})

    def outputs(self, show_secrets: bool = False) -> dict[str, Any]:
        """The stack outputs; secrets are ``[secret]`` unless ``show_secrets``.

        Without ``show_secrets`` only the CLI's masked document is read (see
        :func:`cli_outputs`), so no plaintext secret enters this process.
        """
        with self._engine_errors("outputs"):
            stack = self.stack()
            if show_secrets:
                return mask_outputs(stack.outputs(), show_secrets=True)
            return mask_outputs(cli_outputs(stack.workspace, stack.name))

    def resources(self) -> list[dict[str, Any]]:
        """The resources the stack's state records (type, name, id), without secrets."""
        with self._engine_errors("resources"):
            deployment = self.stack().export_stack().deployment or {}
        out = []
        for r in deployment.get("resources", []):
            if r.get("type") in ("pulumi:pulumi:Stack",) or r.get("type", "").startswith(
                    "pulumi:providers:"):
                continue
            out.append({"urn": r.get("urn"), "type": r.get("type"),
                        "name": str(r.get("urn", "")).rsplit("::", 1)[-1],
                        "id": r.get("id"), "custom": r.get("custom", False)})
        return out

    def resource_count(self) -> int:
        """How many custom resources the state records."""
        return sum(1 for r in self.resources() if r["custom"])

    def history(self, limit: int = 10) -> list[dict[str, Any]]:
        """The last operations on the stack, newest first."""
        with self._engine_errors("history"):
            entries = self.stack().history(page_size=limit, show_secrets=False)
        return [{"version": e.version, "kind": e.kind, "result": e.result,
                 "start": e.start_time.isoformat() if e.start_time else None,
                 "end": e.end_time.isoformat() if e.end_time else None,
                 "changes": dict(e.resource_changes or {})} for e in entries]

    def lock_holders(self) -> list[LockHolder] | None:
        """Who holds this stack's update lock, when the backend is a ``file://`` folder
        (None: another backend, which envkit cannot look into)."""
        url = self.backend_in_use()
        if not url.startswith("file://"):
            return None
        return file_backend_locks(Path(url[len("file://"):]).expanduser(), PROJECT, self.name)

    def cancel(self, force: bool = False) -> str:
        """Release the stack's update lock (``pulumi cancel``); returns what was done.

        On a DIY backend (``file://``, ``s3://``, ...) ``pulumi cancel`` only deletes the
        lock files; it stops nothing (pulumi/pulumi pkg/backend/diy/backend.go
        ``CancelCurrentUpdate``). So when the process that wrote the lock is still alive on
        this machine, envkit refuses unless ``force``: the update would go on writing the
        state while another one starts.
        """
        holders = self.lock_holders()
        alive = [h for h in holders or [] if h.alive]
        if alive and not force:
            who = ", ".join(f"pid {h.pid} (started {h.timestamp})" for h in alive)
            raise OperationError(
                f"{self.name}: the update holding the lock is still running ({who}). "
                "`cancel` on this backend only removes the lock, it does not stop the "
                "update: stop it first (Ctrl-C in its terminal), or pass --force.")
        with self._engine_errors("cancel"):
            self.stack().cancel()
        diy = not self.backend_in_use().startswith(("https://", "http://"))
        if holders == []:
            return f"{self.name}: no update held the lock; nothing to cancel"
        if diy:
            note = " (the process that held it is still running)" if alive else ""
            return (f"{self.name}: lock released{note}. On this backend that stops nothing: "
                    "an update still running goes on until it ends.")
        return f"{self.name}: the running update was asked to cancel; the stack is unlocked"

    def remove(self) -> None:
        """Forget the stack (its state and history), its workspace, keys and registry entry.
        Destroy it first: this does not delete cloud resources."""
        stack = self.stack()
        with self._engine_errors("remove"):
            stack.workspace.remove_stack(self.name)
        shutil.rmtree(self.work_dir, ignore_errors=True)
        shutil.rmtree(home.keys_dir(self.name), ignore_errors=True)
        home.update_registry(self.name, removed=True)
        self._stack_obj = None

    def write_keys(self) -> list[Path]:
        """Write each generated private key to ENVKIT_HOME/keys/<env>/<name>.pem (0400)."""
        with self._engine_errors("outputs"):
            raw = self.stack().outputs()
        keys = raw.get("private_keys")
        written = []
        for name, pem in ((keys.value if keys else None) or {}).items():
            path = home.keys_dir(self.name) / f"{name}.pem"
            home.write_secret_file(path, pem if pem.endswith("\n") else pem + "\n", 0o400)
            written.append(path)
        return written
