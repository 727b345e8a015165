"""Expand a multi-language component through its INSTALLED plugin, as the engine does.

A machine that has run Pulumi keeps each resource plugin it downloaded under
``$PULUMI_HOME/plugins/resource-<name>-v<version>/pulumi-resource-<name>`` (PULUMI_HOME
defaults to ~/.pulumi: pulumi/pulumi sdk/go/common/workspace/paths.go:50 and
plugins.go:1317,1333). For a remote component (``awsx:ec2:Vpc``, ``eks:index:Cluster``
3.x...) the gate does what ``pulumi preview`` does with that binary, and nothing more:

- it launches the plugin with the engine's address as its only argument, in the
  program's folder (pkg/resource/plugin/provider_plugin.go:289, plugin.go:599), and reads
  the gRPC port the plugin prints as its first line on stdout (plugin.go:375-430);
- it calls ``Configure`` (provider_plugin.go:1127, acceptSecrets/acceptResources) and
  then ``Construct`` once per component with ``dryRun: true`` and the inputs the Python
  program sent, in the wire form the engine marshals (provider_plugin.go:2150-2178);
- the plugin registers the component's children against ``monitorEndpoint``: a
  ResourceMonitor served here (sdk proto resource.proto), which records each registration
  and answers with the same deterministic placeholders the Python program gets
  (:class:`envkit.policy._shapes.Shaper`), and answers invokes offline
  (:class:`envkit.lookups.OfflineAws`, through :class:`node_expand.Answerer`); it logs
  through the Engine service (engine.proto: Log, Get/SetRootResource), served here too.

Nothing is downloaded: a missing plugin leaves the component "not evaluated", saying which
plugin at which version was looked for. The plugin runs in a session (and, where the
machine allows, a PID namespace) of its own, bounded by the check's timeout, and its
process group is ended when the expansion returns. It shares the loopback network with the
gate (the engine protocol is TCP on 127.0.0.1: a network namespace of its own would cut
it off from the monitor), so unlike the Node expansion it is not cut off from the network:
it is the very binary ``pulumi preview`` would run.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import selectors
import subprocess
import threading
import time
from collections.abc import Callable
from concurrent import futures
from pathlib import Path
from typing import Any

from .node_expand import Expansion, Unavailable, plan

PLUGIN_TIMEOUT = 180.0
LOG_LIMIT = 20
RECORD_LIMIT = 10_000
MESSAGE_LIMIT = 16 * 1024 * 1024
_VERSION = re.compile(r"^\d{1,4}\.\d{1,4}\.\d{1,4}$")
_PACKAGE = re.compile(r"^[a-z][a-z0-9-]{0,63}$")
STACK_TYPE = "pulumi:pulumi:Stack"
UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"  # pulumi.runtime.rpc.UNKNOWN
_SECRET_SIG = "4dabf18193072939515e22adb298388d"  # pulumi.runtime.rpc._special_sig_key

Say = Callable[[str], None]
#: One component's construction: its children's records, why it failed (None if it did
#: not), and the lookups the plugin made that could not be answered offline.
Constructed = tuple[list[dict[str, Any]], str | None, list[str]]


def pulumi_home() -> Path:
    """$PULUMI_HOME, else ~/.pulumi (sdk/go/common/workspace/paths.go:50 PulumiHomeEnvVar)."""
    home = os.environ.get("PULUMI_HOME")
    return Path(home) if home else Path.home() / ".pulumi"


def plugin_binary(package: str, version: str, home: Path | None = None) -> Path:
    """Where the engine keeps ``pulumi-resource-<package>`` at ``version``: the plugin
    directory ``resource-<name>-v<version>`` (plugins.go:1317 PluginSpec.Dir) holding the
    file ``pulumi-resource-<name>`` (plugins.go:1333 PluginSpec.File)."""
    home = home or pulumi_home()
    return home / "plugins" / f"resource-{package}-v{version}" / f"pulumi-resource-{package}"


def choose(component: dict[str, Any], packages: dict[str, str], home: Path | None = None
           ) -> tuple[str, str, Path] | str:
    """(package, version, plugin binary) to expand ``component`` with, or why not."""
    package = str(component.get("type")).split(":", 1)[0]
    base = plan(component, packages)
    base = base if isinstance(base, str) else ""
    version = packages.get(f"pulumi-{package}")
    if not _PACKAGE.match(package) or not isinstance(version, str) or \
            not _VERSION.match(version):
        return base or (f"the version of pulumi-{package} the program ran with is unknown, "
                        "so the plugin to run could not be chosen")
    binary = plugin_binary(package, version, home)
    partial = binary.parent.with_name(binary.parent.name + ".partial")
    if partial.exists():
        # An install still under way or cut short: the engine skips it too
        # (sdk/go/common/workspace/plugins.go:2058 getPlugins, PartialFilePath :1358).
        return f"{base + '; ' if base else ''}pulumi-resource-{package} v{version} in " \
               f"{binary.parent.parent} is not fully installed ({partial.name} is there)"
    if not (binary.is_file() and os.access(binary, os.X_OK)):
        where = (home or pulumi_home()) / "plugins"
        return f"{base + '; ' if base else ''}no pulumi-resource-{package} v{version} in " \
               f"{where} (envkit runs an installed plugin, and downloads none)"
    return package, version, binary


def expand(components: list[dict[str, Any]], packages: dict[str, str], *, project: Any,
           timeout: float = PLUGIN_TIMEOUT, home: Path | None = None
           ) -> dict[str, Expansion]:
    """Each remote component's expansion (by URN) through its installed plugin, or the
    reason it is not evaluated. Never raises for what the plugin does."""
    out: dict[str, Expansion] = {}
    groups: dict[tuple[str, str, Path], list[dict[str, Any]]] = {}
    for component in components:
        chosen = choose(component, packages, home)
        if isinstance(chosen, str):
            out[str(component["urn"])] = Expansion(str(component["urn"]), False, reason=chosen)
        else:
            groups.setdefault(chosen, []).append(component)
    for (package, version, binary), members in groups.items():
        label = f"pulumi-resource-{package} v{version}"
        try:
            results = run_plugin(binary, label, members, project, timeout)
        except Unavailable as exc:
            for c in members:
                out[str(c["urn"])] = Expansion(str(c["urn"]), False, reason=str(exc))
            continue
        how = f"expanded with the installed {label} plugin under envkit's mock monitor"
        for c in members:
            urn = str(c["urn"])
            records, error, refused = results.get(urn, ([], f"{label} reported nothing "
                                                       "for it", []))
            if error is None:
                said = how
                if refused:
                    from .program import inert

                    names = ", ".join(f"`{inert(t[:200])}`" for t in refused[:5])
                    said += (f" (the plugin's lookups {names} cannot be answered offline; "
                             "it got an error for them, as without a network)")
                out[urn] = Expansion(urn, True, how=said, implementation=label,
                                     records=records)
            else:
                out[urn] = Expansion(urn, False, reason=error)
    return out


# --- the monitor and engine the plugin talks to ---------------------------------------------


class Monitor:
    """What the engine's resource monitor would be for the plugin: records each
    registration and answers it as the Python program's mocks do."""

    def __init__(self, project: Any) -> None:
        from ..lookups import OfflineAws, gather_facts
        from ._shapes import Shaper
        from .node_expand import Answerer

        self.project = project
        self.shaper = Shaper(project.region, UNKNOWN)
        self.answers = Answerer(OfflineAws(project.region, gather_facts()), project.region)
        self.records: list[dict[str, Any]] = []
        self.states: dict[str, dict[str, Any]] = {}
        self.logs: list[str] = []
        self.lock = threading.Lock()
        self.port = 0
        self.noted: set[str] = set()
        self.root = self.make_urn("", STACK_TYPE, f"{project.name}-{project.stack}")

    def make_urn(self, parent: str, type_: str, name: str) -> str:
        # As the engine makes it (pkg/resource/deploy/deployment.go generateURN), and as the
        # runner does (envkit/policy/_runner.py Recorder.make_urn).
        if parent:
            qualified = parent.split("::")[2]
            if qualified != STACK_TYPE:
                type_ = f"{qualified}${type_}"
        return "urn:pulumi:" + "::".join([self.project.stack, self.project.name, type_, name])

    def register(self, request: Any) -> Any:
        from google.protobuf import json_format, struct_pb2
        from pulumi.runtime.proto import resource_pb2

        if len(self.records) >= RECORD_LIMIT:
            # A plugin is code envkit did not write: what it registers is bounded.
            raise Unavailable(f"more than {RECORD_LIMIT} resources registered")
        parent = request.parent or self.root
        urn = self.make_urn(parent, request.type, request.name)
        inputs = _plain(json_format.MessageToDict(request.object))
        with self.lock:
            self._note_class(request.type)
            ident, state = self.shaper.answer(request.type, request.name, urn, inputs,
                                              bool(request.custom), None)
            self.records.append({
                "type": request.type, "name": request.name, "urn": urn,
                "parent": None if parent == self.root else parent,
                "custom": bool(request.custom),
                "dependencies": sorted(set(request.dependencies)),
                "provider": request.provider or None, "inputs": inputs,
                "remote": bool(request.remote)})
            self.states[urn] = state
        return resource_pb2.RegisterResourceResponse(
            urn=urn, id=ident, object=json_format.ParseDict(state, struct_pb2.Struct()))

    def _note_class(self, token: str) -> None:
        """Give the Shaper the pulumi_aws class that declares ``token``, found the way the
        SDK rehydrates a resource (its resource module registry: pulumi_aws/_utilities.py
        Module.construct), so outputs get placeholders of their declared types (an ARN for
        ``arn``) as in the Python program. Other packages' resources echo their inputs."""
        package, _, rest = token.partition(":")
        if package != "aws" or token in self.noted:
            return
        self.noted.add(token)
        try:
            import importlib

            import pulumi_aws  # noqa: F401 - importing it registers its resource modules
            from pulumi.runtime import rpc

            module = rpc.get_resource_module(package, rest.partition(":")[0], "")
            info = getattr(module, "mod_info", None) or {}
            cls = getattr(importlib.import_module(info["fqn"]), info["classes"][token])
        except Exception:  # noqa: BLE001 - a type envkit's pulumi_aws lacks: inputs echoed
            return
        self.shaper.note_type(token, cls)

    def invoke(self, request: Any) -> Any:
        from google.protobuf import json_format, struct_pb2
        from pulumi.runtime.proto import provider_pb2

        args = _plain(json_format.MessageToDict(request.args))
        with self.lock:
            reply = self.answers.answer({"id": 0, "token": request.tok, "args": args})
        if "error" in reply:
            # An invoke's failures are how a provider reports one (provider.proto
            # InvokeResponse.failures); the SDK raises them in the component's code.
            return provider_pb2.InvokeResponse(failures=[provider_pb2.CheckFailure(
                property="", reason=str(reply["error"]))])
        return provider_pb2.InvokeResponse(
            **{"return": json_format.ParseDict(_jsonable(reply["result"]),
                                               struct_pb2.Struct())})

    def log(self, request: Any) -> None:
        # engine.proto LogSeverity: DEBUG 0, INFO 1, WARNING 2, ERROR 3.
        if request.severity >= 3 and len(self.logs) < LOG_LIMIT:
            self.logs.append(request.message.strip().splitlines()[0][:300]
                             if request.message.strip() else "")


