"""The offline plan of a whole class: every stack declared in one mocked program.

The shared stack and each student's stack are declared by the same
:func:`envkit.stack_program.program` the engine runs, one after another in one program under
Pulumi's mocks (a mocked run per stack would pay the run's set-up 200 times). Each stack
keeps its own provider, so every resource knows which stack it belongs to; student stacks
take the shared stack's values (network, security group ids) as Outputs of the shared
resources, where a deployment passes them as stack config. The policy pack then sees the
class as one graph: which user belongs to which group and what those groups allow.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from typing import Any

from ..planner import Plan, PlannedResource
from ..spec.classroom import Student
from .layout import TAG_CLASS, TAG_STUDENT, ClassLayout

STUDENT_OUTPUTS = "student:"  # prefix of the combined program's per-student outputs


@dataclass
class StackPlan:
    """What one stack of the class would create."""

    stack: str
    student: Student | None
    resources: list[PlannedResource]
    outputs: dict[str, Any]

    def counts(self) -> dict[str, int]:
        """Custom resources per type."""
        out: dict[str, int] = {}
        for r in self.resources:
            if r.custom:
                out[r.type] = out.get(r.type, 0) + 1
        return dict(sorted(out.items()))

    @property
    def total(self) -> int:
        """Custom resources in the stack (what progress counts)."""
        return sum(1 for r in self.resources if r.custom)


@dataclass
class ClassPlan:
    """The plan of a class: the shared stack, one stack per student, and all resources."""

    layout: ClassLayout
    shared: StackPlan
    students: dict[str, StackPlan]
    plan: Plan
    source: str | None = None
    stack_of: dict[str, str] = field(default_factory=dict, repr=False)

    @property
    def name(self) -> str:
        """The class (and shared stack) name."""
        return self.layout.name

    def total(self) -> int:
        """Custom resources across every stack."""
        return self.shared.total + sum(s.total for s in self.students.values())

    def to_dict(self) -> dict[str, Any]:
        """The JSON document of ``envkit class plan --json``."""
        first = next(iter(self.students.values()), None)
        return {
            "schema_version": 1, "class": self.name, "region": self.layout.spec.region,
            "source": self.source, "students": len(self.students),
            "summary": {"resources": self.total(), "stacks": 1 + len(self.students),
                        "shared": self.shared.total,
                        "per_student": first.total if first else 0},
            "shared": {"stack": self.shared.stack, "by_type": self.shared.counts(),
                       "outputs": self.shared.outputs},
            "per_student": {"by_type": first.counts() if first else {},
                            "outputs": first.outputs if first else {}},
            "stacks": {s.student.id: {"stack": s.stack, "resources": s.total}  # type: ignore
                       for s in self.students.values()},
        }


def _stack_index(records: list[PlannedResource], stacks: set[str]) -> dict[str, str]:
    """URN -> stack: a resource's provider names its stack; envkit's components are named
    ``<stack>-iam|network|ec2``; anything else belongs to its parent's stack."""
    by_urn = {r.urn: r for r in records}
    out: dict[str, str] = {}

    def find(r: PlannedResource, depth: int = 0) -> str:
        if r.urn in out:
            return out[r.urn]
        if r.type.startswith("pulumi:providers:"):
            stack = r.name
        elif r.provider in stacks:
            stack = r.provider  # type: ignore[assignment]
        elif not r.custom and r.type.startswith("envkit:"):
            stack = r.name.rsplit("-", 1)[0]
        elif r.parent in by_urn and depth < 50:
            stack = find(by_urn[r.parent], depth + 1)
        else:
            stack = ""
        out[r.urn] = stack
        return stack

    for r in records:
        find(r)
    return out


def classroom_exports(layout: ClassLayout, student: Student | None, fingerprint: str | None,
                      refs: dict[str, Any] | None = None) -> dict[str, Any]:
    """The ``classroom`` output every class stack carries (the reaper and ``class up`` read
    it): which class, which student (or the roster, for the shared stack), the fingerprint
    of what was deployed, and for students the sign-in URL of the account."""
    if student is None:
        return {"class": layout.name, "students": [s.id for s in layout.students],
                "fingerprint": fingerprint}
    return {"class": layout.name, "student": student.id, "fingerprint": fingerprint,
            "sign_in_url": (refs or {}).get("sign_in_url")}


def lease_extension(layout: ClassLayout, student: Student | None,
                    refs: dict[str, Any] | None, target: str) -> Any:
    """The ``extend`` hook of :func:`envkit.stack_program.program` for a class's stack: the
    shared stack's schedule group, execution role and budget, or a student's lease-end
    schedules (:mod:`envkit.classroom.aws_lease`)."""
    from ..components.base import lab_tags
    from ..spec.catalog import partition_of

    partition = partition_of(layout.spec.region)

    def extend(opts: Any, exports: dict[str, Any]) -> dict[str, Any]:
        from .aws_lease import shared_guards, student_lease

        if student is None:
            tags = {**lab_tags(layout.shared_spec, None), TAG_CLASS: layout.name}
            if exports.get("expires"):
                tags["envkit:expires"] = exports["expires"]
            return shared_guards(layout, partition, tags, opts, exports, target)
        return student_lease(layout, student, partition, opts, exports, refs or {})

    return extend


