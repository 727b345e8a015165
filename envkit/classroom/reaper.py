"""The reaper: destroy every expired environment in the backend, and list orphans.

Safe to run from cron or a scheduled CI job: it takes a lock (one reaper per ENVKIT_HOME at
a time; across machines the backend's per-stack update lock makes a second destroy of the
same stack fail cleanly, reported and retried on the next run); a destroyed stack stays in
the backend empty, so a second run finds nothing to do; anything it could not destroy makes
the exit code non-zero.

An environment's expiry is its ``expires`` output (the ``envkit:expires`` tag it put on
every resource). To destroy a stack the engine runs its program, so the reaper needs its
spec: from this machine's records, or from the specs passed on the command line (a class
spec covers its shared stack and every student). The shared stack of a class is destroyed
only once no stack of its students holds resources, whether its outputs can be read or not.

Orphans are resources tagged ``envkit:environment`` whose environment no stack of the
backend holds: found with the Resource Groups Tagging API, plus per-service describes for
what that API does not return (key pairs, elastic IPs, IAM users and roles), in every region
the account has enabled (``ec2:DescribeRegions``) unless regions are given. Orphans, and a
region that could not be searched, make the exit code non-zero too (EXIT_REAP_ATTENTION).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from typing import Any

from .. import home
from ..errors import CancelledError, EnvkitError, OperationError, StackLockedError
from ..limits import plural
from ..tagnames import TAG_ENVIRONMENT

#: ``envkit reap``'s exit code when something needs a person: an expired environment that
#: is still there, orphans, or a region the orphan scan could not search (the general
#: "operation failed" code, so cron and CI treat it as a failure).
EXIT_REAP_ATTENTION = 1


@dataclass
class ReapItem:
    """One stack of the backend and what the reaper did with it."""

    stack: str
    expires: str | None
    resources: int | None
    action: str  # destroyed | would destroy | failed | busy | waiting | active | no lease | empty
    detail: str = ""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return asdict(self)


@dataclass
class Orphan:
    """A resource tagged with an environment that no stack of the backend holds."""

    environment: str
    region: str
    kind: str
    id: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return asdict(self)


@dataclass
class ReapReport:
    """What one run of the reaper found and did."""

    items: list[ReapItem] = field(default_factory=list)
    orphans: list[Orphan] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    dry_run: bool = False
    cancelled: bool = False
    #: The regions the orphan scan covered, and those it could not (why is in ``notes``).
    regions: list[str] = field(default_factory=list)
    unscanned: list[str] = field(default_factory=list)

    @property
    def failed(self) -> list[ReapItem]:
        """Expired stacks that are still there after this run."""
        return [i for i in self.items if i.action in ("failed", "busy", "unresolved",
                                                          "waiting", "cancelled")]

    @property
    def exit_code(self) -> int:
        """130 when the run was cancelled; 1 (EXIT_REAP_ATTENTION) when an expired stack is
        still there (not in a dry run), when orphans were found, or when a region could not
        be searched for them; else 0. Cron mails a non-zero run, so each of these reaches a
        person."""
        if self.cancelled:
            return 130
        stuck = bool(self.failed) and not self.dry_run
        return EXIT_REAP_ATTENTION if stuck or self.orphans or self.unscanned else 0

    def to_dict(self) -> dict[str, Any]:
        """The JSON document of ``envkit reap --json``."""
        return {"kind": "reap_result", "dry_run": self.dry_run,
                "stacks": [i.to_dict() for i in self.items],
                "orphans": [o.to_dict() for o in self.orphans], "notes": self.notes,
                "failed": len(self.failed), "cancelled": self.cancelled,
                "regions": self.regions, "unscanned_regions": self.unscanned,
                "exit_code": self.exit_code}


@contextlib.contextmanager
def reaper_lock() -> Iterator[None]:
    """Hold ENVKIT_HOME/locks/reaper.lock, or fail at once if another reaper holds it."""
    path = home.subdir("locks") / "reaper.lock"
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip()
            raise OperationError(f"another envkit reap is running (pid {holder or '?'}, lock "
                                 f"{path}); nothing was done") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        yield
    finally:
        os.close(fd)


def _expired(value: Any, now: datetime) -> bool | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    when = when if when.tzinfo else when.replace(tzinfo=timezone.utc)
    return when <= now


class _Resolver:
    """Find the Environment that can destroy a stack: from the specs given, from this
    machine's class records, or from the environments registry."""

    def __init__(self, specs: list[str], target: str | None, profile: str | None,
                 backend: str | None, recorded: list[str]) -> None:
        self.target, self.profile, self.backend = target, profile, backend
        self.classes: dict[str, Any] = {}   # class name -> Classroom
        self.plain: dict[str, Any] = {}     # env name -> spec
        given = [str(s) for s in specs]
        recorded = [*recorded, *(e.get("spec") for e in home.read_registry().values()
                                 if isinstance(e, dict) and isinstance(e.get("spec"), str))]
        # Specs given on the command line win; each file is read once (every student of a
        # class records the class's spec).
        for source in dict.fromkeys(given):
            self._add(source)
        for source in dict.fromkeys(s for s in recorded if s and s not in given):
            with contextlib.suppress(EnvkitError, OSError):
                self._add(source)

    def _add(self, source: str) -> None:
        from ..spec import load_spec
        from .driver import Classroom

        spec = load_spec(source)
        if spec.classroom is not None:
            if spec.name not in self.classes:
                self.classes[spec.name] = Classroom(source, target=self.target,
                                                    profile=self.profile, backend=self.backend)
        else:
            self.plain.setdefault(spec.name, spec)

    def owner(self, stack: str) -> tuple[Any, Any] | None:
        """(Classroom, Student or None for its shared stack) when the stack is a class's."""
        if stack in self.classes:
            return self.classes[stack], None
        for classroom in self.classes.values():
            student = classroom.layout.by_stack.get(stack)
            if student is not None:
                return classroom, student
        return None

    def environment(self, stack: str) -> Any:
        """The Environment for ``stack``, or None when no spec for it is known here."""
        owner = self.owner(stack)
        if owner is not None:
            classroom, student = owner
            return classroom._env(student)
        spec = self.plain.get(stack)
        if spec is None:
            return None
        from ..engine import Environment

        recorded = home.read_registry().get(stack, {})
        return Environment(spec, target=self.target or recorded.get("target"),
                           profile=self.profile, backend=self.backend,
                           spec_path=recorded.get("spec"))


