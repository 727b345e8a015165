"""Run the gate's child process: bounded in time and output, contained, always ended.

The child runs in a session of its own and, where the machine allows it, in a PID
namespace of its own (``unshare --user --map-root-user --pid --fork --kill-child``,
util-linux): when the namespace's first process ends, the kernel ends every process in
it, including ones the program started in a new session or double-forked, which a
process-group kill cannot reach. Where user namespaces are not allowed (probed once),
the process group is all that is ended, and the report's note says so.
"""

from __future__ import annotations

import contextlib
import functools
import os
import re
import selectors
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import PrerequisiteError

RESULT_LIMIT = 64 * 1024 * 1024
OUTPUT_TAIL = 64 * 1024


#: What the child is wrapped in to get a PID namespace of its own.
UNSHARE = ("--user", "--map-root-user", "--pid", "--fork", "--kill-child", "--")


@functools.cache
def contained() -> tuple[str, ...]:
    """The argv prefix that runs the child in a PID namespace of its own, or () where the
    machine does not allow one (no unshare, or user namespaces disabled): probed once."""
    unshare = shutil.which("unshare")
    if unshare is None or not hasattr(os, "killpg"):
        return ()
    try:
        done = subprocess.run([unshare, *UNSHARE, "true"], capture_output=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return ()
    return (unshare, *UNSHARE) if done.returncode == 0 else ()


def containment_note() -> str | None:
    """What the report says when the program could not be contained in a namespace."""
    if contained():
        return None
    return ("this machine allows no PID namespace (unshare with user namespaces); the "
            "program's process group is ended when the check returns, but a process it "
            "started in a new session may outlive it")


@dataclass
class Outcome:
    returncode: int | None = None
    result: bytes = b""
    stdout: bytes = b""
    stderr: bytes = b""
    timed_out: bool = False
    too_large: bool = False


def spawn(argv: list[str], env: dict[str, str], job: bytes, cwd: Path, write_end: int,
           read_end: int, timeout: float) -> Outcome:
    """Run the child in its own session; collect its result and the tails of its output.

    The child's pid is its process group's id. The group is signalled only while the child
    is known not to have been reaped (its pid, and so the group id, cannot have been reused):
    on the timeout, on an interrupt, and right after it exits, to end anything the program
    left running. Both ends of the result pipe are closed here, whatever happens."""
    outcome = Outcome()
    try:
        proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, pass_fds=(write_end,), cwd=cwd,
                                env=env, start_new_session=True)
    except OSError as exc:
        os.close(read_end)
        raise PrerequisiteError(f"cannot start {argv[0]}: {exc.strerror}") from None
    finally:
        os.close(write_end)
    deadline = time.monotonic() + timeout
    selector = selectors.DefaultSelector()
    assert proc.stdin and proc.stdout and proc.stderr
    pending = memoryview(job)
    os.set_blocking(proc.stdin.fileno(), False)
    selector.register(proc.stdin, selectors.EVENT_WRITE, "stdin")
    for stream, name in ((proc.stdout, "stdout"), (proc.stderr, "stderr")):
        selector.register(stream, selectors.EVENT_READ, name)
    result_reader = os.fdopen(read_end, "rb", buffering=0)
    selector.register(result_reader, selectors.EVENT_READ, "result")
    exited = False
    try:
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                outcome.timed_out = True
                _where_is_it(proc, selector, outcome)
                break
            for key, _ in selector.select(timeout=min(remaining, 0.25)):
                if key.data == "stdin":
                    try:
                        pending = pending[os.write(key.fd, pending):]
                    except (BrokenPipeError, OSError):
                        pending = pending[:0]
                    if not pending:
                        # Written; stdin stays open as the child's lifeline (_runner.py).
                        selector.unregister(key.fileobj)
                    continue
                if not _drain(key, selector, outcome):
                    break
            if outcome.too_large:
                break
            if _exited(proc):
                exited = True
                break
        if exited:
            # Whatever the child wrote before it ended is still in the pipes.
            for _ in range(64):
                ready = selector.select(timeout=0.05)
                if not ready or not all(_drain(k, selector, outcome) for k, _ in ready):
                    break
    finally:
        _end_group(proc)
        selector.close()
        result_reader.close()
        for stream in (proc.stdin, proc.stdout, proc.stderr):
            with contextlib.suppress(OSError):
                stream.close()
    outcome.returncode = proc.returncode
    return outcome