def plan_class(layout: ClassLayout, students: list[Student] | None = None, *,
               expires_at: datetime | None = None, source: str | None = None) -> ClassPlan:
    """Plan the shared stack and each student's stack offline (all students by default)."""
    from ..planner import _LOCK, run_mocked
    from ..stack_program import program

    chosen = layout.students if students is None else students
    spec = layout.spec

    def body() -> None:
        import pulumi

        shared: dict[str, Any] = {}
        program(layout.shared_spec, expires_at=expires_at, with_network=layout.has_ec2,
                student_boundary=layout.boundary_document(),
                extra_tags={TAG_CLASS: layout.name}, export=shared.__setitem__,
                extend=lease_extension(layout, None, None, "aws"))
        refs = layout.shared_refs(shared, plain=False)
        for key, value in shared.items():
            pulumi.export(key, value)
        pulumi.export("classroom", classroom_exports(layout, None, None))
        for student in chosen:
            exports: dict[str, Any] = {}
            program(layout.student_spec(student), expires_at=expires_at, shared=refs,
                    extra_tags={TAG_STUDENT: student.id, TAG_CLASS: layout.name},
                    export=exports.__setitem__,
                    extend=lease_extension(layout, student, refs, "aws"))
            exports["classroom"] = classroom_exports(layout, student, None, refs)
            pulumi.export(STUDENT_OUTPUTS + student.id, exports)

    with _LOCK:
        records, outputs = run_mocked(spec.name, spec.region, spec.availability_zone, body)
    stacks = {layout.name} | {layout.stack_name(s) for s in chosen}
    index = _stack_index(records, stacks)
    per_stack: dict[str, list[PlannedResource]] = {s: [] for s in stacks}
    for r in records:
        per_stack.setdefault(index.get(r.urn, ""), []).append(r)
    shared_outputs = {k: v for k, v in outputs.items() if not k.startswith(STUDENT_OUTPUTS)}
    shared = StackPlan(layout.name, None, per_stack[layout.name], shared_outputs)
    by_student = {s.id: StackPlan(layout.stack_name(s), s, per_stack[layout.stack_name(s)],
                                  outputs.get(STUDENT_OUTPUTS + s.id, {})) for s in chosen}
    combined = Plan(environment=layout.name, region=spec.region, resources=records,
                    outputs=shared_outputs, source=source, spec=spec)
    return ClassPlan(layout, shared, by_student, combined, source, index)


# --- policy ------------------------------------------------------------------------------------


def check_class(plan: ClassPlan, user_config: dict[str, Any] | None = None,
                prices: Any = None) -> Any:
    """The policy pack over the whole class (one graph), findings pointing at spec lines.

    ``prices`` (a PriceTable) is what the budget rule (``maxClassHourlyCost``) reads.
    """
    from pathlib import Path

    from ..errors import EnvkitError
    from ..policy.gate import PolicyReport, _pack_name, _spec_path_of, evaluate
    from ..yamlsrc import _line_for, parse_yaml
    from .cost import PriceTable, prices_in_effect

    layout = plan.layout
    region = layout.spec.region
    table = prices if prices is not None else PriceTable({}, "")
    # The budget rule sees the class's region only (offline it has no provider to ask).
    only_region = PriceTable({region: table.prices.get(region, {})} if table.prices else {},
                             table.source)
    with prices_in_effect(only_region):
        findings = evaluate(plan.plan.resources, user_config)
    locations: dict = {}
    if plan.source:
        with contextlib.suppress(EnvkitError, OSError):
            _, locations = parse_yaml(Path(plan.source).read_text(), plan.source)
    by_urn = {r.urn: r for r in plan.plan.resources}
    students = {layout.stack_name(s): s for s in layout.students}
    group = layout.classroom.student_group
    for f in findings:
        f.file = plan.source
        resource = by_urn.get(f.urn or "")
        stack = plan.stack_of.get(f.urn or "", layout.name)
        if resource is None:
            path: tuple = ("classroom",)
        elif stack in students:
            path = _spec_path_of(resource.name, layout.student_spec(students[stack]))
            if path[:2] == ("iam", "users"):
                path = ("iam", "users", layout.template_user)
        else:
            path = _spec_path_of(resource.name, layout.shared_spec)
            if path[:3] == ("iam", "groups", group):
                path = ("classroom", "student_permissions") if \
                    layout.classroom.student_permissions else ("classroom",)
        f.line = _line_for(path, locations) if locations else None
    return PolicyReport(target=plan.source or layout.name, pack=_pack_name(),
                        resources=plan.total(),
                        findings=group_by_class(findings, layout, plan.stack_of))


