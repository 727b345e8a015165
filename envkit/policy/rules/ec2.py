"""EC2 instances and what launches them (launch templates and configurations): secrets in
user data, instance metadata (IMDSv2), volume encryption, credentials, size, public
exposure, elastic IPs, monitoring, AMI provenance and sharing."""

from __future__ import annotations

import base64
import binascii
import fnmatch
import re
import zlib

from pulumi_policy import Severity

from ...tagnames import AMI_OWNER_TAG
from ._common import (
    ADVISORY,
    MANDATORY,
    SG_TYPES,
    as_list,
    by_type,
    config_value,
    known,
    plain,
    rule,
    sg_rules,
    taggable,
)

INSTANCE = "aws:ec2/instance:Instance"
LAUNCH_TEMPLATE = "aws:ec2/launchTemplate:LaunchTemplate"
LAUNCH_CONFIGURATION = "aws:ec2/launchConfiguration:LaunchConfiguration"
#: What starts instances: the instance itself, and what autoscaling launches from.
LAUNCHERS = frozenset({INSTANCE, LAUNCH_TEMPLATE, LAUNCH_CONFIGURATION})
_INSTANCE = frozenset({INSTANCE})

# --- user data ------------------------------------------------------------------------------

_SECRET_PATTERNS = [
    (re.compile(r"\b(AKIA|ASIA)[0-9A-Z]{16}\b"), "an AWS access key id"),
    (re.compile(r"aws_secret_access_key\s*[=:]", re.I), "an AWS secret access key"),
    (re.compile(r"-----BEGIN (?:RSA |EC |OPENSSH |DSA )?PRIVATE KEY-----"), "a private key"),
    (re.compile(r"\b(password|passwd|secret)\s*[=:]\s*['\"]?[^\s'\"$]{6,}", re.I),
     "a password"),
]
#: AWS takes at most 16 KB of user data; anything much larger is not decoded.
MAX_USER_DATA = 64 * 1024


def _decoded(text: str) -> str | None:
    """User data as the instance sees it when ``text`` is base64 (launch templates and
    ``user_data_base64`` always are), gzip-compressed or not; None when it is not base64."""
    if len(text) > 4 * MAX_USER_DATA:
        return None
    try:
        data = base64.b64decode("".join(text.split()), validate=True)
    except (binascii.Error, ValueError):
        return None
    if data[:2] == b"\x1f\x8b":  # cloud-init accepts gzip; bounded against gzip bombs
        try:
            data = zlib.decompressobj(wbits=31).decompress(data, 16 * MAX_USER_DATA)
        except zlib.error:
            return None
    return data.decode("utf-8", errors="replace")


def _user_data(props) -> list[tuple[str, str]]:
    """(where, text) for the user data a launcher carries, decoded where it is base64."""
    out = []
    for key in ("userData", "userDataBase64"):
        value = props.get(key)
        if not isinstance(value, str):
            continue
        out.append((key, value))
        decoded = _decoded(value)
        if decoded is not None:
            out.append((f"{key} (base64-decoded)", decoded))
    return out


@rule("no-secrets-in-user-data-or-tags",
      "No access keys, private keys or passwords are written in user data (plain, base64 or "
      "gzip) or tags.",
      MANDATORY, Severity.CRITICAL,
      ["Checkov CKV_AWS_46", "trivy AVD-AWS-0029", "trivy AVD-AWS-0129",
       "trivy AVD-AWS-0122"],
      "Use an instance profile (roles) and a secrets store instead of literal credentials.",
      types=lambda t: t in LAUNCHERS or taggable(t))
def no_secrets_in_user_data_or_tags(args, report):
    texts = _user_data(args.props) if args.resource_type in LAUNCHERS else []
    tags = plain(args.props.get("tags"))
    if isinstance(tags, dict):
        texts += [(f"tags.{k}", f"{k}={v}") for k, v in tags.items()]
    for where, text in texts:
        for pattern, what in _SECRET_PATTERNS:
            if pattern.search(text):
                report(f"{where} contains {what}")


# --- instance metadata ----------------------------------------------------------------------

_IMDS = frozenset({INSTANCE, LAUNCH_TEMPLATE, LAUNCH_CONFIGURATION})


