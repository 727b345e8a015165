"""The offline policy gate: the pack's rules, evaluated through pulumi-policy's own analyzer.

A target is run under Pulumi's mocks: an envkit spec in-process, exactly like
``envkit plan``; a Pulumi Python project directory in a child process, the way Pulumi's
language host runs it (see :mod:`envkit.policy.program`). Every resource is then sent
through ``_PolicyAnalyzerServicer`` the way the engine does it: ``Configure`` (the merged
config), ``Remediate`` (for policies at level remediate), ``Analyze`` (inputs, per
resource) and ``AnalyzeStack`` (the whole graph). Verdicts, enforcement levels and config
merging are therefore the analyzer's, not a re-implementation.
"""

from __future__ import annotations

import contextlib
import functools
import os
import threading
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..errors import EnvkitError, SpecError, SpecIssue
from .config import LEVELS as LEVELS
from .config import load_config as load_config
from .config import merged_config

_LOCK = threading.Lock()
PREVIEW_NOTICE = "during preview"
#: Version of the `envkit policy check --format json` document (docs/rules.md, "Pipelines").
POLICY_SCHEMA_VERSION = 1


@dataclass
class Finding:
    """One policy result: a violation, a remediation the engine would apply, or a notice."""

    policy: str
    level: str
    severity: str
    message: str
    kind: str = "violation"  # violation | remediation | notice
    urn: str | None = None
    resource_type: str | None = None
    resource_name: str | None = None
    remediation: str = ""
    controls: list[str] = field(default_factory=list)
    file: str | None = None
    line: int | None = None
    #: What a summarised message stands for in full (``{"actions": [...]}`` for a long
    #: action list); JSON output only.
    details: dict[str, Any] | None = None
    #: What the values envkit assigned offline (placeholder ARNs, ids, generated names) in
    #: the resource's inputs stand for; the finding may depend on them.
    placeholders: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """The finding as JSON-ready data."""
        return asdict(self)


@dataclass
class PolicyReport:
    """Everything the gate found for one target.

    ``kind`` is ``spec`` or ``program``; ``notes`` are what the gate could not do offline
    (a lookup it cannot answer, and the resources depending on it), each a dict with
    ``kind``, ``message`` and, where known, ``file`` and ``line``."""

    target: str
    pack: str
    resources: int
    findings: list[Finding]
    kind: str = "spec"
    notes: list[dict[str, Any]] = field(default_factory=list)

    @property
    def mandatory(self) -> list[Finding]:
        """Violations that block a deployment."""
        return [f for f in self.findings if f.kind == "violation" and f.level == "mandatory"]

    @property
    def advisory(self) -> list[Finding]:
        """Violations reported as warnings."""
        return [f for f in self.findings if f.kind == "violation" and f.level == "advisory"]

    def filtered(self, minimum: str) -> list[Finding]:
        """Findings at ``minimum`` level or above (mandatory hides advisories and notices)."""
        if minimum == "mandatory":
            return self.mandatory
        return self.findings

    def refusal(self) -> str:
        """Why a deployment is refused: each mandatory violation, where, and its fix."""
        from ..limits import plural

        lines = [f"{plural(len(self.mandatory), 'mandatory policy violation')}; nothing was "
                 "deployed:"]
        for f in self.mandatory:
            where = f" ({f.file}:{f.line})" if f.file and f.line else ""
            lines += [f"{f.resource_name or 'stack'}{where}: {f.policy}: {f.message}",
                      f"  fix: {f.remediation}"]
        return "\n".join(lines)

    @property
    def not_evaluated(self) -> list[dict[str, Any]]:
        """The components whose resources the gate could not see (multi-language
        components, built by their plugin, that it could not expand): each a note of kind
        ``component`` with ``evaluated`` false."""
        return [n for n in self.notes if n.get("kind") == "component"
                and not n.get("evaluated")]

    def strict_problems(self) -> list[str]:
        """What ``--strict`` refuses (see :func:`envkit.policy.gaps.strict_problems`)."""
        from .gaps import strict_problems

        return strict_problems(self)

    def to_dict(self, minimum: str = "advisory") -> dict[str, Any]:
        """The report as JSON (`envkit policy check --format json`)."""
        return {
            "schema_version": POLICY_SCHEMA_VERSION, "kind": self.kind,
            "verdict": "fail" if self.mandatory else "pass",
            "target": self.target, "pack": self.pack, "resources": self.resources,
            "summary": {"mandatory": len(self.mandatory), "advisory": len(self.advisory),
                        "remediations": sum(f.kind == "remediation" for f in self.findings),
                        "notices": sum(f.kind == "notice" for f in self.findings)},
            "findings": [f.to_dict() for f in self.filtered(minimum)],
            "notes": list(self.notes),
        }


