"""Tag rules (envkit/policy/rules/tags.py), each violated and satisfied through the
analyzer."""

from __future__ import annotations

import pulumi_aws as aws
import pytest

from .policy_helpers import TAGS, check_case

# rule -> (violating program, compliant program)
CASES = {
    "stack-required-tags": (lambda: aws.iam.User("u", name="ann"),
                            lambda: aws.iam.User("u", name="ann", tags=TAGS)),
    "stack-expiry-tag": (
        lambda: (aws.iam.User("u", name="ann", tags={**TAGS, "envkit:expires": "2030-01-01"}),
                 aws.iam.User("v", name="bob", tags=TAGS)),
        lambda: aws.iam.User("u", name="ann", tags={**TAGS, "envkit:expires": "2030-01-01"})),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_rule_flags_the_violation_and_passes_the_fix(name):
    check_case(CASES, name)
