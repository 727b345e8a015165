"""The class driver: :class:`Classroom`, one shared stack plus one stack per student.

Every stack is an :class:`envkit.engine.Environment` (a subclass that runs the class's
program), driven by a bounded thread pool: the Automation API runs each operation as a
Pulumi CLI child process, and inline programs run with their own context
(``pulumi/automation/_server.py``: ``contextvars.copy_context().run``), so students proceed
in parallel while one failure or late arrival blocks nobody.

Student stacks read what they need from the shared stack (network, security group ids,
group and instance-profile names) as stack config ``envkit:shared``, set by this driver from
the shared stack's outputs before each operation. Config rather than a ``StackReference``:
it works the same on every backend, the offline plan substitutes it without mocking a stack
read, one read of the shared outputs serves the whole class, and the value is part of each
student's fingerprint, so a change in the shared stack re-deploys exactly the students it
affects. ``up`` is idempotent: a student whose fingerprint (spec, shared values, target)
matches the deployed one, recorded locally or exported by the stack, is skipped.
"""

from __future__ import annotations

import concurrent.futures
import json
import os
import threading
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from .. import home, interrupts
from ..engine import Environment
from ..errors import (
    CancelledError,
    EnvkitError,
    OperationError,
    PolicyViolationError,
    UsageError,
)
from ..events import Event
from ..spec.classroom import Student
from .layout import TAG_CLASS, TAG_STUDENT, ClassLayout
from .planning import ClassPlan, classroom_exports, lease_extension
from .records import ClassRecord, ClassResult, StackEvent, StackState

SHARED = None  # the student of the shared stack


# --- one stack of the class --------------------------------------------------------------------


class ClassEnvironment(Environment):
    """A stack of a class: the shared stack (``student`` None) or one student's.

    Its program is :func:`envkit.stack_program.program` with the class's additions; a student
    stack reads the shared stack's values from its config ``envkit:shared``.
    """

    def __init__(self, spec: Any, *, layout: ClassLayout, student: Student | None,
                 **kwargs: Any) -> None:
        super().__init__(spec, **kwargs)
        self.layout = layout
        self.student = student

    def _program(self) -> None:
        import pulumi

        from ..stack_program import program

        config = pulumi.Config("envkit")
        common = self.program_arguments()
        fingerprint = config.get("fingerprint")
        if self.student is None:
            program(self.spec, with_network=self.layout.has_ec2,
                    extra_tags={TAG_CLASS: self.layout.name},
                    extend=lease_extension(self.layout, None, None, common["target"]),
                    **common)
            pulumi.export("classroom", classroom_exports(self.layout, None, fingerprint))
            return
        refs = config.require_object("shared")
        program(self.spec, shared=refs, **common,
                extra_tags={TAG_STUDENT: self.student.id, TAG_CLASS: self.layout.name},
                extend=lease_extension(self.layout, self.student, refs, common["target"]))
        pulumi.export("classroom", classroom_exports(self.layout, self.student, fingerprint,
                                                     refs))


def default_parallel() -> int:
    """How many stacks run at once unless told: two per CPU (each is mostly waiting on AWS
    inside a Pulumi CLI child process), at least 2 and at most 16."""
    return max(2, min(16, 2 * (os.cpu_count() or 1)))


# --- the class ---------------------------------------------------------------------------------


