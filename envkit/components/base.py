"""What every envkit component shares: tags and the safe-name convention."""

from __future__ import annotations

from datetime import datetime

from ..spec.models import EnvironmentSpec

TAG_ENVIRONMENT = "envkit:environment"
TAG_OWNER = "envkit:owner"
TAG_EXPIRES = "envkit:expires"
# Which publisher an alias's AMI comes from, for the allowed-owner policy.
AMI_OWNER_TAG = "envkit:ami-owner"


def lab_tags(spec: EnvironmentSpec, expires_at: datetime | None) -> dict[str, str]:
    """The tags every taggable resource of the environment carries."""
    tags = dict(spec.tags)
    tags[TAG_ENVIRONMENT] = spec.name
    tags[TAG_OWNER] = spec.owner
    if expires_at is not None:
        tags[TAG_EXPIRES] = expires_at.strftime("%Y-%m-%dT%H:%MZ")
    return tags


def named(tags: dict[str, str], name: str) -> dict[str, str]:
    """The lab tags plus a console-friendly Name."""
    return {**tags, "Name": name}
