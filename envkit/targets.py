"""Where an environment is deployed: the local emulator, or a real AWS account."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import Any, Literal

from .errors import PrerequisiteError, UsageError

TargetKind = Literal["local", "aws"]


@dataclass
class Target:
    """A resolved deployment target and how to reach it."""

    kind: TargetKind
    region: str
    reason: str
    endpoint: str | None = None
    profile: str | None = None
    emulator_id: str | None = None
    provider_args: dict[str, Any] = field(default_factory=dict)

    def session(self):
        """A boto3 session for this target."""
        import boto3

        if self.kind == "local":
            from . import local

            return local.boto3_session(self.region)
        return boto3.session.Session(profile_name=self.profile, region_name=self.region)

    def client(self, service: str):
        """A boto3 client for ``service`` on this target."""
        return self.session().client(service, endpoint_url=self.endpoint)

    def env_vars(self) -> dict[str, str]:
        """Environment variables the Pulumi CLI needs for this target.

        None for the local emulator: the provider gets the emulator's endpoint and test
        keys as provider configuration (``provider_args``); exporting them would hand them
        to everything else the CLI talks to (an ``s3://`` backend, ``awskms://`` secrets).
        """
        if self.kind == "local":
            return {}
        env = {"AWS_REGION": self.region}
        if self.profile:
            env["AWS_PROFILE"] = self.profile
        return env


def aws_credentials_available(profile: str | None = None) -> bool:
    """Whether the standard credential chain finds credentials, without touching the network.

    The instance-metadata provider is removed from the chain for this probe: on a laptop it
    would wait for a network timeout before saying no.
    """
    import botocore.exceptions
    import botocore.session

    try:  # an unknown profile can surface while the resolver is built, or when it is used
        session = botocore.session.Session(profile=profile)
        resolver = session.get_component("credential_provider")
        for name in ("iam-role", "container-role"):
            with contextlib.suppress(KeyError, ValueError):
                resolver.remove(name)
        return session.get_credentials() is not None
    except botocore.exceptions.ProfileNotFound:
        from .limits import clip

        raise PrerequisiteError(f"AWS profile '{clip(profile)}' is not configured "
                                "(aws configure --profile ...)") from None
    except botocore.exceptions.BotoCoreError:
        return False


def resolve_target(requested: str | None, region: str, profile: str | None = None,
                   start_emulator: bool = True) -> Target:
    """Decide the target: as requested, else aws when credentials exist, else local.

    With ``start_emulator`` the local emulator is started (or reused) so the target has
    an endpoint; without it, a stopped emulator leaves ``endpoint`` None.
    """
    if requested not in (None, "local", "aws"):
        raise UsageError(f"unknown target '{requested}': use local or aws")
    if requested is None:
        if profile or aws_credentials_available():
            kind: TargetKind = "aws"
            reason = "AWS credentials found: deploying to your AWS account (--target local " \
                     "for the emulator)"
        else:
            kind = "local"
            reason = "no AWS credentials found: using the local emulator (--target aws to " \
                     "deploy to AWS)"
    else:
        kind = requested  # type: ignore[assignment]
        reason = f"--target {requested}"
    if kind == "aws":
        if not aws_credentials_available(profile):
            raise PrerequisiteError(
                "no AWS credentials found for --target aws: configure them (aws configure, "
                "AWS_PROFILE or --profile), or use --target local for the emulator")
        return Target("aws", region, reason, profile=profile)
    from . import local

    status = local.start_for_command() if start_emulator else local.status()
    target = Target("local", region, reason, endpoint=status.endpoint,
                    emulator_id=status.instance_id)
    if status.endpoint:
        target.provider_args = local.provider_args(status.endpoint)
    return target
