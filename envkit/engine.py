"""The Automation API driver: :class:`Environment`, the one object every front end uses.

One Pulumi stack per environment (project ``envkit``), an inline program built by
:func:`envkit.program`, the workspace and a ``file://`` backend under ENVKIT_HOME unless
the user configured another backend, and a passphrase secrets provider whose passphrase is
generated once. Every call passes ``show_secrets=False``. The engine's errors are turned
into envkit's at one boundary (:func:`map_engine_error`).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

from . import home
from .errors import (
    EnvkitError,
    OperationError,
    PolicyViolationError,
    PrerequisiteError,
    StackLockedError,
)
from .events import Event, translate
from .spec.models import EnvironmentSpec
from .targets import Target, resolve_target

PROJECT = "envkit"
SECRET_MASK = "[secret]"

MISSING_CLI = (
    "the Pulumi CLI is not installed (looked on PATH, in {home}/pulumi and in ~/.pulumi). "
    "envkit drives it to create, update and destroy environments.\n"
    "Either install it: `envkit install-pulumi` (or see pulumi.com/docs/install),\n"
    "or stay offline: `envkit plan SPEC` shows what would be created, with no CLI."
)
OFFLINE_INSTALL = (
    "could not download the Pulumi CLI ({reason}): this machine seems to be offline.\n"
    "Install it where the internet is reachable (pulumi.com/docs/install) and put it on "
    "PATH or in {home}/pulumi/bin, or stay offline with `envkit plan SPEC`."
)
MISSING_PLUGIN = (
    "could not install the Pulumi aws provider plugin v{version} ({reason}).\n"
    "Install it where the internet is reachable: `pulumi plugin install resource aws "
    "v{version}`, or stay offline with `envkit plan SPEC`."
)

_WORKSPACE_LOCK = threading.Lock()
_lost_markers = ("NoSuchEntity", "NotFound", "does not exist", "InvalidInstanceID",
                 "InvalidGroup.NotFound", "InvalidKeyPair.NotFound")


# --- prerequisites -----------------------------------------------------------------------


def find_pulumi() -> Path | None:
    """The Pulumi CLI: on PATH, in ENVKIT_HOME/pulumi, or the newest in ~/.pulumi."""
    on_path = shutil.which("pulumi")
    if on_path:
        return Path(on_path)
    candidates = [home.home() / "pulumi" / "bin" / "pulumi",
                  Path.home() / ".pulumi" / "bin" / "pulumi"]
    versions = Path.home() / ".pulumi" / "versions"
    if versions.is_dir():
        candidates += sorted(versions.glob("*/bin/pulumi"), reverse=True)
    return next((c for c in candidates if c.is_file() and os.access(c, os.X_OK)), None)


def pulumi_command():
    """A ``PulumiCommand`` for the CLI :func:`find_pulumi` finds, or PrerequisiteError."""
    import subprocess

    from pulumi.automation import PulumiCommand
    from pulumi.automation.errors import InvalidVersionError

    path = find_pulumi()
    if path is None:
        raise PrerequisiteError(MISSING_CLI.format(home=home.home()))
    try:
        return PulumiCommand(root=str(path.parent.parent))
    except (FileNotFoundError, PermissionError, subprocess.CalledProcessError) as exc:
        raise PrerequisiteError(f"the Pulumi CLI at {path} does not run: {exc}") from None
    except InvalidVersionError as exc:
        raise PrerequisiteError(f"the Pulumi CLI at {path} is too old for this SDK: {exc}; "
                                "`envkit install-pulumi` installs a matching one") from None


def install_pulumi() -> Path:
    """Install the Pulumi CLI matching the SDK into ENVKIT_HOME/pulumi."""
    from pulumi.automation import PulumiCommand

    root = home.home() / "pulumi"
    try:
        PulumiCommand.install(root=str(root))
    except OSError as exc:  # URLError is an OSError: no internet
        raise PrerequisiteError(OFFLINE_INSTALL.format(
            reason=getattr(exc, "reason", exc), home=home.home())) from None
    except Exception as exc:  # noqa: BLE001 - the installer script's failures vary
        raise PrerequisiteError(OFFLINE_INSTALL.format(reason=exc, home=home.home())) from None
    return root / "bin" / "pulumi"


def aws_plugin_version() -> str:
    """The aws provider plugin version matching the installed pulumi-aws package."""
    return metadata.version("pulumi_aws")


# --- errors --------------------------------------------------------------------------------


def _meaningful(text: str, limit: int = 6) -> str:
    """The lines of CLI output that say what went wrong (errors first, else the last)."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    errors = [line for line in lines if "error" in line.lower() or "failed" in line.lower()]
    picked = list(dict.fromkeys(errors or lines[-1:]))
    return "\n".join(picked[-limit:])


