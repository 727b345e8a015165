"""Run one Pulumi Python program under Pulumi's mocks and report what it declares.

``envkit policy check PROJECT`` starts this file as a script, in a child process of its
own, with the project's interpreter (its virtualenv when it has one). It therefore imports
nothing from envkit and needs only the standard library and ``pulumi``, which every Pulumi
project has. It runs the program the way Pulumi's language host does
(sdk/python/cmd/pulumi-language-python-exec): config from ``PULUMI_CONFIG`` and
``PULUMI_CONFIG_SECRET_KEYS``, runtime settings naming the project and stack, an event loop
on the main thread with a thread pool as its default executor, ``runpy.run_path`` of the
entry point inside ``run_in_stack``. Only the resource monitor differs: Pulumi's own
``MockMonitor``, recording each registration, with lookups answered offline.

Protocol: the job arrives as one line of JSON on stdin, whose write end the parent then
holds open as a lifeline; exactly one JSON document leaves on the result file descriptor
named in the job. ``{"status": "ok", ...}`` is written only after the
program has returned normally; any other ending writes ``{"status": "failed", ...}`` or
nothing at all, and the parent reports that the program did not finish.
"""

from __future__ import annotations

import asyncio
import contextlib
import faulthandler
import importlib.util
import json
import logging
import os
import re
import runpy
import signal
import sys
import threading
import traceback
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from typing import Any

JOB_LIMIT = 8 * 1024 * 1024
UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"  # pulumi.runtime.rpc.UNKNOWN
STACK_TYPE = "pulumi:pulumi:Stack"


class Job:
    """What the parent asked for (see envkit/policy/program.py)."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.project: str = data["project"]
        self.stack: str = data["stack"]
        self.organization: str = data.get("organization") or "organization"
        self.root: str = data["root"]
        self.pwd: str = data["pwd"]
        self.entry: str = data["entry"]
        self.region: str = data["region"]
        self.facts: dict[str, Any] = data["facts"]
        self.lookups_path: str = data["lookups_path"]
        self.shapes_path: str = data["shapes_path"]
        self.result_fd: int = int(data["result_fd"])
        self.result_limit: int = int(data.get("result_limit") or 64 * 1024 * 1024)
        self.message_limit: int = int(data.get("message_limit") or 300)
        self.traceback_limit: int = int(data.get("traceback_limit") or 16000)


class Reporter:
    """Writes the one result document; afterwards nothing more can be sent."""

    def __init__(self, fd: int, limit: int) -> None:
        self.fd = fd
        self.limit = limit
        self.sent = False
        self.pid = os.getpid()

    def send(self, document: dict[str, Any]) -> bool:
        # A process the program forked also comes back here; only the runner itself
        # reports (its parent ends the rest of the process group).
        if self.sent or os.getpid() != self.pid:
            return False
        self.sent = True
        data = json.dumps(document, separators=(",", ":"), default=str).encode()
        if len(data) > self.limit:
            data = json.dumps({"status": "failed", "kind": "too-large",
                               "message": f"the program declared {len(data)} bytes of "
                                          f"resources, more than the {self.limit} allowed"}
                              ).encode()
        try:
            view = memoryview(data)
            while view:
                written = os.write(self.fd, view)
                view = view[written:]
            os.close(self.fd)
        except OSError:
            return False
        return True


# --- where things happen in the user's code ------------------------------------------------


def _path_of(uri: str) -> str:
    parsed = urllib.parse.urlparse(uri)
    return urllib.request.url2pathname(parsed.path) if parsed.scheme == "file" else uri


class Places:
    """Decides which file positions belong to the project (not to a library)."""

    def __init__(self, root: str) -> None:
        self.root = os.path.realpath(root)
        self.prefixes = {os.path.realpath(p) for p in (sys.prefix, sys.base_prefix,
                                                        sys.exec_prefix)}
        here = os.path.dirname(os.path.realpath(__file__))
        self.excluded = {here}
        self._known: dict[str, bool] = {}
        self._relative: dict[str, str] = {}

    def in_project(self, path: str) -> bool:
        # Asked for every frame of every registration: remembered per file name.
        known = self._known.get(path)
        if known is None:
            known = self._known[path] = self._in_project(path)
        return known

    def caller(self) -> dict[str, Any] | None:
        """The innermost project frame of the current stack, as {file, line} (walked
        frame by frame: no source lines read, unlike traceback.extract_stack)."""
        frame = sys._getframe(2)
        while frame is not None:
            if self.in_project(frame.f_code.co_filename):
                return {"file": self.relative(frame.f_code.co_filename), "line": frame.f_lineno}
            frame = frame.f_back
        return None

    def _in_project(self, path: str) -> bool:
        if not path or path.startswith("<"):
            return False
        real = os.path.realpath(path)
        if not (real == self.root or real.startswith(self.root + os.sep)):
            return False
        parts = real.split(os.sep)
        if "site-packages" in parts or "dist-packages" in parts:
            return False
        return not any(real.startswith(p + os.sep) for p in self.prefixes | self.excluded
                       if p != self.root and not self.root.startswith(p + os.sep))

    def relative(self, path: str) -> str:
        known = self._relative.get(path)
        if known is None:
            known = self._relative[path] = os.path.relpath(os.path.realpath(path), self.root)
        return known

    def innermost(self, frames: list[traceback.FrameSummary]) -> dict[str, Any] | None:
        """The innermost frame in the project's own files, as {file, line}."""
        for frame in reversed(frames):
            if self.in_project(frame.filename):
                return {"file": self.relative(frame.filename), "line": frame.lineno}
        return None


