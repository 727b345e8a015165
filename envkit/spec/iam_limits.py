"""The IAM and EC2 limits a spec (and a class of many students) can hit, checked before
anything is created.

Sources (AWS documentation):

- IAM and AWS STS quotas, https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_iam-quotas.html:
  managed policy 6,144 characters; aggregate inline policies per user 2,048, role 10,240,
  group 5,120, "IAM doesn't count white space when calculating the size of a policy";
  10 groups per user; 10 managed policies per user, role and group by default (adjustable to
  20 for users and roles); 5,000 users, 1,000 roles and 1,000 instance profiles per account
  by default (``GetAccountSummary``: UsersQuota, RolesQuota, InstanceProfilesQuota).
- Tagging IAM resources, https://docs.aws.amazon.com/IAM/latest/UserGuide/id_tags.html:
  tag values up to 256 characters of letters, numbers, spaces and ``_ . : / = + - @``
  (no comma).
- Tag your Amazon EC2 resources,
  https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/Using_Tags.html: values up to 256
  Unicode characters.
- Elastic IP addresses, https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/elastic-ip-addresses-eip.html:
  5 per Region by default (Service Quotas L-0263D0A3); envkit reads the value from moto's
  copy of the EC2 account attributes (``spec.classroom.default_quotas``).
"""

from __future__ import annotations

import json
import unicodedata
from typing import Any

MANAGED_POLICY_SIZE = 6144
INLINE_POLICY_SIZE = {"user": 2048, "role": 10240, "group": 5120}
GROUPS_PER_USER = 10
MANAGED_POLICIES_PER_PRINCIPAL = 10
TAG_VALUE_LENGTH = 256
#: Account-wide IAM defaults (IAM quotas page); a class declares raised ones in quotas.
ACCOUNT_DEFAULTS = {"roles": 1000, "instance_profiles": 1000}
_TAG_PUNCTUATION = frozenset("_.:/=+-@")


def policy_size(document: Any) -> int:
    """A policy's size as IAM counts it: its JSON without any white space."""
    text = document if isinstance(document, str) else json.dumps(document,
                                                                  separators=(",", ":"))
    return sum(1 for ch in text if not ch.isspace())


def tag_value_problem(value: str) -> str | None:
    """Why IAM and EC2 refuse ``value`` as a tag value (None when they accept it)."""
    if len(value) > TAG_VALUE_LENGTH:
        return f"is {len(value)} characters; tag values take at most {TAG_VALUE_LENGTH}"
    for ch in value:
        category = unicodedata.category(ch)[0]
        if category not in ("L", "Z", "N") and ch not in _TAG_PUNCTUATION:
            return (f"contains {ch!r}, which IAM refuses in a tag value (letters, digits, "
                    "spaces and _ . : / = + - @ only)")
    return None
