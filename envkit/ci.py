"""Whether a person can answer a question here, by Pulumi's rule.

``cmdutil.Interactive`` (pulumi/pulumi sdk/go/common/util/cmdutil/console.go:51-67): stdin
and stdout are terminals, ``TERM`` is not ``dumb``, and no CI system is detected
(sdk/go/common/util/ciutil/detect.go: the variables below; ``PULUMI_DISABLE_CI_DETECTION``
turns detection off). envkit also counts ``CI=true|1|yes`` as a pipeline: many other
systems set only that, and a question there would hang the job.
"""

from __future__ import annotations

import os
import sys

#: ciutil/detect.go ``detectors``: a variable that is set (non-empty) means that CI system.
CI_VARIABLES = (
    "PULUMI_CI_SYSTEM", "APPVEYOR", "CODEBUILD_BUILD_ARN", "bamboo_planKey",
    "BITBUCKET_COMMIT", "TF_BUILD", "BUILDKITE", "CIRCLECI", "CF_BUILD_URL", "DRONE",
    "GITHUB_ACTIONS", "GITLAB_CI", "GO_PIPELINE_LABEL", "HUDSON_URL", "JENKINS_URL", "MAGNUM",
    "SEMAPHORE", "SPACELIFT_MAX_REQUESTS_BURST", "TF_VAR_spacelift_run_trigger",
    "SPACELIFT_STORE_HOOKS_ENV_VARS", "TF_VAR_spacelift_commit_branch",
    "SPACELIFT_WORKER_TRACING_ENABLED", "TASK_ID", "RUN_ID", "TEAMCITY_VERSION", "TRAVIS",
)
#: ciutil/detect.go: a variable with this value means that CI system (Codeship).
CI_VALUES = {"CI_NAME": "codeship"}


def in_ci() -> bool:
    """Whether a CI system runs us (Pulumi's detection, plus ``CI``)."""
    if os.environ.get("PULUMI_DISABLE_CI_DETECTION"):
        return False
    if any(os.environ.get(name) for name in CI_VARIABLES):
        return True
    if any(os.environ.get(k) == v for k, v in CI_VALUES.items()):
        return True
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def interactive() -> bool:
    """Whether a question can be asked and answered here."""
    if os.environ.get("TERM", "").lower() == "dumb" or in_ci():
        return False
    return sys.stdin.isatty() and sys.stdout.isatty()