def recorded_class_specs() -> list[str]:
    """The spec of every class recorded on this machine. Each record is read as hostile
    input (:mod:`envkit.classroom.records`): a damaged one, a FIFO or a link out of
    ENVKIT_HOME is a SpecError (exit 2) naming the file and key, raised before the reaper
    takes its lock, so it can neither hang holding the lock nor destroy on a guess."""
    from .records import read_record_file

    folder = home.location() / "classes"
    try:
        paths = sorted(folder.glob("*.json"))
    except OSError:
        return []
    specs = [read_record_file(path).get("spec") for path in paths]
    return [s for s in specs if s]


def reap(*, backend: str | None = None, specs: list[str] | None = None,
         target: str | None = None, profile: str | None = None,
         regions: list[str] | None = None, dry_run: bool = False,
         confirm: Callable[[list[ReapItem]], bool] | None = None,
         now: datetime | None = None, orphans: bool = True,
         on_event: Callable[[Any], None] | None = None) -> ReapReport:
    """Destroy every expired environment of the backend (see the module docstring)."""
    from .backend import backend_workspace, stack_outputs

    now = now or datetime.now(timezone.utc)
    report = ReapReport(dry_run=dry_run)
    recorded = recorded_class_specs()
    with reaper_lock():
        workspace = backend_workspace(backend)
        try:
            summaries = list(workspace.list_stacks())
        except Exception as exc:  # noqa: BLE001 - mapped to one message
            raise OperationError(f"cannot list the stacks of the backend: {exc}") from None
        resolver = _Resolver(list(specs or []), target, profile, backend, recorded)
        outputs: dict[str, dict[str, Any]] = {}
        for s in summaries:
            if s.resource_count == 0:
                report.items.append(ReapItem(s.name, None, 0, "empty"))
                continue
            try:
                outputs[s.name] = stack_outputs(workspace, s.name)
            except Exception as exc:  # noqa: BLE001 - one unreadable stack stops nothing
                report.items.append(ReapItem(s.name, None, s.resource_count, "failed",
                                             f"outputs unreadable: {exc}"))
        expired: list[ReapItem] = []
        for s in summaries:
            if s.name not in outputs:
                continue
            expires = outputs[s.name].get("expires")
            verdict = _expired(expires, now)
            if verdict is None:
                report.items.append(ReapItem(s.name, None, s.resource_count, "no lease",
                                             "no envkit:expires: never reaped"))
            elif not verdict:
                report.items.append(ReapItem(s.name, expires, s.resource_count, "active"))
            else:
                expired.append(ReapItem(s.name, expires, s.resource_count, "expired"))
        # Students first; a class's shared stack waits until no stack of its students holds
        # resources any more, readable or not (see _students_left).
        def class_of(name: str) -> dict[str, Any]:
            value = outputs.get(name, {}).get("classroom")
            return value if isinstance(value, dict) else {}

        expired.sort(key=lambda i: "students" in class_of(i.stack))
        if expired and not dry_run and confirm is not None and not confirm(expired):
            raise OperationError("nothing was destroyed (not confirmed)")
        gone: set[str] = set()
        for item in expired:
            report.items.append(item)
            if "students" in class_of(item.stack):
                waiting = _students_left(item.stack, class_of(item.stack), summaries,
                                         outputs, gone)
                if waiting:
                    item.action = "waiting"
                    unread = [n for n in waiting if n not in outputs]
                    item.detail = (f"{plural(len(waiting), 'student stack')} still "
                                   f"hold{'s' if len(waiting) == 1 else ''} resources"
                                   + (f" ({len(unread)} unreadable: {', '.join(unread[:5])})"
                                      if unread else ""))
                    continue
            if dry_run:
                item.action = "would destroy"
                gone.add(item.stack)
                continue
            env = resolver.environment(item.stack)
            if env is None:
                item.action = "unresolved"
                item.detail = ("its spec is not known on this machine: pass the spec "
                               "(envkit reap SPEC ...) or reap where it was deployed")
                continue
            try:
                _prepare(env, resolver, item.stack)
                env.destroy(on_event)
                item.action = "destroyed"
                gone.add(item.stack)
            except CancelledError as exc:
                # Ctrl-C, SIGTERM or SIGHUP: this destroy was cancelled cleanly; the
                # expired stacks not reached yet are left for the next run.
                item.action, item.detail = "cancelled", " ".join(str(exc).split())[:300]
                report.cancelled = True
                break
            except StackLockedError:
                item.action, item.detail = "busy", "another update holds the stack's lock"
            except EnvkitError as exc:
                item.action, item.detail = "failed", " ".join(str(exc).split())[:300]
    if orphans and not report.cancelled:
        known = {s.name for s in summaries if s.resource_count != 0} - {
            i.stack for i in report.items if i.action == "destroyed"}
        if regions:
            report.regions = list(dict.fromkeys(regions))
        else:
            report.regions, complete, notes = account_regions(target, profile)
            report.notes += notes
            if not complete:
                report.unscanned.append("(the account's other regions)")
        report.orphans, notes, unscanned = find_orphans(known, report.regions, target,
                                                        profile)
        report.notes += notes
        report.unscanned += unscanned
    report.items.sort(key=lambda i: i.stack)
    return report


