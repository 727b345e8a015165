"""Expand multi-language components for real, where npm serves their implementation.

A Python program's ``eks.Cluster(...)`` registers a component with ``remote=True``: the
engine would have the ``pulumi-resource-eks`` plugin construct it, and under mocks nothing
inside it exists. For pulumi-eks before 3.0 the plugin is the package's own TypeScript,
and npm serves exactly that code as ``@pulumi/eks`` of the same version (its
``cmd/provider/index.js`` is the plugin's entry point). So the gate installs that version
once into a cache under ENVKIT_HOME (``npm install --ignore-scripts``), and runs ONE Node
process (``_node_expand.js``) that constructs each such component through the provider's
own ``construct``, under ``pulumi.runtime.setMocks``, with the inputs the Python program
sent. Every resource the component registers comes back and is judged by the pack like
the program's own, at the component's declaring line.

pulumi-eks 3.x and 4.x (and every pulumi-awsx) ship their implementation only in the
plugin binary (npm's packages of those versions are generated SDKs that call it), so
those components stay "not evaluated", and the note says why. Anything that fails here
(no Node or npm, the registry unreachable, an install or construct that fails) leaves the
component not evaluated with the reason; it never ends the check.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import re
import selectors
import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: Packages whose Python SDK versions below the bound have their implementation on npm.
NPM_IMPLEMENTED = {"eks": ("@pulumi/eks", "pulumi-eks", 3)}
#: Packages whose implementation ships only in their plugin binary, at every version.
PLUGIN_ONLY = {"awsx": "pulumi-awsx"}
INSTALL_TIMEOUT = 600.0
NODE_TIMEOUT = 180.0
RESULT_LIMIT = 32 * 1024 * 1024
_VERSION = re.compile(r"^\d{1,4}\.\d{1,4}\.\d{1,4}$")
_READY = ".envkit-ready"

Say = Callable[[str], None]


@dataclass
class Expansion:
    """What became of one remote component: its resources, or why there are none."""

    urn: str
    ok: bool
    how: str = ""  # "expanded with @pulumi/eks 2.8.1 from npm under Node mocks"
    implementation: str = ""  # "@pulumi/eks 2.8.1"
    reason: str = ""  # why it is not evaluated
    records: list[dict[str, Any]] = field(default_factory=list)
    #: Values the real run fetches over the network, left unknown (as a preview would).
    unknowns: list[str] = field(default_factory=list)


class Unavailable(Exception):
    """The implementation cannot be run here; the message says why (one line)."""


def _stderr(message: str) -> None:
    import sys

    print(f"envkit: {message}", file=sys.stderr, flush=True)


def plan(component: dict[str, Any], packages: dict[str, str]) -> tuple[str, str] | str:
    """(npm package, version) to expand ``component`` with, or why it cannot be."""
    type_ = str(component.get("type"))
    package = type_.split(":", 1)[0]
    if package in NPM_IMPLEMENTED:
        npm, dist, below = NPM_IMPLEMENTED[package]
        version = packages.get(dist)
        if not isinstance(version, str) or not _VERSION.match(version):
            return (f"the version of {dist} the program ran with is unknown, so the npm "
                    f"implementation to run could not be chosen")
        if int(version.split(".")[0]) >= below:
            return (f"{dist} {version} ships its implementation only in the "
                    f"pulumi-resource-{package} plugin binary (npm's {npm} {version} is a "
                    "generated SDK that calls it), which cannot be run offline here")
        return npm, version
    if package in PLUGIN_ONLY:
        dist = PLUGIN_ONLY[package]
        version = packages.get(dist)
        shown = f"{dist} {version}" if isinstance(version, str) and \
            _VERSION.match(version) else dist
        return (f"{shown} ships its implementation only in the pulumi-resource-{package} "
                f"plugin binary (npm's @pulumi/{package} is a generated SDK that calls it), "
                "which cannot be run offline here")
    return (f"no implementation of the {package} package is available offline; its plugin "
            "creates its resources")


# --- the npm cache ----------------------------------------------------------------------------


def cache_dir(npm: str, version: str) -> Path:
    """Where ``npm`` at ``version`` is kept: ENVKIT_HOME/npm/<package>@<version>."""
    from ..home import subdir

    return subdir("npm") / f"{npm.replace('/', '+')}@{version}"


def _ready(folder: Path, npm: str, version: str) -> bool:
    try:
        manifest = json.loads((folder / "node_modules" / npm / "package.json")
                              .read_text()[:1_000_000])
    except (OSError, ValueError):
        return False
    entry = folder / "node_modules" / npm / "cmd" / "provider" / "index.js"
    # Releases before 3.0 were published with a "v" in package.json ("v1.0.4").
    found = str(manifest.get("version"))
    return (folder / _READY).is_file() and found.removeprefix("v") == version and \
        entry.is_file()


def prepare(npm: str, version: str, *, install: bool = True, say: Say | None = None) -> Path:
    """The cache folder holding ``npm`` at ``version`` (installed there once, from npm's
    registry, with its install scripts off); Unavailable with the reason otherwise."""
    from ..home import locked

    say = say or _stderr
    folder = cache_dir(npm, version)
    if _ready(folder, npm, version):
        return folder
    if not install:
        raise Unavailable(f"{npm} {version} is not in envkit's npm cache ({folder}) and "
                          "--no-install forbids installing it")
    tool = shutil.which("npm")
    if tool is None or shutil.which("node") is None:
        raise Unavailable(f"running {npm} {version} needs Node.js and npm on PATH")
    with locked(f"npm-{folder.name}"):
        if _ready(folder, npm, version):
            return folder
        say(f"installing {npm}@{version} from npm into {folder} (npm install "
            "--ignore-scripts; once, to expand its components offline)")
        try:
            folder.mkdir(mode=0o700, exist_ok=True)
            with contextlib.suppress(FileNotFoundError):
                (folder / _READY).unlink()
            # A package.json of its own, so npm installs here and not in a parent folder.
            (folder / "package.json").write_text('{"private": true}\n')
            argv = [tool, "install", "--ignore-scripts", "--no-audit", "--no-fund",
                    "--no-save", "--no-package-lock", "--loglevel=error", f"{npm}@{version}"]
            _run(argv, folder, f"npm install {npm}@{version}")
            # Ready only once what the run needs is there (a half-done install never is).
            (folder / _READY).write_text(version + "\n")
            if not _ready(folder, npm, version):
                (folder / _READY).unlink()
                raise Unavailable(f"npm install {npm}@{version} left no {npm} {version} "
                                  "with cmd/provider/index.js in its node_modules")
        except OSError as exc:
            raise Unavailable(f"envkit's npm cache {folder} cannot be written: "
                              f"{exc.strerror or exc}") from None
    return folder


def _run(argv: list[str], cwd: Path, doing: str) -> None:
    """One npm command, bounded in time, in a session of its own; Unavailable on failure."""
    from .spawn import run_bounded

    try:
        code, output = run_bounded(argv, cwd, None, INSTALL_TIMEOUT)
    except OSError as exc:
        raise Unavailable(f"{doing} could not start: {exc.strerror}") from None
    except subprocess.TimeoutExpired:
        raise Unavailable(f"{doing} took longer than {INSTALL_TIMEOUT:g} s and was "
                          "stopped") from None
    if code != 0:
        raise Unavailable(npm_failure(output[-16384:].decode("utf-8", "replace"), doing))


_NPM_UNREACHABLE = re.compile(r"ENOTFOUND|EAI_AGAIN|ECONNREFUSED|ETIMEDOUT|ECONNRESET|"
                              r"ENETUNREACH|network|proxy", re.I)
_NPM_CODE = re.compile(r"npm (?:ERR!|error) code (\S+)")


def npm_failure(output: str, doing: str) -> str:
    """One line for a failed npm install, from npm's own words."""
    from .program import inert

    code = _NPM_CODE.search(output)
    if code and code.group(1) == "ETARGET":
        return f"{doing} failed: the registry has no such version"
    if code and code.group(1) == "E404":
        return f"{doing} failed: the registry has no such package"
    if _NPM_UNREACHABLE.search(output):
        return f"{doing} failed: the npm registry is unreachable"
    lines = [ln for ln in output.splitlines() if "error" in ln.lower() or "ERR!" in ln]
    last = (lines or output.strip().splitlines() or ["no output"])[-1]
    return f"{doing} failed: {inert(last.strip()[:200])}"


