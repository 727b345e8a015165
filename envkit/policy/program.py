"""Run a Pulumi Python project's program the way Pulumi runs it, offline, in a child process.

``envkit policy check PROJECT`` is the gate a pipeline puts in front of programs envkit did
not write, so the program is treated as Pulumi's language host treats it:

- the project is read as the CLI reads it: ``Pulumi.yaml`` (name, ``main``, runtime
  options, project config), ``Pulumi.<stack>.yaml`` and ``--config KEY=VALUE``, with keys
  namespaced as ``pulumi config set`` namespaces them (pkg/cmd/pulumi/config/io.go
  parseConfigKey; pkg/workspace/config.go mergeConfig);
- the program runs in its own process, on that process's main thread, under Pulumi's
  runtime settings (project, stack, dry run) and Pulumi's ``MockMonitor``
  (envkit/policy/_runner.py), with the project's interpreter: its virtualenv when it has
  one, otherwise envkit's own;
- config reaches it as the language host passes it, in ``PULUMI_CONFIG`` and
  ``PULUMI_CONFIG_SECRET_KEYS`` (sdk/python/cmd/pulumi-language-python/main.go);
- the child is bounded in time (``--timeout``) and in what it may send back; it runs in a
  process group of its own, and only that group is ever signalled.

The program is the user's code: it runs with the user's rights (without AWS credentials in
its environment), so check only projects you would run.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import stat
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import SpecError, SpecIssue
from .spawn import RESULT_LIMIT, Outcome, contained, spawn, stuck_at

DEFAULT_TIMEOUT = 180.0
MAX_TIMEOUT = 24 * 3600.0
FILE_LIMIT = 1024 * 1024  # Pulumi.yaml, Pulumi.<stack>.yaml
CONFIG_LIMIT = 96 * 1024  # PULUMI_CONFIG must fit one environment string (Linux: 128 KiB)
MESSAGE_LIMIT = 300
#: What a `secure:` config value reads as: its ciphertext cannot be decrypted offline.
SECRET_PLACEHOLDER = "envkit-offline-secret"

_STACK = re.compile(r"^[A-Za-z0-9_.-]{1,100}$")
_CREDENTIALS = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
                "AWS_SECURITY_TOKEN", "AWS_PROFILE", "AWS_DEFAULT_PROFILE",
                "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_ARN", "AWS_CONTAINER_CREDENTIALS_FULL_URI",
                "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_AUTHORIZATION_TOKEN")


@dataclass
class Project:
    """A Pulumi Python project, read and validated; everything needed to run it."""

    root: Path
    settings_file: Path
    name: str
    stack: str
    pwd: Path
    entry: str
    main_file: Path
    python: str
    interpreter: str  # how to name the interpreter in messages
    config: dict[str, str]
    secret_keys: list[str]
    region: str
    requirements: Path | None
    notes: list[str] = field(default_factory=list)


@dataclass
class ProgramRun:
    """What the program declared: resources in wire form, lookups it could not have
    answered offline."""

    project: Project
    resources: list[dict[str, Any]]
    unanswered: list[dict[str, Any]]
    #: Installed versions of the component packages the program used ({"pulumi-eks": ..}).
    packages: dict[str, str] = field(default_factory=dict)


# --- reading the project ----------------------------------------------------------------------


def _read_small(path: Path, what: str) -> str:
    """A small regular text file (never a FIFO or a device: those are refused at once)."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except FileNotFoundError:
        raise SpecError(SpecIssue("", f"no {what}", file=str(path))) from None
    except OSError as exc:
        raise SpecError(SpecIssue("", f"cannot read {what}: {exc.strerror}", file=str(path))
                        ) from None
    with os.fdopen(fd, "rb") as fh:
        info = os.fstat(fh.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise SpecError(SpecIssue("", f"{what} is not a regular file", file=str(path)))
        if info.st_size > FILE_LIMIT:
            raise SpecError(SpecIssue("", f"{what} is larger than {FILE_LIMIT // 1024} KiB",
                                      file=str(path)))
        data = fh.read(FILE_LIMIT + 1)
    if len(data) > FILE_LIMIT:
        raise SpecError(SpecIssue("", f"{what} is larger than {FILE_LIMIT // 1024} KiB",
                                  file=str(path)))
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise SpecError(SpecIssue("", f"{what} is not UTF-8 text", file=str(path))) from None


def _yaml(path: Path, what: str) -> tuple[Any, dict]:
    from ..yamlsrc import parse_yaml

    return parse_yaml(_read_small(path, what), str(path))


def _inside(path: Path, root: Path) -> bool:
    real = Path(os.path.realpath(path))
    return real == root or root in real.parents


def _line(locations: dict, *path: Any) -> int | None:
    from ..yamlsrc import _line_for

    return _line_for(tuple(path), locations)


def load_project(directory: str | os.PathLike[str], stack: str | None = None,
                 overrides: list[str] | None = None, *, install: bool = True,
                 say: Any = None, python: str | None = None) -> Project:
    """Read a project as the Pulumi CLI would for ``pulumi preview --stack STACK``, and
    prepare its environment as ``pulumi install`` would (:mod:`envkit.policy.project_env`;
    ``install=False`` refuses where that would install anything; ``python`` runs the
    program with that interpreter instead, and nothing is prepared)."""
    root = Path(os.path.realpath(directory))
    settings_file = root / "Pulumi.yaml"
    if not settings_file.exists() and (root / "Pulumi.yml").exists():
        settings_file = root / "Pulumi.yml"
    if not settings_file.exists():
        raise SpecError(SpecIssue("", "not a Pulumi project (no Pulumi.yaml)", file=str(root)))
    data, locs = _yaml(settings_file, "Pulumi.yaml")
    where = str(settings_file)

    def bad(field_: str, message: str) -> SpecError:
        return SpecError(SpecIssue(field_, message, file=where, line=_line(locs, field_)))

    if not isinstance(data, dict):
        raise bad("", "a Pulumi.yaml is a mapping (name, runtime, ...)")
    name = data.get("name")
    if not isinstance(name, str) or not _STACK.match(name):
        raise bad("name", "the project needs a name of letters, digits, '-', '_' and '.' "
                          "(at most 100)")
    runtime = data.get("runtime")
    runtime_name = runtime.get("name") if isinstance(runtime, dict) else runtime
    if runtime_name != "python":
        raise bad("runtime", f"only Python programs can be checked offline, this one is "
                             f"'{str(runtime_name)[:MESSAGE_LIMIT]}'")
    options = (runtime.get("options") if isinstance(runtime, dict) else None) or {}
    if not isinstance(options, dict):
        raise bad("runtime", "runtime.options must be a mapping")
    stack = stack or "dev"
    parts = stack.split("/")
    if len(parts) > 3 or not all(_STACK.match(p) for p in parts):
        raise SpecError(SpecIssue("--stack", f"'{stack[:MESSAGE_LIMIT]}' is not a stack name "
                                  "(letters, digits, '-', '_' and '.'; optionally "
                                  "org/project/stack)", file=where))
    stack = parts[-1]

    # main: pwd and entry point as the engine computes them (pkg/engine/project.go
    # getPwdMain): a folder runs its __main__.py from inside it; a file runs from its folder.
    main = data.get("main")
    if main is not None and not isinstance(main, str):
        raise bad("main", "main is a path")
    target = root / main if main else root
    if not _inside(target, root):
        raise bad("main", f"'{main[:MESSAGE_LIMIT]}' points outside the project folder "
                          f"{root}; only the project's own program is run")
    target = Path(os.path.realpath(target))
    if target.is_dir():
        pwd, entry, main_file = target, ".", target / "__main__.py"
    elif target.is_file():
        pwd, entry, main_file = target.parent, target.name, target
    else:
        raise bad("main", f"no program at {target}")
    if not main_file.is_file():
        raise bad("main", f"no program at {main_file}")
    if not _inside(main_file, root):
        raise bad("main", f"{main_file} is a link to a program outside the project folder "
                          f"{root}; only the project's own program is run")

    from .project_env import prepare

    env_notes: list[str] = []
    prepared = None if python is not None else \
        prepare(root, pwd, options, install=install, say=say, where=where)
    if python is not None:
        python = _given_python(python)
        interpreter, venv_note = f"{python} (--python)", None
    elif prepared is not None:
        python, interpreter, venv_note = prepared.python, prepared.interpreter, None
    else:
        python, interpreter, venv_note = _interpreter(root, options, bad)
        if python == sys.executable:
            # No environment of its own: envkit's Python, unless it lacks what the
            # project's requirements.txt pins (then a private environment, see
            # project_env.private_env).
            from .project_env import private_env

            private = private_env(root, pwd, install=install, say=say, where=where,
                                  notes=env_notes)
            if private is not None:
                python, interpreter = private.python, private.interpreter
    config, secret_keys, notes = _stack_config(root, data, locs, name, stack, overrides or [],
                                               where)
    if venv_note:
        notes.insert(0, venv_note)
    notes[:0] = env_notes
    region = config.get("aws:region")
    if not region:
        # The provider's own default (pulumi_aws/config/vars.py `region`, provider.py:
        # config, else AWS_REGION, else AWS_DEFAULT_REGION); offline there is no profile to
        # read, so the last resort is us-east-1, the region `pulumi new aws-python` offers.
        source = next((f"{name} from the environment" for name in
                       ("AWS_REGION", "AWS_DEFAULT_REGION") if os.environ.get(name)), None)
        region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") \
            or "us-east-1"
        config["aws:region"] = region  # what the program reads as aws.config.region
        source = source or "no AWS_REGION or AWS_DEFAULT_REGION either: envkit took us-east-1"
        notes.append(f"aws:region is not set for stack '{stack}'; the program ran in {region} "
                     f"({source}), the region the aws provider would take; set aws:region "
                     f"in Pulumi.{stack}.yaml or with --config aws:region=...")
    from .spawn import containment_note

    if containment_note():
        notes.append(containment_note())
    from ..lookups import region_facts

    if region_facts(region) is None:
        raise SpecError(SpecIssue("aws:region", f"unknown region '{region[:MESSAGE_LIMIT]}'",
                                  file=where))
    return Project(root=root, settings_file=settings_file, name=name, stack=stack, pwd=pwd,
                   entry=entry, main_file=main_file, python=python, interpreter=interpreter,
                   config=config, secret_keys=secret_keys, region=region,
                   requirements=_requirements(root, options), notes=notes)


def _given_python(python: str) -> str:
    """An interpreter named with ``--python``: an executable file (found on PATH if bare)."""
    import shutil

    found = shutil.which(python) if os.sep not in python else python
    if not found or not os.path.isfile(found) or not os.access(found, os.X_OK):
        raise SpecError(SpecIssue("--python", f"'{python[:MESSAGE_LIMIT]}' is not an "
                                  "executable Python interpreter"))
    return os.path.abspath(found)


def _interpreter(root: Path, options: dict[str, Any], bad: Any
                 ) -> tuple[str, str, str | None]:
    """For a project without a ``virtualenv`` option (Pulumi then runs the ambient Python):
    its ``venv/`` or ``.venv/`` when it has one, else envkit's own Python."""
    bindir = "Scripts" if os.name == "nt" else "bin"
    exe = "python.exe" if os.name == "nt" else "python"
    for candidate in ("venv", ".venv"):
        python = root / candidate / bindir / exe
        if python.exists():
            return str(python), f"the project's virtualenv ({root / candidate})", None
    return sys.executable, f"envkit's Python ({sys.executable}; the project has no " \
        "virtualenv option and no venv/ or .venv/)", None


def _requirements(root: Path, options: dict[str, Any]) -> Path | None:
    """The file that should provide the program's modules, by the project's toolchain."""
    toolchain = options.get("toolchain") or "pip"
    names = ["pyproject.toml", "requirements.txt"] if toolchain in ("poetry", "uv") \
        else ["requirements.txt", "pyproject.toml", "Pipfile", "setup.py"]
    return next((root / n for n in names if (root / n).is_file()), None)


# --- config -----------------------------------------------------------------------------------


def _key(name: str, project: str) -> str | None:
    """A config key as `pulumi config` parses it (config.ParseKey): a bare key gets the
    project's namespace; ``ns:config:key`` is the legacy spelling of ``ns:key``."""
    if ":" not in name:
        return f"{project}:{name}"
    parts = name.split(":")
    if len(parts) == 2 and all(parts):
        return name
    if len(parts) == 3 and parts[1] == "config" and parts[0] and parts[2]:
        return f"{parts[0]}:{parts[2]}"
    return None


def _text(value: Any, secret: list[bool]) -> Any:
    """A config value as the engine hands it over: strings as they are, anything else as
    JSON (config.Plaintext.marshalText); `secure:` leaves read as a placeholder."""
    if isinstance(value, dict):
        if set(value) == {"secure"} and isinstance(value["secure"], str):
            secret[0] = True
            return SECRET_PLACEHOLDER
        return {str(k): _text(v, secret) for k, v in value.items()}
    if isinstance(value, list):
        return [_text(v, secret) for v in value]
    return value


def _marshal(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))


