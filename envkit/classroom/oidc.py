"""The IAM trust policy of a class workflow's role: only one repository's branch (or
deployment environment) may assume it, through the CI platform's OIDC provider.

GitHub: provider ``token.actions.githubusercontent.com``, ``sub``
``repo:OWNER/REPO:ref:refs/heads/BRANCH`` or ``repo:OWNER/REPO:environment:NAME``
(https://docs.github.com/en/actions/reference/security/oidc). GitLab: provider
``gitlab.com``, ``sub`` ``project_path:GROUP/PROJECT:ref_type:branch:ref:BRANCH``
(https://docs.gitlab.com/ci/secrets/id_token_authentication/). The audience is
``sts.amazonaws.com`` on both, as the generated files request it.
"""

from __future__ import annotations

import re
from typing import Any

from ..errors import UsageError

_REPO = re.compile(r"^[A-Za-z0-9_.-]{1,100}/[A-Za-z0-9_.-]{1,100}$")
_REF = re.compile(r"^[A-Za-z0-9_./-]{1,200}$")


def trust_policy(ci: str, account_id: str, repo: str, branch: str | None = None,
                 environment: str | None = None) -> dict[str, Any]:
    """The IAM role trust policy that lets only this repository's branch (or environment)
    assume the workflow's role through the platform's OIDC provider."""
    if not re.fullmatch(r"\d{12}", account_id or ""):
        raise UsageError(f"--account-id must be the 12-digit AWS account id, not "
                         f"'{str(account_id)[:40]}'")
    if not _REPO.match(repo or ""):
        raise UsageError(f"--repo must be OWNER/REPOSITORY, not '{str(repo)[:80]}'")
    if (branch is None) == (environment is None):
        raise UsageError("give exactly one of --branch and --environment: the role is "
                         "tied to one branch or one deployment environment")
    ref = branch if branch is not None else environment
    if not _REF.match(ref or "") or ".." in (ref or ""):
        raise UsageError(f"'{str(ref)[:80]}' is not a branch or environment name")
    if ci == "github":
        provider = "token.actions.githubusercontent.com"
        sub = f"repo:{repo}:ref:refs/heads/{branch}" if branch is not None else \
            f"repo:{repo}:environment:{environment}"
    elif ci == "gitlab":
        provider = "gitlab.com"
        sub = f"project_path:{repo}:ref_type:branch:ref:{branch}" if branch is not None \
            else f"project_path:{repo}:environment:{environment}"
    else:
        raise UsageError("--ci must be one of github, gitlab")
    return {"Version": "2012-10-17", "Statement": [{
        "Sid": "EnvkitClassWorkflow", "Effect": "Allow",
        "Principal": {"Federated": f"arn:aws:iam::{account_id}:oidc-provider/{provider}"},
        "Action": "sts:AssumeRoleWithWebIdentity",
        "Condition": {"StringEquals": {f"{provider}:aud": "sts.amazonaws.com",
                                       f"{provider}:sub": sub}}}]}
