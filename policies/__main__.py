"""The envkit CrossGuard pack: `pulumi preview --policy-pack policies`.

Only builds the PolicyPack. The rules live in the importable module envkit.policy.rules,
which `envkit policy check` evaluates offline, so the engine and the gate share one source.
"""

from pulumi_policy import EnforcementLevel, PolicyPack

from envkit.policy.rules import PACK_NAME, POLICIES

PolicyPack(
    name=PACK_NAME,
    policies=POLICIES,
    enforcement_level=EnforcementLevel.ADVISORY,
    description="IAM and EC2 least privilege for envkit labs.",
    provider="aws",
    tags=["aws", "iam", "ec2", "least-privilege"],
)