def _small(value: Any, budget: list[int]) -> bool:
    """Whether ``value`` has at most ``budget`` nodes (YAML aliases may share nodes, so
    the walk stops as soon as the budget is spent)."""
    budget[0] -= 1
    if budget[0] < 0:
        return False
    children = value.values() if isinstance(value, dict) else \
        value if isinstance(value, list) else ()
    return all(_small(v, budget) for v in children)


def _stack_config(root: Path, project: dict[str, Any], locs: dict, name: str, stack: str,
                  overrides: list[str], where: str
                  ) -> tuple[dict[str, str], list[str], list[str]]:
    """The merged config: project defaults, then Pulumi.<stack>.yaml, then --config."""
    config: dict[str, str] = {}
    secret_keys: set[str] = set()
    notes: list[str] = []

    def put(key: str, value: Any) -> None:
        if not _small(value, [4096]):
            raise SpecError(SpecIssue(key, "this config value is too large to hand to a "
                                      "program", file=where))
        flag = [False]
        text = _marshal(_text(value, flag))
        config[key] = text
        if flag[0]:
            secret_keys.add(key)
        else:
            secret_keys.discard(key)

    folder = root
    stack_dir = project.get("stackConfigDir")
    if isinstance(stack_dir, str) and stack_dir:
        folder = root / stack_dir
        if not _inside(folder, root):
            raise SpecError(SpecIssue("stackConfigDir", "points outside the project folder",
                                      file=where, line=_line(locs, "stackConfigDir")))
    stack_file = folder / f"Pulumi.{stack}.yaml"
    stack_values: dict[str, Any] = {}
    if stack_file.exists():
        data, slocs = _yaml(stack_file, f"Pulumi.{stack}.yaml")
        if data is not None and not isinstance(data, dict):
            raise SpecError(SpecIssue("", "a stack settings file is a mapping",
                                      file=str(stack_file)))
        data = data or {}
        if data.get("environment"):
            notes.append(f"{stack_file.name} imports Pulumi ESC environments; their values "
                         "are not available offline")
        raw = data.get("config") or {}
        if not isinstance(raw, dict):
            raise SpecError(SpecIssue("config", "config is a mapping", file=str(stack_file),
                                      line=_line(slocs, "config")))
        for k, v in raw.items():
            key = _key(str(k), name) if ":" in str(k) else None
            if key is None:
                raise SpecError(SpecIssue(f"config.{k}", "configuration keys should be of the "
                                          "form `<namespace>:<name>`", file=str(stack_file),
                                          line=_line(slocs, "config", k)))
            stack_values[key] = v

    # Project config (pkg/workspace/config.go mergeConfig): a shorthand value is the default
    # of a project key or the value of another namespace's key; `default` wins over `value`;
    # a project key with neither must be set for the stack.
    missing = []
    declared = project.get("config") or {}
    if isinstance(declared, dict):
        for k in sorted(declared, key=str):
            spec = declared[k]
            key = _key(str(k), name)
            if key is None:
                raise SpecError(SpecIssue(f"config.{k}", "configuration keys should be of the "
                                          "form `<namespace>:<name>`", file=where,
                                          line=_line(locs, "config", k)))
            if key in stack_values:
                continue
            if isinstance(spec, dict) and ("default" in spec or "value" in spec):
                put(key, spec["default"] if "default" in spec else spec["value"])
            elif isinstance(spec, (str, int, float, bool, list)):
                put(key, spec)
            elif key.startswith(f"{name}:"):
                missing.append(str(k))
    for key, value in stack_values.items():
        put(key, value)
    for item in overrides:
        k, sep, v = item.partition("=")
        key = _key(k, name) if k else None
        if not sep or key is None:
            raise SpecError(SpecIssue("--config", "expected KEY=VALUE (a stack config value "
                                      "such as aws:region=eu-west-1), got "
                                      f"'{item[:MESSAGE_LIMIT]}'; the policy pack's config "
                                      "file is --policy-config", file=where))
        put(key, v)
    missing = [m for m in missing if _key(m, name) not in config]
    if missing:
        one = len(missing) == 1
        raise SpecError(SpecIssue("config", f"stack '{stack}' is missing configuration "
                                  f"{'value' if one else 'values'}: {', '.join(missing)} "
                                  f"(set {'it' if one else 'them'} in "
                                  f"{stack_file.name} or with --config KEY=VALUE)",
                                  file=where))
    total = len(json.dumps(config))
    if total > CONFIG_LIMIT:
        raise SpecError(SpecIssue("config", f"the stack config is too large to hand to a "
                                  f"program ({total} bytes, more than "
                                  f"{CONFIG_LIMIT // 1024} KiB)", file=where))
    return config, sorted(secret_keys), notes