def map_engine_error(exc: BaseException, operation: str, environment: str,
                     target: str | None = None) -> EnvkitError:
    """Turn a pulumi.automation error (or a missing CLI) into one clear envkit error."""
    from pulumi.automation import errors as auto_errors

    if isinstance(exc, EnvkitError):
        return exc
    if isinstance(exc, FileNotFoundError):
        return PrerequisiteError(MISSING_CLI.format(home=home.home()))
    if isinstance(exc, auto_errors.ConcurrentUpdateError):
        return StackLockedError(
            f"{environment}: another update holds the stack's lock. If no other update is "
            f"running (an earlier one was killed), release it with `envkit cancel`.")
    if isinstance(exc, auto_errors.StackNotFoundError):
        return OperationError(f"{environment}: no such deployed environment; "
                              "create it with `envkit up`.")
    if isinstance(exc, auto_errors.CommandError):
        text = str(exc)
        if "update canceled" in text or "update cancelled" in text or "canceled" in text.lower():
            return OperationError(f"{environment}: {operation} cancelled; the stack's state "
                                  "records exactly what was done before the cancel.")
        if "mandatory policy violation" in text.lower():
            return PolicyViolationError(f"{environment}: mandatory policy violations stopped "
                                        f"the {operation}:\n{_meaningful(text)}")
        if target == "local" and any(m in text for m in _lost_markers):
            return OperationError(
                f"{environment}: the local emulator no longer has resources this stack records "
                "(it was restarted or reset). Run `envkit up --refresh` to recreate them.")
        return OperationError(f"{environment}: {operation} failed:\n{_meaningful(text)}")
    return OperationError(f"{environment}: {operation} failed: {exc}")