def failure_location(exc: BaseException) -> tuple[str | None, int | None]:
    """Where a check that could not finish went wrong: the first issue's file and line (the
    program's own line when it raised), as findings show paths."""
    for issue in getattr(exc, "issues", None) or []:
        if issue.file:
            return _display_path(Path(issue.file)), issue.line
    return None, None


def failure_to_dict(target: str, message: str, exc: BaseException, exit_code: int
                    ) -> dict[str, Any]:
    """The `--format json` document of a check that could not finish (exit 2, 3): the
    verdict ``error``, the message, and where; no findings, and no summary that could be read
    as a pass."""
    file, line = failure_location(exc)
    error: dict[str, Any] = {"type": type(exc).__name__, "message": message, "file": file,
                             "line": line}
    issues = getattr(exc, "issues", None)
    if issues:
        error["issues"] = [{"file": i.file, "line": i.line, "field": i.field,
                            "message": i.message} for i in issues]
    return {"schema_version": POLICY_SCHEMA_VERSION, "verdict": "error",
            "exit_code": exit_code, "target": target, "pack": _pack_name(), "error": error,
            "findings": [], "notes": []}


# --- evaluation -----------------------------------------------------------------------------


def _struct(value: dict[str, Any]):
    from google.protobuf import json_format, struct_pb2

    return json_format.ParseDict(_jsonable(value), struct_pb2.Struct())


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)


def _configure_request(config: dict[str, tuple[str, dict[str, Any]]]):
    """The engine's ConfigureAnalyzerRequest for a merged config."""
    from pulumi.runtime.proto import analyzer_pb2 as proto

    levels = {"advisory": proto.ADVISORY, "mandatory": proto.MANDATORY,
              "remediate": proto.REMEDIATE, "disabled": proto.DISABLED}
    return proto.ConfigureAnalyzerRequest(policyConfig={
        name: proto.PolicyConfig(enforcementLevel=levels[level], properties=_struct(props))
        for name, (level, props) in config.items()})


def _servicer(config: dict[str, tuple[str, dict[str, Any]]], policies: list[Any] | None = None,
              request: Any = None):
    """pulumi-policy's analyzer servicer for (a subset of) the pack, configured."""
    from pulumi_policy import EnforcementLevel
    from pulumi_policy.policy import _PolicyAnalyzerServicer

    from .rules import PACK_NAME, POLICIES

    servicer = _PolicyAnalyzerServicer(PACK_NAME, _version(), policies or POLICIES,
                                       EnforcementLevel.ADVISORY)
    servicer.Configure(request or _configure_request(config), None)
    return servicer


@functools.cache
def _version() -> str:
    from importlib import metadata

    try:
        return metadata.version("envkit")
    except metadata.PackageNotFoundError:
        return "0.0.0"


_LEVEL_NAMES = {0: "advisory", 1: "mandatory", 2: "disabled", 3: "remediate"}


