"""A class run by CI: one GitHub Actions (or GitLab CI) workflow file per operation.

``envkit class workflow`` writes a file that runs a class on the runners a teacher already
has: one job for the shared stack, then a matrix (GitHub) or ``parallel: N`` (GitLab) of
shard numbers, each running ``envkit class up LAB --students i/N``, then a job that reports
``envkit class status --json``. Only shard numbers, the spec's path and the class's name are
in the file: the roster is read at run time (from the repository's spec, or from the
backend's bucket with ``roster: {csv: s3://...}``), credentials come through OIDC, the
passphrase from a secret and the backend URL from a variable.

The platforms' own limits are checked here, because their schemas do not: GitHub's
workflow schema accepts a 300-job matrix. Every limit carries the page that states it.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import UsageError
from .oidc import trust_policy as trust_policy  # part of this module's API

# --- the platforms' limits ---------------------------------------------------------------------

GITHUB_LIMITS_URL = "https://docs.github.com/en/actions/reference/limits"
GITHUB_SYNTAX_URL = ("https://docs.github.com/en/actions/reference/workflows-and-actions/"
                     "workflow-syntax")
GITLAB_PARALLEL_URL = "https://docs.gitlab.com/ci/yaml/#parallel"


@dataclass(frozen=True)
class Limit:
    """A platform limit: its value, what it bounds and the page that states it."""

    value: int
    what: str
    source: str

    def refuse(self, option: str, given: Any) -> UsageError:
        """The exit-2 error for a value over this limit."""
        return UsageError(f"{option} {given} is over the limit: {self.what} is at most "
                          f"{self.value} ({self.source})")


#: "A job matrix can generate a maximum of 256 jobs per workflow run."
GITHUB_MATRIX = Limit(256, "a GitHub Actions matrix (jobs per workflow run)",
                      f"{GITHUB_LIMITS_URL}#existing-system-limits")
#: ``parallel: N`` takes 1 to 200 (also the maximum of check-jsonschema's gitlab-ci schema).
GITLAB_PARALLEL = Limit(200, "GitLab CI's parallel: N", GITLAB_PARALLEL_URL)
#: ``on.workflow_dispatch.inputs`` takes at most 25 inputs.
GITHUB_DISPATCH_INPUTS = Limit(25, "workflow_dispatch inputs",
                               f"{GITHUB_SYNTAX_URL}#onworkflow_dispatchinputs")
#: Each job on a GitHub-hosted runner runs for at most 6 hours.
GITHUB_JOB_MINUTES = Limit(360, "a job on a GitHub-hosted runner (minutes)",
                           f"{GITHUB_LIMITS_URL}#job-execution-time-limit")
#: Concurrent jobs on GitHub-hosted standard runners, per plan.
GITHUB_PLANS: dict[str, Limit] = {
    plan: Limit(value, f"concurrent jobs on GitHub-hosted runners on the {label} plan",
                f"{GITHUB_LIMITS_URL}#job-concurrency-limits-for-github-hosted-runners")
    for plan, label, value in (("free", "Free", 20), ("pro", "Pro", 40), ("team", "Team", 60),
                               ("enterprise", "Enterprise", 500))}

#: Actions pinned by commit, at releases whose runtime (node24) GitHub supports; the
#: commits are those of the tags named beside them in each action's repository.
ACTIONS: dict[str, tuple[str, str]] = {
    "checkout": ("actions/checkout@3d3c42e5aac5ba805825da76410c181273ba90b1", "v7.0.1"),
    "setup-python": ("actions/setup-python@5fda3b95a4ea91299a34e894583c3862153e4b97",
                     "v7.0.0"),
    "aws-credentials": ("aws-actions/configure-aws-credentials@"
                        "e6de054238d6b7531b4efff3b6587d9aade6a06c", "v6.2.3"),
}

CIS = ("github", "gitlab")
OPERATIONS = ("up", "down", "reap")
#: Seconds a runner takes before envkit starts: checkout, Python, pip, the Pulumi CLI.
JOB_SETUP_SECONDS = 90
#: A student stack's ``up`` when no deployment of this class was recorded yet (the issue's
#: figure: minutes of waiting on AWS per stack).
ASSUMED_STACK_SECONDS = 240
#: Stacks one shard runs at once: each is a Pulumi CLI plus the aws plugin (300 to 500 MB),
#: and a private repository's hosted runner has 2 CPUs and 7 GB.
JOB_PARALLEL = 4
PYTHON_VERSION = "3.12"
#: The names of the repository variables and secret the file reads (set them in Settings).
VAR_BACKEND = "ENVKIT_BACKEND_URL"
VAR_ROLE = "ENVKIT_AWS_ROLE_ARN"
SECRET_PASSPHRASE = "ENVKIT_PASSPHRASE"

_REQUIREMENT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-\[\],=<>!~ ]{0,199}$")
_CRON = re.compile(r"^[0-9*/,\- ]{9,80}$")
_SAFE_PATH = re.compile(r"^[A-Za-z0-9_./-]{1,300}$")


def parse_whole(value: Any, option: str, limit: Limit | None = None, minimum: int = 1) -> int:
    """``value`` as a whole number from ``minimum`` to the limit (exit 2 naming the limit
    and its source otherwise)."""
    text = str(value).strip()
    bound = f" to {limit.value} ({limit.what}, {limit.source})" if limit else ""
    if not (text.isascii() and text.isdigit() and len(text) <= 6):
        raise UsageError(f"{option} must be a whole number from {minimum}{bound}, "
                         f"not '{text[:40]}'")
    number = int(text)
    if number < minimum:
        raise UsageError(f"{option} must be at least {minimum}{bound}")
    if limit is not None and number > limit.value:
        raise limit.refuse(option, number)
    return number


# --- sizes and wall time -----------------------------------------------------------------------


@dataclass
class Sizing:
    """How a class is spread over CI jobs, and how long that takes."""

    students: int
    shards: int
    max_parallel: int
    job_parallel: int
    stack_seconds: float
    stack_seconds_source: str
    plan: str | None
    setup_seconds: int = JOB_SETUP_SECONDS

    @property
    def per_shard(self) -> int:
        """Students in the largest shard."""
        return math.ceil(self.students / self.shards) if self.shards else 0

    @property
    def shard_seconds(self) -> float:
        """One shard job: set-up, then its students in waves of ``job_parallel``."""
        return self.setup_seconds + math.ceil(self.per_shard / self.job_parallel) * \
            self.stack_seconds

    @property
    def rounds(self) -> int:
        """How many times the runners fill up: shards / max-parallel."""
        return math.ceil(self.shards / self.max_parallel)

    @property
    def wall_seconds(self) -> float:
        """Shared stack, then the shard rounds, then the status job."""
        return (self.setup_seconds + self.stack_seconds) + self.rounds * self.shard_seconds \
            + self.setup_seconds

    @property
    def timeout_minutes(self) -> int:
        """A shard job's timeout: twice its estimate plus ten minutes (AWS is slow some
        days), within the platform's job limit."""
        return min(GITHUB_JOB_MINUTES.value, math.ceil(2 * self.shard_seconds / 60) + 10)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {"students": self.students, "shards": self.shards,
                "max_parallel": self.max_parallel, "job_parallel": self.job_parallel,
                "students_per_shard": self.per_shard, "rounds": self.rounds,
                "stack_seconds": self.stack_seconds, "stack_seconds_source":
                self.stack_seconds_source, "job_setup_seconds": self.setup_seconds,
                "shard_seconds": round(self.shard_seconds), "timeout_minutes":
                self.timeout_minutes, "wall_seconds": round(self.wall_seconds),
                "plan": self.plan}

    def line(self) -> str:
        """The planned wall time, said in one sentence."""
        at_once = min(self.shards, self.max_parallel) * self.job_parallel
        return (f"planned wall time about {self.wall_seconds / 60:.0f} min: the shared stack, "
                f"then {self.shards} shard jobs of up to {self.per_shard} students, "
                f"{self.max_parallel} jobs at once ({self.rounds} "
                f"round{'s' if self.rounds != 1 else ''}), {self.job_parallel} stacks per job "
                f"(at most {at_once} stacks at once in the account), "
                f"{self.stack_seconds:g} s per stack ({self.stack_seconds_source}), "
                f"{self.setup_seconds} s set-up per job")