def _remediate_imds(args):
    if args.resource_type not in _IMDS:
        return None
    props = plain(args.props)
    options = dict(props.get("metadataOptions") or {})
    if options.get("httpTokens") == "required":
        return None
    options["httpTokens"] = "required"
    options.setdefault("httpPutResponseHopLimit", 1)
    props["metadataOptions"] = options
    return props


@rule("ec2-imdsv2-required",
      "Instances, launch templates and launch configurations require IMDSv2 (metadata "
      "tokens), which blocks SSRF credential theft.",
      MANDATORY, Severity.HIGH,
      ["Security Hub EC2.8", "Security Hub AutoScaling.3", "Checkov CKV_AWS_79",
       "trivy AVD-AWS-0028", "trivy AVD-AWS-0130"],
      "Leave imdsv2 at its default (true), or set metadata_options http_tokens=\"required\"; "
      "with remediation the pack sets it.", remediate=_remediate_imds, types=_IMDS)
def ec2_imdsv2_required(args, report):
    if args.resource_type not in _IMDS:
        return
    options = args.props.get("metadataOptions") or {}
    if options.get("httpEndpoint") == "disabled":
        return  # no metadata service at all
    if options.get("httpTokens") != "required":
        report("metadataOptions.httpTokens is not \"required\"")


@rule("ec2-imds-hop-limit",
      "The metadata response hop limit is 1, so containers on the instance cannot reach it.",
      ADVISORY, Severity.MEDIUM, ["Security Hub EC2.8", "Checkov CKV_AWS_341"],
      "Set metadataOptions.httpPutResponseHopLimit to 1 (envkit's default).", types=_IMDS)
def ec2_imds_hop_limit(args, report):
    if args.resource_type not in _IMDS:
        return
    hops = (args.props.get("metadataOptions") or {}).get("httpPutResponseHopLimit")
    if hops is not None and hops > 1:
        report(f"httpPutResponseHopLimit is {hops:g}")


# --- volumes --------------------------------------------------------------------------------


def _remediate_encryption(args):
    if args.resource_type not in (INSTANCE, LAUNCH_CONFIGURATION):
        return None
    props = plain(args.props)
    root = dict(props.get("rootBlockDevice") or {})
    if root.get("encrypted") is True:
        return None
    root["encrypted"] = True
    props["rootBlockDevice"] = root
    return props


def _encrypted(device: dict) -> bool:
    # A volume made from a snapshot inherits the snapshot's encryption (Checkov's reading).
    value = device.get("encrypted")
    return value is True or str(value).lower() == "true" or (
        value is None and bool(device.get("snapshotId")))


@rule("ec2-root-volume-encrypted",
      "Instances, launch configurations and launch templates encrypt their root and EBS "
      "volumes.",
      MANDATORY, Severity.HIGH,
      ["CIS 2.2.1", "Security Hub EC2.3", "Checkov CKV_AWS_8", "trivy AVD-AWS-0131",
       "trivy AVD-AWS-0008", "AWSGuard encrypted-volumes"],
      "Leave root_volume.encrypted at its default (true), or set encrypted=True on every "
      "block device; with remediation the pack sets it on the root device.",
      remediate=_remediate_encryption, types=LAUNCHERS)
def ec2_root_volume_encrypted(args, report):
    props = args.props
    if args.resource_type in (INSTANCE, LAUNCH_CONFIGURATION):
        if (props.get("rootBlockDevice") or {}).get("encrypted") is not True:
            report("rootBlockDevice.encrypted is not true")
        for i, device in enumerate(as_list(props.get("ebsBlockDevices"))):
            if not _encrypted(plain(device) or {}):
                report(f"ebsBlockDevices[{i}] is not encrypted")
    elif args.resource_type == LAUNCH_TEMPLATE:
        mappings = as_list(props.get("blockDeviceMappings"))
        if not mappings:
            report("no blockDeviceMappings: the root volume's encryption is left to the AMI")
        for i, mapping in enumerate(mappings):
            ebs = (plain(mapping) or {}).get("ebs")
            if isinstance(ebs, dict) and not _encrypted(ebs):
                report(f"blockDeviceMappings[{i}].ebs is not encrypted")


@rule("ec2-instance-profile",
      "Instances get AWS credentials from an instance profile (a role), not from keys.",
      ADVISORY, Severity.MEDIUM, ["Checkov CKV2_AWS_41"],
      "Give the instance a role trusted by ec2 (instances.NAME.role).", types=_INSTANCE)