# --- running ----------------------------------------------------------------------------------


def run_program(project: Project, timeout: float = DEFAULT_TIMEOUT, debug: bool = False
                ) -> ProgramRun:
    """Run the project's program in a child process and collect what it declared.

    Raises SpecError (exit 2) whenever the program does not return normally."""
    from importlib import resources

    from ..lookups import gather_facts

    if not 0 < timeout <= MAX_TIMEOUT:
        raise SpecError(SpecIssue("--timeout", f"expected seconds above 0 and up to "
                                  f"{MAX_TIMEOUT:g}", file=str(project.root)))
    lookups_file = resources.files("envkit") / "lookups.py"
    runner_file = resources.files("envkit.policy") / "_runner.py"
    shapes_file = resources.files("envkit.policy") / "_shapes.py"
    facts = gather_facts()
    with resources.as_file(runner_file) as runner, resources.as_file(lookups_file) as lookups, \
            resources.as_file(shapes_file) as shapes:
        read_end, write_end = os.pipe()
        job = {"project": project.name, "stack": project.stack,
               "root": str(project.root), "pwd": str(project.pwd), "entry": project.entry,
               "region": project.region, "facts": facts, "lookups_path": str(lookups),
               "shapes_path": str(shapes),
               "result_fd": write_end, "result_limit": RESULT_LIMIT,
               "message_limit": MESSAGE_LIMIT}
        outcome = spawn([*contained(), project.python, str(runner)], _environment(project),
                         json.dumps(job).encode() + b"\n", project.pwd, write_end, read_end,
                         timeout)
    return _interpret(project, outcome, timeout, debug)


