"""How a classroom spec becomes stacks: the shared spec, one spec per student, the generated
student policy, what a student stack takes from the shared one, fingerprints and slices.

Pure functions over the validated spec (no pulumi imports), so the CLI can show a class's
shape, and tests can check every generated document, without touching the engine.
"""

from __future__ import annotations

import hashlib
import json
import re
from functools import cached_property
from typing import Any

from ..components.base import IAM_PATH
from ..errors import SpecError, SpecIssue, UsageError
from ..spec.classroom import Student
from ..spec.models import EnvironmentSpec, GroupSpec, IamSpec, PolicyDocument

TAG_STUDENT = "envkit:student"
TAG_CLASS = "envkit:class"
#: The IAM path envkit gives every user (components/iam.py); the student policy names it.
USER_PATH = IAM_PATH
STUDENT_POLICY = "envkit-student-access"
#: The condition that ties a statement to the signed-in student's own resources.
OWN = "${aws:username}"


def student_policy(partition: str, region: str, extra: list[dict[str, Any]] | None = None
                   ) -> dict[str, Any]:
    """The policy of the generated student group: each student may sign in, change their own
    password, set up their own MFA device, see instances, and start, stop, reboot and connect
    (EC2 Instance Connect) to the instances tagged ``envkit:student`` = their user name, and
    nothing else unless the spec adds ``classroom.student_permissions``.

    Attribute-based: one document serves every student, because ``${aws:username}`` is the
    signed-in student's user name, which is their roster id and their instances' tag.
    """
    own_user = f"arn:{partition}:iam::*:user{USER_PATH}{OWN}"
    own_mfa = f"arn:{partition}:iam::*:mfa/{OWN}"
    statements: list[dict[str, Any]] = [
        {"Sid": "OwnPasswordAndMfa", "Effect": "Allow",
         "Action": ["iam:ChangePassword", "iam:GetUser", "iam:ListMFADevices",
                    "iam:EnableMFADevice", "iam:ResyncMFADevice"],
         "Resource": own_user},
        {"Sid": "OwnVirtualMfaDevice", "Effect": "Allow",
         "Action": ["iam:CreateVirtualMFADevice"], "Resource": own_mfa},
        {"Sid": "ReadPasswordPolicyAndMfaDevices", "Effect": "Allow",
         "Action": ["iam:GetAccountPasswordPolicy", "iam:ListVirtualMFADevices"],
         "Resource": "*"},
        {"Sid": "SeeInstances", "Effect": "Allow",
         "Action": ["ec2:DescribeInstances", "ec2:DescribeInstanceStatus"], "Resource": "*"},
        {"Sid": "OperateOwnInstances", "Effect": "Allow",
         "Action": ["ec2:StartInstances", "ec2:StopInstances", "ec2:RebootInstances",
                    "ec2-instance-connect:SendSSHPublicKey"],
         "Resource": f"arn:{partition}:ec2:{region}:*:instance/*",
         "Condition": {"StringEquals": {f"aws:ResourceTag/{TAG_STUDENT}": OWN}}},
    ]
    return {"Version": "2012-10-17", "Statement": statements + list(extra or [])}