def _plain(value: Any) -> Any:
    """Wire values as an analyzer receives them: no ``__`` keys, secrets unwrapped
    (analyzer_plugin.go marshals without KeepSecrets)."""
    if isinstance(value, dict):
        if value.get(_SECRET_SIG) == "1b47061264138c4ac30d75fd1eb44270":
            return _plain(value.get("value"))
        return {k: _plain(v) for k, v in value.items() if not str(k).startswith("__")}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


def _servicers(monitor: Monitor) -> tuple[Any, Any]:
    import grpc
    from google.protobuf import empty_pb2
    from pulumi.runtime.proto import (
        engine_pb2,
        engine_pb2_grpc,
        provider_pb2,
        resource_pb2,
        resource_pb2_grpc,
    )

    class ResourceMonitor(resource_pb2_grpc.ResourceMonitorServicer):
        def SupportsFeature(self, request: Any, context: Any) -> Any:
            # Secrets yes; resource references and output values no: the plugin's SDK then
            # sends a resource as its id or URN and plain values, what an analyzer gets.
            return resource_pb2.SupportsFeatureResponse(hasSupport=request.id == "secrets")

        def RegisterResource(self, request: Any, context: Any) -> Any:
            try:
                return monitor.register(request)
            except Unavailable as exc:
                context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, f"envkit: {exc}")

        def RegisterResourceOutputs(self, request: Any, context: Any) -> Any:
            return empty_pb2.Empty()

        def Invoke(self, request: Any, context: Any) -> Any:
            return monitor.invoke(request)

        def StreamInvoke(self, request: Any, context: Any) -> Any:
            context.abort(grpc.StatusCode.UNIMPLEMENTED, "envkit: no streaming invokes "
                          "offline")

        def Call(self, request: Any, context: Any) -> Any:
            monitor.answers.unanswered.append(request.tok)
            return provider_pb2.CallResponse(failures=[provider_pb2.CheckFailure(
                property="", reason=f"{request.tok[:200]} cannot be answered offline")])

        def ReadResource(self, request: Any, context: Any) -> Any:
            # Reading an existing resource: nothing is created, nothing is recorded.
            urn = monitor.make_urn(request.parent or monitor.root, request.type, request.name)
            return resource_pb2.ReadResourceResponse(urn=urn, properties=request.properties)

        def RegisterPackage(self, request: Any, context: Any) -> Any:
            return resource_pb2.RegisterPackageResponse(ref=f"envkit-{request.name}")

        def SignalAndWaitForShutdown(self, request: Any, context: Any) -> Any:
            return empty_pb2.Empty()

    class Engine(engine_pb2_grpc.EngineServicer):
        def Log(self, request: Any, context: Any) -> Any:
            monitor.log(request)
            return empty_pb2.Empty()

        def GetRootResource(self, request: Any, context: Any) -> Any:
            return engine_pb2.GetRootResourceResponse(urn=monitor.root)

        def SetRootResource(self, request: Any, context: Any) -> Any:
            return engine_pb2.SetRootResourceResponse()

    return ResourceMonitor(), Engine()