# --- lookups --------------------------------------------------------------------------------


def _load_lookups(path: str, name: str = "_envkit_lookups") -> Any:
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


# --- the monitor ----------------------------------------------------------------------------


def _make_monitor(job: Job, places: Places, unknowns: Any, lookups: Any, shaper: Any,
                  declared: dict[tuple[str, str], dict[str, Any]]) -> Any:
    from google.protobuf import json_format
    from pulumi.runtime import mocks, rpc
    from pulumi.runtime.proto import resource_pb2
    from pulumi.runtime.sync_await import _sync_await

    offline = lookups.OfflineAws(job.region, job.facts)

    current = threading.local()  # the registration being answered, on this thread

    class Answers(mocks.Mocks):
        """Lookups answered offline; resources answered as the provider would
        (envkit/policy/_shapes.py)."""

        def __init__(self) -> None:
            self.types: dict[str, Any] = {}
            self.sites: dict[str, list[dict[str, Any]]] = {}
            self.provider_regions: dict[str, str] = {}
            self.failed: dict[str, str] = {}

        def call(self, args: Any) -> Any:
            token = args.token
            request = dict(args.args or {})
            region = self.provider_regions.get((args.provider or "").rsplit("::", 1)[0])
            tainted = unknowns.found_in(request)
            if tainted:
                # Derived from an unanswered lookup: unknown too, charged to that lookup.
                marker = f"envkit-unknown-{unknowns.nonce}-{min(tainted)}"
                return unknowns.shaped(self.types.get(token), marker, request), []
            if offline.can_answer(token, request):
                try:
                    answer = offline.answer(token, request, region)
                    return _conform(answer, self.types.get(token)), []
                except lookups.LookupFailure as exc:
                    return {}, [("", str(exc))]
                except Exception as exc:  # noqa: BLE001 - envkit's bug must not end the run
                    self.failed[token] = f"{type(exc).__name__}: {exc}"[:job.message_limit]
            marker = unknowns.marker(token)
            return unknowns.shaped(self.types.get(token), marker, request), []

        def new_resource(self, args: Any) -> Any:
            region = self.provider_regions.get((args.provider or "").rsplit("::", 1)[0])
            return shaper.answer(args.typ, args.name, getattr(current, "urn", args.name),
                                 dict(args.inputs), bool(args.custom), region)

    class Recorder(mocks.MockMonitor):
        """Pulumi's MockMonitor, keeping every registration in the engine's wire form.

        `Resource.get(...)` goes through ReadResource, not here: it reads something that
        already exists, so nothing is recorded for the policies to judge."""

        def __init__(self, answers: Answers) -> None:
            super().__init__(answers)
            self.answers = answers
            self.records: list[dict[str, Any]] = []
            self.lock = threading.Lock()

        def make_urn(self, parent: str, type_: str, name: str) -> str:
            # As the engine makes it (pkg/resource/deploy/deployment.go generateURN): the
            # parent's full qualified type, except for the root stack, which is left out.
            # (MockMonitor keeps only the last segment and includes the stack.)
            if parent:
                qualified = parent.split("::")[2]
                if qualified != STACK_TYPE:
                    type_ = f"{qualified}${type_}"
            return "urn:pulumi:" + "::".join([job.stack, job.project, type_, name])

        # Resource references are left off: MockMonitor.RegisterResource deserializes each
        # request's inputs on an executor thread, and rehydrating a referenced resource
        # there (rpc.deserialize_resource -> get_resource) schedules an RPC on that
        # thread's own event loop, which the main loop's wait_for_rpcs then awaits:
        # "attached to a different loop". Without the feature the SDK sends a resource as
        # its ID (a component as its URN), which is what the engine hands an analyzer
        # anyway (sdk/go/common/resource/plugin/rpc.go MarshalPropertyValue without
        # KeepResources; analyzer_plugin.go Analyze).
        def GetDeploymentInfo(self, request: Any) -> Any:
            # SDKs before GetDeploymentInfo (3.x before ~3.170) ask SupportsFeature only.
            info = super().GetDeploymentInfo(request)
            features = [f for f in info.supportedFeatures
                        if f != resource_pb2.RESOURCE_MONITOR_FEATURE_RESOURCE_REFERENCES]
            return resource_pb2.DeploymentInfo(supportedFeatures=features)

        def SupportsFeature(self, request: Any) -> Any:
            if request.id == "resourceReferences":
                return type("SupportsFeatureResponse", (object,), {"hasSupport": False})
            return super().SupportsFeature(request)

        def RegisterResource(self, request: Any) -> Any:
            current.urn = self.make_urn(request.parent, request.type, request.name)
            response = super().RegisterResource(request)
            if request.type == STACK_TYPE:
                return response
            inputs = json_format.MessageToDict(request.object)
            if request.type == "pulumi:providers:aws" and isinstance(inputs.get("region"), str):
                self.answers.provider_regions[response.urn] = inputs["region"]
            record = {
                "type": request.type, "name": request.name, "urn": response.urn,
                "parent": None if _is_stack(request.parent) else request.parent,
                "custom": bool(request.custom),
                "dependencies": sorted(set(request.dependencies)),
                "provider": request.provider or None,
                "inputs": _wire(inputs),
                "source": _source(request, places)
                or declared.get((request.type, request.name)),
                "remote": bool(getattr(request, "remote", False)),
            }
            with self.lock:
                self.records.append(record)
            secret_outputs = list(request.additionalSecretOutputs)
            if not secret_outputs:
                return response
            # The engine marks additionalSecretOutputs as secret; under mocks we must.
            state = dict(self.resources[response.urn].state)
            for key in secret_outputs:
                state[key] = rpc.wrap_rpc_secret(state.get(key, rpc.UNKNOWN))
            props = _sync_await(rpc.serialize_properties(state, {}))
            return resource_pb2.RegisterResourceResponse(urn=response.urn, id=response.id,
                                                         object=props)

    return Recorder(Answers())