def _students_left(shared: str, exported: dict[str, Any], summaries: list[Any],
                   outputs: dict[str, dict[str, Any]], gone: set[str]) -> list[str]:
    """The stacks of the backend that may be students of class ``shared`` and still hold
    resources. A readable stack counts when its outputs name the class; a stack whose outputs
    cannot be read counts when its name is a student stack's name of the class (from the
    roster the shared stack exports) or merely starts with ``<class>-``: the shared stack is
    never destroyed from under a student the reaper cannot see into."""
    from ..spec.classroom import slug

    roster = {f"{shared}-{slug(str(sid))}" for sid in exported.get("students") or []}
    left = []
    for summary in summaries:
        name = summary.name
        if name == shared or name in gone or summary.resource_count == 0:
            continue
        if name in outputs:
            mine = outputs[name].get("classroom")
            if isinstance(mine, dict) and "student" in mine and mine.get("class") == shared:
                left.append(name)
        elif name in roster or name.startswith(f"{shared}-"):
            left.append(name)
    return sorted(left)


def _prepare(env: Any, resolver: _Resolver, stack: str) -> None:
    """A student stack's program reads the shared values: set them from the shared stack."""
    owner = resolver.owner(stack)
    if owner is None or owner[1] is None:
        return
    import json

    classroom, _ = owner
    deployed = classroom._shared_outputs(classroom._env(None))
    refs = classroom._deployed_refs(deployed)
    if refs is not None:
        env.configure(shared=json.dumps(refs, sort_keys=True))


def _known_regions() -> list[str]:
    found = {e.get("region") for e in home.read_registry().values()
             if isinstance(e, dict) and isinstance(e.get("region"), str)}
    return sorted(found) or [_home_region()]


def _home_region() -> str:
    return os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"


