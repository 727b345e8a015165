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
    CancelledError,
    EnvkitError,
    OperationError,
    PolicyViolationError,
    PrerequisiteError,
    StackLockedError,
)
from .events import Event, PolicyViolation, translate
from .spec.models import EnvironmentSpec
from .stack_program import SECRET_OUTPUTS
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

# Selecting a stack rewrites its workspace's files, so selections of one environment are
# serialized (threads here, processes by a file lock); each environment has a workspace of
# its own, so different environments (a class's students) select theirs side by side.
_WORKSPACE_LOCKS: dict[str, threading.Lock] = {}
# Plugins live in one place (~/.pulumi/plugins): one install at a time, once per process.
_PLUGIN_LOCK = threading.Lock()
_PLUGIN_READY: set[str] = set()
_lost_markers = ("NoSuchEntity", "NotFound", "does not exist", "InvalidInstanceID",
                 "InvalidGroup.NotFound", "InvalidKeyPair.NotFound")


# --- prerequisites -----------------------------------------------------------------------


def _version_key(folder: Path) -> tuple:
    """Sort key for a ~/.pulumi/versions/<version> folder: by semantic version, not text
    (3.100.0 is newer than 3.99.0); unparsable names sort first."""
    from semver import VersionInfo

    try:
        return (1, VersionInfo.parse(folder.name.lstrip("v")))
    except ValueError:
        return (0, VersionInfo(0))


def find_pulumi() -> Path | None:
    """The Pulumi CLI: on PATH, in ENVKIT_HOME/pulumi, or the newest in ~/.pulumi."""
    on_path = shutil.which("pulumi")
    if on_path:
        return Path(on_path)
    candidates = [home.home() / "pulumi" / "bin" / "pulumi",
                  Path.home() / ".pulumi" / "bin" / "pulumi"]
    versions = Path.home() / ".pulumi" / "versions"
    if versions.is_dir():
        folders = sorted((p for p in versions.iterdir() if p.is_dir()), key=_version_key,
                         reverse=True)
        candidates += [folder / "bin" / "pulumi" for folder in folders]
    return next((c for c in candidates if c.is_file() and os.access(c, os.X_OK)), None)


def pulumi_command():
    """A ``PulumiCommand`` for the CLI :func:`find_pulumi` finds, or PrerequisiteError.

    A CLI on PATH is used as Pulumi's own default does (``PulumiCommand()`` runs
    ``pulumi`` from PATH and leaves PATH alone); one found elsewhere is a ``root`` whose
    ``bin/pulumi`` is run, with that folder put first on PATH as the SDK does for roots.
    """
    import subprocess

    from pulumi.automation import PulumiCommand
    from pulumi.automation.errors import InvalidVersionError

    path = find_pulumi()
    if path is None:
        raise PrerequisiteError(MISSING_CLI.format(home=home.home()))
    on_path = shutil.which("pulumi") is not None
    try:
        return PulumiCommand() if on_path else PulumiCommand(root=str(path.parent.parent))
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
    """Turn a pulumi.automation error (or a missing CLI) into one clear envkit error.

    Cancels and policy violations are not recognised here, from text: the engine's
    structured events and envkit's own SIGINT handler say when those happened (see
    :meth:`Environment._run`). An AWS error that happens to contain "canceled" is just an
    error.
    """
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
        if target == "local" and any(m in text for m in _lost_markers):
            return OperationError(
                f"{environment}: the local emulator no longer has resources this stack records "
                "(it was restarted or reset). Run `envkit up --refresh` to recreate them.")
        return OperationError(f"{environment}: {operation} failed:\n{_meaningful(text)}")
    return OperationError(f"{environment}: {operation} failed: {exc}")


def cancelled_error(environment: str, operation: str) -> CancelledError:
    """The error for an operation the user interrupted (envkit saw the SIGINT)."""
    return CancelledError(f"{environment}: {operation} cancelled; the stack's state records "
                          "exactly what was done before the cancel.")