def size(students: int, ci: str, *, shards: Any = None, max_parallel: Any = None,
         plan: str | None = None, job_parallel: int = JOB_PARALLEL,
         stack_seconds: float | None = None, recorded_seconds: float | None = None) -> Sizing:
    """Choose (or check) the shard count and max-parallel for ``students`` students.

    Defaults: as many jobs at once as the plan allows (GitHub Free unless told), and one
    shard per job slot so every shard runs in the first round, but no fewer than
    ``job_parallel`` students per shard; never more shards than the platform's matrix
    allows. A shard estimated to outrun the job
    time limit is refused with the way forward.
    """
    if ci not in CIS:
        raise UsageError(f"--ci must be one of {', '.join(CIS)}, not '{str(ci)[:40]}'")
    if students < 1:
        raise UsageError("the class has no students")
    matrix = GITHUB_MATRIX if ci == "github" else GITLAB_PARALLEL
    if ci == "gitlab" and (plan is not None or max_parallel is not None):
        raise UsageError("--plan and --max-parallel are for GitHub Actions: GitLab has no "
                         "max-parallel for parallel jobs; the runners' `concurrent` setting "
                         f"bounds them ({GITLAB_PARALLEL_URL})")
    chosen_plan = None
    if ci == "github":
        chosen_plan = (plan or "free").lower()
        if chosen_plan not in GITHUB_PLANS:
            raise UsageError(f"--plan must be one of {', '.join(GITHUB_PLANS)}, "
                             f"not '{str(plan)[:40]}'")
        cap = GITHUB_PLANS[chosen_plan]
        parallel = parse_whole(max_parallel, "--max-parallel", cap) \
            if max_parallel is not None else min(cap.value, matrix.value)
    else:
        parallel = matrix.value
    if shards is not None:
        count = parse_whole(shards, "--shards", matrix)
        if count > students:
            raise UsageError(f"--shards {count} is more than the class's {students} students: "
                             "a shard would have nobody to deploy")
    else:
        # A job runs job_parallel stacks at once, so fewer students than that per shard
        # only adds runner set-up.
        count = max(1, min(math.ceil(students / max(1, job_parallel)), parallel, matrix.value))
    parallel = min(parallel, count)
    if stack_seconds is not None:
        seconds, source = float(stack_seconds), "given"
    elif recorded_seconds:
        seconds, source = float(recorded_seconds), "median of recorded deployments"
    else:
        seconds, source = float(ASSUMED_STACK_SECONDS), "assumed; none recorded yet"
    sizing = Sizing(students, count, parallel, max(1, job_parallel), seconds, source,
                    chosen_plan)
    if 2 * sizing.shard_seconds / 60 + 10 > GITHUB_JOB_MINUTES.value and ci == "github":
        raise UsageError(
            f"a shard of {sizing.per_shard} students takes about "
            f"{sizing.shard_seconds / 60:.0f} min, too close to the limit of "
            f"{GITHUB_JOB_MINUTES.value} min for {GITHUB_JOB_MINUTES.what} "
            f"({GITHUB_JOB_MINUTES.source}): give more --shards")
    return sizing


