"""envkit's exceptions: one family, translated from the lower layers at one boundary.

Every error a user can cause or meet derives from :class:`EnvkitError` and carries the CLI
exit code that reports it, so front ends never guess.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "EXIT_BAD_INPUT",
    "EXIT_CANCELLED",
    "EXIT_FAILED",
    "EXIT_OK",
    "EXIT_POLICY",
    "EXIT_PREREQUISITE",
    "CancelledError",
    "EnvkitError",
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
        where = self.file or "<spec>"
        if self.line is not None:
            where = f"{where}:{self.line}"
        if self.field:
            return f"{where}: {self.field}: {self.message}"
        return f"{where}: {self.message}"


class SpecError(EnvkitError, ValueError):
    """The spec is malformed or inconsistent; each issue names file, line and field."""

    exit_code = EXIT_BAD_INPUT

    def __init__(self, issues: list[SpecIssue] | SpecIssue | str):
        if isinstance(issues, str):
            issues = [SpecIssue(field="", message=issues)]
        elif isinstance(issues, SpecIssue):
            issues = [issues]
        self.issues: list[SpecIssue] = list(issues)
        super().__init__("\n".join(str(i) for i in self.issues))


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


class CancelledError(OperationError):
    """The user interrupted an operation (Ctrl-C, a kernel interrupt) and the engine
    cancelled it; the stack's state records what was done before the cancel."""

    exit_code = EXIT_CANCELLED