def serve(monitor: Monitor) -> tuple[Any, int]:
    """The monitor and engine services on 127.0.0.1, on a port of the system's choosing."""
    import grpc
    from pulumi.runtime.proto import engine_pb2_grpc, resource_pb2_grpc

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=8),
                         options=[("grpc.max_receive_message_length", MESSAGE_LIMIT)])
    resource_monitor, engine = _servicers(monitor)
    resource_pb2_grpc.add_ResourceMonitorServicer_to_server(resource_monitor, server)
    engine_pb2_grpc.add_EngineServicer_to_server(engine, server)
    port = server.add_insecure_port("127.0.0.1:0")
    if not port:
        raise Unavailable("envkit could not listen on 127.0.0.1 for the plugin")
    server.start()
    return server, port


# --- the plugin -----------------------------------------------------------------------------


def run_plugin(binary: Path, label: str, components: list[dict[str, Any]], project: Any,
               timeout: float = PLUGIN_TIMEOUT) -> dict[str, Constructed]:
    """Launch the plugin, construct each component, end the plugin; by URN, the records
    its children made (and None) or ([], why it failed), with the lookups the plugin asked
    for that could not be answered offline."""
    from .program import _environment
    from .spawn import _end_group, contained

    deadline = time.monotonic() + timeout
    monitor = Monitor(project)
    server, engine_port = serve(monitor)
    monitor.port = engine_port  # one server is both the engine and the monitor
    proc: subprocess.Popen | None = None
    try:
        try:
            proc = subprocess.Popen([*contained(), str(binary), f"127.0.0.1:{engine_port}"],
                                    stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, cwd=project.pwd,
                                    env=_environment(project), start_new_session=True)
        except OSError as exc:
            raise Unavailable(f"{label} could not start: {exc.strerror}") from None
        tails = {"stderr": b""}
        port = _read_port(proc, label, deadline, tails)
        threading.Thread(target=_drain, args=(proc, tails), daemon=True).start()
        return _construct_all(port, label, components, project, monitor, deadline)
    finally:
        if proc is not None:
            _end_group(proc)
            for stream in (proc.stdout, proc.stderr):
                with contextlib.suppress(OSError, AttributeError):
                    stream.close()
        server.stop(grace=None)


