"""envkit's CrossGuard rules: IAM and EC2 least privilege, one source of truth.

``policies/__main__.py`` builds the PolicyPack from :data:`POLICIES` for the engine, and
``envkit policy check`` evaluates the same objects offline through pulumi-policy's
analyzer. One module per service, as in AWSGuard's and Checkov's trees:

- :mod:`.iam` — policy documents: wildcards, scoping, escalation, credentials, trust
- :mod:`.iam_principals` — who gets administrator access, users, groups, keys, passwords
- :mod:`.ec2` — instances, launch templates and configurations: metadata, encryption,
  credentials, exposure, AMIs, user data
- :mod:`.ebs` — volumes, encryption by default
- :mod:`.network` — security groups, network ACLs, subnets, VPCs
- :mod:`.tags` — envkit's tags on every taggable resource
- :mod:`.classroom` — students reach only their own resources, never escalate; budgets

:mod:`._common` holds the rule metadata, registration and the shared readers (protocols and
ports read as AWS reads them); :mod:`._iamdata` what parliament knows about IAM actions.
Importing this package registers every rule, in the order above.

envkit-only conventions (its tags, the AMI owner tag) are advisory on foreign programs: a
program is foreign when none of its resources is an envkit component (:func:`is_foreign`),
and the gate then gives those rules their ``foreign_level``.
"""

from __future__ import annotations

from importlib import import_module

from ._common import PACK_NAME, POLICIES, RULES, Rule, is_foreign

#: The service modules, in catalogue order (README, `envkit policy list`, SARIF).
SERVICES = ("iam", "iam_principals", "ec2", "ebs", "network", "tags", "classroom")
for _service in SERVICES:
    import_module(f".{_service}", __name__)  # importing a module registers its rules

__all__ = ["PACK_NAME", "POLICIES", "RULES", "SERVICES", "Rule", "is_foreign"]