def account_regions(target: str | None, profile: str | None
                    ) -> tuple[list[str], bool, list[str]]:
    """Every region the account has enabled (``ec2:DescribeRegions``, which without
    ``AllRegions`` lists exactly those: opt-in-not-required and opted-in), whether that list
    is complete, and notes. When the call is refused the regions of known environments are
    searched instead, and the scan is incomplete (so ``reap`` exits non-zero)."""
    from ..targets import resolve_target

    region = _home_region()
    try:
        resolved = resolve_target(target, region, profile, start_emulator=False)
    except EnvkitError as exc:
        return _known_regions(), False, [f"the account's regions were not listed: "
                                         f"{str(exc).splitlines()[0]}"]
    if resolved.kind == "local" and resolved.endpoint is None:
        # A stopped emulator keeps nothing: there is nothing to search in any region.
        return [region], True, []
    try:
        listed = resolved.client("ec2").describe_regions().get("Regions", [])
    except Exception as exc:  # noqa: BLE001 - botocore's many errors, one line
        return _known_regions(), False, [
            f"the account's regions were not listed (ec2:DescribeRegions: {exc}); searched "
            "only the regions of known environments: pass --regions to name them"]
    names = sorted(r["RegionName"] for r in listed if r.get("RegionName") and
                   r.get("OptInStatus", "opt-in-not-required") != "not-opted-in")
    return names or [region], bool(names), []


# --- orphans -------------------------------------------------------------------------------------


def find_orphans(known: set[str], regions: list[str], target: str | None,
                 profile: str | None) -> tuple[list[Orphan], list[str], list[str]]:
    """Resources tagged envkit:environment=X where X is not in ``known``, per region; notes;
    and the regions that could not be searched."""
    from ..targets import resolve_target

    notes: list[str] = []
    unscanned: list[str] = []
    found: dict[tuple[str, str], Orphan] = {}
    iam_pending = True
    for region in regions:
        try:
            resolved = resolve_target(target, region, profile, start_emulator=False)
        except EnvkitError as exc:
            notes.append(f"orphans not listed in {region}: {str(exc).splitlines()[0]}")
            unscanned.append(region)
            continue
        if resolved.kind == "local" and resolved.endpoint is None:
            notes.append(f"orphans not listed in {region}: the local emulator is not running")
            continue
        try:
            # IAM is global: its users and roles are listed once, with the first region that
            # answers.
            for env_name, kind, rid in tagged_resources(resolved, with_iam=iam_pending):
                if env_name not in known:
                    found[(kind, rid)] = Orphan(env_name, region, kind, rid)
            iam_pending = False
        except Exception as exc:  # noqa: BLE001 - botocore's many errors, one line
            notes.append(f"orphans not listed in {region}: {exc}")
            unscanned.append(region)
    return (sorted(found.values(), key=lambda o: (o.environment, o.kind, o.id)), notes,
            unscanned)


def tagged_resources(target: Any, with_iam: bool = True) -> Iterator[tuple[str, str, str]]:
    """(environment, kind, id) for every resource tagged envkit:environment on the target
    (in its region; IAM users and roles too unless ``with_iam`` is False)."""
    tagging = target.client("resourcegroupstaggingapi")
    for page in tagging.get_paginator("get_resources").paginate(
            TagFilters=[{"Key": TAG_ENVIRONMENT}]):
        for mapping in page.get("ResourceTagMappingList", []):
            env = _tag(mapping.get("Tags"), TAG_ENVIRONMENT)
            arn = mapping["ResourceARN"]
            kind = arn.split(":")[2] + ":" + arn.split(":", 5)[-1].split("/")[0]
            yield env, kind, arn
    ec2 = target.client("ec2")
    flt = [{"Name": "tag-key", "Values": [TAG_ENVIRONMENT]}]
    for pair in ec2.describe_key_pairs(Filters=flt).get("KeyPairs", []):
        yield _tag(pair.get("Tags"), TAG_ENVIRONMENT), "ec2:key-pair", pair["KeyPairId"]
    for address in ec2.describe_addresses(Filters=flt).get("Addresses", []):
        yield (_tag(address.get("Tags"), TAG_ENVIRONMENT), "ec2:elastic-ip",
               address.get("AllocationId") or address.get("PublicIp", ""))
    if not with_iam:
        return
    iam = target.client("iam")
    for page in iam.get_paginator("list_users").paginate(PathPrefix="/envkit/"):
        for user in page.get("Users", []):
            tags = iam.list_user_tags(UserName=user["UserName"]).get("Tags", [])
            env = _tag(tags, TAG_ENVIRONMENT)
            if env:
                yield env, "iam:user", user["Arn"]
    for page in iam.get_paginator("list_roles").paginate(PathPrefix="/envkit/"):
        for role in page.get("Roles", []):
            tags = iam.list_role_tags(RoleName=role["RoleName"]).get("Tags", [])
            env = _tag(tags, TAG_ENVIRONMENT)
            if env:
                yield env, "iam:role", role["Arn"]


def _tag(tags: list[dict[str, str]] | None, key: str) -> str:
    return next((t["Value"] for t in tags or [] if t.get("Key") == key), "")