def _conform(answer: dict[str, Any], typ: Any) -> dict[str, Any]:
    """An answer with the scalar types its result type declares, as the provider bridge
    returns them: arguments echoed back keep the program's spelling otherwise
    (``most_recent="true"``), and the SDK's generated result classes check types."""
    from pulumi import _types

    try:
        fields = _types.output_type_types(typ)
    except Exception:  # noqa: BLE001 - no type information: as it is
        return answer
    out = dict(answer)
    for name, field_type in fields.items():
        value = out.get(name)
        with contextlib.suppress(Exception):
            field_type = _types.unwrap_optional_type(field_type)
        if isinstance(value, str):
            if field_type is bool and value.lower() in ("true", "false"):
                out[name] = value.lower() == "true"
            elif field_type in (int, float):
                with contextlib.suppress(ValueError):
                    out[name] = field_type(value)
        elif field_type is str and isinstance(value, (bool, int, float)):
            out[name] = str(value).lower() if isinstance(value, bool) else str(value)
    return out


def _is_stack(urn: str) -> bool:
    return not urn or urn.split("::")[2].split("$")[-1] == STACK_TYPE


def _wire(value: Any) -> Any:
    """Inputs as an analyzer receives them (SkipInternalKeys: no ``__`` keys)."""
    if isinstance(value, dict):
        return {k: _wire(v) for k, v in value.items() if not str(k).startswith("__")}
    if isinstance(value, list):
        return [_wire(v) for v in value]
    return value