def ec2_instance_profile(args, report):
    if args.resource_type == INSTANCE and not args.props.get("iamInstanceProfile"):
        report("the instance has no instance profile")


LAB_INSTANCE_TYPES = ["t2.nano", "t2.micro", "t2.small", "t2.medium", "t3.nano", "t3.micro",
                      "t3.small", "t3.medium", "t3a.nano", "t3a.micro", "t3a.small",
                      "t3a.medium", "t4g.nano", "t4g.micro", "t4g.small", "t4g.medium"]


@rule("ec2-allowed-instance-types",
      "Instance types stay within the allowed list (lab-sized by default; on programs envkit "
      "did not write, only the list a policy config gives in allowedInstanceTypes).",
      ADVISORY, Severity.MEDIUM, ["AWS cost controls"],
      "Choose a type from the allowed list, or widen allowedInstanceTypes in the policy "
      "config.", types=_INSTANCE, config={"allowedInstanceTypes": {
          "type": "array", "items": {"type": "string"}, "default": LAB_INSTANCE_TYPES}},
      foreign_config={"allowedInstanceTypes": ["*"]})
def ec2_allowed_instance_types(args, report):
    if args.resource_type != INSTANCE:
        return
    allowed = config_value(args, "allowedInstanceTypes", LAB_INSTANCE_TYPES)
    itype = args.props.get("instanceType")
    if not any(fnmatch.fnmatchcase(str(itype), pattern) for pattern in allowed):
        report(f"instance type {itype} is not in the allowed list")


def _public_ip(resource) -> bool:
    """Whether a launcher asks for a public IP (a launch template per network interface,
    as the string "true")."""
    props = resource.props
    if resource.resource_type == LAUNCH_TEMPLATE:
        return any(str((plain(i) or {}).get("associatePublicIpAddress")).lower() == "true"
                   for i in as_list(props.get("networkInterfaces")))
    return props.get("associatePublicIpAddress") is True


@rule("ec2-public-ip-only-for-web",
      "Only instances (and launch templates or configurations) that serve the web "
      "(http/https ingress) get a public IP.",
      ADVISORY, Severity.LOW,
      ["Security Hub EC2.9", "Checkov CKV_AWS_88", "Checkov CKV_AWS_389", "trivy AVD-AWS-0009",
       "AWSGuard ec2-instance-no-public-ip"],
      "Set public_ip: false for instances that need no inbound internet traffic; set "
      "allowPublicIpForWeb to false to keep every instance off the internet (web servers "
      "behind a load balancer).",
      kind="stack", types=frozenset({*LAUNCHERS, *SG_TYPES}),
      config={"allowPublicIpForWeb": {"type": "boolean", "default": True}})
def ec2_public_ip_only_for_web(args, report):
    web_allowed = config_value(args, "allowPublicIpForWeb", True)
    web_groups = set()
    for r in by_type(args.resources, "aws:ec2/securityGroup:SecurityGroup"):
        for rule_ in known(lambda r=r: sg_rules(r, "ingress"), []):
            if rule_.covers(80) or rule_.covers(443):
                web_groups.add(r.urn)
    for r in args.resources:
        if r.resource_type not in LAUNCHERS or not known(lambda r=r: _public_ip(r)):
            continue
        groups = {d.urn for d in r.dependencies}
        what = "instance" if r.resource_type == INSTANCE else "launch template" \
            if r.resource_type == LAUNCH_TEMPLATE else "launch configuration"
        if not groups & web_groups:
            report(f"{what} '{r.name}' has a public IP but serves no http/https", r.urn)
        elif not web_allowed:
            report(f"{what} '{r.name}' serves http/https from a public IP (allowPublicIpForWeb "
                   "is false)", r.urn)


#: What attaches an elastic IP besides its own instance/networkInterface: an association,
#: and a NAT gateway's allocation_id (the gateway's public address).
EIP_USERS = ("aws:ec2/eipAssociation:EipAssociation", "aws:ec2/natGateway:NatGateway")