class ClassLayout:
    """The stacks of one class: ``<lab>`` (shared) and ``<lab>-<student>`` per student."""

    def __init__(self, spec: EnvironmentSpec) -> None:
        if spec.classroom is None:
            raise SpecError(SpecIssue("classroom", f"'{spec.name}' has no classroom section: "
                                                   "add one (see README, Classrooms) or use "
                                                   "envkit plan/up for a single lab"))
        self.spec = spec
        self.classroom = spec.classroom
        self.name = spec.name
        self.students: list[Student] = spec.classroom.students()
        self.per = spec.classroom.per_student
        self.template_user = self.per.users[0]

    # -- names --------------------------------------------------------------------------------

    def stack_name(self, student: Student) -> str:
        """The student's stack (and environment) name."""
        return f"{self.name}-{student.slug}"

    @cached_property
    def by_stack(self) -> dict[str, Student]:
        """Student by stack name."""
        return {self.stack_name(s): s for s in self.students}

    @property
    def student_ttl(self) -> str:
        """The lease of each student's environment."""
        return self.classroom.ttl or self.spec.ttl  # type: ignore[return-value]

    @property
    def shared_ttl(self) -> str:
        """The shared stack outlives every student's lease."""
        from ..spec.models import parse_ttl

        ttls = [t for t in (self.spec.ttl, self.classroom.ttl) if t]
        return max(ttls, key=parse_ttl)

    # -- specs --------------------------------------------------------------------------------

    def policy_document(self) -> dict[str, Any]:
        """The student group's policy for this class's partition and region."""
        from ..spec.catalog import partition_of

        extra = [s.model_dump(exclude_none=True) for s in self.classroom.student_permissions]
        return student_policy(partition_of(self.spec.region), self.spec.region, extra)

    @cached_property
    def shared_spec(self) -> EnvironmentSpec:
        """Everything that is not per student, plus the generated student group."""
        spec, per = self.spec, self.per
        groups = {**spec.iam.groups, self.classroom.student_group: GroupSpec(
            inline_policies={STUDENT_POLICY: PolicyDocument.model_validate(
                self.policy_document())})}
        iam = spec.iam.model_copy(update={
            "groups": groups,
            "users": {n: u for n, u in spec.iam.users.items() if n not in per.users}})
        ec2 = spec.ec2.model_copy(update={
            "key_pairs": {n: k for n, k in spec.ec2.key_pairs.items() if n not in per.key_pairs},
            "security_groups": {n: g for n, g in spec.ec2.security_groups.items()
                                if n not in per.security_groups},
            "instances": {n: i for n, i in spec.ec2.instances.items()
                          if n not in per.instances}})
        return spec.model_copy(update={"iam": iam, "ec2": ec2, "classroom": None,
                                       "ttl": self.shared_ttl})

    @property
    def has_ec2(self) -> bool:
        """Whether students get EC2 resources (then the shared stack makes the network)."""
        return bool(self.per.instances or self.per.security_groups or self.per.key_pairs)

    def student_spec(self, student: Student) -> EnvironmentSpec:
        """One student's lab: their user (named after their id, in the student group and the
        template's groups) and their copies of the per-student EC2 parts."""
        spec, per = self.spec, self.per
        template = spec.iam.users[self.template_user]
        user = template.model_copy(update={
            "groups": [self.classroom.student_group,
                       *[g for g in template.groups if g != self.classroom.student_group]]})
        iam = IamSpec.model_construct(account_alias=None, password_policy=None, groups={},
                                      users={student.id: user}, roles={})
        ec2 = spec.ec2.model_copy(update={
            "key_pairs": {n: spec.ec2.key_pairs[n] for n in per.key_pairs},
            "security_groups": {n: spec.ec2.security_groups[n] for n in per.security_groups},
            "instances": {n: spec.ec2.instances[n] for n in per.instances}})
        # model_copy, not validation: the name may be longer than a lab's own name may be.
        return spec.model_copy(update={"name": self.stack_name(student), "iam": iam,
                                       "ec2": ec2, "classroom": None,
                                       "ttl": self.student_ttl})

    # -- what a student stack takes from the shared stack -------------------------------------

    def shared_groups(self) -> dict[str, str]:
        """Spec group name -> IAM group name, for every group of the shared stack."""
        return {g: f"{self.name}-{g}" for g in self.shared_spec.iam.groups}

    def shared_refs(self, outputs: dict[str, Any], plain: bool = True) -> dict[str, Any]:
        """What student stacks use from the shared stack's outputs: plain values after a
        deployment, Pulumi Outputs in the offline plan (``plain=False``)."""
        refs: dict[str, Any] = {
            "groups": self.shared_groups(),
            "security_groups": dict(outputs.get("security_groups") or {}),
            "instance_profiles": dict(outputs.get("instance_profiles") or {}),
            "min_password_length": (self.spec.iam.password_policy.minimum_length
                                    if self.spec.iam.password_policy else None),
            "sign_in_url": outputs.get("sign_in_url") or (_sign_in_url(outputs) if plain
                                                          else None),
        }
        if self.has_ec2:
            refs["network"] = {k: outputs.get(k) for k in ("vpc_id", "subnet_id", "vpc_cidr")}
        if self.classroom.expiry_schedule:
            # The schedule group and execution role the students' lease-end schedules use.
            lease = outputs.get("lease")
            refs["lease"] = dict(lease) if isinstance(lease, dict) else {}
        return refs

    # -- change detection ---------------------------------------------------------------------

    def fingerprint(self, spec: EnvironmentSpec, refs: dict[str, Any] | None, target: str
                    ) -> str:
        """A digest of everything a stack's program reads: its spec (with the contents of
        files it names), what it takes from the shared stack, and the target."""
        doc = spec.model_dump(mode="json", exclude_none=True)
        files = {}
        for name, inst in spec.ec2.instances.items():
            if inst.user_data is not None and inst.user_data.file is not None:
                files[f"user_data:{name}"] = _digest(inst.user_data.file)
        for name, kp in spec.ec2.key_pairs.items():
            if kp.public_key_file is not None:
                files[f"public_key:{name}"] = _digest(kp.public_key_file)
        body = json.dumps({"spec": doc, "files": files, "shared": refs, "target": target},
                          sort_keys=True, default=str)
        return hashlib.sha256(body.encode()).hexdigest()[:20]

    # -- slices of the roster -----------------------------------------------------------------

    def select(self, selection: str | None) -> list[Student]:
        """The students a ``--students`` value names: ids, 1-based positions ``1-50``, or a
        share ``2/4`` (the second of four contiguous slices); None selects everyone."""
        if selection is None or not selection.strip():
            return list(self.students)
        by_id = {s.id.lower(): s for s in self.students}
        chosen: dict[str, Student] = {}
        n = len(self.students)
        for item in (i.strip() for i in selection.split(",")):
            if not item:
                continue
            if item.lower() in by_id:
                picked = [by_id[item.lower()]]
            elif match := re.fullmatch(r"(\d+)-(\d+)", item):
                low, high = int(match.group(1)), int(match.group(2))
                if not 1 <= low <= high <= n:
                    raise UsageError(f"--students {item}: positions run from 1 to {n}")
                picked = self.students[low - 1:high]
            elif match := re.fullmatch(r"(\d+)/(\d+)", item):
                k, parts = int(match.group(1)), int(match.group(2))
                if not 1 <= k <= parts <= n:
                    raise UsageError(f"--students {item}: use k/n with 1 <= k <= n <= {n}")
                # Balanced contiguous slices: sizes differ by at most one and none is
                # empty, so N CI jobs of `--students i/N` each have work and together
                # take every student exactly once.
                picked = self.students[(k - 1) * n // parts:k * n // parts]
            else:
                raise UsageError(f"--students: no student '{item}' in the roster of "
                                f"'{self.name}' (give ids, positions such as 1-50, or a "
                                "share such as 2/4)")
            for s in picked:
                chosen[s.id] = s
        return [s for s in self.students if s.id in chosen]


def _sign_in_url(outputs: dict[str, Any]) -> str | None:
    """The account's sign-in URL from any IAM ARN in the outputs (no alias case)."""
    text = json.dumps(outputs, default=str)
    match = re.search(r"arn:aws[a-z-]*:iam::(\d{12}):", text)
    return f"https://{match.group(1)}.signin.aws.amazon.com/console" if match else None


def _digest(path: Any) -> str:
    try:
        with open(path, "rb") as fh:
            return hashlib.sha256(fh.read()).hexdigest()
    except OSError:
        return "unreadable"
