"""What every envkit component shares: tags and the safe-name convention."""

from __future__ import annotations

from datetime import datetime

from ..spec.models import EnvironmentSpec
from ..tagnames import (  # noqa: F401 - the components' names for them
    AMI_OWNER_TAG,
    IAM_PATH,
    TAG_ENVIRONMENT,
    TAG_EXPIRES,
    TAG_OWNER,
)


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


class _output:
    """A component output built on first access from the component's ``exports`` leaves.

    The stack program exports the leaves themselves, so a plan or a deployment never pays
    for the aggregate Output (a gather over every leaf) unless Python code asks for it.
    """

    def __init__(self, key: str, secret: bool = False) -> None:
        self.key = key
        self.secret = secret

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, component: object, owner: type | None = None) -> object:
        if component is None:
            return self
        import pulumi

        value = component.exports[self.key]  # type: ignore[attr-defined]
        output = pulumi.Output.secret(value) if self.secret else pulumi.Output.from_input(value)
        component.__dict__[self.name] = output  # later reads find it there, not here
        return output