def _read_port(proc: subprocess.Popen, label: str, deadline: float,
               tails: dict[str, bytes]) -> int:
    """The first line the plugin writes to stdout: its port (plugin.go:375-430)."""
    from .program import inert
    from .spawn import _exited

    assert proc.stdout and proc.stderr
    selector = selectors.DefaultSelector()
    selector.register(proc.stdout, selectors.EVENT_READ, "stdout")
    selector.register(proc.stderr, selectors.EVENT_READ, "stderr")
    line = b""
    try:
        while b"\n" not in line:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise Unavailable(f"{label} printed no port within the time limit and was "
                                  "stopped")
            events = selector.select(timeout=min(remaining, 0.25))
            for key, _ in events:
                chunk = os.read(key.fd, 4096)
                if not chunk:
                    selector.unregister(key.fileobj)
                elif key.data == "stdout":
                    line += chunk
                    if len(line) > 4096:
                        raise Unavailable(f"{label} wrote no port to stdout")
                else:
                    tails["stderr"] = (tails["stderr"] + chunk)[-4096:]
            if not events and _exited(proc):
                last = tails["stderr"].decode("utf-8", "replace").strip().splitlines()
                code = proc.wait()
                raise Unavailable(f"{label} exited with status {code} before printing its "
                                  "port" + (f": {inert(last[-1][:200])}" if last else ""))
    finally:
        selector.close()
    first = line.split(b"\n", 1)[0].decode("utf-8", "replace").strip()
    if not first.isdigit() or not 0 < int(first) < 65536:
        raise Unavailable(f"{label} wrote an invalid port to stdout: {inert(first[:60])!r}")
    return int(first)