@contextlib.contextmanager
def _shared_deserialization():
    """Let the analyzer decode each resource once instead of once per policy.

    pulumi-policy's Analyze/AnalyzeStack turn the same request Struct into a dict and a
    read-only proxy inside the per-policy loop. While the gate runs, those steps are
    memoized: the Struct on its serialized bytes, the dict and proxy on the identity of the
    cached object they came from (kept alive, so identities cannot be reused). The proxies
    are immutable views, so sharing them between policies changes no verdict;
    ``evaluate(routed=False)`` runs without this, as the engine does, and a test compares.
    """
    from types import SimpleNamespace

    from pulumi_policy import policy as module

    originals = (module.json_format, module.deserialize_properties,
                 module.unknown_checking_proxy)
    cache: dict[tuple, Any] = {}
    keep: list[Any] = []  # holds inputs so their ids stay unique while cached

    def memo(fn, by_content: bool = False):
        def wrapper(value, *args):
            ident = value.SerializeToString(deterministic=True) if by_content else id(value)
            key = (fn, ident, args)
            if key not in cache:
                keep.append(value)
                cache[key] = fn(value, *args)
            return cache[key]
        return wrapper

    json_format = originals[0]
    module.json_format = SimpleNamespace(
        MessageToDict=memo(json_format.MessageToDict, by_content=True),
        ParseDict=json_format.ParseDict)
    module.deserialize_properties = memo(originals[1])
    module.unknown_checking_proxy = memo(originals[2])
    try:
        yield
    finally:
        module.json_format, module.deserialize_properties, module.unknown_checking_proxy = \
            originals


def evaluate(resources: list[Any], user_config: dict[str, Any] | None = None,
             routed: bool = True, only: set[str] | None = None) -> list[Finding]:
    """Run the pack over recorded resources (anything with type, name, urn, parent,
    dependencies, custom and ``wire_inputs``), through the analyzer servicer.

    ``routed=False`` sends every resource to every policy, exactly as the engine does;
    ``only`` (routed only) runs just the rules it names."""
    if routed:
        with _LOCK, _shared_deserialization():
            return _evaluate(resources, user_config, routed, only)
    return _evaluate(resources, user_config, routed)