class Classroom:
    """One class: a shared stack and one stack per student, driven concurrently.

    ``spec`` is anything :func:`envkit.load_spec` takes, with a ``classroom`` section.
    ``students`` takes a slice of the roster (``"ann,bob"``, ``"1-50"``, ``"2/4"``), for
    running a large class from several machines against one backend. ``parallel`` bounds
    how many stacks run at once (default from the CPU count, never above the spec's
    ``classroom.concurrency``). ``target``, ``profile``, ``backend``, ``secrets_provider``
    and the policy packs are as for :class:`envkit.engine.Environment`.
    """

    def __init__(self, spec: Any, *, target: Any = None, profile: str | None = None,
                 backend: str | None = None, secrets_provider: str | None = None,
                 policy_packs: list[str] | None = None,
                 policy_pack_configs: list[str] | None = None,
                 parallel: int | None = None, students: str | None = None) -> None:
        from ..spec import load_spec

        self.source = str(Path(spec).resolve()) if isinstance(spec, (str, os.PathLike)) and \
            "\n" not in str(spec) else None
        self.spec = load_spec(spec)
        self.layout = ClassLayout(self.spec)
        self.selected: list[Student] = self.layout.select(students)
        self.sliced = bool(students and students.strip())
        limit = self.spec.classroom.concurrency  # type: ignore[union-attr]
        if parallel is not None and parallel < 1:
            raise UsageError("--parallel must be at least 1")
        self.parallel = min(parallel or default_parallel(), limit)
        self.target_arg = target
        self.profile = profile
        self.backend = backend
        self.secrets_provider = secrets_provider
        self.policy_packs = list(policy_packs or [])
        self.policy_pack_configs = list(policy_pack_configs or [])
        #: Whether each stack's up previews with the policy packs first (None: when packs
        #: are given; the CLI says False for envkit's own pack, already run offline).
        self.preview_packs: bool | None = None
        self.record = ClassRecord(self.layout.name)
        from ..targets import Target

        self._target: Any = target if isinstance(target, Target) else None
        self._plan: ClassPlan | None = None
        self._stop = threading.Event()
        self._began = time.monotonic()

    @property
    def name(self) -> str:
        """The class's name (the lab's, and the shared stack's)."""
        return self.layout.name

    # -- offline --------------------------------------------------------------------------------

    def plan(self) -> ClassPlan:
        """The offline plan of the whole class (every student), made once."""
        if self._plan is None:
            from .planning import plan_class

            self._plan = plan_class(self.layout, source=self.source)
        return self._plan

    def check(self, config: dict[str, Any] | None = None, prices: Any = None) -> Any:
        """The policy pack over the whole class (a PolicyReport)."""
        from .planning import check_class

        return check_class(self.plan(), config, prices)

    def prices(self, prices_file: Any = None, session: Any = None, refresh: bool = False
               ) -> tuple[Any, str | None]:
        """The price table for this class's estimate, and why prices are missing (if so)."""
        from .cost import prices_for
        from .planning import price_keys

        return prices_for(price_keys(self.plan()), self.spec.region, prices_file=prices_file,
                          session=session, refresh=refresh)

    def cost(self, prices_file: Any = None, session: Any = None, refresh: bool = False) -> Any:
        """The class's cost per hour and for the lease (a ClassCost)."""
        from .planning import cost_of

        table, why = self.prices(prices_file, session, refresh)
        return cost_of(self.plan(), table, why)

    def estimated_wall_time(self, stack_seconds: float | None = None) -> dict[str, Any]:
        """How long ``up`` of the selected students takes at this parallelism: the shared
        stack, then waves of ``parallel`` students. ``stack_seconds`` defaults to the median
        of this class's recorded student deployments (None when nothing was recorded)."""
        import math
        import statistics

        recorded = [s.get("elapsed_s") for s in self.record.read()["stacks"].values()
                    if s.get("state") == "deployed" and s.get("elapsed_s")]
        per = stack_seconds if stack_seconds is not None else (
            statistics.median(recorded) if recorded else None)
        waves = math.ceil(len(self.selected) / self.parallel) if self.selected else 0
        return {"students": len(self.selected), "parallel": self.parallel, "waves": waves,
                "stack_seconds": per,
                "source": "given" if stack_seconds is not None else
                ("recorded" if recorded else None),
                "wall_s": None if per is None else round((waves + 1) * per, 1)}

    # -- stacks ---------------------------------------------------------------------------------

    def _resolved_target(self) -> Any:
        if self._target is None:
            from ..targets import resolve_target

            recorded = self.record.read().get("target")
            self._target = resolve_target(self.target_arg or recorded, self.spec.region,
                                          self.profile)
        return self._target

    def _env(self, student: Student | None) -> ClassEnvironment:
        spec = self.layout.shared_spec if student is None else self.layout.student_spec(student)
        env = ClassEnvironment(spec, layout=self.layout, student=student,
                               target=self._resolved_target(), profile=self.profile,
                               backend=self.backend, secrets_provider=self.secrets_provider,
                               policy_packs=self.policy_packs,
                               policy_pack_configs=self.policy_pack_configs,
                               spec_path=self.source, preview_packs=self.preview_packs)
        env.stop_requested = self.cancelled  # a cancelled class starts no further operation
        return env

    def _stack(self, student: Student | None) -> str:
        return self.name if student is None else self.layout.stack_name(student)

    def _shared_outputs(self, env: ClassEnvironment) -> dict[str, Any]:
        try:
            return env.outputs()
        except OperationError:
            return {}

    def _refs(self, shared_outputs: dict[str, Any]) -> dict[str, Any]:
        refs = self.layout.shared_refs(shared_outputs)
        if self.layout.has_ec2 and not (refs.get("network") or {}).get("subnet_id"):
            raise OperationError(f"{self.name}: the shared stack has no network outputs yet; "
                                 f"run `envkit class up` without --students first")
        return refs

    def _planned(self, student: Student | None) -> int:
        if self._plan is None:
            return 0
        if student is None:
            return self._plan.shared.total
        one = self._plan.students.get(student.id)
        return one.total if one else 0

    # -- running many stacks --------------------------------------------------------------------

    def _begin(self) -> None:
        """A class operation starts: interrupts from now on cancel it."""
        self._stop.clear()
        self._began = time.monotonic()

    def cancelled(self) -> bool:
        """Whether the operation under way was interrupted (Ctrl-C, SIGTERM, SIGHUP, a
        kernel interrupt), seen from any thread."""
        return self._stop.is_set() or interrupts.interrupted_since(self._began)

    def _run(self, jobs: list[tuple[Student | None, Callable[[], StackState]]],
             emit: Callable[[Any], None], result: ClassResult) -> None:
        """Run jobs in the bounded pool. An interrupt (envkit's handler notes it, on
        whatever thread) lets running stacks' Pulumi CLIs cancel cleanly, each reported
        ``cancelled``; queued ones never start and are reported ``cancelled`` too."""
        if not jobs or self.cancelled():
            for student, _ in jobs:
                stack = self._stack(student)
                result.stacks[stack] = StackState(student.id if student else None, stack,
                                                  "cancelled")
            return
        for student, _ in jobs:
            state = StackState(student.id if student else None, self._stack(student), "queued",
                               self._planned(student))
            result.stacks[state.stack] = state
            emit(state)

        def guarded(student: Student | None, job: Callable[[], StackState]) -> StackState:
            stack = self._stack(student)
            if self.cancelled():
                return StackState(student.id if student else None, stack, "cancelled")
            started = time.monotonic()
            emit(StackState(student.id if student else None, stack, "running",
                            self._planned(student)))
            try:
                outcome = job()
            except CancelledError as exc:
                outcome = StackState(student.id if student else None, stack, "cancelled",
                                     error=str(exc))
            except EnvkitError as exc:
                outcome = StackState(student.id if student else None, stack, "failed",
                                     error=str(exc))
            except Exception as exc:  # noqa: BLE001 - one student's failure stops no one else
                outcome = StackState(student.id if student else None, stack, "failed",
                                     error=f"{type(exc).__name__}: {exc}")
            outcome.elapsed_s = round(time.monotonic() - started, 1)
            outcome.planned = self._planned(student)
            return outcome

        pool = concurrent.futures.ThreadPoolExecutor(max_workers=self.parallel,
                                                     thread_name_prefix="envkit-class")
        futures = {pool.submit(guarded, s, j): s for s, j in jobs}
        try:
            pending = set(futures)
            while pending:
                done, pending = concurrent.futures.wait(
                    pending, timeout=0.25, return_when=concurrent.futures.FIRST_COMPLETED)
                for future in done:
                    outcome = future.result()
                    result.stacks[outcome.stack] = outcome
                    emit(outcome)
        except KeyboardInterrupt:
            self._stop.set()
            for future in futures:
                future.cancel()
            concurrent.futures.wait(futures)
            for future, student in futures.items():
                stack = self._stack(student)
                if future.cancelled():
                    result.stacks[stack] = StackState(student.id if student else None, stack,
                                                      "cancelled")
                elif future.exception() is None:
                    result.stacks[stack] = future.result()
        finally:
            pool.shutdown(wait=True)

    def _tagged(self, student: Student | None, emit: Callable[[Any], None]
                ) -> Callable[[Event], None]:
        stack = self._stack(student)
        sid = student.id if student else None
        return lambda event: emit(StackEvent(sid, stack, event))

    # -- up ---------------------------------------------------------------------------------------

    def up(self, on_event: Callable[[Any], None] | None = None, *,
           confirm: Callable[[dict[str, Any]], bool] | None = None,
           policy_config: dict[str, Any] | None = None, check_policy: bool = True,
           prices: Any = None, shared_only: bool = False) -> ClassResult:
        """Create or update the class: removed students' stacks are destroyed (after
        ``confirm``), then the shared stack, then each selected student that changed, was
        added or failed, ``parallel`` at a time (none with ``shared_only``, the first step of
        a class run from several machines). Mandatory policy violations stop it first."""
        # pulumi_aws imports its submodules lazily, which is not thread-safe: do it here.
        import pulumi_aws.ec2
        import pulumi_aws.iam

        del pulumi_aws

        emit = on_event or (lambda e: None)
        if check_policy:
            report = self.check(policy_config, prices)
            if report.mandatory:
                raise PolicyViolationError(report.refusal())
        else:
            self.plan()
        self._begin()
        target = self._resolved_target()
        result = ClassResult("up", self.name, target.kind)
        self.record.update(target=target.kind, spec=self.source, backend=self.backend)
        shared_env = self._env(SHARED)
        deployed = self._shared_outputs(shared_env)
        classroom = deployed.get("classroom") if isinstance(deployed.get("classroom"), dict) \
            else {}
        roster = {s.id for s in self.layout.students}
        removed = [] if self.sliced else [sid for sid in classroom.get("students") or []
                                          if sid not in roster]
        shared_fp = self._shared_fingerprint(target.kind)
        shared_changed = classroom.get("fingerprint") != shared_fp
        if self.sliced and shared_changed:
            raise OperationError(
                f"{self.name}: the shared stack is not deployed at this spec's version; run "
                f"`envkit class up` without --students once (from one machine), then the "
                "slices")
        summary = {"class": self.name, "target": target.kind,
                   "shared": "update" if shared_changed else "unchanged",
                   "students": [] if shared_only else [s.id for s in self.selected],
                   "remove": removed}
        if confirm is not None and not confirm(summary):
            raise OperationError(f"{self.name}: nothing was changed (not confirmed)")

        if removed:
            refs = self._deployed_refs(deployed)
            self._run([(Student(sid), self._destroy_job(Student(sid), refs, True, emit))
                       for sid in removed], emit, result)
            result.removed = [sid for sid in removed
                              if result.stacks[self._stack(Student(sid))].state == "destroyed"]
        if self.cancelled():
            return result
        if shared_changed:
            self._run([(SHARED, lambda: self._up_stack(shared_env, SHARED, shared_fp, None,
                                                         emit))], emit, result)
            if result.stacks[self.name].state != "deployed":
                return result
            deployed = shared_env.outputs()
        else:
            result.stacks[self.name] = StackState(None, self.name, "unchanged")
        if shared_only:
            return result
        refs = self._refs(deployed)
        jobs = [(s, self._student_up_job(s, refs, target.kind, emit)) for s in self.selected]
        self._run(jobs, emit, result)
        return result

    def _shared_fingerprint(self, target: str) -> str:
        # The roster is part of it: the shared stack exports it, and removals read it there.
        return self.layout.fingerprint(self.layout.shared_spec,
                                       {"roster": [s.id for s in self.layout.students]}, target)

    def _up_stack(self, env: ClassEnvironment, student: Student | None, fingerprint: str,
                  refs: dict[str, Any] | None, emit: Callable[[Any], None]) -> StackState:
        values = {"fingerprint": fingerprint}
        if refs is not None:
            values["shared"] = json.dumps(refs, sort_keys=True)
        env.configure(**values)
        started = time.monotonic()
        outcome = env.up(self._tagged(student, emit))
        stack = self._stack(student)
        expires = outcome.outputs.get("expires")
        self.record.update(stack, fingerprint=fingerprint, state="deployed",
                           resources=env.resource_count(), expires=expires, error=None,
                           elapsed_s=round(time.monotonic() - started, 1),
                           student=student.id if student else None)
        return StackState(student.id if student else None, stack, "deployed",
                          changes=dict(outcome.changes))

    def _student_up_job(self, student: Student, refs: dict[str, Any], target: str,
                        emit: Callable[[Any], None]) -> Callable[[], StackState]:
        spec = self.layout.student_spec(student)
        fingerprint = self.layout.fingerprint(spec, refs, target)
        stack = self._stack(student)

        def job() -> StackState:
            known = self.record.stack(stack)
            if known.get("state") == "deployed" and known.get("fingerprint") == fingerprint:
                return StackState(student.id, stack, "unchanged")
            env = self._env(student)
            try:
                if not known:  # another machine may have deployed it: ask the backend
                    exported = (env.outputs().get("classroom") or {})
                    if isinstance(exported, dict) and exported.get("fingerprint") == fingerprint:
                        self.record.update(stack, fingerprint=fingerprint, state="deployed",
                                           student=student.id)
                        return StackState(student.id, stack, "unchanged")
                return self._up_stack(env, student, fingerprint, refs, emit)
            except CancelledError as exc:
                self.record.update(stack, state="cancelled", error=str(exc),
                                   student=student.id)
                raise
            except EnvkitError as exc:
                self.record.update(stack, state="failed", error=str(exc), student=student.id)
                raise

        return job

    # -- down -------------------------------------------------------------------------------------

    def _destroy_job(self, student: Student | None, refs: dict[str, Any] | None,
                     remove: bool, emit: Callable[[Any], None]) -> Callable[[], StackState]:
        def job() -> StackState:
            env = self._env(student)
            if student is not None and refs is not None:
                # A destroy runs the program too (for its providers): it reads the shared
                # values like an up does.
                env.configure(shared=json.dumps(refs, sort_keys=True))
            outcome = env.destroy(self._tagged(student, emit))
            if remove:
                env.remove()
            stack = self._stack(student)
            self.record.update(stack, state="destroyed", resources=0, fingerprint=None,
                               error=None, student=student.id if student else None)
            return StackState(student.id if student else None, stack, "destroyed",
                              changes=dict(outcome.changes))
        return job

    def _deployed_refs(self, deployed: dict[str, Any]) -> dict[str, Any] | None:
        """The shared values from the shared stack's outputs, None when it has none."""
        if not deployed or "classroom" not in deployed:
            return None
        return self.layout.shared_refs(deployed)

    def down(self, on_event: Callable[[Any], None] | None = None, *, remove: bool = False,
             confirm: Callable[[dict[str, Any]], bool] | None = None,
             shared_only: bool = False) -> ClassResult:
        """Destroy the selected students' stacks and, for the whole class, the shared stack
        last (with students removed from the roster since the last ``up``); ``shared_only``:
        only the shared stack (and removed students), once no student's stack is left."""
        emit = on_event or (lambda e: None)
        self._begin()
        target = self._resolved_target()
        result = ClassResult("down", self.name, target.kind)
        shared_env = self._env(SHARED)
        deployed = self._shared_outputs(shared_env)
        classroom = deployed.get("classroom") if isinstance(deployed.get("classroom"), dict) \
            else {}
        roster = {s.id for s in self.layout.students}
        extra = [] if self.sliced else [Student(sid) for sid in classroom.get("students") or []
                                        if sid not in roster]
        students = extra if shared_only else self.selected + extra
        if shared_only:  # the shared stack must outlive every student's
            from .locks import require_students_gone
            require_students_gone(self)
        summary = {"class": self.name, "target": target.kind,
                   "students": [s.id for s in students], "shared": not self.sliced}
        if confirm is not None and not confirm(summary):
            raise OperationError(f"{self.name}: nothing was destroyed (not confirmed)")
        refs = self._deployed_refs(deployed)
        self._run([(s, self._destroy_job(s, refs, remove, emit)) for s in students], emit,
                  result)
        if not self.sliced:
            if self.cancelled():
                result.stacks[self.name] = StackState(None, self.name, "cancelled")
            elif result.failed:
                result.stacks[self.name] = StackState(
                    None, self.name, "kept", error="students' stacks could not all be "
                                                   "destroyed; the shared stack stays")
            else:
                self._run([(SHARED, self._destroy_job(SHARED, None, remove, emit))], emit,
                          result)
        return result

    # -- status, leases, handouts ---------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        """Every stack of the class: what this machine recorded, and what the backend holds
        (resources, last update, running update, and the expiry: the stack's ``expires``
        output, which every machine reads) when the Pulumi CLI is there."""
        record = self.record.read()["stacks"]
        backend: dict[str, Any] = {}
        expiries: dict[str, Any] = {}
        note = None
        try:
            from .backend import backend_stacks, backend_workspace, stack_outputs

            backend = {s.name: s for s in backend_stacks(self.backend)}
            ours = {self._stack(s) for s in [SHARED, *self.selected]}
            workspace = backend_workspace(self.backend) if ours & set(backend) else None
            for name in sorted(ours & set(backend)):
                if backend[name].resource_count:
                    expiries[name] = stack_outputs(workspace, name).get("expires")
        except EnvkitError as exc:
            note = f"the backend was not read: {str(exc).splitlines()[0]}"
        rows = []
        for student in [SHARED, *self.selected]:
            stack = self._stack(student)
            known = record.get(stack, {})
            summary = backend.get(stack)
            rows.append({
                "student": student.id if student else None, "stack": stack,
                "state": known.get("state") or ("deployed" if summary and
                                                summary.resource_count else "not deployed"),
                "resources": summary.resource_count if summary and summary.resource_count
                is not None else known.get("resources"),
                "expires": expiries[stack] if stack in expiries else known.get("expires"),
                "elapsed_s": known.get("elapsed_s"),
                "updated": (summary.last_update.isoformat() if summary and summary.last_update
                            else known.get("updated")),
                "running": bool(summary and summary.update_in_progress),
                "error": known.get("error")})
        return {"class": self.name, "target": self.record.read().get("target"),
                "stacks": rows, "note": note}

    def extend(self, duration: str, student: str | None = None,
               on_event: Callable[[Any], None] | None = None) -> ClassResult:
        """Move the expiry of one student (or every selected student) ``duration`` later
        (from the current expiry, or from now when it already passed); the shared stack's
        expiry follows the latest student's. Tags are updated by an ``up`` of each stack."""
        from ..spec.models import parse_ttl

        delta = parse_ttl(duration)
        emit = on_event or (lambda e: None)
        students = [self.spec.classroom.student(student)] if student else self.selected  # type: ignore[union-attr]
        self._begin()
        target = self._resolved_target()
        result = ClassResult("extend", self.name, target.kind)
        shared_env = self._env(SHARED)
        refs = self._refs(shared_env.outputs())
        now = datetime.now(timezone.utc)
        latest: list[datetime] = []

        def moved(env: ClassEnvironment) -> str:
            current = _parse_time(env.config_value("expires"))
            base = current if current and current > now else now
            new = (base + delta).replace(second=0, microsecond=0)
            latest.append(new)
            return new.isoformat()

        def job_for(s: Student) -> Callable[[], StackState]:
            def job() -> StackState:
                env = self._env(s)
                env.configure(expires=moved(env))
                spec = self.layout.student_spec(s)
                return self._up_stack(env, s, self.layout.fingerprint(spec, refs, target.kind),
                                      refs, emit)
            return job

        self._run([(s, job_for(s)) for s in students], emit, result)
        current = _parse_time(shared_env.config_value("expires"))
        if latest and (current is None or max(latest) > current):
            shared_env.configure(expires=max(latest).isoformat())
            fp = self._shared_fingerprint(target.kind)
            self._run([(SHARED, lambda: self._up_stack(shared_env, SHARED, fp, None, emit))],
                      emit, result)
        return result

    def handouts(self, out_dir: str | os.PathLike[str] | None = None) -> Any:
        """Write each selected student's handout (see :mod:`envkit.classroom.handout`) into
        ``out_dir`` (default ENVKIT_HOME/handouts/NAME); returns what was written."""
        from .handout import check_folder, render_handouts, write_handouts

        # The default folder is made inside ENVKIT_HOME (home() creates that 0700 first).
        folder = Path(out_dir) if out_dir else home.home() / "handouts" / self.name
        check_folder(folder)  # before any secret is read: a folder we may not use stops here
        outputs: dict[str, dict[str, Any]] = {}
        missing: list[str] = []
        for student in self.selected:
            env = self._env(student)
            try:
                values = env.outputs(show_secrets=True)
            except OperationError:
                values = {}
            if values.get("users"):
                outputs[student.id] = values
            else:
                missing.append(student.id)
        rendered = render_handouts(self.name, self.selected, outputs)
        written = write_handouts(rendered, folder)
        written.missing = missing
        return written

    def widget(self) -> Any:
        """The notebook roster widget for this class."""
        from ..notebook.roster import RosterWidget

        return RosterWidget(self)


def _parse_time(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


__all__ = ["ClassEnvironment", "ClassResult", "Classroom", "StackEvent", "StackState",
           "default_parallel"]