# --- the files ---------------------------------------------------------------------------------


@dataclass
class WorkflowRequest:
    """What to generate: which CI, which operation, for which class and spec path."""

    ci: str
    operation: str
    class_name: str
    spec_path: str
    region: str
    sizing: Sizing | None
    requirement: str
    schedule: str = "17 * * * *"
    branch: str | None = None
    environment: str | None = None


def default_output(ci: str, operation: str, class_name: str) -> str:
    """The platform's usual path for the file."""
    if ci == "github":
        suffix = "" if operation == "up" else f"-{operation}"
        return f".github/workflows/envkit-{class_name}{suffix}.yml"
    return ".gitlab-ci.yml" if operation == "up" else \
        f".gitlab/envkit-{class_name}-{operation}.yml"


def check_request(request: WorkflowRequest) -> None:
    """Refuse values that would be written into the file unless they are plain."""
    if request.ci not in CIS:
        raise UsageError(f"--ci must be one of {', '.join(CIS)}")
    if request.operation not in OPERATIONS:
        raise UsageError(f"--operation must be one of {', '.join(OPERATIONS)}")
    if not _REQUIREMENT.match(request.requirement):
        raise UsageError(f"--pip '{request.requirement[:60]}' is not a plain pip requirement "
                         "(letters, digits and . _ - [ ] , = < > ! ~ only)")
    if not _SAFE_PATH.match(request.spec_path) or ".." in Path(request.spec_path).parts:
        raise UsageError(f"the spec path '{request.spec_path[:80]}' must be inside the "
                         "repository and use letters, digits and . _ - / only")
    if request.operation == "reap" and not _CRON.match(request.schedule):
        raise UsageError(f"--schedule '{request.schedule[:60]}' is not a cron expression "
                         "(five fields of digits, * / , -)")
    if request.operation == "reap" and len(request.schedule.split()) != 5:
        raise UsageError(f"--schedule '{request.schedule[:60]}' needs five cron fields")


