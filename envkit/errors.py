"""envkit's exceptions: one family, translated from the lower layers at one boundary.

Every error a user can cause or meet derives from :class:`EnvkitError` and carries the CLI
exit code that reports it, so front ends never guess.
"""

from __future__ import annotations

from dataclasses import dataclass

from .text import clip

__all__ = [
    "EXIT_BAD_INPUT",
    "EXIT_CANCELLED",
    "EXIT_FAILED",
    "EXIT_OK",
    "EXIT_POLICY",
    "EXIT_PREREQUISITE",
    "CancelledError",
    "DeclinedError",
    "EnvkitError",
    "InputError",
    "OperationError",
    "PolicyViolationError",
    "PrerequisiteError",
    "SpecError",
    "SpecIssue",
    "StackLockedError",
    "UsageError",
]

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_BAD_INPUT = 2
EXIT_PREREQUISITE = 3
EXIT_POLICY = 4
EXIT_CANCELLED = 130  # 128 + SIGINT, as shells report a Ctrl-C

#: A SpecError's message lists at most this many issues (``issues`` holds them all).
MAX_ISSUES_SHOWN = 50


class EnvkitError(Exception):
    """Base class of every error envkit reports to a user."""

    exit_code = EXIT_FAILED


@dataclass(frozen=True)
class SpecIssue:
    """One problem in a spec: where it is (file, line, dotted field) and what is wrong."""

    field: str
    message: str
    file: str | None = None
    line: int | None = None

    def __str__(self) -> str:
        # The last guard on what a message shows: each part cut and its control
        # characters escaped (values are also cut where they are quoted).
        where = clip(self.file, 300) if self.file else "<spec>"
        if self.line is not None:
            where = f"{where}:{self.line}"
        message = clip(self.message, 1000)
        if self.field:
            return f"{where}: {clip(self.field, 300)}: {message}"
        return f"{where}: {message}"


class SpecError(EnvkitError, ValueError):
    """The spec is malformed or inconsistent; each issue names file, line and field."""

    exit_code = EXIT_BAD_INPUT

    def __init__(self, issues: list[SpecIssue] | SpecIssue | str):
        if isinstance(issues, str):
            issues = [SpecIssue(field="", message=issues)]
        elif isinstance(issues, SpecIssue):
            issues = [issues]
        self.issues: list[SpecIssue] = list(issues)
        shown = [str(i) for i in self.issues[:MAX_ISSUES_SHOWN]]
        if len(self.issues) > MAX_ISSUES_SHOWN:
            shown.append(f"... and {len(self.issues) - MAX_ISSUES_SHOWN} more problems")
        super().__init__("\n".join(shown))


class InputError(EnvkitError, ValueError):
    """A command-line argument or environment variable envkit cannot use."""

    exit_code = EXIT_BAD_INPUT


class UsageError(EnvkitError):
    """A command was called in a way it cannot run (a missing ``--yes`` without a terminal,
    an option value out of range); nothing was done."""

    exit_code = EXIT_BAD_INPUT


class PrerequisiteError(EnvkitError):
    """Something envkit needs is missing: the Pulumi CLI, a provider plugin, credentials."""

    exit_code = EXIT_PREREQUISITE


class PolicyViolationError(EnvkitError):
    """A mandatory policy was violated, so the operation was refused."""

    exit_code = EXIT_POLICY


class OperationError(EnvkitError):
    """An engine operation (preview, up, refresh, destroy) failed."""

    exit_code = EXIT_FAILED


class StackLockedError(OperationError):
    """Another update holds the stack's lock; `envkit cancel` releases it."""


class DeclinedError(OperationError):
    """A question was answered No: nothing was done. Reported as ``pulumi up`` reports it,
    a bail (one plain line, exit 1: pulumi/pulumi pkg/backend/apply.go:231-233,
    pkg/cmd/pulumi/cmd/exit_codes.go:83-85)."""

    bail = True


class CancelledError(OperationError):
    """The user interrupted an operation (Ctrl-C, a kernel interrupt) and the engine
    cancelled it; the stack's state records what was done before the cancel."""

    exit_code = EXIT_CANCELLED