def policy_error(environment: str, operation: str,
                 violations: list[PolicyViolation]) -> PolicyViolationError:
    """The error for mandatory violations the engine's policy packs reported."""
    lines = [f"{environment}: {len(violations)} mandatory policy "
             f"violation{'s' if len(violations) != 1 else ''} stopped the {operation}:"]
    for v in violations:
        where = v.urn.rsplit("::", 1)[-1] if v.urn else "stack"
        first = v.message.splitlines()[0] if v.message else ""
        lines.append(f"{where}: {v.policy} ({v.pack}): {first}")
    return PolicyViolationError("\n".join(lines))


#: When envkit last saw the user interrupt (time.monotonic()), from a terminal's Ctrl-C
#: or the envkit kernel's interrupt; an operation that fails after it began was cancelled.
_INTERRUPTS: dict[str, float | None] = {"last": None}


def note_interrupt() -> None:
    """Record that the user interrupted: the envkit kernel calls this when Jupyter asks it
    to interrupt (before it signals its process group, the Pulumi CLI included), and
    envkit's own SIGINT handler calls it at a terminal."""
    import time

    _INTERRUPTS["last"] = time.monotonic()


def _interrupted_since(started: float) -> bool:
    last = _INTERRUPTS["last"]
    return last is not None and last >= started


@contextlib.contextmanager
def _sigint_requests_cancel() -> Iterator[None]:
    """While an operation runs, Ctrl-C asks the engine to cancel instead of killing Python.

    The Pulumi CLI is started by the SDK without a session of its own (pulumi/automation/
    _cmd.py, ``PulumiCommand.run``), so it shares the terminal's (or the kernel's) process
    group and receives the same SIGINT; it cancels gracefully, writing consistent state.
    Python records that the user interrupted and keeps waiting for it to finish. (Off the
    main thread no handler can be set; the envkit kernel records its interrupts itself.)
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: Any) -> None:
        note_interrupt()

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


# --- locks ---------------------------------------------------------------------------------


@dataclass
class LockHolder:
    """One update lock in a DIY backend: what the Pulumi CLI wrote when it took it
    (pulumi/pulumi pkg/backend/diy/lock.go, ``lockContent``)."""

    path: Path
    pid: int
    username: str
    hostname: str
    timestamp: str
    alive: bool


def _is_live_pulumi(pid: int) -> bool:
    """Whether ``pid`` is a running Pulumi CLI on this machine (not a reused pid)."""
    if pid <= 1:
        return False
    try:
        argv0 = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0", 1)[0]
    except OSError:
        return False
    return os.path.basename(argv0.decode(errors="replace")).startswith("pulumi")


def file_backend_locks(root: Path, project: str, stack: str) -> list[LockHolder]:
    """The lock files of ``stack`` under a file backend folder.

    They live in ``<root>/.pulumi/locks/<fully qualified stack>/<lock id>.json``, the
    qualified name being ``organization/<project>/<stack>`` for project-scoped stacks and
    ``<stack>`` for legacy ones (pkg/backend/diy/lock.go ``stackLockDir``, backend.go
    ``FullyQualifiedName``).
    """
    import json
    import socket

    base = root / ".pulumi" / "locks"
    holders = []
    for folder in (base / "organization" / project / stack, base / stack):
        if not folder.is_dir():
            continue
        for path in sorted(folder.glob("*.json")):
            try:
                data = json.loads(path.read_text()[:4096])
                pid = int(data.get("pid", 0))
            except (OSError, ValueError, TypeError, AttributeError):
                continue
            here = str(data.get("hostname", "")) == socket.gethostname()
            holders.append(LockHolder(path, pid, str(data.get("username", "")),
                                      str(data.get("hostname", "")),
                                      str(data.get("timestamp", "")),
                                      here and _is_live_pulumi(pid)))
    return holders


# --- what every stack of envkit runs with ------------------------------------------------------


def backend_url(backend: str | None) -> str | None:
    """The backend: ``backend`` (``--backend``), else PULUMI_BACKEND_URL (None: left to
    Pulumi), else a ``file://`` folder in ENVKIT_HOME."""
    if backend:
        return backend
    if os.environ.get("PULUMI_BACKEND_URL"):
        return None
    return "file://" + str(home.subdir("state"))