# --- the Node run -----------------------------------------------------------------------------


def expand(components: list[dict[str, Any]], packages: dict[str, str], *, project: Any,
           install: bool = True, say: Say | None = None, timeout: float = NODE_TIMEOUT
           ) -> dict[str, Expansion]:
    """Each remote component's expansion (by URN): its resources where its implementation
    could run, else the reason it is not evaluated."""
    out: dict[str, Expansion] = {}
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for component in components:
        urn = str(component["urn"])
        chosen = plan(component, packages)
        if isinstance(chosen, str):
            out[urn] = Expansion(urn, False, reason=chosen)
        else:
            groups.setdefault(chosen, []).append(component)
    for (npm, version), members in groups.items():
        try:
            folder = prepare(npm, version, install=install, say=say)
            results = run_node(folder, npm, members, project, timeout)
        except Unavailable as exc:
            for c in members:
                out[str(c["urn"])] = Expansion(str(c["urn"]), False, reason=str(exc))
            continue
        how = f"expanded with {npm} {version} from npm under Node mocks"
        for c in members:
            urn = str(c["urn"])
            result = results.get(urn)
            if result is None:
                out[urn] = Expansion(urn, False, reason=f"{npm} {version} under Node mocks "
                                     "reported nothing for it")
            elif result.get("ok") and _well_formed(result.get("records")):
                out[urn] = Expansion(urn, True, how=how, implementation=f"{npm} {version}",
                                     records=result["records"],
                                     unknowns=[str(u)[:300] for u in
                                               result.get("unknowns") or []][:10])
            else:
                from .program import inert

                why = "sent a malformed report" if result.get("ok") else \
                    f"failed: {inert(str(result.get('error'))[:300])}"
                out[urn] = Expansion(urn, False, reason=f"{npm} {version} under Node mocks "
                                     f"{why}")
    return out