@cache
def _class_finding() -> type:
    """:class:`envkit.policy.gate.Finding` with the students it applies to (made on first
    use: reading a layout does not load the policy module)."""
    from ..policy.gate import Finding

    @dataclass
    class ClassFinding(Finding):
        """A finding of a class: once for every student stack it holds in, naming them
        (``students``)."""

        students: list[str] = field(default_factory=list)

    return ClassFinding


def group_by_class(findings: list[Any], layout: ClassLayout, stack_of: dict[str, str]
                   ) -> list[Any]:
    """One finding per rule and problem for the whole class, naming the students it holds
    for, instead of one per student: every student stack is a copy of one template, so
    ``ann``'s finding and ``bob``'s are the same finding. Findings of the shared stack pass
    through unchanged."""
    import re
    from dataclasses import asdict

    kind = _class_finding()
    students = {layout.stack_name(s): s for s in layout.students}
    out: list[Any] = []
    groups: dict[tuple, tuple[Any, list[str], str, str | None]] = {}
    for f in findings:
        stack = stack_of.get(f.urn or "")
        student = students.get(stack or "")
        if student is None:
            out.append(f)
            continue
        general = f"{layout.name}-<student>"
        message = f.message.replace(stack, general)
        for quote in ("'", '"', "`"):
            message = message.replace(f"{quote}{student.id}{quote}", f"{quote}<student>{quote}")
        name = f.resource_name.replace(stack, general) if f.resource_name else None
        if name:
            name = re.sub(rf"(?<=-){re.escape(student.slug)}(?=-|$)", "<student>", name)
        key = (f.policy, f.level, f.kind, f.severity, message, name, f.line, f.file)
        if key not in groups:
            groups[key] = (f, [], message, name)
            out.append(key)
        groups[key][1].append(student.id)
    result = []
    for item in out:
        if not isinstance(item, tuple):
            result.append(item)
            continue
        first, ids, message, name = groups[item]
        fields = asdict(first)
        if len(ids) > 1:
            shown = ", ".join(ids[:10]) + (f" and {len(ids) - 10} more" if len(ids) > 10 else "")
            fields.update(message=f"{message} (for {len(ids)} students: {shown})",
                          resource_name=name)
        result.append(kind(**fields, students=ids))
    return result


# --- cost --------------------------------------------------------------------------------------


@dataclass
class ClassCost:
    """Hourly cost of the shared stack, of one student, of the class, and of the lease."""

    shared: Any
    per_student: Any
    students: int
    lease_hours: float
    source: str
    dates: list[str]
    reason: str | None
    #: Why a price source was set aside (a damaged cache), shown with the estimate.
    note: str | None = None

    @property
    def class_hourly(self) -> float | None:
        """Shared + every student, per hour (None when unknown)."""
        if self.shared.hourly is None or self.per_student.hourly is None:
            return None
        return self.shared.hourly + self.students * self.per_student.hourly

    @property
    def lease(self) -> float | None:
        """The whole lease: the class's hourly cost for the lease's hours."""
        hourly = self.class_hourly
        return None if hourly is None else hourly * self.lease_hours

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (amounts in US dollars)."""
        def money(v: float | None) -> float | None:
            return None if v is None else round(v, 4)

        return {"currency": "USD", "per_student_hourly": money(self.per_student.hourly),
                "shared_hourly": money(self.shared.hourly), "students": self.students,
                "class_hourly": money(self.class_hourly), "lease_hours": self.lease_hours,
                "lease": money(self.lease), "prices": self.source, "price_dates": self.dates,
                "unknown_because": None if self.class_hourly is not None else self.reason,
                "price_note": self.note,
                "shared": self.shared.to_dict(), "student": self.per_student.to_dict()}


def _records(stack: StackPlan) -> list[tuple[str, str, str, dict[str, Any], list[str]]]:
    return [(r.urn, r.type, r.name, r.inputs, list(r.dependencies)) for r in stack.resources
            if r.custom]


def price_keys(plan: ClassPlan) -> set[str]:
    """Every price the class's estimate needs."""
    from .cost import usages

    zone = plan.layout.spec.availability_zone
    first = next(iter(plan.students.values()), None)
    keys = {u.key for u in usages(_records(plan.shared), zone)}
    if first is not None:
        keys |= {u.key for u in usages(_records(first), zone)}
    return keys


def cost_of(plan: ClassPlan, table: Any, why_missing: str | None = None) -> ClassCost:
    """The class's cost at ``table``'s prices; students share one template, so the first
    student's stack prices every student's."""
    from ..spec.models import parse_ttl
    from .cost import Estimate, estimate, usages

    layout = plan.layout
    zone, region = layout.spec.availability_zone, layout.spec.region
    shared = estimate(usages(_records(plan.shared), zone), table, region, why_missing or "")
    first = next(iter(plan.students.values()), None)
    student = estimate(usages(_records(first), zone), table, region, why_missing or "") \
        if first else Estimate(0.0)
    hours = parse_ttl(layout.student_ttl).total_seconds() / 3600
    reason = shared.reason or student.reason
    return ClassCost(shared, student, len(plan.students), hours, table.source, table.dates(),
                     reason, getattr(table, "note", None))
