"""A classroom's isolation, proved: for every principal a student can reach, an SMT solver
(Z3, through iamprover's encoding of IAM's evaluation logic) searches ALL requests (every
action of a class, every resource string, every request context) for one that breaks a
property below. No request found is a proof; a request found is a counterexample, reported
with the principal, the statement that allows it and the request itself.

Properties, for a principal reachable by student ``s`` of class ``c``:

- ``others``: no Read/Write/Tagging/Permissions-management action (List is outside the proof:
  students may see classmates' instances) on a resource whose ``envkit:student`` tag is not
  ``s`` (another student's, the shared stack's, untagged, outside envkit), except the
  student's own IAM user, MFA device and ``/envkit/c/s/`` parameters and secrets;
- ``iam``: no IAM write except ``s``'s own password and MFA device;
- ``tags``: no change of an ``envkit:*`` tag except at creation (``ec2:CreateAction``);
- ``secrets``: no SSM parameter or Secrets Manager read outside ``s``'s own scope;
- ``launch``: no instance of a type or in a region the lab does not use;
- ``create``: nothing created without ``envkit:student`` = ``s`` in the request's tags.

Absent context keys are the empty string, which no real value is; ``...IfExists`` and the
other operators iamprover does not model count as true in an Allow and false in a Deny, so
permissions are over-approximated: a proof is sound, a counterexample may be spurious only
through those operators. ``ForAllValues`` on ``aws:TagKeys`` is exact when reduced to one
key (a request is allowed with an ``envkit:`` key iff the one-key request is), so AWS's
tag-on-create pattern is proved rather than refused.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from ._iamdata import all_actions, expand, import_parliament

# The student's own IAM writes: their password and their MFA device (AWS's documented
# "manage own credentials" set, without access keys, signing certificates or SSH keys).
OWN_IAM = frozenset({"iam:changepassword", "iam:createvirtualmfadevice",
                     "iam:enablemfadevice", "iam:resyncmfadevice",
                     "iam:deactivatemfadevice", "iam:deletevirtualmfadevice"})
SECRET_READS = frozenset({"ssm:getparameter", "ssm:getparameters", "ssm:getparametersbypath",
                          "ssm:getparameterhistory", "secretsmanager:getsecretvalue",
                          "secretsmanager:batchgetsecretvalue"})
#: The generated student group policy's name (envkit.classroom.layout.STUDENT_POLICY).
STUDENT_POLICY = "envkit-student-access"
_CREATE = re.compile(r"^[a-z0-9-]+:(create|run|allocate|import|request|register|copy|"
                     r"purchase|provision)")
_VARIABLE = re.compile(r"\$\{([^}]*)\}")
_TAG_KEY = re.compile(r"^[a-z0-9-]+:(resourcetag|requesttag)/(.+)$", re.I)
#: Queries with more candidate actions than this are split (Z3 handles big disjunctions,
#: but smaller ones answer faster and name a smaller counterexample set).
CHUNK = 500
#: A query the solver cannot answer in this time counts as a violation (never as a proof).
TIMEOUT_MS = 30000


@dataclass(frozen=True)
class Lab:
    """What the lab intends: its class, partition, instance types and regions."""

    class_name: str
    partition: str
    instance_types: frozenset[str]
    regions: frozenset[str]


@dataclass
class Principal:
    """One identity a student holds or can obtain, with its policies as AWS would see them."""

    label: str
    student: str
    policies: list[tuple[str, dict[str, Any]]]
    boundary: tuple[str, dict[str, Any]] | None = None
    #: Values of policy variables for this principal (``aws:username``, principal tags).
    variables: dict[str, str] = field(default_factory=dict)
    #: Whether the lab means this principal to sign in and change its password.
    is_user: bool = False


@dataclass(frozen=True)
class Violation:
    """A request that succeeds although a property forbids it."""

    principal: str
    student: str
    prop: str
    statement: str
    action: str
    resource: str
    context: tuple[tuple[str, str], ...] = ()

    def request(self) -> str:
        """The request, as a reader would write it."""
        ctx = ", ".join(f"{k}={v!r}" for k, v in self.context)
        return f"{self.action} on {self.resource!r}" + (f" with {ctx}" if ctx else "")


DESCRIPTIONS = {
    "others": "acts on a resource that is not the student's own",
    "iam": "writes IAM beyond the student's own password and MFA",
    "tags": "changes an envkit:* tag after creation",
    "secrets": "reads a parameter or secret outside the student's scope",
    "launch": "launches an instance outside the lab's types and regions",
    "create": "creates a resource without the student's envkit:student tag",
    "intended": "cannot do what the lab intends",
}


# --- the action catalogue, classified -----------------------------------------------------------


@cache
def _levels() -> dict[str, tuple[str, bool]]:
    """lowercase action -> (access level, whether it can be scoped to a resource)."""
    out: dict[str, tuple[str, bool]] = {}
    for service in import_parliament().iam_definition:
        for p in service["privileges"]:
            scoped = any(r.get("resource_type") for r in p.get("resource_types", []))
            out[f"{service['prefix']}:{p['privilege']}".lower()] = (p["access_level"], scoped)
    return out


def _classes(actions: frozenset[str]) -> dict[str, list[str]]:
    """Split candidate actions by the property that governs them."""
    levels = _levels()
    out: dict[str, list[str]] = {k: [] for k in ("others", "iam", "tags", "secrets",
                                                  "launch", "create")}
    for a in sorted(actions):
        level, scoped = levels.get(a, ("Write", False))
        service = a.split(":", 1)[0]
        if service == "sts":
            continue
        if service == "iam":
            if level in ("Write", "Permissions management", "Tagging"):
                out["iam"].append(a)
            continue
        if level == "Tagging":
            out["tags"].append(a)
        if a in SECRET_READS:
            out["secrets"].append(a)
            continue
        if a == "ec2:runinstances":
            out["launch"].append(a)
        if _CREATE.match(a) and level != "Tagging":
            out["create"].append(a)
            continue
        if level in ("Write", "Permissions management", "Tagging") or \
                (level == "Read" and scoped):
            out["others"].append(a)
    return out


# --- documents as the solver sees them ----------------------------------------------------------


def substitute(document: Any, variables: dict[str, str]) -> Any:
    """The document with the policy variables this principal resolves replaced by their
    values, as AWS does at request time (names compared case-insensitively)."""
    known = {k.lower(): v for k, v in variables.items()}

    def text(value: str) -> str:
        return _VARIABLE.sub(lambda m: known.get(m.group(1).lower(), m.group(0)), value)

    def walk(value: Any) -> Any:
        if isinstance(value, str):
            return text(value)
        if isinstance(value, list):
            return [walk(v) for v in value]
        if isinstance(value, dict):
            return {text(k): walk(v) for k, v in value.items()}
        return value

    return walk(document)


def _condition(block: dict[str, Any]) -> dict[str, Any]:
    """Conditions in the form the encoder models: service-specific tag keys as the aws:
    ones, and ForAllValues on aws:TagKeys reduced to its one-key request."""
    out: dict[str, dict[str, Any]] = {}
    for operator, keys in block.items():
        if not isinstance(keys, dict):
            continue
        for key, value in keys.items():
            k = str(key).lower()
            if match := _TAG_KEY.match(k):
                k = f"aws:{match.group(1)}/{match.group(2)}"
            if k == "ec2:region":
                k = "aws:requestedregion"
            op = operator
            lowered = operator.lower()
            if k == "aws:tagkeys" and lowered in ("forallvalues:stringequals",
                                                  "forallvalues:stringlike"):
                op = operator.split(":", 1)[1]
            out.setdefault(op, {})[k] = value
    return out


def _statements(label: str, document: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    raw = document.get("Statement") or []
    if isinstance(raw, dict):
        raw = [raw]
    out = []
    for i, s in enumerate(raw):
        if not isinstance(s, dict):
            continue
        s = dict(s)
        if isinstance(s.get("Condition"), dict):
            s["Condition"] = _condition(s["Condition"])
        sid = f"statement '{s['Sid']}'" if s.get("Sid") else f"statement {i}"
        out.append((f"{label}, {sid}", s))
    return out


def _candidates(statements: Iterable[dict[str, Any]]) -> frozenset[str]:
    """Every action some Allow statement may grant."""
    found: set[str] = set()
    for s in statements:
        if s.get("Effect") != "Allow":
            continue
        if "NotAction" in s:
            excluded = set().union(*(expand(str(a)) for a in _list(s["NotAction"])))
            found |= all_actions() - excluded
        for a in _list(s.get("Action")):
            found |= expand(str(a))
    return frozenset(found)


def _list(value: Any) -> list:
    if value is None:
        return []
    return list(value) if isinstance(value, (list, tuple)) else [value]


# --- the proof ------------------------------------------------------------------------------------


class _Query:
    """One principal encoded once; each property is a solver query over it."""

    def __init__(self, principal: Principal, lab: Lab) -> None:
        from iamprover.engine.context import Context
        from iamprover.model import Policy
        from iamprover.model import Principal as IPrincipal
        from iamprover.parsers.iam import parse_statement

        self.lab = lab
        self.student = principal.student
        subst = principal.variables
        self.labelled: list[tuple[str, dict[str, Any]]] = []
        for i, (_, doc) in enumerate(principal.policies):
            self.labelled += _statements(f"#{i}#", substitute(doc, subst))
        boundary = None
        if principal.boundary is not None:
            blabel, bdoc = principal.boundary
            bstatements = _statements(blabel, substitute(bdoc, subst))
            boundary = Policy(blabel, [parse_statement(s) for _, s in bstatements])
            self.candidates = _candidates(s for _, s in self.labelled) & \
                _candidates(s for _, s in bstatements)
        else:
            self.candidates = _candidates(s for _, s in self.labelled)
        self.parsed = [(label, parse_statement(s)) for label, s in self.labelled]
        self.boundary = boundary
        self.label = principal.label
        self.principal = IPrincipal(principal.label,
                                    [Policy(principal.label, [p for _, p in self.parsed])],
                                    permission_boundary=boundary)
        self.context = Context()

    def _for(self, actions: list[str]) -> Any:
        """The principal with only the statements that can match one of ``actions``: a
        statement whose actions miss them all cannot change the answer for them, and big
        managed policies otherwise make the solver slow."""
        from iamprover.model import Policy
        from iamprover.model import Principal as IPrincipal

        wanted = frozenset(actions)

        def relevant(st: Any) -> bool:
            return bool(st.not_actions) or any(expand(a) & wanted for a in st.actions)

        boundary = None
        if self.boundary is not None:
            boundary = Policy(self.boundary.name,
                              [s for s in self.boundary.statements if relevant(s)])
        return IPrincipal(self.label, [Policy(self.label, [p for _, p in self.parsed
                                                          if relevant(p)])],
                          permission_boundary=boundary)

    # the request's variables
    def _vars(self) -> tuple[Any, Any, Any]:
        import z3

        return z3.String("action"), z3.String("resource"), self.context

    def check(self, prop: str, actions: list[str]) -> Violation | None:
        """A request of ``actions`` that ``prop`` forbids and the principal may make."""
        import z3
        from iamprover.engine.encoder import allowed

        if not actions:
            return None
        action, resource, ctx = self._vars()
        for start in range(0, len(actions), CHUNK):
            chunk = actions[start:start + CHUNK]
            solver = z3.Solver()
            solver.set("timeout", TIMEOUT_MS)
            solver.add(z3.Or(*[action == z3.StringVal(a) for a in chunk]))
            solver.add(self._forbidden(prop, resource, ctx), self.well_formed)
            solver.add(allowed(self._for(chunk), action, resource, ctx))
            verdict = solver.check()
            if verdict == z3.sat:
                return self._violation(prop, solver.model(), action, resource, ctx)
            if verdict == z3.unknown:
                return Violation("", self.student, prop, "", chunk[0], "*",
                                 (("unproved", f"no answer within {TIMEOUT_MS // 1000} s"),))
        return None

    def possible(self, action_name: str, resource_pattern: str, tag: str | None) -> bool:
        """Whether some context allows ``action_name`` on a resource matching the pattern."""
        import z3
        from iamprover.engine.encoder import allowed
        from iamprover.engine.patterns import matches_any

        action, resource, ctx = self._vars()
        solver = z3.Solver()
        solver.set("timeout", TIMEOUT_MS)
        solver.add(action == z3.StringVal(action_name.lower()))
        solver.add(matches_any(resource, [resource_pattern]))
        if tag is not None:
            solver.add(ctx.string("aws:resourcetag/envkit:student") == z3.StringVal(tag))
        solver.add(allowed(self._for([action_name.lower()]), action, resource, ctx))
        return solver.check() == z3.sat

    def _forbidden(self, prop: str, resource: Any, ctx: Any) -> Any:
        import z3

        s, lab = self.student, self.lab
        p, c = lab.partition, lab.class_name
        tag = ctx.string("aws:resourcetag/envkit:student")
        create_action = ctx.string("ec2:createaction")
        digits = z3.Plus(z3.Range("0", "9"))
        name = z3.Star(z3.Union(z3.Range("a", "z"), z3.Range("0", "9"), z3.Re("-")))
        anything = z3.Star(z3.AllChar(z3.ReSort(z3.StringSort())))

        def arn(*parts: Any) -> Any:
            return z3.Concat(*[z3.Re(x) if isinstance(x, str) else x for x in parts])

        own_user = arn(f"arn:{p}:iam::", digits, f":user/envkit/{s}")
        own_mfa = arn(f"arn:{p}:iam::", digits, f":mfa/{s}")
        own_parameter = arn(f"arn:{p}:ssm:", name, ":", digits, f":parameter/envkit/{c}/{s}/",
                            anything)
        own_secret = arn(f"arn:{p}:secretsmanager:", name, ":", digits,
                         f":secret:envkit/{c}/{s}/", anything)
        self.well_formed = z3.Or(resource == z3.StringVal("*"), z3.InRe(resource, arn(
            f"arn:{p}:", name, ":", name, ":", digits, ":", anything)))
        own_arn = z3.InRe(resource, z3.Union(own_user, own_mfa, own_parameter, own_secret))
        not_own_tag = tag != z3.StringVal(s)
        if prop == "others":
            return z3.And(not_own_tag, z3.Not(own_arn), create_action == z3.StringVal(""))
        if prop == "iam":
            action = z3.String("action")
            mine = z3.And(z3.Or(*[action == z3.StringVal(a) for a in sorted(OWN_IAM)]),
                          z3.InRe(resource, z3.Union(own_user, own_mfa)))
            # IAM ARNs have no colon after the account; requests on no resource name "*".
            no_colon = z3.Star(z3.Intersect(z3.AllChar(z3.ReSort(z3.StringSort())),
                                            z3.Complement(z3.Re(":"))))
            shape = z3.Or(resource == z3.StringVal("*"),
                          z3.InRe(resource, arn(f"arn:{p}:iam::", digits, ":", no_colon)))
            return z3.And(z3.Not(mine), shape)
        if prop == "tags":
            keys = ctx.string("aws:tagkeys")
            return z3.And(create_action == z3.StringVal(""),
                          z3.PrefixOf(z3.StringVal("envkit:"), keys))
        if prop == "secrets":
            # Parameter and secret ARNs: no colon after the account, except secret's own.
            no_colon = z3.Star(z3.Intersect(z3.AllChar(z3.ReSort(z3.StringSort())),
                                            z3.Complement(z3.Re(":"))))
            shape = z3.Or(resource == z3.StringVal("*"), z3.InRe(resource, z3.Union(
                arn(f"arn:{p}:ssm:", name, ":", digits, ":parameter/", no_colon),
                arn(f"arn:{p}:secretsmanager:", name, ":", digits, ":secret:", no_colon))))
            return z3.And(not_own_tag, z3.Not(own_arn), shape)
        if prop == "launch":
            region = z3.String("launch-region")
            itype = ctx.string("ec2:instancetype")
            return z3.And(
                z3.InRe(region, name), z3.InRe(z3.String("launch-account"), digits),
                resource == z3.Concat(z3.StringVal(f"arn:{p}:ec2:"), region,
                                      z3.StringVal(":"), z3.String("launch-account"),
                                      z3.StringVal(":instance/"), z3.String("launch-id")),
                ctx.string("aws:requestedregion") == region,
                z3.Or(z3.And(*[itype != z3.StringVal(t) for t in sorted(lab.instance_types)]),
                      z3.And(*[region != z3.StringVal(r) for r in sorted(lab.regions)])))
        if prop == "create":
            return ctx.string("aws:requesttag/envkit:student") != z3.StringVal(s)
        raise ValueError(prop)

    def _violation(self, prop: str, model: Any, action: Any, resource: Any, ctx: Any
                   ) -> Violation:
        import z3
        from iamprover.engine.encoder import statement_matches

        a = model.eval(action, model_completion=True).as_string()
        r = model.eval(resource, model_completion=True).as_string()
        which = [label for label, st in self.parsed if st.effect == "Allow" and
                 z3.is_true(model.eval(statement_matches(st, action, resource, ctx),
                                       model_completion=True))]
        context = tuple(sorted((k, v) for k, v in ctx.assignments(model).items()
                               if k in _SHOWN))
        return Violation("", self.student, prop, "; ".join(which) or "-", a, r, context)


_SHOWN = frozenset({"aws:resourcetag/envkit:student", "aws:requesttag/envkit:student",
                    "ec2:createaction", "aws:tagkeys", "ec2:instancetype",
                    "aws:requestedregion"})


def prove(principal: Principal, lab: Lab) -> list[Violation]:
    """Every property ``principal`` breaks, one counterexample each (empty: proved)."""
    return [_rename(v, principal.student, principal) for v in _prove(principal, lab)]


def _prove(principal: Principal, lab: Lab) -> list[Violation]:
    query = _Query(principal, lab)
    found = []
    for prop, actions in _classes(query.candidates).items():
        v = query.check(prop, actions)
        if v is not None:
            found.append(Violation(principal.label, v.student, v.prop, v.statement, v.action,
                                   v.resource, v.context))
    # The lab's intent is envkit's own: checked where envkit's student policy is attached.
    if principal.is_user and any(STUDENT_POLICY in label for label, _ in principal.policies):
        for action, pattern, tag in _intended(principal, lab):
            if not query.possible(action, pattern, tag):
                found.append(Violation(principal.label, principal.student, "intended", "-",
                                       action, pattern))
    return found


def _intended(principal: Principal, lab: Lab) -> list[tuple[str, str, str | None]]:
    """What every student must still be able to do: change their password, set up their MFA
    device and start their own instances (when the lab gives them any)."""
    p, s = lab.partition, principal.student
    wanted = [("iam:ChangePassword", f"arn:{p}:iam::111122223333:user/envkit/{s}", None),
              ("iam:CreateVirtualMFADevice", f"arn:{p}:iam::111122223333:mfa/{s}", None)]
    if lab.instance_types:
        wanted.append(("ec2:StartInstances", f"arn:{p}:ec2:*:111122223333:instance/*", s))
    return wanted


def prove_all(principals: list[Principal], lab: Lab) -> list[Violation]:
    """``prove`` over many principals, solving once per shape: a principal whose documents
    never name its student literally is proved for a stand-in id and the answer renamed, as
    the proof does not depend on which id the student has."""
    out: list[Violation] = []
    cache_: dict[str, list[Violation]] = {}
    stand_in = "envkitstudent0"
    for principal in principals:
        raw = json.dumps([[d for _, d in principal.policies],
                          principal.boundary and principal.boundary[1]], sort_keys=True,
                         default=str)
        s = principal.student
        # Only the variables the documents use matter to the proof (and to its cache).
        used = {k: v for k, v in principal.variables.items()
                if "${" + k.lower() + "}" in raw.lower()}
        principal = Principal(principal.label, s, principal.policies, principal.boundary,
                              used, principal.is_user)
        if s.lower() in raw.lower() or any(s.lower() in v.lower() and v != s
                                           for v in principal.variables.values()):
            found = prove(principal, lab)
        else:
            variables = {k: (stand_in if v == s else v) for k, v in principal.variables.items()}
            key = json.dumps([raw, sorted(variables.items()), principal.is_user])
            if key not in cache_:
                stand = Principal(principal.label, stand_in, principal.policies,
                                  principal.boundary, variables, principal.is_user)
                cache_[key] = _prove(stand, lab)
            found = [_rename(v, stand_in, principal) for v in cache_[key]]
        out += found
    return out


def _rename(v: Violation, stand_in: str, principal: Principal) -> Violation:
    def r(text: str) -> str:
        return text.replace(stand_in, principal.student)

    statement = v.statement
    for i, (label, _) in enumerate(principal.policies):
        statement = statement.replace(f"#{i}#", label)

    return Violation(principal.label, principal.student, v.prop, r(statement), r(v.action),
                     r(v.resource), tuple((k, r(x)) for k, x in v.context))