def _evaluate(resources: list[Any], user_config: dict[str, Any] | None,
              routed: bool, only: set[str] | None = None) -> list[Finding]:
    from pulumi.runtime.proto import analyzer_pb2 as proto

    from .rules import POLICIES, RULES, is_foreign
    from .rules._common import details_of

    config = merged_config(user_config or {}, foreign=is_foreign(r.type for r in resources))
    request = _configure_request(config)  # one request configures every servicer below
    servicer = _servicer(config, request=request)
    meta = {r.name: r for r in RULES}
    # pulumi-policy's Analyze deserializes a resource once per policy; a servicer per
    # resource type holding only the policies that can speak about that type gives the same
    # verdicts for a fraction of the work (the engine itself runs them all).
    per_type: dict[str, Any] = {}

    def servicer_for(type_: str):
        if type_ not in per_type:
            chosen = [p for p in POLICIES if p.name in meta and meta[p.name].kind == "resource"
                      and meta[p.name].applies_to(type_) and (only is None or p.name in only)]
            per_type[type_] = _servicer(config, chosen, request) if chosen else None
        return per_type[type_]

    remediating = any(level == "remediate" for level, _ in config.values())
    by_urn = {r.urn: r for r in resources}
    findings: list[Finding] = []
    stack_resources = []

    def add(diag, kind: str | None = None) -> None:
        rule_meta = meta.get(diag.policyName)
        message = diag.message
        if message.startswith(diag.description):
            message = message[len(diag.description):].strip() or diag.description
        notice = PREVIEW_NOTICE in message
        resource = by_urn.get(diag.urn)
        findings.append(Finding(
            policy=diag.policyName, level=_LEVEL_NAMES.get(diag.enforcementLevel, "advisory"),
            severity=rule_meta.severity.value if rule_meta else "",
            message=("cannot check during preview: " + message.split(": ", 1)[-1]) if notice
            else message,
            kind=kind or ("notice" if notice else "violation"),
            urn=diag.urn or None,
            resource_type=resource.type if resource else None,
            resource_name=resource.name if resource else None,
            remediation=rule_meta.remediation if rule_meta else "",
            controls=list(rule_meta.controls) if rule_meta else [],
            details=None if notice else details_of(message)))

    for r in resources:
        props = _struct(r.wire_inputs)
        if not r.custom:
            # Components are in the stack the engine analyses (deploy/step_generator.go
            # AnalyzeResources sends every registered resource): a stack rule sees that a
            # component uses a security group, or that a program is envkit's.
            stack_resources.append(proto.AnalyzerResource(
                type=r.type, properties=props, urn=r.urn, name=r.name,
                parent=r.parent or "", dependencies=list(r.dependencies)))
            continue
        if remediating:
            response = servicer.Remediate(proto.AnalyzeRequest(
                type=r.type, properties=props, urn=r.urn, name=r.name), None)
            for rem in response.remediations:
                rule_meta = meta.get(rem.policyName)
                findings.append(Finding(
                    policy=rem.policyName, level="remediate",
                    severity=rule_meta.severity.value if rule_meta else "",
                    message=rem.diagnostic or f"the engine would fix this: {rem.description}",
                    kind="notice" if rem.diagnostic else "remediation", urn=r.urn,
                    resource_type=r.type, resource_name=r.name,
                    remediation=rule_meta.remediation if rule_meta else "",
                    controls=list(rule_meta.controls) if rule_meta else []))
                if rem.HasField("properties"):
                    props = rem.properties
        analyzer = servicer_for(r.type) if routed else servicer
        response = analyzer.Analyze(proto.AnalyzeRequest(
            type=r.type, properties=props, urn=r.urn, name=r.name), None) if analyzer \
            else proto.AnalyzeResponse()
        for diag in response.diagnostics:
            if not diag.urn:
                diag.urn = r.urn
            add(diag)
        stack_resources.append(proto.AnalyzerResource(
            type=r.type, properties=props, urn=r.urn, name=r.name,
            parent=r.parent or "", dependencies=list(r.dependencies)))
    if not routed:
        response = servicer.AnalyzeStack(proto.AnalyzeStackRequest(resources=stack_resources),
                                         None)
        for diag in response.diagnostics:
            add(diag)
        return findings
    # Each stack rule sees the resources of the types it reads (links between them intact).
    for policy in POLICIES:
        rule_meta = meta.get(policy.name)
        if rule_meta is None or rule_meta.kind != "stack" or \
                (only is not None and policy.name not in only):
            continue
        subset = [s for s in stack_resources if rule_meta.applies_to(s.type)]
        response = _servicer(config, [policy], request).AnalyzeStack(
            proto.AnalyzeStackRequest(resources=subset), None)
        for diag in response.diagnostics:
            add(diag)
    return findings


# --- targets --------------------------------------------------------------------------------


def _spec_path_of(resource_name: str, spec: Any) -> tuple:
    """The spec key a resource comes from, by envkit's naming convention."""
    env = spec.name
    rest = resource_name[len(env) + 1:] if resource_name.startswith(env + "-") else ""
    sections = [("user-", ("iam", "users"), spec.iam.users),
                ("group-", ("iam", "groups"), spec.iam.groups),
                ("role-", ("iam", "roles"), spec.iam.roles),
                ("sg-", ("ec2", "security_groups"), spec.ec2.security_groups),
                ("key-", ("ec2", "key_pairs"), spec.ec2.key_pairs)]
    for prefix, path, names in sections:
        if rest.startswith(prefix):
            tail = rest[len(prefix):]
            for name in sorted(names, key=len, reverse=True):
                if tail == name or tail.startswith(name + "-"):
                    return (*path, name)
    if rest == "alias":
        return ("iam", "account_alias")
    if rest == "password-policy":
        return ("iam", "password_policy")
    for name in sorted(spec.ec2.instances, key=len, reverse=True):
        if rest == name or rest.startswith(name + "-"):
            return ("ec2", "instances", name)
    if rest.startswith(("vpc", "igw", "public")):
        return ("ec2", "network")
    return ()


