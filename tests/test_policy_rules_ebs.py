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
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_rule_flags_the_violation_and_passes_the_fix(name):
    check_case(CASES, name)
