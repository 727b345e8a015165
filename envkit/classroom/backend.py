"""Reading the backend as a whole: every envkit stack it holds and their outputs.

``class status`` and the reaper list stacks without selecting any of them, through a
``LocalWorkspace`` of project ``envkit`` pointed at the same backend and secrets passphrase
the environments use (``pulumi stack ls --json`` and ``pulumi stack output --json``).
"""

from __future__ import annotations

from typing import Any

from .. import home
from ..errors import EnvkitError, OperationError


def backend_workspace(backend: str | None = None) -> Any:
    """A workspace of project ``envkit`` on the backend (PrerequisiteError without the CLI)."""
    from pulumi import automation as auto

    from ..engine import PROJECT, backend_url, engine_env, map_engine_error, pulumi_command

    command = pulumi_command()
    url = backend_url(backend)
    env = engine_env()
    settings = auto.ProjectSettings(name=PROJECT, runtime="python",
                                    backend=auto.ProjectBackend(url) if url else None)
    try:
        work_dir = home.subdir("workspaces", "_backend")
    except OSError:
        # A read-only ENVKIT_HOME: listing stacks writes only the workspace's Pulumi.yaml,
        # so a private folder of the session serves (class status stays read-only).
        import atexit
        import shutil
        import tempfile

        work_dir = tempfile.mkdtemp(prefix="envkit-backend-")
        atexit.register(shutil.rmtree, work_dir, True)
    try:
        return auto.LocalWorkspace(work_dir=str(work_dir),
                                   project_settings=settings, env_vars=env,
                                   pulumi_command=command)
    except Exception as exc:  # noqa: BLE001 - mapped at one boundary
        raise map_engine_error(exc, "backend listing", "backend") from None


def backend_stacks(backend: str | None = None) -> list[Any]:
    """Every stack of project ``envkit`` in the backend (``StackSummary`` objects)."""
    workspace = backend_workspace(backend)
    try:
        return list(workspace.list_stacks())
    except EnvkitError:
        raise
    except Exception as exc:  # noqa: BLE001
        raise OperationError(f"cannot list the stacks of the backend: {exc}") from None


def stack_outputs(workspace: Any, stack: str) -> dict[str, Any]:
    """A stack's outputs as plain values, secret ones masked (``[secret]``): the CLI's
    masked document, so no plaintext is read (see :func:`envkit.engine.cli_outputs`)."""
    from ..engine import cli_outputs, mask_outputs

    return mask_outputs(cli_outputs(workspace, stack))
