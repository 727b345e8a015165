"""The ``classroom`` section of a spec: a roster, the per-student parts, the lease.

A classroom turns one lab into one shared stack plus one stack per student. The section
names the roster (inline ids, a count with a name pattern, or a CSV file: envkit's
``id,email[,name]``, GitHub Classroom's export or Classroom 50's roster.csv, local or in S3)
and which users, key pairs, security groups and instances are per student; everything else
in the spec (account alias, password policy, groups, roles, the network, any other users or
instances) is shared. Checks that need the whole spec (names that must exist, isolation,
account quotas) are in :func:`check_classroom`, which the loader runs with the other checks
so every problem points at its line; roster CSV problems point at the CSV's own line and are
reported together with the rest.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import Field, PrivateAttr, ValidationInfo, field_validator, model_validator

from ..errors import SpecError, SpecIssue
from .checks import Problem
from .ec2_models import _resolve
from .fields import GroupName, ResourceName, StrictModel, UserName, parse_ttl
from .models import PolicyStatement

if TYPE_CHECKING:
    from .models import EnvironmentSpec

#: The most students a class may have: AWS's default quota of IAM users per account.
MAX_STUDENTS = 5000
#: A roster CSV larger than this is refused before it is parsed.
MAX_ROSTER_BYTES = 1024 * 1024
#: Pulumi stack names: letters, digits, '-', '_', '.', at most 100 characters
#: (pulumi/pulumi sdk/go/common/tokens/stack_name.go, ParseStackName).
MAX_STACK_NAME = 100

_STUDENT_ID = re.compile(r"^[A-Za-z0-9_+=,.@-]{1,64}$")  # an IAM user name (ASCII)
_FORMULA_START = ("=", "+", "-", "@")  # spreadsheets read these as formulas
_EMAIL = re.compile(r"^[^@\s,;<>\"]+@[^@\s,;<>\"]+\.[^@\s,;<>\"]+$")
_PATTERN = re.compile(r"\{n(?::0?(\d{1,2})d?)?\}")


@dataclass(frozen=True)
class Student:
    """One student of the roster: id (their IAM user name), email, display name."""

    id: str
    email: str | None = None
    name: str | None = None

    @property
    def slug(self) -> str:
        """The id as it appears in stack and resource names (lowercase, letters, digits, -)."""
        return slug(self.id)

    @property
    def display(self) -> str:
        """The name to greet the student with."""
        return self.name or self.id


def slug(student_id: str) -> str:
    """A student id in the form stack names take: ``Ann.Lee@uni`` -> ``ann-lee-uni``."""
    return re.sub(r"-{2,}", "-", re.sub(r"[^a-z0-9-]", "-", student_id.lower())).strip("-") \
        or "student"


def student_id_problem(value: Any) -> str | None:
    """Why ``value`` cannot be a student id (None when it can)."""
    if not isinstance(value, str):
        return f"a student id is a string, got {type(value).__name__}"
    if not _STUDENT_ID.match(value):
        return (f"'{value[:80]}' is not a valid student id: it becomes the student's IAM user "
                "name, so use letters, digits and + = , . @ _ - only (at most 64)")
    if value.startswith(_FORMULA_START):
        return (f"'{value}' may not start with {value[0]}: spreadsheets read the handout CSV's "
                "cells that start with = + - @ as formulas")
    return None


def _email_problem(value: Any) -> str | None:
    if value in (None, ""):
        return None
    if not isinstance(value, str) or len(value) > 254 or not _EMAIL.match(value):
        return f"'{str(value)[:80]}' is not an email address"
    return None


def _name_problem(value: Any) -> str | None:
    if value in (None, ""):
        return None
    if not isinstance(value, str) or len(value) > 128 or not value.isprintable():
        return "a name is printable text of at most 128 characters"
    return None


class RosterEntry(StrictModel):
    """One inline roster entry written as a mapping: ``{id: ann, email: ..., name: ...}``."""

    id: Any = None
    email: Any = None
    name: Any = None


class RosterSpec(StrictModel):
    """Who is in the class: inline ``students``, ``count`` + ``pattern``, or a ``csv`` file.

    In YAML, ``roster: [ann, bob]`` is short for ``roster: {students: [ann, bob]}``.
    """

    students: list[str | RosterEntry] | None = Field(None, max_length=MAX_STUDENTS)
    count: int | None = Field(None, ge=1, le=MAX_STUDENTS)
    pattern: str = Field("student{n:02}", min_length=1, max_length=64)
    csv: Path | str | None = None
    _inline: bool = PrivateAttr(default=False)

    @field_validator("pattern")
    @classmethod
    def _pattern(cls, value: str) -> str:
        rest = _PATTERN.sub("", value)
        if len(_PATTERN.findall(value)) != 1 or "{" in rest or "}" in rest:
            raise ValueError(f"'{value}' needs exactly one {{n}} (or {{n:02}}, {{n:03}}) "
                             "where the student's number goes, and no other braces")
        return value

    @field_validator("csv")
    @classmethod
    def _csv_file(cls, value: Path | str | None, info: ValidationInfo) -> Path | str | None:
        if value is None:
            return None
        if isinstance(value, str) and value.startswith("s3://"):
            from .roster import s3_problem

            problem = s3_problem(value)
            if problem:
                raise ValueError(problem)
            return value  # read with the AWS credentials when the roster is first needed
        path = _resolve(Path(value), info)
        if not path.exists():  # what it is (a FIFO, a folder) is the bounded reader's call
            raise ValueError(f"roster file '{value}' does not exist")
        return path

    @model_validator(mode="after")
    def _one_source(self) -> RosterSpec:
        given = [k for k in ("students", "count", "csv") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError("a roster is exactly one of: a list of students, count (with "
                             "pattern), or csv" + (f"; got {', '.join(given)}" if given else ""))
        if self.pattern != "student{n:02}" and self.count is None:
            raise ValueError("pattern only applies with count")
        return self

    @property
    def path(self) -> tuple:
        """Where inline entries sit in the YAML (``roster[i]`` or ``roster.students[i]``)."""
        return ("classroom", "roster") if self._inline else ("classroom", "roster", "students")


class PerStudentSpec(StrictModel):
    """Which parts of the spec each student gets a copy of (names from the spec)."""

    users: list[UserName] = Field(default_factory=list, max_length=1)
    key_pairs: list[ResourceName] = Field(default_factory=list, max_length=20)
    security_groups: list[ResourceName] = Field(default_factory=list, max_length=20)
    instances: list[ResourceName] = Field(default_factory=list, max_length=20)


class QuotaSpec(StrictModel):
    """Account quotas you had raised, overriding the AWS defaults envkit checks against."""

    elastic_ips: int | None = Field(None, ge=1, le=100000)
    instances: int | None = Field(None, ge=1, le=1000000)
    security_groups: int | None = Field(None, ge=1, le=100000)
    network_interfaces: int | None = Field(None, ge=1, le=1000000)
    users: int | None = Field(None, ge=1, le=100000)


class BudgetSpec(StrictModel):
    """An AWS Budgets budget on what the class costs (resources tagged ``envkit:class``):
    monthly, in US dollars; ``notify`` (default: the lab's owner) is emailed when actual
    spend passes each of ``thresholds`` (percent); with ``deny_at`` (percent), a budget
    action attaches a policy to the student group that denies starting or launching
    instances (docs/classroom-leases.md)."""

    monthly_usd: float = Field(gt=0, le=1_000_000)
    notify: list[str] = Field(default_factory=list, max_length=10)
    thresholds: list[int] = Field(default_factory=lambda: [80, 100], min_length=1,
                                  max_length=5)
    deny_at: int | None = Field(None, ge=1, le=1000)

    @field_validator("notify")
    @classmethod
    def _emails(cls, value: list[str]) -> list[str]:
        for address in value:
            problem = _email_problem(address) if address else "an empty address"
            if problem:
                raise ValueError(problem)
        return value

    @field_validator("thresholds")
    @classmethod
    def _percentages(cls, value: list[int]) -> list[int]:
        if any(not 1 <= t <= 1000 for t in value) or len(set(value)) != len(value):
            raise ValueError("thresholds are distinct percentages from 1 to 1000")
        return value


class ClassroomSpec(StrictModel):
    """A class: the roster, the per-student parts, the per-student lease and concurrency.

    ``expiry_schedule`` (default true): each student stack also makes EventBridge Scheduler
    schedules that, at the lease's end, stop the student's instances and remove their
    console password in AWS itself, whether or not ``envkit reap`` runs. ``budget``: an AWS
    Budgets budget on the class's cost (:class:`BudgetSpec`).
    """


    roster: RosterSpec
    per_student: PerStudentSpec = Field(default_factory=PerStudentSpec)
    ttl: str | None = None
    concurrency: int = Field(10, ge=1, le=64)
    student_group: GroupName = "students"
    student_permissions: list[PolicyStatement] = Field(default_factory=list, max_length=20)
    quotas: QuotaSpec = Field(default_factory=QuotaSpec)
    expiry_schedule: bool = True
    budget: BudgetSpec | None = None
    _students: list[Student] | None = PrivateAttr(default=None)

    @model_validator(mode="wrap")
    @classmethod
    def _roster_shorthand(cls, data: Any, handler: Any) -> ClassroomSpec:
        inline = isinstance(data, dict) and isinstance(data.get("roster"), list)
        if inline:
            data = {**data, "roster": {"students": data["roster"]}}
        classroom = handler(data)
        classroom.roster._inline = inline
        return classroom

    @field_validator("ttl", mode="before")
    @classmethod
    def _ttl(cls, value: Any) -> Any:
        if value is not None:
            parse_ttl(str(value))
        return value

    def students(self) -> list[Student]:
        """The roster in order (loaded once; a CSV's problems raise SpecError with its lines)."""
        if self._students is None:
            self._students = _load_roster(self.roster)[0]
        return self._students

    def student(self, student_id: str) -> Student:
        """The student with this id (case-insensitive); SpecError naming the roster if none."""
        for s in self.students():
            if s.id.lower() == student_id.lower():
                return s
        raise SpecError(SpecIssue("classroom.roster", f"no student '{student_id}' in the roster"))


# --- the roster -------------------------------------------------------------------------------


def _load_roster(roster: RosterSpec) -> tuple[list[Student], list[int], list[Problem]]:
    """The students, the position of each in an inline roster, and problems with inline
    entries (paths into the spec)."""
    if roster.csv is not None:
        students = read_roster_csv(roster.csv)
        return students, list(range(len(students))), []
    if roster.count is not None:
        ids = [_PATTERN.sub(lambda m, i=i: str(i).zfill(int(m.group(1) or 0)), roster.pattern)
               for i in range(1, roster.count + 1)]
        problem = student_id_problem(ids[-1]) or student_id_problem(ids[0])
        if problem:
            return [], [], [Problem(("classroom", "roster", "pattern"), problem)]
        return [Student(i) for i in ids], list(range(len(ids))), []
    students: list[Student] = []
    positions: list[int] = []
    problems: list[Problem] = []
    for i, entry in enumerate(roster.students or []):
        where = (*roster.path, i)
        fields = {"id": entry, "email": None, "name": None} if isinstance(entry, str) \
            else entry.model_dump()
        found = [((*where, key), message) for key, message in (
            ("id", student_id_problem(fields["id"])), ("email", _email_problem(fields["email"])),
            ("name", _name_problem(fields["name"]))) if message]
        if found:
            problems += [Problem(where if isinstance(entry, str) else path, message)
                         for path, message in found]
            continue
        students.append(Student(fields["id"], fields["email"] or None, fields["name"] or None))
        positions.append(i)
    return students, positions, problems


def read_roster_csv(path: Path | str) -> list[Student]:
    """Read a roster (envkit's ``id,email[,name]``, GitHub Classroom's export or Classroom
    50's roster.csv; a file or an ``s3://`` object, see :mod:`envkit.spec.roster`); every
    problem is a SpecIssue at the CSV's line."""
    from .roster import parse_rows, read_roster_text

    text, file = read_roster_text(path, MAX_ROSTER_BYTES)
    _, rows, issues = parse_rows(text, file)
    students: list[Student] = []
    lines: list[int] = []
    for line, cells in rows:
        if len(students) >= MAX_STUDENTS:
            raise SpecError(SpecIssue("", f"more than {MAX_STUDENTS:,} students (AWS's "
                                          "default quota of IAM users)", file=file, line=line))
        found = [(key, message) for key, message in (
            ("id", student_id_problem(cells["id"])),
            ("email", _email_problem(cells["email"])),
            ("name", _name_problem(cells.get("name")))) if message]
        issues += [SpecIssue(key, message, file=file, line=line) for key, message in found]
        if not found:
            students.append(Student(cells["id"], cells["email"] or None,
                                    cells.get("name") or None))
            lines.append(line)
    if issues:
        raise SpecError(issues)
    if not students:
        raise SpecError(SpecIssue("", "the roster has no students", file=file))
    duplicates = _duplicates(students, lines)
    if duplicates:
        raise SpecError([SpecIssue("id", message, file=file, line=lines[i])
                         for i, message in duplicates])
    return students


def _duplicates(students: list[Student], where: list[int] | None = None
                ) -> list[tuple[int, str]]:
    """(index, message) for each student whose id (case-insensitive, as IAM compares user
    names) or stack name repeats an earlier one; ``where`` names the earlier one's line."""
    out = []
    ids: dict[str, int] = {}
    slugs: dict[str, int] = {}
    for i, s in enumerate(students):
        first = ids.get(s.id.lower())
        if first is not None:
            other = students[first]
            at = f" (first at line {where[first]})" if where else ""
            case = "" if other.id == s.id else f"; '{other.id}' is the same IAM user name"
            out.append((i, f"duplicate student '{s.id}'{at}{case}"))
            continue
        ids[s.id.lower()] = i
        first = slugs.get(s.slug)
        if first is not None:
            out.append((i, f"students '{students[first].id}' and '{s.id}' would share the "
                           f"stack name suffix '{s.slug}'; rename one"))
            continue
        slugs[s.slug] = i
    return out


# --- quotas ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Quota:
    """An AWS default quota and where envkit read it."""

    value: int
    source: str


@cache
def default_quotas() -> dict[str, Quota]:
    """Default account quotas, read from moto's copies of AWS's values (without importing
    moto); a quota whose source cannot be read is simply not checked."""
    from .catalog import moto_root

    root = moto_root()
    quotas: dict[str, Quota] = {}

    def text(*parts: str) -> str:
        path = root.joinpath(*parts)
        return path.read_text(encoding="utf-8") if path.is_file() else ""

    ec2 = text("ec2", "responses", "account_attributes.py")
    for key, attribute in (("elastic_ips", "vpc-max-elastic-ips"), ("instances", "max-instances")):
        match = re.search(rf'"{attribute}":\s*\["(\d+)"\]', ec2)
        if match:
            quotas[key] = Quota(int(match.group(1)),
                                f"EC2 account attribute {attribute} (moto's default)")
    vpc = text("servicequotas", "resources", "default_quotas", "vpc.py")
    match = re.search(r"=\s*(\[.*\])\s*$", vpc, re.S)
    if match:
        try:
            rows = ast.literal_eval(match.group(1))
        except (ValueError, SyntaxError):
            rows = []
        names = {"VPC security groups per Region": "security_groups",
                 "Network interfaces per Region": "network_interfaces"}
        for row in rows:
            key = names.get(row.get("QuotaName")) if isinstance(row, dict) else None
            if key:
                quotas[key] = Quota(int(row["Value"]), f"Service Quotas vpc {row['QuotaCode']} "
                                                       f"'{row['QuotaName']}'")
    match = re.search(r"self\._users_quota\s*=\s*(\d+)", text("iam", "models.py"))
    if match:
        quotas["users"] = Quota(int(match.group(1)), "IAM account summary UsersQuota")
    return quotas


# --- whole-spec checks -------------------------------------------------------------------------


def check_classroom(spec: EnvironmentSpec) -> list[Problem | SpecIssue]:
    """Every classroom problem: Problems at paths of the spec, and a roster CSV's problems as
    SpecIssues naming the CSV and its lines. Empty for a spec without a classroom."""
    c = spec.classroom
    if c is None:
        return []
    roster_path = ("classroom", "roster")
    per_users = ("classroom", "per_student", "users")
    csv_issues: list[SpecIssue] = []
    try:
        students, positions, problems = _load_roster(c.roster)
    except SpecError as exc:  # the CSV's own problems; the other checks still run
        csv_issues = exc.issues
        students, positions, problems = [], [], []
    else:
        c._students = students
    if c.roster.students is not None:  # a CSV reports its own duplicates, at its lines
        problems += [Problem((*c.roster.path, positions[i]), message)
                     for i, message in _duplicates(students)]
    per = c.per_student
    base = ("classroom", "per_student")
    sections = {"users": ("iam", spec.iam.users), "key_pairs": ("ec2", spec.ec2.key_pairs),
                "security_groups": ("ec2", spec.ec2.security_groups),
                "instances": ("ec2", spec.ec2.instances)}
    for key, (service, known) in sections.items():
        for i, name in enumerate(getattr(per, key)):
            if name not in known:
                names = ", ".join(sorted(known)) or "none are defined"
                path = (*base, key, i)
                problems.append(Problem(path, f"'{name}' is not in the spec's "
                                              f"{key.replace('_', ' ')} (known: {names})",
                                        (path, (service, key, name))))
    if not per.users:
        problems.append(Problem(base, "a classroom gives each student their own IAM user: "
                                      "name the template user here (users: [student])",
                                (per_users,)))
    for name in per.users:
        template = spec.iam.users.get(name)
        if template is not None and template.access_key:
            path = ("iam", "users", name, "access_key")
            problems.append(Problem(path, "students get console access only: a class of "
                                          "long-lived access keys is not handed out (drop "
                                          "access_key for the template user)",
                                    (path, per_users)))
    problems += _isolation(spec)
    if c.student_group in spec.iam.groups:
        path = ("classroom", "student_group")
        problems.append(Problem(path, f"'{c.student_group}' is already a group of the spec; "
                                      "envkit generates the student group itself, so choose "
                                      "another name",
                                (path, ("iam", "groups", c.student_group))))
    if c.ttl is None and spec.ttl is None:
        problems.append(Problem(("classroom",), "a classroom needs a lease so it ends on "
                                                "time: set classroom.ttl (e.g. 2w) or the "
                                                "lab's ttl",
                                (("classroom", "ttl"), ("ttl",))))
    if c.budget is not None and not c.budget.notify and _email_problem(spec.owner) is not None:
        path = ("classroom", "budget", "notify")
        problems.append(Problem(("classroom", "budget"), "a budget tells someone when the class "
                                                         "spends too much: list them in notify "
                                                         "(the owner is not an email address)",
                                (path, ("owner",))))
    shared_users = {u.lower(): u for u in spec.iam.users if u not in per.users}
    for s in students:
        if s.id.lower() in shared_users:
            problems.append(Problem(roster_path,
                                    f"student '{s.id}' has the name of the shared user "
                                    f"'{shared_users[s.id.lower()]}'",
                                    (roster_path, per_users)))
        stack = f"{spec.name}-{s.slug}"
        if len(stack) > MAX_STACK_NAME:
            problems.append(Problem(roster_path, f"the stack name '{stack[:60]}...' of "
                                                 f"student '{s.id}' is longer than "
                                                 f"{MAX_STACK_NAME} characters",
                                    (roster_path, ("name",))))
    if students and not problems:
        problems += _quotas(spec, len(students))
    return [*problems, *csv_issues]


def _isolation(spec: EnvironmentSpec) -> list[Problem]:
    """Per-student instances must not share a key (every student could log in to every
    other's instance) and shared instances must not use per-student parts."""
    per = spec.classroom.per_student  # type: ignore[union-attr]
    problems: list[Problem] = []
    for name, inst in spec.ec2.instances.items():
        path = ("ec2", "instances", name)
        # Which instance, key pair or group is per-student is read from per_student.
        reads = ((*path, "key_pair"), ("classroom", "per_student"))
        if name in per.instances:
            if inst.key_pair is not None and inst.key_pair not in per.key_pairs:
                problems.append(Problem((*path, "key_pair"),
                                        f"per-student instance '{name}' uses the shared key "
                                        f"pair '{inst.key_pair}': every student would hold the "
                                        "key to every other student's instance; list it under "
                                        "classroom.per_student.key_pairs", reads))
            continue
        if inst.key_pair in per.key_pairs:
            problems.append(Problem((*path, "key_pair"),
                                    f"shared instance '{name}' cannot use the per-student key "
                                    f"pair '{inst.key_pair}'", reads))
        for i, group in enumerate(inst.security_groups):
            if group in per.security_groups:
                where = (*path, "security_groups", i)
                problems.append(Problem(where, f"shared instance '{name}' cannot use the "
                                               f"per-student security group '{group}'",
                                        (where, ("classroom", "per_student"))))
    return problems


def _quotas(spec: EnvironmentSpec, n: int) -> list[Problem]:
    """Totals of the whole class against the account's quotas (defaults unless declared)."""
    c = spec.classroom
    per = c.per_student  # type: ignore[union-attr]
    per_instances = [i for name, i in spec.ec2.instances.items() if name in per.instances]
    shared_instances = [i for name, i in spec.ec2.instances.items() if name not in per.instances]
    usage = {
        "elastic_ips": (sum(i.elastic_ip for i in per_instances),
                        sum(i.elastic_ip for i in shared_instances), "elastic IPs"),
        "instances": (len(per_instances), len(shared_instances), "instances"),
        "security_groups": (len(per.security_groups),
                            len(spec.ec2.security_groups) - len(per.security_groups),
                            "security groups"),
        "network_interfaces": (sum(1 + i.extra_network_interfaces for i in per_instances),
                               sum(1 + i.extra_network_interfaces for i in shared_instances),
                               "network interfaces"),
        "users": (len(per.users), len(spec.iam.users) - len(per.users), "IAM users"),
    }
    defaults = default_quotas()
    problems: list[Problem] = []
    for key, (each, shared, label) in usage.items():
        declared = getattr(c.quotas, key)  # type: ignore[union-attr]
        quota = Quota(declared, "classroom.quotas") if declared else defaults.get(key)
        total = each * n + shared
        if quota is None or total <= quota.value:
            continue
        where = "declared in classroom.quotas" if declared else \
            f"the AWS default ({quota.source}); if your account's quota is higher, declare " \
            f"it as classroom.quotas.{key}"
        # A total over the whole spec: it reads every part of it.
        problems.append(Problem(("classroom", "roster"),
                                f"{n} students x {each} {label} each + {shared} shared = "
                                f"{total} {label}, over the quota of {quota.value} per "
                                f"{'account' if key == 'users' else 'region'}: {where}",
                                ((),)))
    return problems