def _drain(proc: subprocess.Popen, tails: dict[str, bytes]) -> None:
    """Keep reading the plugin's output (as the engine traces it), so it never blocks."""
    def pump(stream: Any, key: str) -> None:
        with contextlib.suppress(OSError, ValueError):
            for chunk in iter(lambda: stream.read1(4096), b""):
                tails[key] = (tails.get(key, b"") + chunk)[-4096:]

    other = threading.Thread(target=pump, args=(proc.stdout, "stdout"), daemon=True)
    other.start()
    pump(proc.stderr, "stderr")


def _construct_all(port: int, label: str, components: list[dict[str, Any]], project: Any,
                   monitor: Monitor, deadline: float) -> dict[str, Constructed]:
    import grpc
    from google.protobuf import json_format, struct_pb2
    from pulumi.runtime.proto import provider_pb2, provider_pb2_grpc

    from .program import inert

    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    try:
        stub = provider_pb2_grpc.ResourceProviderStub(channel)

        def left() -> float:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise Unavailable(f"{label} was still running at the time limit and was "
                                  "stopped")
            return remaining

        try:
            grpc.channel_ready_future(channel).result(timeout=left())
        except grpc.FutureTimeoutError:
            raise Unavailable(f"{label} printed port {port} but did not answer there within "
                              "the time limit") from None
        try:
            stub.Configure(provider_pb2.ConfigureRequest(
                acceptSecrets=True, acceptResources=True, args=struct_pb2.Struct()),
                timeout=left())
        except grpc.RpcError as exc:
            raise Unavailable(f"{label} did not configure: {_rpc_error(exc)}") from None
        out: dict[str, Constructed] = {}
        config = {k: str(v) for k, v in (project.config or {}).items()}
        config.setdefault("aws:region", project.region)
        for component in components:
            urn = str(component["urn"])
            start, asked = len(monitor.records), len(monitor.answers.unanswered)
            request = provider_pb2.ConstructRequest(
                project=project.name, stack=project.stack, config=config,
                configSecretKeys=list(project.secret_keys or []), dryRun=True, parallel=8,
                monitorEndpoint=f"127.0.0.1:{monitor.port}",
                type=str(component["type"]), name=str(component["name"]),
                parent=str(component.get("parent") or monitor.root),
                inputs=json_format.ParseDict(component.get("inputs") or {},
                                             struct_pb2.Struct()),
                dependencies=[str(d) for d in component.get("dependencies") or []])
            try:
                stub.Construct(request, timeout=left())
            except Unavailable as exc:
                out[urn] = ([], str(exc), [])
                continue
            except grpc.RpcError as exc:
                if exc.code() == grpc.StatusCode.DEADLINE_EXCEEDED:
                    out[urn] = ([], f"{label} did not finish constructing it within the "
                                "time limit and was stopped", [])
                    continue
                logged = f" ({'; '.join(inert(m) for m in monitor.logs[-2:])})" \
                    if monitor.logs else ""
                out[urn] = ([], f"{label} failed to construct it: {_rpc_error(exc)}{logged}",
                            [])
                continue
            with monitor.lock:
                # The plugin registers concurrently: in URN order, a report reads the same.
                mine = sorted((r for r in monitor.records[start:] if r["urn"] != urn),
                              key=lambda r: r["urn"])
            for r in mine:
                found = monitor.shaper.found_in(r["inputs"])
                text = json.dumps(r["inputs"])
                found += [[v, what] for v, what in monitor.answers.placeholders.items()
                          if v in text]
                if found:
                    r["placeholders"] = found[:20]
            refused = sorted(set(monitor.answers.unanswered[asked:]))
            out[urn] = (mine, None, refused)
        return out
    finally:
        channel.close()


_SERIALIZING = re.compile(r'(?:error serializing property "([^"]{0,200})": ){2,}')


def _rpc_error(exc: Any) -> str:
    """One line for the plugin's gRPC error; the Node SDK nests the cause of a failed
    registration under one 'error serializing property "x": ' per level of the output it
    was serializing, which is folded into one dotted path so the cause stays visible."""
    from .program import inert

    details = getattr(exc, "details", None)
    text = str((details() if callable(details) else str(exc)) or "").strip()
    if not text:
        return type(exc).__name__

    def fold(match: Any) -> str:
        path = re.findall(r'error serializing property "([^"]{0,200})": ', match.group(0))
        return f'error serializing property "{".".join(path)}": '

    return inert(_SERIALIZING.sub(fold, text.splitlines()[0])[:500])