def _environment(project: Project) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in _CREDENTIALS and not k.startswith("PULUMI_CONFIG")}
    # Offline means offline: no credentials, no credential files, no instance metadata.
    env.update(AWS_SHARED_CREDENTIALS_FILE=os.devnull, AWS_CONFIG_FILE=os.devnull,
               AWS_EC2_METADATA_DISABLED="true", PYTHONDONTWRITEBYTECODE="1",
               PYTHONUNBUFFERED="1",
               PULUMI_CONFIG=json.dumps(project.config),
               PULUMI_CONFIG_SECRET_KEYS=json.dumps(project.secret_keys))
    if not env.get("AWS_REGION") and not env.get("AWS_DEFAULT_REGION"):
        # A pipeline that deploys to AWS has its region in the environment, and programs
        # read it there (pulumi-eks's aws-profile example: "AWS_REGION must be set"): the
        # stack's region, the one the provider runs in.
        env["AWS_REGION"] = project.region
    return env


# --- what happened ----------------------------------------------------------------------------


def inert(text: str) -> str:
    """Program-controlled text made safe to print: control characters (terminal escapes)
    shown as escapes, line breaks kept."""
    return "".join(ch if ch.isprintable() or ch == "\n" else ch.encode("unicode_escape").decode()
                   for ch in text)



