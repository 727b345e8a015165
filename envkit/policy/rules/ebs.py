"""EBS: volumes encrypted at rest, the account's encryption by default left on, and (for
accounts that require it) customer-managed keys."""

from __future__ import annotations

from pulumi_policy import Severity

from ._common import DISABLED, MANDATORY, as_list, plain, rule

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


SNAPSHOT_COPY = "aws:ebs/snapshotCopy:SnapshotCopy"
AMI_COPY = "aws:ec2/amiCopy:AmiCopy"
INSTANCE = "aws:ec2/instance:Instance"


def _kms_keys(args) -> list[tuple[str, object]]:
    """(where, the KMS key property) for each volume a resource creates."""
    p, t = args.props, args.resource_type
    if t in (VOLUME, SNAPSHOT_COPY, AMI_COPY):
        return [("kmsKeyId", p.get("kmsKeyId"))]
    if t == INSTANCE:
        devices = [("rootBlockDevice", plain(p.get("rootBlockDevice")) or {})] + [
            (f"ebsBlockDevices[{i}]", plain(d) or {})
            for i, d in enumerate(as_list(p.get("ebsBlockDevices")))]
        return [(where, d.get("kmsKeyId")) for where, d in devices]
    return []


@rule("ec2-ebs-customer-managed-key",
      "EBS volumes, snapshot copies, AMI copies and instance volumes are encrypted with a "
      "customer-managed KMS key (kms_key_id). Off by default: AWS-managed keys suit labs.",
      DISABLED, Severity.LOW,
      ["Checkov CKV_AWS_189", "Checkov CKV_AWS_183", "Checkov CKV_AWS_236",
       "trivy AVD-AWS-0027"],
      "Create an aws.kms.Key (with rotation) and pass its ARN as kms_key_id; turn this rule "
      "on with {\"ec2-ebs-customer-managed-key\": \"advisory\"} where policy requires it.",
      types=frozenset({VOLUME, SNAPSHOT_COPY, AMI_COPY, INSTANCE}))
def ec2_ebs_customer_managed_key(args, report):
    for where, key in _kms_keys(args):
        if not key:
            report(f"{where} has no kms_key_id: it is encrypted, if at all, with an AWS key")