@contextlib.contextmanager
def _sigint_requests_cancel(flag: dict[str, bool]) -> Iterator[None]:
    """While an operation runs, Ctrl-C asks the engine to cancel instead of killing Python.

    The Pulumi CLI shares the terminal's process group, so it receives the same SIGINT and
    cancels gracefully, writing consistent state; Python keeps waiting for it to finish.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: Any) -> None:
        flag["cancelled"] = True

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


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
    """Stack outputs as plain values, secret ones replaced by ``[secret]`` unless asked."""
    return {k: (v.value if (show_secrets or not v.secret) else SECRET_MASK)
            for k, v in outputs.items()}


# --- the driver ----------------------------------------------------------------------------


class Environment:
    """One lab environment on one target, driven through Pulumi's Automation API.

    ``spec`` is an :class:`EnvironmentSpec` or anything :func:`envkit.load_spec` takes.
    ``target`` is ``"local"``, ``"aws"``, a :class:`Target`, or None (aws when credentials
    exist, else the local emulator). ``backend`` and ``secrets_provider`` pass straight to
    Pulumi (``s3://...``, ``awskms://...``); ``policy_packs`` go to preview and up.
    """

    def __init__(self, spec: Any, *, target: Target | str | None = None,
                 profile: str | None = None, backend: str | None = None,
                 secrets_provider: str | None = None,
                 policy_packs: list[str] | None = None,
                 policy_pack_configs: list[str] | None = None,
                 spec_path: str | None = None) -> None:
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
        """The backend: ``--backend``, else PULUMI_BACKEND_URL (left to Pulumi), else a
        ``file://`` folder in ENVKIT_HOME."""
        if self.backend:
            return self.backend
        if os.environ.get("PULUMI_BACKEND_URL"):
            return None
        return "file://" + str(home.subdir("state"))

    def env_vars(self) -> dict[str, str]:
        """What the Pulumi CLI runs with: target credentials, the passphrase, no update
        check. A passphrase or secrets provider the user set wins over envkit's."""
        env = {"PULUMI_SKIP_UPDATE_CHECK": "true", **self.target.env_vars()}
        user_secrets = (self.secrets_provider and self.secrets_provider != "passphrase") or \
            os.environ.get("PULUMI_CONFIG_PASSPHRASE") is not None or \
            os.environ.get("PULUMI_CONFIG_PASSPHRASE_FILE") is not None
        if not user_secrets:
            env["PULUMI_CONFIG_PASSPHRASE"] = home.passphrase()
        return env

    def _program(self) -> None:
        import pulumi

        from .stack_program import program

        pinned = pulumi.Config("envkit").get("expires")
        provider_args = dict(self.target.provider_args)
        if self.target.profile:
            provider_args.setdefault("profile", self.target.profile)
        program(self.spec,
                expires_at=datetime.fromisoformat(pinned) if pinned else None,
                provider_args=provider_args, key_dir=str(home.keys_dir(self.name)))

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
        and processes, since it rewrites workspace files)."""
        if self._stack_obj is not None:
            return self._stack_obj
        from pulumi import automation as auto

        command = pulumi_command()
        with _WORKSPACE_LOCK, home.locked(f"workspace-{self.name}"):
            try:
                stack = auto.create_or_select_stack(
                    stack_name=self.name, project_name=PROJECT, program=self._program,
                    opts=self.workspace_options(command))
                config = stack.get_all_config()
                if "envkit:expires" not in config:
                    from .stack_program import expiry

                    expires = expiry(self.spec)
                    if expires is not None:
                        stack.set_config("envkit:expires",
                                         auto.ConfigValue(expires.isoformat()))
                stack.set_config("envkit:target", auto.ConfigValue(self.target.kind))
            except Exception as exc:  # noqa: BLE001 - mapped to one envkit error
                raise map_engine_error(exc, "stack selection", self.name,
                                       self.target.kind) from None
        self._ensure_aws_plugin(stack.workspace)
        self._stack_obj = stack
        return stack

    def _ensure_aws_plugin(self, workspace: Any) -> None:
        version = aws_plugin_version()
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

    def _events(self, on_event: Callable[[Event], None] | None) -> Callable[[Any], None]:
        def handler(engine_event: Any) -> None:
            event = translate(engine_event)
            if event is not None and on_event is not None:
                on_event(event)
        return handler

    def _run(self, operation: str, call: Callable[..., Any],
             on_event: Callable[[Event], None] | None, **kwargs: Any) -> Any:
        flag = {"cancelled": False}
        with _sigint_requests_cancel(flag), self._engine_errors(operation):
            return call(on_event=self._events(on_event), on_output=self.log.append,
                        color="never", **kwargs)

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
        """Create or update the environment, then write generated private keys (0400)."""
        stack = self.stack()
        result = self._run("up", stack.up, on_event, show_secrets=False,
                           policy_packs=self.policy_packs or None,
                           policy_pack_configs=self.policy_pack_configs or None,
                           refresh=refresh or None)
        self.write_keys()
        outcome = self._result("up", result.summary)
        self._record(resources=self.resource_count(), expires=outcome.outputs.get("expires"),
                     emulator=self.target.emulator_id, status="deployed")
        return outcome

    def refresh(self, on_event: Callable[[Event], None] | None = None) -> OperationResult:
        """Bring the stack's state in line with what really exists."""
        stack = self.stack()
        result = self._run("refresh", stack.refresh, on_event, show_secrets=False)
        outcome = self._result("refresh", result.summary)
        self._record(resources=self.resource_count(), emulator=self.target.emulator_id)
        return outcome

    def destroy(self, on_event: Callable[[Event], None] | None = None) -> OperationResult:
        """Delete every resource of the environment and its private keys."""
        stack = self.stack()
        result = self._run("destroy", stack.destroy, on_event, show_secrets=False)
        shutil.rmtree(home.keys_dir(self.name), ignore_errors=True)
        changes = {str(getattr(k, "value", k)): int(v)
                   for k, v in ((result.summary.resource_changes or {}).items())}
        self._record(resources=0, status="destroyed")
        return OperationResult("destroy", self.name, self.target.kind, changes, {})

    def outputs(self, show_secrets: bool = False) -> dict[str, Any]:
        """The stack outputs; secrets are ``[secret]`` unless ``show_secrets``."""
        with self._engine_errors("outputs"):
            raw = self.stack().outputs()
        return mask_outputs(raw, show_secrets)

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

    def cancel(self) -> None:
        """Cancel the stack's running update and release its lock."""
        with self._engine_errors("cancel"):
            self.stack().cancel()

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