def _interpret(project: Project, outcome: Outcome, timeout: float, debug: bool
               ) -> ProgramRun:
    main = project.main_file

    def fail(message: str, where: dict[str, Any] | None = None, details: str = "") -> SpecError:
        file, line = str(main), None
        if where:
            file, line = str(project.root / where["file"]), where.get("line")
        text = f"the program did not finish: {inert(message)}"
        if debug:
            extra = [inert(details.rstrip())] if details else []
            for name in ("stdout", "stderr"):
                tail = getattr(outcome, name).decode("utf-8", "replace").rstrip()
                if tail:
                    extra.append(f"program {name} (last lines):\n{inert(tail[-4000:])}")
            if extra:
                text += "\n" + "\n".join(extra)
        return SpecError(SpecIssue("", text, file=file, line=line))

    if outcome.timed_out:
        raise fail(f"still running after {timeout:g} s (--timeout); it was stopped",
                   stuck_at(outcome.stderr, project.root))
    if outcome.too_large:
        raise fail(f"it declared more than {RESULT_LIMIT // (1024 * 1024)} MiB of resources")
    try:
        document = json.loads(outcome.result) if outcome.result else None
    except ValueError:
        document = None
    status = document.get("status") if isinstance(document, dict) else None
    if status == "failed":
        if document.get("kind") == "missing-module":
            raise _missing_module(project, str(document.get("module") or "?"),
                                  document.get("where"))
        message = str(document.get("message") or "")[:MESSAGE_LIMIT * 2]
        if document.get("kind") == "sdk-unusable":
            first = inert(message.splitlines()[0]) if message else ""
            raise SpecError(SpecIssue(
                "", f"the pulumi SDK in {project.interpreter} (pulumi "
                f"{str(document.get('version'))[:40]}) cannot be imported on Python "
                f"{str(document.get('python'))[:20]}: {first}; the gate runs "
                "programs on pulumi 3.x SDKs, as current Pulumi CLIs do",
                file=str(project.settings_file)))
        if document.get("kind") == "exception":
            message = f"{document.get('exception')}: {message}"
        elif document.get("kind") == "signal":
            message = f"it was ended by {_signal_name(int(document.get('signal') or 0))}"
        elif document.get("kind") == "too-large":
            message = message or "it declared too much"
        raise fail(message, document.get("where"), str(document.get("traceback") or ""))
    if status != "ok" or outcome.returncode != 0:
        code = outcome.returncode
        if code is not None and code < 0:
            raise fail(f"it was ended by {_signal_name(-code)}")
        raise fail(f"the process exited with status {code} before the program returned "
                   "(os._exit or a crash)")
    resources = document.get("resources")
    unanswered = document.get("unanswered")
    if not isinstance(resources, list) or not isinstance(unanswered, list):
        raise fail("its report was malformed")
    packages = document.get("packages")
    packages = {str(k)[:100]: str(v)[:40] for k, v in packages.items()} \
        if isinstance(packages, dict) else {}
    return ProgramRun(project=project, resources=resources, unanswered=unanswered,
                      packages=packages)