def _shard_command(request: WorkflowRequest, shard: str, total: str) -> str:
    sizing = request.sizing
    assert sizing is not None
    verb = "up" if request.operation == "up" else "down"
    return (f'envkit class {verb} "$ENVKIT_SPEC" --students "{shard}/{total}" '
            f"--parallel {sizing.job_parallel} --yes --json")


def _lock_release(shard: str, total: str) -> str:
    return f'envkit class cancel "$ENVKIT_SPEC" --students "{shard}/{total}" --yes --json'


def _uses(key: str) -> str:
    return ACTIONS[key][0]


def _github_setup(request: WorkflowRequest, session: str, minutes: int) -> list[dict[str, Any]]:
    return [
        {"name": "Check out the repository (for the spec; no token is kept)",
         "uses": _uses("checkout"), "with": {"persist-credentials": False}},
        {"uses": _uses("setup-python"), "with": {"python-version": PYTHON_VERSION}},
        {"name": "Install envkit and the Pulumi CLI",
         "run": 'python -m pip install --quiet "$ENVKIT_PIP"\nenvkit install-pulumi'},
        {"name": "AWS credentials through OIDC", "uses": _uses("aws-credentials"),
         "with": {"role-to-assume": f"${{{{ vars.{VAR_ROLE} }}}}",
                  "aws-region": request.region, "role-session-name": session,
                  "role-duration-seconds": min(43200, max(3600, minutes * 60)),
                  "mask-aws-account-id": True}},
    ]