@rule("ec2-no-unattached-eip",
      "Every elastic IP is attached to an instance, a network interface or a NAT gateway.",
      ADVISORY, Severity.LOW, ["Security Hub EC2.12", "Checkov CKV2_AWS_19"],
      "Attach the address (instances.NAME.elastic_ip) or release it.", kind="stack",
      types=frozenset({"aws:ec2/eip:Eip", *EIP_USERS}))
def ec2_no_unattached_eip(args, report):
    associated = set()
    for r in args.resources:
        if r.resource_type in EIP_USERS:
            associated |= {d.urn for d in r.dependencies}
    for r in by_type(args.resources, "aws:ec2/eip:Eip"):
        attached = known(lambda r=r: r.props.get("instance") or r.props.get(
            "networkInterface"), True)
        if not attached and r.urn not in associated:
            report(f"elastic IP '{r.name}' is not attached", r.urn)


@rule("ec2-detailed-monitoring",
      "Instances have detailed (1-minute) CloudWatch monitoring.",
      ADVISORY, Severity.LOW,
      ["Checkov CKV_AWS_126", "AWSGuard ec2-instance-detailed-monitoring-enabled"],
      "Set monitoring: true on the instance (it costs a little).", types=_INSTANCE)
def ec2_detailed_monitoring(args, report):
    if args.resource_type == INSTANCE and not args.props.get("monitoring"):
        report("detailed monitoring is off")


DEFAULT_AMI_OWNERS = ["137112412989", "801119661308", "099720109477", "136693071363",
                      "309956199498", "amazon", "self"]


@rule("ec2-ami-allowed-owner",
      "Instances boot AMIs published by an allowed owner (guards against name-confusion "
      "attacks with look-alike public images).",
      MANDATORY, Severity.HIGH,
      ["AWS AMI name confusion", "Checkov CKV_AWS_386", "trivy AVD-AWS-0344"],
      "Use an envkit AMI alias (owners pinned) or add the publisher to allowedAmiOwners.",
      foreign_level=ADVISORY, types=_INSTANCE,
      config={"allowedAmiOwners": {"type": "array", "items": {"type": "string"},
                                   "default": DEFAULT_AMI_OWNERS}})
def ec2_ami_allowed_owner(args, report):
    if args.resource_type != INSTANCE:
        return
    owner = (plain(args.props.get("tags")) or {}).get(AMI_OWNER_TAG)
    if owner is None:
        args.not_applicable("the AMI's owner is not recorded (explicit ami- id)")
    allowed = config_value(args, "allowedAmiOwners", DEFAULT_AMI_OWNERS)
    if owner not in allowed:
        report(f"AMI owner {owner} is not in the allowed owners")


@rule("ec2-ami-not-public",
      "AMIs are never shared with everyone (a launch permission for group \"all\").",
      MANDATORY, Severity.HIGH, ["Checkov CKV_AWS_205", "AWS AMI sharing"],
      "Share the image with named accounts (account_id) or an organization "
      "(organization_arn) instead of group=\"all\".",
      types=frozenset({"aws:ec2/amiLaunchPermission:AmiLaunchPermission"}))
def ec2_ami_not_public(args, report):
    if args.resource_type != "aws:ec2/amiLaunchPermission:AmiLaunchPermission":
        return
    if str(args.props.get("group") or "").lower() == "all":
        report("the AMI is launchable by every AWS account (group \"all\")")


AMI = "aws:ec2/ami:Ami"
AMI_COPY = "aws:ec2/amiCopy:AmiCopy"


@rule("ec2-ami-encrypted",
      "AMIs a program registers or copies are encrypted: every EBS mapping of an aws.ec2.Ami "
      "not made from a snapshot, and every aws.ec2.AmiCopy.",
      MANDATORY, Severity.HIGH, ["Checkov CKV_AWS_204", "Checkov CKV_AWS_235"],
      "Set encrypted=True on the AmiCopy, and on each ebs_block_devices entry of the Ami (or "
      "build it from an encrypted snapshot).",
      types=frozenset({AMI, AMI_COPY}))
def ec2_ami_encrypted(args, report):
    if args.resource_type == AMI_COPY and args.props.get("encrypted") is not True:
        report("the AMI copy is not encrypted")
    elif args.resource_type == AMI:
        for i, device in enumerate(as_list(args.props.get("ebsBlockDevices"))):
            if not _encrypted(plain(device) or {}):
                report(f"ebsBlockDevices[{i}] is not encrypted")
