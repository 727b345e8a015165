"""EBS rules (envkit/policy/rules/ebs.py), each violated and satisfied through the
analyzer."""

from __future__ import annotations

import pulumi_aws as aws
import pytest

from .policy_helpers import TAGS, check_case

# rule -> (violating program, compliant program)
CASES = {
    "ec2-ebs-volume-encrypted": (
        lambda: aws.ebs.Volume("v", availability_zone="us-east-1a", size=8, tags=TAGS),
        lambda: aws.ebs.Volume("v", availability_zone="us-east-1a", size=8, encrypted=True,
                               tags=TAGS)),
    "ec2-ebs-encryption-by-default": (
        lambda: aws.ebs.EncryptionByDefault("default", enabled=False),
        lambda: aws.ebs.EncryptionByDefault("default", enabled=True)),
    "ec2-ebs-customer-managed-key": (
        lambda: aws.ebs.Volume("v", availability_zone="us-east-1a", size=8, encrypted=True),
        lambda: aws.ebs.Volume("v", availability_zone="us-east-1a", size=8, encrypted=True,
                               kms_key_id=KEY),
        {"ec2-ebs-customer-managed-key": "advisory"}),
}

KEY = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"


@pytest.mark.parametrize("name", sorted(CASES))
def test_rule_flags_the_violation_and_passes_the_fix(name):
    check_case(CASES, name)


def test_customer_managed_keys_are_asked_for_only_when_the_rule_is_turned_on():
    from .policy_helpers import instance, violations

    plain_volume = lambda: aws.ebs.Volume("v", availability_zone="us-east-1a",  # noqa: E731
                                          size=8, encrypted=True)
    assert not violations(plain_volume, "ec2-ebs-customer-managed-key")
    on = {"ec2-ebs-customer-managed-key": "advisory"}
    found = violations(instance(), "ec2-ebs-customer-managed-key", on)
    assert [f.message.split(" ")[0] for f in found] == ["rootBlockDevice"]