def github_workflow(request: WorkflowRequest) -> dict[str, Any]:
    """The GitHub Actions workflow as a document."""
    name = request.class_name
    env = {"ENVKIT_SPEC": request.spec_path, "ENVKIT_PIP": request.requirement,
           "PULUMI_BACKEND_URL": f"${{{{ vars.{VAR_BACKEND} }}}}",
           "PULUMI_CONFIG_PASSPHRASE": f"${{{{ secrets.{SECRET_PASSPHRASE} }}}}",
           # The same value under envkit's own name: envkit releases before the
           # passphrase precedence of Pulumi replaced PULUMI_CONFIG_PASSPHRASE with it.
           "ENVKIT_PASSPHRASE": f"${{{{ secrets.{SECRET_PASSPHRASE} }}}}",
           "PULUMI_SKIP_UPDATE_CHECK": "true"}
    doc: dict[str, Any] = {"name": f"envkit class {request.operation}: {name}"}
    if request.operation == "reap":
        doc["on"] = {"schedule": [{"cron": request.schedule}], "workflow_dispatch": None}
        doc["permissions"] = {"contents": "read", "id-token": "write"}
        doc["concurrency"] = {"group": "envkit-reap", "cancel-in-progress": False}
        doc["env"] = env
        steps = _github_setup(request, "envkit-reap", 120)
        steps.append({"name": "Destroy expired environments",
                      "run": 'envkit reap "$ENVKIT_SPEC" --yes --json > "$RUNNER_TEMP/reap.json"'
                             '\nstatus=$?\n{ echo "## envkit reap"; echo; echo \'```json\'; '
                             'cat "$RUNNER_TEMP/reap.json"; echo \'```\'; } >> '
                             '"$GITHUB_STEP_SUMMARY"\nexit $status',
                      "shell": "bash {0}"})
        doc["jobs"] = {"reap": {"name": "reap expired environments", "runs-on": "ubuntu-latest",
                                "timeout-minutes": 120, "steps": steps}}
        return doc
    sizing = request.sizing
    assert sizing is not None
    inputs: dict[str, Any] = {}
    if request.operation == "down":
        inputs["confirm"] = {"description": f"Type the class name ({name}) to destroy it",
                             "required": True, "type": "string"}
    doc["on"] = {"workflow_dispatch": {"inputs": inputs} if inputs else None}
    doc["permissions"] = {"contents": "read", "id-token": "write"}
    # One group per class: an up and a down of the same class never run at once; a second
    # run waits for the first instead of cancelling it halfway.
    doc["concurrency"] = {"group": f"envkit-class-{name}", "cancel-in-progress": False}
    doc["env"] = env
    shard_minutes = sizing.timeout_minutes
    guard = {"if": f"inputs.confirm == '{name}'"} if request.operation == "down" else {}
    shared_steps = _github_setup(request, f"envkit-{name}-shared", 60)
    if request.operation == "up":
        shared_steps.append({"name": "Create or update the shared stack",
                             "run": 'envkit class up "$ENVKIT_SPEC" --shared-only --yes --json'})
    else:
        shared_steps.append({"name": "Destroy the shared stack (after every student)",
                             "run": 'envkit class down "$ENVKIT_SPEC" --shared-only --yes '
                                    "--json"})
    shared_steps.append({"name": "Release the shared stack's lock (cancelled or failed)",
                         "if": "cancelled() || failure()", "timeout-minutes": 10,
                         "run": 'envkit class cancel "$ENVKIT_SPEC" --shared-only --yes --json'})
    shard = "${{ matrix.shard }}"
    shard_steps = _github_setup(request, f"envkit-{name}-shard", shard_minutes)
    total = str(sizing.shards)
    shard_steps += [
        {"name": f"Students of shard {shard}/{total}", "env": {"SHARD": shard},
         # The step ends before the job does, so the lock release below still runs.
         "timeout-minutes": max(5, shard_minutes - 10),
         "run": _shard_command(request, "$SHARD", total)},
        {"name": "Release this shard's stack locks (cancelled or failed)",
         "if": "cancelled() || failure()", "env": {"SHARD": shard}, "timeout-minutes": 10,
         "run": _lock_release("$SHARD", total)},
    ]
    shards_job = {"name": f"students {shard}/{total}", "runs-on": "ubuntu-latest",
                  "timeout-minutes": shard_minutes,
                  "strategy": {"fail-fast": False, "max-parallel": sizing.max_parallel,
                               "matrix": {"shard": list(range(1, sizing.shards + 1))}},
                  "steps": shard_steps}
    shared_job = {"name": "shared stack", "runs-on": "ubuntu-latest", "timeout-minutes": 60,
                  "steps": shared_steps}
    status_steps = _github_setup(request, f"envkit-{name}-status", 30)
    status_steps.append({
        "name": "Class status into the job summary", "shell": "bash {0}",
        "run": 'envkit class status "$ENVKIT_SPEC" --json > "$RUNNER_TEMP/status.json"\n'
               'status=$?\n{ echo "## envkit class status: $ENVKIT_CLASS"; echo; '
               "echo '```json'; cat \"$RUNNER_TEMP/status.json\"; echo '```'; } >> "
               '"$GITHUB_STEP_SUMMARY"\nexit $status',
        "env": {"ENVKIT_CLASS": name}})
    if request.operation == "up":
        jobs = {"shared": {**shared_job, **guard},
                "students": {**shards_job, "needs": "shared"},
                "status": {"name": "class status", "runs-on": "ubuntu-latest",
                           "timeout-minutes": 30, "needs": ["shared", "students"],
                           "if": "always()", "steps": status_steps}}
    else:
        jobs = {"students": {**shards_job, **guard},
                "shared": {**shared_job, "needs": "students"},
                "status": {"name": "class status", "runs-on": "ubuntu-latest",
                           "timeout-minutes": 30, "needs": ["students", "shared"],
                           "if": f"always() && inputs.confirm == '{name}'",
                           "steps": status_steps}}
    doc["jobs"] = jobs
    return doc


