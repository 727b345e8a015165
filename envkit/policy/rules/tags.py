"""Tags across services: envkit's ownership and expiry tags on every taggable resource."""

from __future__ import annotations

from pulumi_policy import Severity

from ...components.base import TAG_ENVIRONMENT, TAG_EXPIRES, TAG_OWNER
from ._common import ADVISORY, MANDATORY, config_value, rule, taggable, tags_of


@rule("stack-required-tags",
      "Every taggable resource carries the envkit:environment and envkit:owner tags.",
      MANDATORY, Severity.MEDIUM, ["AWS tagging best practices"],
      "Deploy through envkit (it tags everything) or add the tags to the resource.",
      kind="stack", foreign_level=ADVISORY, types=taggable)
def stack_required_tags(args, report):
    for r in args.resources:
        if not taggable(r.resource_type):
            continue
        tags = tags_of(r)
        if tags is None:
            continue
        missing = [t for t in (TAG_ENVIRONMENT, TAG_OWNER) if not tags.get(t)]
        if missing:
            report(f"'{r.name}' lacks {', '.join(missing)}", r.urn)


@rule("stack-expiry-tag",
      "An environment with a ttl tags every taggable resource with envkit:expires.",
      ADVISORY, Severity.MEDIUM, ["AWS tagging best practices"],
      "Give the environment a ttl (it is tagged on every resource) so the reaper can find it.",
      kind="stack", types=taggable,
      config={"requireExpiry": {"type": "boolean", "default": False}})
def stack_expiry_tag(args, report):
    tagged = [(r, tags_of(r)) for r in args.resources if taggable(r.resource_type)]
    tagged = [(r, t) for r, t in tagged if t is not None]
    has_expiry = any(t.get(TAG_EXPIRES) for _, t in tagged)
    if not has_expiry and not config_value(args, "requireExpiry", False):
        return
    for r, t in tagged:
        if not t.get(TAG_EXPIRES):
            report(f"'{r.name}' lacks {TAG_EXPIRES}", r.urn)