def _well_formed(records: Any) -> bool:
    """Whether the Node side's records have what the gate reads (the component's code
    runs there: its report is checked, never trusted)."""
    return isinstance(records, list) and all(
        isinstance(r, dict) and all(isinstance(r.get(k), str) for k in ("type", "name", "urn"))
        and isinstance(r.get("inputs"), dict)
        and (r.get("parent") is None or isinstance(r.get("parent"), str))
        and isinstance(r.get("dependencies") or [], list) for r in records)


def _script() -> Any:
    from importlib import resources

    return resources.files("envkit.policy") / "_node_expand.js"


def run_node(folder: Path, npm: str, components: list[dict[str, Any]], project: Any,
             timeout: float = NODE_TIMEOUT) -> dict[str, dict[str, Any]]:
    """Run the components' constructors in one Node process; their results by URN.

    Invokes are answered here, by the same offline answers the Python program gets
    (:class:`envkit.lookups.OfflineAws`)."""
    from importlib import resources

    from ..lookups import OfflineAws, gather_facts
    from .program import _environment
    from .spawn import contained

    node = shutil.which("node")
    if node is None:
        raise Unavailable(f"running {npm} needs Node.js (node) on PATH")
    answers = Answerer(OfflineAws(project.region, gather_facts()), project.region)
    job = {"project": project.name, "stack": project.stack, "organization": "organization",
           "region": project.region, "package": npm, "package_dir": str(folder),
           "limit": RESULT_LIMIT, "component_timeout": max(5, int(timeout / 3)),
           "components": [{k: c.get(k) for k in ("type", "name", "urn", "parent",
                                                  "dependencies", "inputs")}
                          for c in components]}
    with resources.as_file(_script()) as script:
        read_end, write_end = os.pipe()
        try:
            proc = subprocess.Popen([*_isolated(contained()), node, str(script)],
                                    stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                    stderr=subprocess.PIPE, pass_fds=(write_end,),
                                    cwd=folder, env=_node_env(project, _environment(project),
                                                              write_end),
                                    start_new_session=True)
        except OSError as exc:
            os.close(read_end)
            raise Unavailable(f"node could not start: {exc.strerror}") from None
        finally:
            os.close(write_end)
        results = _converse(proc, read_end, job, answers, timeout, npm)
    for result in results.values():
        for record in result.get("records") or []:
            # Values this side assigned (the AMI an SSM parameter names) are placeholders too.
            text = json.dumps(record.get("inputs"))
            found = [[v, what] for v, what in answers.placeholders.items() if v in text]
            if found and isinstance(record, dict):
                record["placeholders"] = [*(record.get("placeholders") or []), *found][:20]
    return results


