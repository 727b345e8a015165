"""envkit's CrossGuard rules: IAM and EC2 least privilege, one source of truth.

``policies/__main__.py`` builds the PolicyPack from :data:`POLICIES` for the engine, and
``envkit policy check`` evaluates the same objects offline through pulumi-policy's
analyzer. One module per service, as in AWSGuard's and Checkov's trees:

- :mod:`.iam` — policy documents, identities, the password policy
- :mod:`.ec2` — instances: metadata, encryption, credentials, exposure, AMIs, user data
- :mod:`.ebs` — volumes
- :mod:`.network` — security groups
- :mod:`.tags` — envkit's tags on every taggable resource

:mod:`._common` holds the rule metadata, registration and the shared readers. Importing
this package registers every rule, in the order above.
"""

from __future__ import annotations

from importlib import import_module

from ._common import PACK_NAME, POLICIES, RULES, Rule, policy_named

#: The service modules, in catalogue order (README, `envkit policy list`, SARIF).
SERVICES = ("iam", "ec2", "ebs", "network", "tags")
for _service in SERVICES:
    import_module(f".{_service}", __name__)  # importing a module registers its rules

__all__ = ["PACK_NAME", "POLICIES", "RULES", "SERVICES", "Rule", "policy_named"]