def _source(request: Any, places: Places) -> dict[str, Any] | None:
    """Where the program declared the resource: the SDK's sourcePosition when it is in the
    project's files, else the innermost project frame of the registration's stack trace
    (a resource a library component creates points at the line using the component)."""
    positions = []
    try:
        if request.HasField("sourcePosition"):
            positions.append(request.sourcePosition)
        if request.HasField("stackTrace"):
            positions.extend(f.pc for f in request.stackTrace.frames if f.HasField("pc"))
    except ValueError:  # an SDK too old to send positions
        return None
    for pos in positions:
        path = _path_of(pos.uri)
        if places.in_project(path):
            return {"file": places.relative(path), "line": pos.line}
    return None


# --- running --------------------------------------------------------------------------------


def _observe_invokes(answers: Any, places: Places) -> None:
    """Note each lookup's result type and call site as the program calls it.

    pulumi_aws calls ``pulumi.runtime.invoke(tok, args, opts=..., typ=Result)`` (and the
    ``_output`` form); the type lets an unanswerable lookup return placeholders of the
    right shape, the call site lets its notice point at the program's line."""
    import pulumi.runtime

    def wrap(original: Any) -> Any:
        def observed(*args: Any, **kwargs: Any) -> Any:
            token = args[0] if args else kwargs.get("tok")
            typ = kwargs.get("typ", args[3] if len(args) > 3 else None)
            if isinstance(token, str):
                if typ is not None:
                    answers.types.setdefault(token, typ)
                site = places.caller()
                if site is not None:
                    answers.sites.setdefault(token, []).append(site)
            return original(*args, **kwargs)

        return observed

    for name in ("invoke", "invoke_output", "invoke_async", "invoke_single",
                 "invoke_output_single"):
        if hasattr(pulumi.runtime, name):
            setattr(pulumi.runtime, name, wrap(getattr(pulumi.runtime, name)))


def _observe_declarations(places: Places, shaper: Any,
                          declared: dict[tuple[str, str], dict[str, Any]]) -> None:
    """Where each resource is declared, noted as its constructor runs: an input the SDK
    cannot serialize fails later, on the event loop, with a traceback that has no frame of
    the program's (the SDK's message names the resource: "While processing resource")."""
    import pulumi.resource

    original = pulumi.resource.register_resource

    def register_resource(res: Any, t: str, name: str, *args: Any, **kwargs: Any) -> Any:
        site = places.caller()
        if site is not None:
            declared.setdefault((t, name), site)
        shaper.note_class(t, res)
        return original(res, t, name, *args, **kwargs)

    pulumi.resource.register_resource = register_resource


_PROCESSING = re.compile(r"While processing resource: '([^']*)', type:? '([^']*)'")


def _failure(kind: str, exc: BaseException, job: Job, places: Places,
             declared: dict[tuple[str, str], dict[str, Any]]) -> dict[str, Any]:
    frames = traceback.extract_tb(exc.__traceback__)
    text = str(exc)
    if len(text) > job.message_limit:
        text = text[:job.message_limit] + "..."
    where = places.innermost(frames)
    processing = _PROCESSING.search(str(exc))
    if where is None and processing:
        where = declared.get((processing.group(2), processing.group(1)))
    return {"status": "failed", "kind": kind, "exception": type(exc).__name__,
            "message": text, "where": where,
            "traceback": "".join(traceback.format_exception(type(exc), exc,
                                                            exc.__traceback__))
            [-job.traceback_limit:]}


