"""EBS: volumes encrypted at rest."""

from __future__ import annotations

from pulumi_policy import Severity

from ._common import MANDATORY, rule

VOLUME = "aws:ebs/volume:Volume"


@rule("ec2-ebs-volume-encrypted",
      "Standalone EBS volumes are encrypted.",
      MANDATORY, Severity.HIGH, ["CIS 2.2.1", "Security Hub EC2.3", "Checkov CKV_AWS_3"],
      "Set encrypted: true on the volume (or turn on EBS encryption by default).",
      types=frozenset({VOLUME}))
def ec2_ebs_volume_encrypted(args, report):
    if args.resource_type == VOLUME and args.props.get("encrypted") is not True:
        report("the volume is not encrypted")
