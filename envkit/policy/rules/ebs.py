"""EBS: volumes encrypted at rest, and the account's encryption by default left on."""

from __future__ import annotations

from pulumi_policy import Severity

from ._common import MANDATORY, rule

VOLUME = "aws:ebs/volume:Volume"
BY_DEFAULT = "aws:ebs/encryptionByDefault:EncryptionByDefault"


@rule("ec2-ebs-volume-encrypted",
      "Standalone EBS volumes are encrypted.",
      MANDATORY, Severity.HIGH,
      ["CIS 2.2.1", "Security Hub EC2.3", "Checkov CKV_AWS_3", "Checkov CKV2_AWS_2",
       "trivy AVD-AWS-0026"],
      "Set encrypted: true on the volume (or turn on EBS encryption by default).",
      types=frozenset({VOLUME}))
def ec2_ebs_volume_encrypted(args, report):
    if args.resource_type == VOLUME and args.props.get("encrypted") is not True:
        report("the volume is not encrypted")


@rule("ec2-ebs-encryption-by-default",
      "EBS encryption by default is not turned off for the account and region.",
      MANDATORY, Severity.HIGH, ["CIS 2.2.1", "Security Hub EC2.7", "Checkov CKV_AWS_106"],
      "Set enabled=True on aws.ebs.EncryptionByDefault (or drop the resource: AWS's own "
      "setting then stays as it is).",
      types=frozenset({BY_DEFAULT}))
def ec2_ebs_encryption_by_default(args, report):
    if args.resource_type == BY_DEFAULT and args.props.get("enabled") is False:
        report("enabled is false: new volumes in this region are not encrypted unless asked")