def _describe(exc: BaseException) -> tuple[str, str]:
    """(kind, message) for the ways a program can end early."""
    if isinstance(exc, SystemExit):
        return "exit", f"it called sys.exit({exc.code!r})"
    if isinstance(exc, KeyboardInterrupt):
        return "interrupt", "it was interrupted (KeyboardInterrupt)"
    if isinstance(exc, ModuleNotFoundError):
        return "missing-module", f"no module named {exc.name!r}"
    return "exception", ""


def _hold_lifeline(fd: int) -> None:
    """End this process group when envkit goes away.

    The parent keeps the other end of stdin open for as long as it waits; the kernel
    closes it however the parent ends (even SIGKILL, or a CI job cancelled). At that EOF
    the runner kills its own process group, which it leads (the parent started it in a
    session of its own), so neither the program nor anything it started outlives the
    check."""
    os.set_inheritable(fd, False)

    def watch() -> None:
        while True:
            try:
                data = os.read(fd, 4096)
            except InterruptedError:
                continue
            except OSError:
                break
            if not data:
                break
            if b"?" in data:
                # On the timeout the parent asks where the program is before stopping it
                # (a byte, not a signal: in a PID namespace the parent's pid is unshare's).
                faulthandler.dump_traceback(all_threads=True)
        if os.getpgid(0) == os.getpid():
            os.killpg(os.getpid(), signal.SIGKILL)
        os._exit(3)

    threading.Thread(target=watch, name="envkit-lifeline", daemon=True).start()


def _component_packages(records: list[dict[str, Any]]) -> dict[str, str]:
    """Installed versions of the multi-language components' packages (eks -> pulumi-eks)."""
    from importlib import metadata
    found: dict[str, str] = {}
    for package in {str(r["type"]).split(":", 1)[0] for r in records if r.get("remote")}:
        for name in ([f"pulumi-{package}", f"pulumi_{package}"]  # 3.8/3.9 do not normalize
                     if re.fullmatch(r"[a-z0-9][a-z0-9-]{0,60}", package) else []):
            with contextlib.suppress(Exception):  # not installed, or unreadable metadata
                found.setdefault(f"pulumi-{package}", metadata.version(name)[:40])
    return found


def _sdk_unusable(exc: BaseException) -> dict[str, Any]:
    """The pulumi SDK is installed but does not import here (pulumi 2.x pins protobuf and
    grpcio releases that fail on current Pythons)."""
    try:
        from importlib import metadata

        version = metadata.version("pulumi")
    except Exception:  # noqa: BLE001 - the version is only for the message
        version = "?"
    return {"status": "failed", "kind": "sdk-unusable", "version": version,
            "python": ".".join(map(str, sys.version_info[:3])),
            "message": f"{type(exc).__name__}: {exc}"[:300]}


def _init(job: Job) -> None:
    """In a PID namespace of its own the runner is process 1, which the kernel shields
    from signals it has no handler for (a program's ``os.kill(os.getpid(), SIGTERM)`` would
    do nothing). So process 1 only waits: the program runs in its child, as it would
    anywhere else, and its ending is passed on. When process 1 exits, the kernel ends
    every process left in the namespace."""
    pid = os.fork()
    if pid == 0:
        return
    while True:
        try:
            _, status = os.waitpid(pid, 0)
            break
        except InterruptedError:
            continue
    if os.WIFSIGNALED(status):
        # The runner reports every other ending itself; a signal leaves it no chance.
        number = os.WTERMSIG(status)
        Reporter(job.result_fd, job.result_limit).send(
            {"status": "failed", "kind": "signal", "signal": number})
        os._exit(128 + number)
    os._exit(os.WEXITSTATUS(status) if os.WIFEXITED(status) else 1)