def component_note(type_: str, name: str, file: str | None, line: int | None,
                   reason: str | None = None, expanded: str | None = None,
                   inside: int = 0, implementation: str | None = None,
                   unknowns: list[str] | None = None) -> dict[str, Any]:
    """The note for a multi-language component (registered with ``remote=True``): under
    mocks it registers and creates nothing inside, because its plugin builds its
    resources, so none of them is evaluated (``reason`` says why the gate could not
    expand it), unless the gate ``expanded`` it (how; with ``implementation``, e.g.
    "@pulumi/eks 2.8.1"), finding ``inside`` resources (``unknowns``: values left unknown
    inside it)."""
    from ..limits import plural

    type_, name = inert(type_[:200]), inert(name[:200])
    package = type_.split(":", 1)[0]
    if expanded:
        return {"kind": "component", "type": type_, "name": name, "evaluated": True,
                "expanded_with": implementation,
                "message": f"{type_} '{name}' was {expanded}: "
                           f"{plural(inside, 'resource')} it creates "
                           f"{'is' if inside == 1 else 'are'} checked as the program's own"
                           + (f"; left unknown, as a preview that cannot know them: "
                              f"{'; '.join(inert(u) for u in unknowns)}" if unknowns else ""),
                "file": file, "line": line}
    why = f"; {inert(reason[:600])}" if reason else ""
    return {"kind": "component", "type": type_, "name": name, "evaluated": False,
            "message": f"{type_} '{name}' is not evaluated: it is a multi-language component, "
                       f"whose resources the {package} plugin creates; offline it creates "
                       f"none, so nothing inside it is checked{why}",
            "file": file, "line": line}


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def _missing_module(project: Project, module: str, where: dict[str, Any] | None) -> SpecError:
    top = module.split(".")[0]
    dist = top.replace("_", "-").lower()
    req = project.requirements
    if req is None:
        provide = ("no requirements.txt or pyproject.toml in the project declares it; add "
                   f"{dist} to requirements.txt")
    else:
        text = ""
        with contextlib.suppress(SpecError):
            text = _read_small(req, req.name).lower().replace("_", "-")
        listed = re.search(rf"(^|[\s\"'\[,]){re.escape(dist)}([\s<>=!~;\[\]\"',]|$)", text,
                           re.M)
        how = f"pip install -r {req.name}" if req.name == "requirements.txt" else \
            "pip install ., poetry install or uv sync"
        if listed:
            provide = f"{req.name} lists {dist}: install the project's requirements ({how})"
        else:
            provide = f"{req.name} does not list {dist}: add it there and install ({how})"
    file = str(project.root / where["file"]) if where else str(project.main_file)
    line = where.get("line") if where else None
    return SpecError(SpecIssue("", f"the program needs the module "
                                   f"'{inert(module[:MESSAGE_LIMIT])}', "
                                   f"which is not installed in {project.interpreter}; "
                                   f"{provide}", file=file, line=line))