_GITLAB_TOKEN_FILE = "/tmp/envkit-aws-web-identity-token"
_GITLAB_CREDENTIALS = [
    # The AWS SDKs (boto3, and pulumi-aws's Go SDK) assume the role themselves from
    # AWS_ROLE_ARN + AWS_WEB_IDENTITY_TOKEN_FILE: no long-lived key, nothing printed.
    "umask 077",
    f'printf "%s" "$ENVKIT_AWS_ID_TOKEN" > {_GITLAB_TOKEN_FILE}',
    f"export AWS_WEB_IDENTITY_TOKEN_FILE={_GITLAB_TOKEN_FILE}",
    'export AWS_ROLE_SESSION_NAME="envkit-$CI_JOB_ID"',
]


def gitlab_pipeline(request: WorkflowRequest) -> dict[str, Any]:
    """The GitLab CI pipeline as a document."""
    name = request.class_name
    variables = {"ENVKIT_SPEC": request.spec_path, "ENVKIT_PIP": request.requirement,
                 "AWS_REGION": request.region, "AWS_ROLE_ARN": f"${VAR_ROLE}",
                 "PULUMI_BACKEND_URL": f"${VAR_BACKEND}", "PULUMI_SKIP_UPDATE_CHECK": "true",
                 # As on GitHub: the passphrase under envkit's name too, for older envkits.
                 "ENVKIT_PASSPHRASE": "$PULUMI_CONFIG_PASSPHRASE"}
    base = {"image": f"python:{PYTHON_VERSION}-slim", "interruptible": False,
            "id_tokens": {"ENVKIT_AWS_ID_TOKEN": {"aud": "sts.amazonaws.com"}},
            "before_script": [*_GITLAB_CREDENTIALS,
                              'python -m pip install --quiet "$ENVKIT_PIP"',
                              "envkit install-pulumi"]}
    source = "schedule" if request.operation == "reap" else "web"
    doc: dict[str, Any] = {
        "workflow": {"rules": [{"if": f'$CI_PIPELINE_SOURCE == "{source}"'}]},
        "variables": variables, ".envkit": base}
    if request.operation == "reap":
        doc["stages"] = ["reap"]
        doc["reap"] = {"extends": ".envkit", "stage": "reap", "timeout": "2h",
                       "resource_group": "envkit-reap",
                       "script": ['envkit reap "$ENVKIT_SPEC" --yes --json']}
        return doc
    sizing = request.sizing
    assert sizing is not None
    index, total = "${CI_NODE_INDEX:-1}", "${CI_NODE_TOTAL:-1}"
    shards = {"extends": ".envkit", "stage": "students", "parallel": sizing.shards,
              "timeout": f"{sizing.timeout_minutes} minutes",
              "script": [_shard_command(request, index, total)],
              # after_script runs in a new shell, also when the job is cancelled or fails.
              "after_script": [
                  *_GITLAB_CREDENTIALS,
                  'if [ "$CI_JOB_STATUS" != "success" ]; then '
                  + _lock_release(index, total) + "; fi"]}
    verb = "up" if request.operation == "up" else "down"
    shared = {"extends": ".envkit", "stage": "shared", "timeout": "60 minutes",
              # Two pipelines of this class never work on the shared stack at once.
              "resource_group": f"envkit-class-{name}",
              "script": [f'envkit class {verb} "$ENVKIT_SPEC" --shared-only --yes --json']}
    status = {"extends": ".envkit", "stage": "status", "when": "always",
              "timeout": "30 minutes",
              "script": ['envkit class status "$ENVKIT_SPEC" --json']}
    if request.operation == "up":
        doc["stages"] = ["shared", "students", "status"]
        doc.update({"shared": shared, "students": shards, "status": status})
    else:
        doc["stages"] = ["students", "shared", "status"]
        doc.update({"students": shards, "shared": {**shared, "stage": "shared"},
                    "status": status})
    return doc


