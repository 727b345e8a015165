"""Tags across services: envkit's ownership and expiry tags on the programs envkit writes,
and the tags a pipeline requires (``requiredTags``) on any program."""

from __future__ import annotations

from pulumi_policy import Severity

from ...tagnames import TAG_ENVIRONMENT, TAG_EXPIRES, TAG_OWNER
from ._common import (
    ADVISORY,
    COMPONENT_PREFIX,
    MANDATORY,
    config_value,
    is_foreign,
    rule,
    taggable,
    tags_of,
)


def _tagged_or_envkit(type_: str) -> bool:
    # envkit's components are read too: they tell an envkit program from a foreign one.
    return type_.startswith(COMPONENT_PREFIX) or taggable(type_)


@rule("stack-required-tags",
      "Every taggable resource carries the required tags: envkit:environment and "
      "envkit:owner on programs envkit wrote, and the keys a policy config lists in "
      "requiredTags on any program.",
      MANDATORY, Severity.MEDIUM, ["AWS tagging best practices"],
      "Deploy through envkit (it tags everything) or add the tags to the resource "
      "(a provider's default_tags tags every resource it creates).",
      kind="stack", types=_tagged_or_envkit,
      config={"requiredTags": {"type": "array", "items": {"type": "string", "maxLength": 128},
                               "maxItems": 50, "default": []}})
def stack_required_tags(args, report):
    envkit_tags = [] if is_foreign(r.resource_type for r in args.resources) \
        else [TAG_ENVIRONMENT, TAG_OWNER]
    required = list(dict.fromkeys(envkit_tags + [str(t) for t in config_value(
        args, "requiredTags", [])]))
    if not required:
        return  # a foreign program, and no tags required by the pipeline
    for r in args.resources:
        if not taggable(r.resource_type):
            continue
        tags = tags_of(r)
        if tags is None:
            continue
        missing = [t for t in required if not tags.get(t)]
        if missing:
            report(f"'{r.name}' lacks {', '.join(missing)}", r.urn)


@rule("stack-expiry-tag",
      "An environment envkit wrote with a ttl tags every taggable resource with "
      "envkit:expires.",
      ADVISORY, Severity.MEDIUM, ["AWS tagging best practices"],
      "Give the environment a ttl (it is tagged on every resource) so the reaper can find it.",
      kind="stack", types=_tagged_or_envkit,
      config={"requireExpiry": {"type": "boolean", "default": False}})
def stack_expiry_tag(args, report):
    if is_foreign(r.resource_type for r in args.resources):
        return  # envkit's reaper convention; foreign programs have their own
    tagged = [(r, tags_of(r)) for r in args.resources if taggable(r.resource_type)]
    tagged = [(r, t) for r, t in tagged if t is not None]
    has_expiry = any(t.get(TAG_EXPIRES) for _, t in tagged)
    if not has_expiry and not config_value(args, "requireExpiry", False):
        return
    for r, t in tagged:
        if not t.get(TAG_EXPIRES):
            report(f"'{r.name}' lacks {TAG_EXPIRES}", r.urn)