def engine_env(secrets_provider: str | None = None, passphrase: str | None = None
               ) -> dict[str, str]:
    """The variables envkit adds for the Pulumi CLI (see :meth:`Environment.env_vars`):
    this interpreter for Python providers, and envkit's passphrase unless another secrets
    provider was chosen (``passphrase``, else ENVKIT_PASSPHRASE, else the generated one)."""
    import sys

    env = {"PULUMI_SKIP_UPDATE_CHECK": "true", "PULUMI_PYTHON_CMD": sys.executable}
    if not secrets_provider or secrets_provider == "passphrase":
        env["PULUMI_CONFIG_PASSPHRASE"] = (passphrase or os.environ.get("ENVKIT_PASSPHRASE")
                                           or home.passphrase())
    return env


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
    ``passphrase`` encrypts the stack's secrets (default: ENVKIT_PASSPHRASE, else the one
    envkit generated in ENVKIT_HOME).
    """

    def __init__(self, spec: Any, *, target: Target | str | None = None,
                 profile: str | None = None, backend: str | None = None,
                 secrets_provider: str | None = None,
                 policy_packs: list[str] | None = None,
                 policy_pack_configs: list[str] | None = None,
                 spec_path: str | None = None, passphrase: str | None = None) -> None:
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
        """The backend (see :func:`backend_url`)."""
        return backend_url(self.backend)

    def env_vars(self) -> dict[str, str]:
        """What the Pulumi CLI runs with (on top of this process's environment, which the
        SDK passes through: pulumi/automation/_cmd.py ``PulumiCommand.run``).

        - ``PULUMI_PYTHON_CMD``: this interpreter. The SshKey dynamic provider is unpickled
          and run by ``pulumi-resource-pulumi-python``, which runs
          ``${PULUMI_PYTHON_CMD:-python3} -m pulumi.dynamic`` (pulumi/pulumi
          sdk/python/dist/pulumi-resource-pulumi-python); ``python3`` on PATH is often not
          the one envkit is installed in (pipx, a venv that is not activated, a kernel).
        - ``PULUMI_CONFIG_PASSPHRASE``: envkit's passphrase for envkit's stacks, even when
          the shell exports one for other projects; the CLI prefers it to
          PULUMI_CONFIG_PASSPHRASE_FILE (pkg/secrets/passphrase/manager.go,
          ``readPassphrase``). Not set when the user chose another secrets provider.
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
        and processes, since it rewrites workspace files)."""
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

    def _run(self, operation: str, call: Callable[..., Any],
             on_event: Callable[[Event], None] | None, **kwargs: Any) -> Any:
        """Run one engine operation; classify a failure from what envkit observed.

        An interrupt envkit saw while the operation ran (its SIGINT handler at a terminal,
        the envkit kernel's interrupt in a notebook) means the user cancelled; a
        ``PolicyEvent`` at level mandatory means the engine's policy packs stopped it
        (the CLI's text never says so: DESIGN.md, "The engine's real behaviour"); anything
        else is the engine's own error.
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

        with _sigint_requests_cancel():
            try:
                return call(on_event=handler, on_output=self.log.append, color="never",
                            **kwargs)
            except EnvkitError:
                raise
            except Exception as exc:  # noqa: BLE001 - mapped at this one boundary
                if _interrupted_since(started):
                    raise cancelled_error(self.name, operation) from None
                if mandatory:
                    raise policy_error(self.name, operation, mandatory) from None
                raise map_engine_error(exc, operation, self.name, self.target.kind) from None

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
        # run_program: the provider configuration comes from the program as it is now (the
        # emulator's current endpoint), not from the state (`pulumi refresh --run-program`).
        result = self._run("refresh", stack.refresh, on_event, show_secrets=False,
                           run_program=True)
        outcome = self._result("refresh", result.summary)
        self._record(resources=self.resource_count(), emulator=self.target.emulator_id)
        return outcome

    def destroy(self, on_event: Callable[[Event], None] | None = None) -> OperationResult:
        """Delete every resource of the environment and its private keys."""
        stack = self.stack()
        result = self._run("destroy", stack.destroy, on_event, show_secrets=False,
                           run_program=True)
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
        url = self.backend_url() or os.environ.get("PULUMI_BACKEND_URL") or ""
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
        diy = not (self.backend_url() or os.environ.get("PULUMI_BACKEND_URL") or ""
                   ).startswith(("https://", "http://"))
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