def check_limits(doc: dict[str, Any], ci: str, plan: str | None = None) -> None:
    """envkit's own check of a generated (or hand-edited) document against the limits the
    platforms' schemas do not enforce; exit 2 naming the limit and its source."""
    if ci == "github":
        on = doc.get("on") or {}
        dispatch = on.get("workflow_dispatch") if isinstance(on, dict) else None
        inputs = (dispatch or {}).get("inputs") or {}
        if len(inputs) > GITHUB_DISPATCH_INPUTS.value:
            raise GITHUB_DISPATCH_INPUTS.refuse("workflow_dispatch inputs:", len(inputs))
        cap = GITHUB_PLANS[plan or "free"]
        for job_name, job in (doc.get("jobs") or {}).items():
            strategy = job.get("strategy") or {}
            matrix = strategy.get("matrix") or {}
            combos = 1
            for key, values in matrix.items():
                if key not in ("include", "exclude") and isinstance(values, list):
                    combos *= len(values)
            combos += len(matrix.get("include") or []) if isinstance(matrix, dict) else 0
            if matrix and combos > GITHUB_MATRIX.value:
                raise GITHUB_MATRIX.refuse(f"jobs.{job_name} matrix of", combos)
            limit = strategy.get("max-parallel")
            if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool)):
                raise UsageError(f"jobs.{job_name}.strategy.max-parallel must be a whole "
                                 f"number, not {limit!r} ({GITHUB_SYNTAX_URL}"
                                 "#jobsjob_idstrategymax-parallel)")
            if isinstance(limit, int) and limit > cap.value:
                raise cap.refuse(f"jobs.{job_name}.strategy.max-parallel", limit)
            minutes = job.get("timeout-minutes")
            if isinstance(minutes, int) and minutes > GITHUB_JOB_MINUTES.value:
                raise GITHUB_JOB_MINUTES.refuse(f"jobs.{job_name}.timeout-minutes", minutes)
    else:
        for job_name, job in doc.items():
            if not isinstance(job, dict) or "parallel" not in job:
                continue
            value = job["parallel"]
            if not isinstance(value, int) or isinstance(value, bool):
                raise UsageError(f"{job_name}.parallel must be a whole number, not {value!r} "
                                 f"({GITLAB_PARALLEL_URL})")
            if not 1 <= value <= GITLAB_PARALLEL.value:
                raise GITLAB_PARALLEL.refuse(f"{job_name}.parallel", value)


def render(request: WorkflowRequest) -> tuple[str, dict[str, Any]]:
    """The file's text and its document, limits checked."""
    import yaml

    check_request(request)
    doc = github_workflow(request) if request.ci == "github" else gitlab_pipeline(request)
    check_limits(doc, request.ci, request.sizing.plan if request.sizing else None)

    class Dumper(yaml.SafeDumper):
        pass

    def text(dumper: Any, value: str) -> Any:
        style = "|" if "\n" in value else None
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)

    Dumper.add_representer(str, text)
    body = yaml.dump(doc, Dumper=Dumper, sort_keys=False, width=100, allow_unicode=False)
    # `on: {workflow_dispatch: null}` reads better as a bare key.
    body = body.replace("workflow_dispatch: null", "workflow_dispatch:")
    for uses, version in ACTIONS.values():
        body = body.replace(f"uses: {uses}\n", f"uses: {uses} # {version}\n")
    return _header(request) + body, doc


def _header(request: WorkflowRequest) -> str:
    from .. import __version__

    where = "repository variables" if request.ci == "github" else "CI/CD variables"
    lines = [
        f"# Generated by `envkit class workflow` (envkit {__version__}) for class "
        f"'{request.class_name}', operation {request.operation}.",
        "# Regenerate it rather than edit it; `envkit class workflow --help` lists the sizes.",
        f"# Needs: {where} {VAR_BACKEND} (the Pulumi backend, e.g. s3://bucket) and "
        f"{VAR_ROLE} (the role `envkit class workflow --trust-policy` describes), and the "
        "secret "
        + (f"{SECRET_PASSPHRASE} (the stacks' passphrase)."
           if request.ci == "github" else
           "PULUMI_CONFIG_PASSPHRASE (a masked, protected CI/CD variable)."),
        "# Only shard numbers are here: the roster is read at run time, handouts are made "
        "locally with `envkit class handout`, and nothing is uploaded as an artifact.",
    ]
    if request.sizing is not None:
        lines.append(f"# Sizes: {request.sizing.line()}.")
    return "\n".join(_wrap(line) for line in lines) + "\n"


