"""The tags and IAM path envkit puts on what a lab creates.

A module of its own so the policy rules, the reaper and inspection can name them without
importing the components (and with them pulumi_aws).
"""

TAG_ENVIRONMENT = "envkit:environment"
TAG_OWNER = "envkit:owner"
TAG_EXPIRES = "envkit:expires"
#: The IAM path of every user, group, role and instance profile a lab creates (their ARNs
#: read ``arn:aws:iam::ACCOUNT:user/envkit/NAME``).
IAM_PATH = "/envkit/"
# Which publisher an alias's AMI comes from, for the allowed-owner policy.
AMI_OWNER_TAG = "envkit:ami-owner"