@functools.cache
def _isolated(prefix: tuple[str, ...]) -> tuple[str, ...]:
    """The gate's PID-namespace prefix with a network namespace of its own added (no
    interface but loopback, down), where the machine allows one (probed once): the
    component's code cannot reach out, whatever it tries. The script also refuses
    connections itself, for machines without namespaces."""
    if not prefix or "--" not in prefix:
        return prefix
    cut = prefix.index("--")
    wider = (*prefix[:cut], "--net", *prefix[cut:])
    try:
        done = subprocess.run([*wider, "true"], capture_output=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return prefix
    return wider if done.returncode == 0 else prefix


def _node_env(project: Any, env: dict[str, str], fd: int) -> dict[str, str]:
    env = dict(env)
    env["ENVKIT_RESULT_FD"] = str(fd)
    env.pop("NODE_OPTIONS", None)  # nothing the caller set loads into the run
    return env


def _converse(proc: subprocess.Popen, read_end: int, job: dict[str, Any], answers: Any,
              timeout: float, npm: str) -> dict[str, dict[str, Any]]:
    """Hand the job over, answer the invokes, and read the result, bounded in time and
    size; the process group is ended whatever happens."""
    from .spawn import _end_group

    assert proc.stdin and proc.stderr
    deadline = time.monotonic() + timeout
    selector = selectors.DefaultSelector()
    reader = os.fdopen(read_end, "rb", buffering=0)
    selector.register(reader, selectors.EVENT_READ, "result")
    selector.register(proc.stderr, selectors.EVENT_READ, "stderr")
    buffer, total, stderr_tail = b"", 0, b""
    final: dict[str, Any] | None = None
    closed = False
    try:
        proc.stdin.write(json.dumps(job).encode() + b"\n")
        proc.stdin.flush()
        while final is None and not closed:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise Unavailable(f"{npm} under Node mocks was still running after "
                                  f"{timeout:g} s and was stopped")
            events = selector.select(timeout=min(remaining, 0.5))
            if not events and proc.poll() is not None:
                break
            for key, _ in events:
                chunk = os.read(key.fd, 65536)
                if not chunk:
                    selector.unregister(key.fileobj)
                    closed = closed or key.data == "result"
                elif key.data == "stderr":
                    stderr_tail = (stderr_tail + chunk)[-4096:]
                else:
                    total += len(chunk)
                    if total > RESULT_LIMIT:
                        raise Unavailable(f"{npm} under Node mocks reported more than "
                                          f"{RESULT_LIMIT // (1024 * 1024)} MiB")
                    buffer += chunk
                    while b"\n" in buffer and final is None:
                        line, buffer = buffer.split(b"\n", 1)
                        message = json.loads(line)
                        if message.get("kind") == "invoke":
                            proc.stdin.write(json.dumps(answers.answer(message)).encode()
                                             + b"\n")
                            proc.stdin.flush()
                        elif message.get("kind") == "result":
                            final = message
    except (ValueError, AttributeError):
        raise Unavailable(f"{npm} under Node mocks sent a malformed report") from None
    except OSError as exc:
        raise Unavailable(f"{npm} under Node mocks ended early ({exc.strerror or exc})"
                          ) from None
    finally:
        _end_group(proc)
        selector.close()
        reader.close()
        for stream in (proc.stdin, proc.stderr):
            with contextlib.suppress(OSError):
                stream.close()
    if final is None:
        from .program import inert

        last = stderr_tail.decode("utf-8", "replace").strip().splitlines()
        raise Unavailable(f"{npm} under Node mocks exited with status {proc.returncode} "
                          "before reporting" + (f": {inert(last[-1][:200])}" if last else ""))
    if final.get("tooLarge"):
        raise Unavailable(f"{npm} under Node mocks declared more than "
                          f"{RESULT_LIMIT // (1024 * 1024)} MiB")
    if final.get("error"):
        from .program import inert

        raise Unavailable(f"{npm} could not be loaded under Node mocks: "
                          f"{inert(str(final['error'])[:300])}")
    return {str(c.get("urn")): c for c in final.get("components") or []
            if isinstance(c, dict)}


_EKS_AMI = re.compile(r"^/aws/service/eks/optimized-ami/[0-9.]+/[a-z0-9-]+/recommended/"
                      r"image_id$")
_SSM = "aws:ssm/getParameter:getParameter"


class Answerer:
    """Answers the component's invokes offline: the Python program's answers
    (:class:`envkit.lookups.OfflineAws`), plus the EKS-optimized AMI an SSM public
    parameter names, as a placeholder id whose image has the EKS AMIs' root device."""

    def __init__(self, offline: Any, region: str) -> None:
        self.offline = offline
        self.region = region
        self.placeholders: dict[str, str] = {}
        self.unanswered: list[str] = []

    def answer(self, message: dict[str, Any]) -> dict[str, Any]:
        """The reply to one invoke message: ``{"id", "result"}`` or ``{"id", "error"}``."""
        from ..lookups import LookupFailure

        ident = message.get("id")
        token = str(message.get("token"))
        args = message.get("args") if isinstance(message.get("args"), dict) else {}
        try:
            if token == _SSM and isinstance(args.get("name"), str) and \
                    _EKS_AMI.match(args["name"]):
                return {"id": ident, "result": self._eks_ami(args["name"])}
            image = self._image_id(token, args)
            if image is not None:
                if image in self.placeholders:
                    return {"id": ident, "result": self._eks_image(image)}
            elif self.offline.can_answer(token, args):
                return {"id": ident, "result": self.offline.answer(token, args)}
        except LookupFailure as exc:
            return {"id": ident, "error": str(exc)[:300]}
        except Exception as exc:  # noqa: BLE001 - envkit's own bug: this lookup only
            return {"id": ident, "error": f"envkit failed to answer {token}: "
                                          f"{type(exc).__name__}"}
        self.unanswered.append(token)
        return {"id": ident, "error": f"{token[:200]} cannot be answered offline"}

    def _eks_ami(self, name: str) -> dict[str, Any]:
        import hashlib

        digest = hashlib.sha256(f"{self.region}\0{name}".encode()).hexdigest()[:16]
        ami = f"ami-0{digest}"
        self.placeholders[ami] = f"the EKS-optimized AMI id SSM's {name} names (envkit " \
                                 "assigned it)"
        return {"id": name, "name": name, "type": "String", "value": ami, "insecureValue": ami,
                "arn": f"arn:aws:ssm:{self.region}::parameter{name}", "version": 1,
                "withDecryption": True}

    @staticmethod
    def _image_id(token: str, args: dict[str, Any]) -> str | None:
        if token != "aws:ec2/getAmi:getAmi":
            return None
        for f in args.get("filters") or []:
            if isinstance(f, dict) and f.get("name") == "image-id" and f.get("values"):
                return str(f["values"][0])
        return None

    def _eks_image(self, image: str) -> dict[str, Any]:
        # The EKS-optimized images are built with one root volume, /dev/xvda, of 20 GiB
        # (awslabs/amazon-eks-ami templates/al2/template.json ami_block_device_mappings).
        return {"id": image, "imageId": image, "rootDeviceName": "/dev/xvda",
                "rootDeviceType": "ebs", "ownerId": "amazon",
                "blockDeviceMappings": [{"deviceName": "/dev/xvda",
                                         "ebs": {"volume_size": "20"}}]}