#: For a finding of these rules, the key under the resource's own spec key that causes it
#: (tried in order; the first one the file has is where the finding points).
_OFFENDING_KEYS: dict[str, tuple[tuple[str, ...], ...]] = {
    "ec2-imdsv2-required": (("imdsv2",),),
    "ec2-root-volume-encrypted": (("root_volume", "encrypted"), ("root_volume",)),
    "ec2-detailed-monitoring": (("monitoring",),),
    "ec2-public-ip-only-for-web": (("public_ip",), ("elastic_ip",)),
    "ec2-allowed-instance-types": (("type",),),
    "ec2-ami-allowed-owner": (("ami",),),
    "ec2-instance-profile": (("role",),),
    "no-secrets-in-user-data-or-tags": (("user_data",), ("tags",)),
    "ec2-security-groups-described": (("description",),),
    "ec2-no-public-admin-ingress": (("ingress",),),
    "ec2-no-open-egress": (("egress",),),
    "iam-console-users-mfa": (("console",), ("groups",)),
    "iam-no-access-keys-for-console-admins": (("access_key",),),
    "iam-admin-policies-need-mfa": (("managed_policies",), ("require_mfa",)),
    "iam-trust-not-public": (("trusted_account",), ("trusted_service",)),
    "iam-trust-account-needs-condition": (("trusted_account",),),
}
_WORLD = {"0.0.0.0/0", "::/0"}


def _offends(rule: Any, policy: str) -> bool:
    """Whether one security-group rule of the spec is what ``policy`` reports: open to the
    world on an admin port or all ports (ingress), or all traffic out (egress)."""
    if not _WORLD & set(rule.cidrs):
        return False
    protocol, low, high = rule.resolved()
    if protocol == "-1" or (low, high) == (0, 65535):
        return True
    return policy == "ec2-no-public-admin-ingress" and any(low <= p <= high for p in (22, 3389))


def _offending_path(finding: Finding, path: tuple, spec: Any, resource_name: str,
                    locations: dict) -> tuple:
    """The spec key a finding is about: the rule's own key under the resource's (a rule of
    a security group points at the rule open to the world, an inline policy's finding at
    that policy), else the resource's key."""
    node: Any = spec
    for part in path:
        node = getattr(node, part, None) if not isinstance(node, dict) else node.get(part)
    for sub in _OFFENDING_KEYS.get(finding.policy, ()):
        if sub[0] in ("ingress", "egress") and node is not None:
            for i, r in enumerate(getattr(node, sub[0], None) or []):
                if _offends(r, finding.policy) and (*path, sub[0], i) in locations:
                    return (*path, sub[0], i)
        if (*path, *sub) in locations:
            return (*path, *sub)
    # IAM documents: the inline policy, or the managed policy attached, by its key.
    if len(path) == 3 and path[:2] in (("iam", "groups"), ("iam", "roles")) and node:
        rest = resource_name.rsplit(f"-{path[2]}-", 1)[-1]
        if rest in (getattr(node, "inline_policies", None) or {}):
            return (*path, "inline_policies", rest)
        for i, ref in enumerate(getattr(node, "managed_policies", None) or []):
            if rest == ref.rsplit("/", 1)[-1]:
                return (*path, "managed_policies", i)
    return path


def check_spec(source: Any, user_config: dict[str, Any] | None = None,
               plan: Any = None) -> PolicyReport:
    """Check an envkit spec (path, text, mapping or spec) offline."""
    from ..planner import plan as make_plan
    from ..spec import load_spec
    from ..yamlsrc import _line_for, parse_yaml

    # A plan made from this source already carries its validated spec.
    spec = plan.spec if plan is not None and plan.spec is not None else load_spec(source)
    planned = plan or make_plan(spec)
    findings = evaluate(planned.resources, user_config)
    file = str(source) if isinstance(source, (str, os.PathLike)) and "\n" not in str(source) \
        else None
    locations: dict = {}
    if file is not None:
        from .. import limits

        with contextlib.suppress(EnvkitError, OSError):
            _, locations = parse_yaml(limits.read_text(file, "spec"), file)
    for f in findings:
        f.file = file
        path = _spec_path_of(f.resource_name or "", spec)
        if locations:
            path = _offending_path(f, path, spec, f.resource_name or "", locations)
            f.line = _line_for(path, locations)
    return PolicyReport(target=file or spec.name, pack=_pack_name(), resources=sum(
        r.custom for r in planned.resources), findings=findings)