def _where_is_it(proc: subprocess.Popen, selector: Any, outcome: Outcome) -> None:
    """Ask a runaway child for its stack: a byte on its lifeline (stdin), at which the
    runner dumps every thread's stack to stderr."""
    if _exited(proc) or proc.stdin is None:
        return
    with contextlib.suppress(OSError):
        os.write(proc.stdin.fileno(), b"?")
    # faulthandler writes the dump in pieces: read until it has started and gone quiet.
    until = time.monotonic() + 2.0
    while time.monotonic() < until:
        ready = [k for k, _ in selector.select(timeout=0.1) if k.data == "stderr"]
        for key in ready:
            _drain(key, selector, outcome)
        if not ready and b"most recent call first" in outcome.stderr[-65536:]:
            break


def _inside(path: Path, root: Path) -> bool:
    real = Path(os.path.realpath(path))
    return real == root or root in real.parents


_FRAME = re.compile(r'^\s*File "(.+)", line (\d+) in ', re.M)


def stuck_at(stderr: bytes, root: Path) -> dict[str, Any] | None:
    """The innermost project frame in the child's stack dump (every thread's stack; the
    main thread's is the one with the program's frames)."""
    text = stderr.decode("utf-8", "replace")
    for section in reversed(text.split("most recent call first")[1:]):
        for path, line in _FRAME.findall(section.split("\n\n", 1)[0]):
            candidate = Path(path)
            if candidate.is_absolute() and _inside(candidate, root) and \
                    "site-packages" not in candidate.parts:
                return {"file": str(Path(os.path.realpath(candidate)).relative_to(root)),
                        "line": int(line)}
    return None


def _drain(key: Any, selector: Any, outcome: Outcome) -> bool:
    """Read what one stream has; False once the result grows past its limit."""
    try:
        chunk = os.read(key.fd, 65536)
    except OSError:
        chunk = b""
    if not chunk:
        selector.unregister(key.fileobj)
        return True
    if key.data == "result":
        outcome.result += chunk
        if len(outcome.result) > RESULT_LIMIT:
            outcome.too_large = True
            return False
    else:
        tail = getattr(outcome, key.data) + chunk
        setattr(outcome, key.data, tail[-OUTPUT_TAIL:])
    return True


def _exited(proc: subprocess.Popen) -> bool:
    """Whether the child has exited, without reaping it (so its pid stays reserved)."""
    if hasattr(os, "waitid"):
        try:
            info = os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
        except ChildProcessError:
            return True
        return info is not None
    return proc.poll() is not None


def run_bounded(argv: list[str], cwd: Path, env: dict[str, str] | None, timeout: float
                ) -> tuple[int, bytes]:
    """Run an installing command (pip, uv, poetry, npm) in a session of its own, its
    stdout and stderr together: (exit status, output). OSError when it cannot start;
    subprocess.TimeoutExpired after ``timeout`` seconds, once its process group is ended
    (so is it on any other exception, Ctrl-C included)."""
    proc = subprocess.Popen(argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            start_new_session=True)
    try:
        output, _ = proc.communicate(timeout=timeout)
    except BaseException:
        _end_group(proc)
        raise
    return proc.returncode, output


def _end_group(proc: subprocess.Popen) -> None:
    """Kill the child's process group, then reap the child.

    Safe because the child (the group's leader) is not reaped yet: an exited child is a
    zombie holding its pid, so the group id is still the one this process created."""
    if proc.returncode is None and hasattr(os, "killpg"):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


