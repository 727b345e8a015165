"""Tag rules (envkit/policy/rules/tags.py), each violated and satisfied through the
analyzer: envkit's tags on programs envkit wrote, a pipeline's ``requiredTags`` on any."""

from __future__ import annotations

import pulumi_aws as aws
import pytest

from .policy_helpers import TAGS, check_case, envkit_made, violations

# rule -> (violating program, compliant program)
CASES = {
    "stack-required-tags": (envkit_made(lambda: aws.iam.User("u", name="ann")),
                            envkit_made(lambda: aws.iam.User("u", name="ann", tags=TAGS))),
    "stack-expiry-tag": (
        envkit_made(lambda: (
            aws.iam.User("u", name="ann", tags={**TAGS, "envkit:expires": "2030-01-01"}),
            aws.iam.User("v", name="bob", tags=TAGS))),
        envkit_made(lambda: aws.iam.User(
            "u", name="ann", tags={**TAGS, "envkit:expires": "2030-01-01"}))),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_rule_flags_the_violation_and_passes_the_fix(name):
    check_case(CASES, name)


def test_envkits_tags_are_not_asked_of_a_foreign_program():
    untagged = lambda: (aws.iam.User("u", name="ann"),  # noqa: E731
                        aws.iam.User("v", name="bob", tags={"envkit:expires": "2030-01-01"}))
    assert not violations(untagged, "stack-required-tags")
    assert not violations(untagged, "stack-expiry-tag")


def test_required_tags_from_the_policy_config_apply_to_any_program():
    config = {"stack-required-tags": {"requiredTags": ["team", "cost-center"]}}
    found = violations(lambda: aws.ec2.Vpc("net", cidr_block="10.0.0.0/16",
                                           tags={"team": "data"}), "stack-required-tags",
                       config)
    assert [f.message for f in found] == ["'net' lacks cost-center"]
    assert found[0].level == "mandatory"
    tagged = lambda: aws.ec2.Vpc("net", cidr_block="10.0.0.0/16",  # noqa: E731
                                 tags={"team": "data", "cost-center": "42"})
    assert not violations(tagged, "stack-required-tags", config)
    # On envkit's own programs the pipeline's tags come on top of envkit's.
    both = violations(envkit_made(lambda: aws.iam.User("u", name="ann", tags=TAGS)),
                      "stack-required-tags", config)
    assert [f.message for f in both] == ["'u' lacks team, cost-center"]