def _wrap(line: str, width: int = 100) -> str:
    import textwrap

    return "# " + "\n# ".join(textwrap.wrap(line[2:], width - 2))


# --- the dry run -------------------------------------------------------------------------------


@dataclass
class DryRun:
    """Each shard's students as ``--students i/N`` selects them, and what was proven."""

    shards: dict[int, list[str]]
    roster: list[str]
    problems: list[str]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (shard -> how many students; ids are not printed)."""
        return {"shards": {str(k): len(v) for k, v in self.shards.items()},
                "students": len(self.roster), "partition": not self.problems,
                "problems": self.problems}


def dry_run(layout: Any, shards: int) -> DryRun:
    """Expand the matrix and select each shard's students exactly as ``class up
    --students i/N`` does, then prove the shards partition the roster: every student in
    exactly one shard, none left out, none outside the roster."""
    roster = [s.id for s in layout.students]
    selected = {i: [s.id for s in layout.select(f"{i}/{shards}")] for i in range(1, shards + 1)}
    return DryRun(selected, roster, partition_problems(roster, selected))


def order_problems(doc: dict[str, Any], ci: str, operation: str) -> list[str]:
    """Why the file would not run the shared stack first (up) or last (down)."""
    if operation == "reap":
        return []
    if ci == "github":
        jobs = doc.get("jobs") or {}
        def needs(job: str) -> list[str]:
            value = (jobs.get(job) or {}).get("needs") or []
            return [value] if isinstance(value, str) else list(value)
        first, then = ("shared", "students") if operation == "up" else ("students", "shared")
        return [] if first in needs(then) else [f"job {then} does not wait for job {first}"]
    stages = doc.get("stages") or []
    order = [(doc.get(job) or {}).get("stage") for job in ("shared", "students")]
    if None in order or any(stage not in stages for stage in order):
        return ["the shared and students jobs are not both in a stage"]
    shared_at, students_at = (stages.index(stage) for stage in order)
    ok = shared_at < students_at if operation == "up" else shared_at > students_at
    return [] if ok else ["the shared stage is not "
                          + ("before" if operation == "up" else "after") + " the students"]


def partition_problems(roster: list[str], shards: dict[int, list[str]]) -> list[str]:
    """Why ``shards`` is not an exact partition of ``roster`` (empty when it is)."""
    problems = []
    seen: dict[str, int] = {}
    for shard, ids in sorted(shards.items()):
        if not ids:
            problems.append(f"shard {shard} has no students")
        for sid in ids:
            if sid in seen:
                problems.append(f"a student is in shards {seen[sid]} and {shard}")
            seen[sid] = shard
    outside = [sid for sid in seen if sid not in set(roster)]
    missing = [sid for sid in roster if sid not in seen]
    if outside:
        problems.append(f"{len(outside)} selected students are not in the roster")
    if missing:
        problems.append(f"{len(missing)} students are in no shard")
    return problems


def leaks(text: str, roster: list[Any], secrets: tuple[str, ...] = ()) -> list[str]:
    """What of the roster (ids, emails, names) or the given secret values appears in a
    generated file's text (empty when nothing does). Short ids are matched as whole words."""
    found = []
    for student in roster:
        for value in (student.id, student.email, student.name):
            if not value:
                continue
            pattern = rf"(?<![A-Za-z0-9_.@-]){re.escape(value)}(?![A-Za-z0-9_.@-])"
            if re.search(pattern, text, flags=re.IGNORECASE):
                found.append(value)
    found += [s for s in secrets if s and s in text]
    return found


def summary(request: WorkflowRequest, path: str, dry: DryRun | None) -> dict[str, Any]:
    """The JSON document ``class workflow --json`` prints."""
    return {"ci": request.ci, "operation": request.operation, "class": request.class_name,
            "file": path, "sizing": request.sizing.to_dict() if request.sizing else None,
            "dry_run": dry.to_dict() if dry else None,
            "actions": {v[0]: v[1] for v in ACTIONS.values()} if request.ci == "github"
            else {}}