def _pack_name() -> str:
    from .rules import PACK_NAME

    return PACK_NAME


@dataclass
class DeclaredResource:
    """A resource a Pulumi program registered, as the child runner reported it."""

    type: str
    name: str
    urn: str
    parent: str | None
    custom: bool
    dependencies: list[str]
    wire_inputs: dict[str, Any]
    file: str | None = None
    line: int | None = None
    remote: bool = False
    placeholders: list[tuple[str, str]] = field(default_factory=list)  # (value, what)


def _display_path(path: Path) -> str:
    """A path as findings show it: relative to the working directory when inside it (what
    GitHub code scanning resolves against the checkout), else absolute."""
    cwd = Path.cwd().resolve()
    return path.relative_to(cwd).as_posix() if path.is_relative_to(cwd) else str(path)


def check_project(directory: str | os.PathLike[str],
                  user_config: dict[str, Any] | None = None, *, stack: str | None = None,
                  config: list[str] | None = None, timeout: float | None = None,
                  debug: bool = False, install: bool = True, say: Any = None,
                  python: str | None = None, npm_expand: bool = True) -> PolicyReport:
    """Check a Pulumi Python project offline: its program runs, in a child process, under
    Pulumi's mocks as ``pulumi preview --stack STACK`` would run it (see
    :mod:`envkit.policy.program`), in the project's environment, prepared first as
    ``pulumi install`` would (``install=False`` refuses instead; ``say`` gets each step,
    default stderr; ``python`` runs it with that interpreter and prepares nothing;
    ``npm_expand=False`` expands pulumi-eks 2.x through its installed plugin too); each
    finding names the file and line that declared the resource. The
    program is the user's code: check only projects you would run."""
    from .placeholders import mark_placeholders
    from .program import DEFAULT_TIMEOUT, component_note, load_project, run_program
    from .program_fixes import program_remediation

    project = load_project(directory, stack, config, install=install, say=say,
                           python=python)
    # The rules load while the program runs (the parent only waits on the child meanwhile):
    # the import costs about as much as the program's own start.
    from .warm import warm_rules

    warm = threading.Thread(target=warm_rules, name="envkit-rules", daemon=True)
    warm.start()
    run = run_program(project, DEFAULT_TIMEOUT if timeout is None else timeout, debug)
    warm.join()
    from .rules import RULES

    records = [_declared(r, project.root) for r in run.resources]
    expansions = _expand(records, run, project, install, say,
                         DEFAULT_TIMEOUT if timeout is None else timeout, npm_expand)
    for component in [r for r in records if r.urn in expansions]:
        for child in expansions[component.urn].records:
            # What a component creates is declared where the program declares it.
            records.append(_declared(child, project.root, at=component))
    findings = evaluate(records, user_config)
    by_urn = {r.urn: r for r in records}
    meta = {r.name: r for r in RULES}
    main = _display_path(project.main_file)
    for f in findings:
        declared = by_urn.get(f.urn or "")
        f.file, f.line = (declared.file, declared.line) if declared and declared.file \
            else (main, None)

        if f.policy in meta:
            f.remediation = program_remediation(meta[f.policy])
    mark_placeholders(findings, records, user_config)
    notes = [{"kind": "project", "message": n, "file": _display_path(project.settings_file),
              "line": None} for n in project.notes]
    for item in run.unanswered:
        notes.append(_lookup_note(item, by_urn, project.root))
    for r in records:
        if r.remote:
            done = expansions.get(r.urn)
            notes.append(component_note(
                r.type, r.name, r.file or main, r.line,
                reason=done.reason if done else None,
                expanded=done.how if done and done.ok else None,
                inside=sum(c.get("custom") is True for c in done.records) if done else 0,
                implementation=done.implementation if done else None,
                unknowns=done.unknowns if done else None))
    return PolicyReport(target=str(project.root), pack=_pack_name(),
                        resources=sum(r.custom for r in records), findings=findings,
                        kind="program", notes=notes)