def main() -> int:
    """Run the job on stdin; the exit status is 0 only after a normal return."""
    here = os.path.dirname(os.path.realpath(__file__))
    # Python puts this script's folder first on sys.path; the program must not import
    # envkit's modules by accident.
    if sys.path and os.path.realpath(sys.path[0] or os.curdir) == here:
        sys.path.pop(0)
    job = Job(json.loads(sys.stdin.buffer.readline(JOB_LIMIT)))
    if os.getpid() == 1:
        _init(job)
    _hold_lifeline(os.dup(0))
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    os.set_inheritable(job.result_fd, False)
    reporter = Reporter(job.result_fd, job.result_limit)
    places = Places(job.root)
    try:
        import pulumi
        import pulumi.runtime
        from google.protobuf import empty_pb2
        from pulumi.runtime import mocks, settings
    except ImportError as exc:
        if exc.name and exc.name.split(".")[0] in ("pulumi", "google"):
            reporter.send({"status": "failed", "kind": "missing-module",
                           "module": exc.name or "pulumi", "message": str(exc)})
            return 3
        reporter.send(_sdk_unusable(exc))
        return 3
    except Exception as exc:  # noqa: BLE001 - an SDK this interpreter cannot import at all
        reporter.send(_sdk_unusable(exc))
        return 3

    # As pulumi-language-python-exec does: config from the environment, then settings.
    config_env = pulumi.runtime.get_config_env()
    if hasattr(pulumi.runtime, "set_all_config"):
        pulumi.runtime.set_all_config(config_env, pulumi.runtime.get_config_secret_keys_env())
    else:
        for key, value in config_env.items():
            pulumi.runtime.set_config(key, value)

    lookups = _load_lookups(job.lookups_path)
    shapes = _load_lookups(job.shapes_path, "_envkit_shapes")
    shaper, unknowns = shapes.Shaper(job.region, UNKNOWN), shapes.Unknowns(UNKNOWN)
    declared: dict[tuple[str, str], dict[str, Any]] = {}
    monitor = _make_monitor(job, places, unknowns, lookups, shaper, declared)
    # Every keyword is an attribute of MockSettings (it sets what it is given), so SDKs
    # that predate one of them ignore it.
    features = set(monitor.GetDeploymentInfo(empty_pb2.Empty()).supportedFeatures) \
        if hasattr(mocks.MockMonitor, "GetDeploymentInfo") else set()
    settings.configure(mocks.MockSettings(
        monitor=monitor,
        monitor_features=features,
        engine=mocks.MockEngine(logging.getLogger("pulumi.program")),
        project=job.project, stack=job.stack, dry_run=True, organization=job.organization,
        root_directory=job.root, parallel=os.cpu_count() or 1, callbacks=None,
    ))
    _observe_invokes(monitor.answers, places)
    _observe_declarations(places, shaper, declared)

    sys.argv = [job.entry]
    os.chdir(job.pwd)
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    executor = ThreadPoolExecutor(max_workers=max(os.cpu_count() or 1, 1) * 4)
    loop.set_default_executor(executor)
    logging.getLogger("asyncio").setLevel(logging.CRITICAL)

    def run() -> None:
        runpy.run_path(job.entry, run_name="__main__")

    try:
        loop.run_until_complete(pulumi.runtime.run_in_stack(run))
    except BaseException as exc:  # noqa: BLE001 - every early ending is reported, none passes
        kind, message = _describe(exc)
        failure = _failure(kind, exc, job, places, declared)
        if message:
            failure["message"] = message
        if kind == "missing-module":
            failure["module"] = getattr(exc, "name", None)
        reporter.send(failure)
        return 2
    records = monitor.records
    notices: dict[int, set[str]] = {}
    for record in records:
        found: set[int] = set()
        record["inputs"] = unknowns.scrub(record["inputs"], found)
        stand_ins = shaper.found_in(record["inputs"])
        if stand_ins:
            record["placeholders"] = stand_ins[:20]
        for index in found:
            notices.setdefault(index, set()).add(record["urn"])
    by_token: dict[str, set[str]] = {}
    for index, token in enumerate(unknowns.tokens):
        by_token.setdefault(token, set()).update(notices.get(index, set()))
    answers = monitor.answers
    reporter.send({
        "status": "ok",
        "resources": records,
        "packages": _component_packages(records),
        "unanswered": [{"token": token, "dependents": sorted(urns),
                        "sites": answers.sites.get(token, [])[:5],
                        "error": answers.failed.get(token)}
                       for token, urns in sorted(by_token.items())],
    })
    return 0


if __name__ == "__main__":
    status = main()
    sys.stdout.flush()
    sys.stderr.flush()
    # Leave at once: a thread or atexit hook the program left behind cannot hold the check.
    os._exit(status)
