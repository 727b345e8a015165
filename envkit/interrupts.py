"""Interrupted runs: Ctrl-C, SIGTERM and SIGHUP become a clean engine cancel.

The Pulumi CLI cancels gracefully on its first SIGINT or SIGTERM (pulumi/pulumi
pkg/backend/cancellation_scope.go:118, ``signal.Notify(c.sigint, os.Interrupt,
syscall.SIGTERM)``): it stops scheduling steps, writes consistent state and releases the
stack's lock as it exits; a second signal terminates it at once. The SDK starts it without
a session of its own (pulumi/automation/_cmd.py ``PulumiCommand.run``), so a terminal's
Ctrl-C reaches it with the rest of the foreground process group. SIGTERM and SIGHUP are
sent to envkit alone (a CI runner stopping a job, a closed SSH session): envkit forwards one
SIGINT to each Pulumi CLI it started.

Whatever thread runs an operation (the class driver runs students on a pool), a failure
that follows an interrupt is reported as cancelled: :func:`interrupted_since`.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

_STATE: dict[str, Any] = {"last": None, "signum": None, "active": 0}
_LOCK = threading.Lock()
_CANCEL = threading.Event()

#: The signals an envkit command turns into a cancel.
SIGNALS = tuple(s for s in (signal.SIGINT, getattr(signal, "SIGTERM", None),
                            getattr(signal, "SIGHUP", None)) if s is not None)


def note_interrupt(signum: int = signal.SIGINT) -> None:
    """Record that the user interrupted: the envkit kernel calls this when Jupyter asks it
    to interrupt (before it signals its process group, the Pulumi CLI included), and
    envkit's own handler calls it for Ctrl-C, SIGTERM and SIGHUP."""
    with _LOCK:
        _STATE["last"] = time.monotonic()
        _STATE["signum"] = signum
    _CANCEL.set()


def interrupted_since(started: float) -> bool:
    """Whether an interrupt was noted at or after ``started`` (time.monotonic())."""
    last = _STATE["last"]
    return last is not None and last >= started


def cancel_requested() -> bool:
    """Whether the command under way was asked to stop (queued work must not start)."""
    return _CANCEL.is_set()


def reset() -> None:
    """Forget earlier interrupts (a new command, or a notebook cell, begins)."""
    _CANCEL.clear()


@contextlib.contextmanager
def engine_operation() -> Iterator[None]:
    """Mark an engine operation as running (the handler then lets the CLI cancel it
    instead of interrupting Python)."""
    with _LOCK:
        _STATE["active"] += 1
    try:
        yield
    finally:
        with _LOCK:
            _STATE["active"] -= 1


def _foreground() -> bool:
    """Whether this process is in its terminal's foreground process group: then a Ctrl-C
    was delivered to the whole group, the Pulumi CLI children included."""
    try:
        fd = os.open("/dev/tty", os.O_RDONLY | os.O_NOCTTY)
    except OSError:
        return False
    try:
        return os.tcgetpgrp(fd) == os.getpgrp()
    except OSError:
        return False
    finally:
        os.close(fd)


def pulumi_children() -> list[int]:
    """The pids of Pulumi CLI processes that are children of this process (their parent
    is us, so their pid cannot be reused before we reap them)."""
    me = os.getpid()
    found = []
    for task in Path(f"/proc/{me}/task").glob("*/children"):
        with contextlib.suppress(OSError, ValueError):
            found += [int(p) for p in task.read_text().split()]
    out = []
    for pid in dict.fromkeys(found):
        try:
            argv0 = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0", 1)[0]
            stat = Path(f"/proc/{pid}/stat").read_bytes()
        except OSError:
            continue
        ppid = int(stat[stat.rfind(b")") + 2:].split()[1])
        if ppid == me and os.path.basename(argv0.decode(errors="replace")).startswith(
                "pulumi"):
            out.append(pid)
    return out


def forward_cancel() -> list[int]:
    """Send one SIGINT to each Pulumi CLI child (a graceful cancel); returns their pids."""
    sent = []
    for pid in pulumi_children():
        pidfd = None
        with contextlib.suppress(AttributeError, OSError):
            pidfd = os.pidfd_open(pid)
        try:
            # Proven again through the pidfd: still our child, still the CLI.
            if pidfd is not None and pid not in pulumi_children():
                continue
            with contextlib.suppress(ProcessLookupError):
                if pidfd is not None:
                    signal.pidfd_send_signal(pidfd, signal.SIGINT)
                else:
                    os.kill(pid, signal.SIGINT)
                sent.append(pid)
        finally:
            if pidfd is not None:
                os.close(pidfd)
    return sent


def _handler(signum: int, frame: Any) -> None:
    first = not _CANCEL.is_set()
    note_interrupt(signum)
    if _STATE["active"] == 0:
        # No engine operation runs (a plan, a question): stop Python itself.
        raise KeyboardInterrupt
    if first and not (signum == signal.SIGINT and _foreground()):
        forward_cancel()


@contextlib.contextmanager
def cancellable() -> Iterator[None]:
    """While a command runs: SIGINT, SIGTERM and SIGHUP cancel the engine operations under
    way (on any thread) instead of killing Python; with none under way they raise
    KeyboardInterrupt. Off the main thread no handler can be set, and nothing changes."""
    if threading.current_thread() is not threading.main_thread() or \
            signal.getsignal(signal.SIGINT) is _handler:  # off the main thread, or nested
        yield
        return
    reset()
    previous = {s: signal.getsignal(s) for s in SIGNALS}
    for s in SIGNALS:
        signal.signal(s, _handler)
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def signal_name(signum: int | None) -> str:
    """``SIGTERM`` for a signal number (``interrupt`` when unknown)."""
    try:
        return signal.Signals(signum).name if signum is not None else "interrupt"
    except ValueError:
        return "interrupt"


def last_signal() -> int | None:
    """The last signal noted (None: none, or a kernel interrupt without one)."""
    return _STATE["signum"]