def _declared(r: dict[str, Any], root: Path, at: DeclaredResource | None = None
              ) -> DeclaredResource:
    """A registration as the runner (or the Node expansion) reported it; ``at``: the
    component whose declaration it is part of."""
    source = r.get("source") or {}
    file = root / source["file"] if source.get("file") else None
    return DeclaredResource(
        type=str(r["type"]), name=str(r["name"]), urn=str(r["urn"]), parent=r.get("parent"),
        custom=bool(r.get("custom")), dependencies=list(r.get("dependencies") or []),
        wire_inputs=r.get("inputs") or {},
        file=at.file if at else _display_path(file) if file else None,
        line=at.line if at else source.get("line"),
        remote=bool(r.get("remote")) and at is None,
        placeholders=[(str(p[0]), str(p[1])[:300]) for p in r.get("placeholders") or []
                      if isinstance(p, list) and len(p) == 2])


def _expand(records: list[DeclaredResource], run: Any, project: Any, install: bool,
            say: Any, timeout: float, npm: bool = True) -> dict[str, Any]:
    """The multi-language components' expansions (see :mod:`envkit.policy.node_expand`),
    by URN: each with its resources, or the reason it is not evaluated."""
    remote = [{"type": r.type, "name": r.name, "urn": r.urn, "parent": r.parent,
               "dependencies": r.dependencies, "inputs": r.wire_inputs}
              for r in records if r.remote]
    if not remote:
        return {}
    from .node_expand import expand, plan
    from .plugin_expand import expand as expand_with_plugin

    # pulumi-eks before 3.0 runs from npm under Node mocks (node_expand); every other
    # remote component through its installed plugin, as the engine would (plugin_expand).
    by_npm = [c for c in remote if npm and not isinstance(plan(c, run.packages), str)]
    done = expand(by_npm, run.packages, project=project, install=install, say=say,
                  timeout=timeout) if by_npm else {}
    rest = [c for c in remote if c["urn"] not in done]
    if rest:
        done.update(expand_with_plugin(rest, run.packages, project=project,
                                       timeout=timeout))
    return done


def _lookup_note(item: dict[str, Any], by_urn: dict[str, DeclaredResource], root: Path
                 ) -> dict[str, Any]:
    """One notice per lookup the gate could not answer, naming who depends on it."""
    from .program import inert

    token = inert(str(item.get("token"))[:200])
    names = [inert(by_urn[u].name[:200]) for u in item.get("dependents") or [] if u in by_urn]
    count = len(names)
    if count == 1:
        depend = f"1 resource depends on it ({names[0]}); it is checked with the lookup's " \
                 "values unknown"
    elif count:
        depend = (f"{count} resources depend on it ({', '.join(names[:5])}"
                  f"{', ...' if count > 5 else ''}); they are checked with the lookup's values "
                  "unknown")
    else:
        depend = "no resource depends on it"
    why = f" (envkit failed to answer it: {inert(str(item['error']))})" if item.get("error") \
        else ""
    site = (item.get("sites") or [None])[0]
    return {"kind": "lookup", "token": token,
            "message": f"`{token}` cannot be answered offline{why}; {depend}",
            "dependents": names,
            "file": _display_path(root / site["file"]) if site else None,
            "line": site.get("line") if site else None}


def check(target: str | os.PathLike[str], user_config: dict[str, Any] | None = None, *,
          stack: str | None = None, config: list[str] | None = None,
          timeout: float | None = None, debug: bool = False, install: bool = True,
          say: Any = None, python: str | None = None) -> PolicyReport:
    """Check a spec file or a Pulumi Python project directory (``stack``, ``config``,
    ``timeout``, ``install``, ``say`` and ``python`` apply to projects)."""
    path = Path(target)
    if path.is_dir():
        return check_project(path, user_config, stack=stack, config=config, timeout=timeout,
                             debug=debug, install=install, say=say, python=python)
    if stack is not None or config:
        raise SpecError(SpecIssue("", "--stack and --config (KEY=VALUE stack config) apply "
                                      "to Pulumi projects; a spec carries its own settings "
                                      "(the policy pack's config file is --policy-config)",
                                  file=str(path)))
    return check_spec(path, user_config)
