"""The one program body: spec -> components -> stack outputs.

The repo-root ``__main__.py`` (``pulumi up``), the Automation API's inline program and the
offline plan all call :func:`program`, so what is planned is what is deployed.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from typing import Any

from .spec.models import EnvironmentSpec


def expiry(spec: EnvironmentSpec, now: datetime | None = None) -> datetime | None:
    """When the environment expires (now + ttl, to the minute), or None without a ttl."""
    delta = spec.ttl_delta
    if delta is None:
        return None
    now = now or datetime.now(timezone.utc)
    return (now + delta).replace(second=0, microsecond=0)


#: Stack outputs holding secret material. Each is exported as ONE secret value: the
#: Automation API marks an output secret only when its whole top-level value is masked
#: (pulumi/automation/_local_workspace.py ``stack_outputs``), while the CLI masks nested
#: secrets leaf by leaf, so a map of secret leaves would come back as not secret.
SECRET_OUTPUTS = ("passwords", "access_keys", "private_keys")


def program(spec: EnvironmentSpec, *, expires_at: datetime | None = None,
            provider_args: dict[str, Any] | None = None, key_dir: str | None = None,
            target: str = "aws",
            shared: Mapping[str, Any] | None = None, extra_tags: Mapping[str, str] | None = None,
            with_network: bool = False, export: Callable[[str, Any], None] | None = None,
            extend: Callable[[Any, dict[str, Any]], Mapping[str, Any]] | None = None
            ) -> None:
    """Declare the whole lab for ``spec`` in the current Pulumi program and export outputs.

    ``expires_at`` pins the expiry tag (a deployment keeps the one it was created with);
    ``provider_args`` are extra ``aws.Provider`` settings (endpoints for the local emulator);
    ``key_dir`` is where generated private keys are written after ``up``; ``target``
    (``aws`` or ``local``) keeps calls the local emulator lacks off its path.
    A classroom adds: ``shared`` (what a student stack uses from the shared stack: ``groups``,
    ``network``, ``security_groups``, ``instance_profiles``, ``min_password_length``),
    ``extra_tags`` (on every resource), ``with_network`` (the shared stack makes the lab
    network even when it has no instances of its own) and ``export`` (collects outputs
    instead of ``pulumi.export``, to plan many stacks in one program) and ``extend``
    (called with the stack's resource options and its outputs so far, it declares more
    resources with the same provider and returns more outputs: a class's lease schedules).
    """
    import pulumi
    import pulumi_aws as aws

    from .components import Ec2Lab, IamLab, LabNetwork
    from .components.base import lab_tags

    tags = {**lab_tags(spec, expires_at or expiry(spec)), **(extra_tags or {})}
    provider = aws.Provider(spec.name, region=spec.region, **(provider_args or {}))
    opts = pulumi.ResourceOptions(providers={"aws": provider})
    shared = shared or {}

    iam = IamLab(f"{spec.name}-iam", spec, tags, opts=opts,
                 existing_groups=shared.get("groups"),
                 min_password_length=shared.get("min_password_length"),
                 force_destroy=target != "local")
    exports: dict[str, Any] = {
        "environment": spec.name, "region": spec.region, "owner": spec.owner,
        "expires": tags.get("envkit:expires"), **iam.exports,
    }
    if with_network or spec.ec2.instances or spec.ec2.security_groups or spec.ec2.key_pairs:
        network = LabNetwork(f"{spec.name}-network", spec, tags, opts=opts,
                             existing=shared.get("network"))
        ec2 = Ec2Lab(f"{spec.name}-ec2", spec, tags, network=network, iam=iam,
                     key_dir=key_dir, opts=opts,
                     existing_security_groups=shared.get("security_groups"),
                     existing_instance_profiles=shared.get("instance_profiles"),
                     emulator=target == "local")
        exports.update(network.exports)
        exports.update(ec2.exports)
    if extend is not None:
        exports.update(extend(opts, exports))
    for key, value in exports.items():
        (export or pulumi.export)(
            key, pulumi.Output.secret(value) if key in SECRET_OUTPUTS else value)
