"""EC2 instances: instance metadata (IMDSv2), volume encryption, credentials, size, public
exposure, elastic IPs, monitoring, AMI provenance and secrets in user data."""

from __future__ import annotations

import fnmatch
import re

from pulumi_policy import Severity

from ...components.base import AMI_OWNER_TAG
from ._common import (
    ADVISORY,
    MANDATORY,
    SG_TYPES,
    as_list,
    by_type,
    config_value,
    covers,
    known,
    plain,
    rule,
    sg_rules,
    taggable,
)

INSTANCE = "aws:ec2/instance:Instance"
LAUNCH_TEMPLATE = "aws:ec2/launchTemplate:LaunchTemplate"
_INSTANCE = frozenset({INSTANCE})

_SECRET_PATTERNS = [
    (re.compile(r"\b(AKIA|ASIA)[0-9A-Z]{16}\b"), "an AWS access key id"),
    (re.compile(r"aws_secret_access_key\s*[=:]", re.I), "an AWS secret access key"),
    (re.compile(r"-----BEGIN (?:RSA |EC |OPENSSH |DSA )?PRIVATE KEY-----"), "a private key"),
    (re.compile(r"\b(password|passwd|secret)\s*[=:]\s*['\"]?[^\s'\"$]{6,}", re.I),
     "a password"),
]


@rule("no-secrets-in-user-data-or-tags",
      "No access keys, private keys or passwords are written in user data or tags.",
      MANDATORY, Severity.CRITICAL, ["Checkov CKV_AWS_46"],
      "Use an instance profile (roles) and a secrets store instead of literal credentials.",
      types=lambda t: t in (INSTANCE, LAUNCH_TEMPLATE) or taggable(t))
def no_secrets_in_user_data_or_tags(args, report):
    texts = []
    user_data = args.props.get("userData")
    if isinstance(user_data, str):
        texts.append(("userData", user_data))
    tags = plain(args.props.get("tags"))
    if isinstance(tags, dict):
        texts += [(f"tags.{k}", f"{k}={v}") for k, v in tags.items()]
    for where, text in texts:
        for pattern, what in _SECRET_PATTERNS:
            if pattern.search(text):
                report(f"{where} contains {what}")


def _remediate_imds(args):
    if args.resource_type not in (INSTANCE, LAUNCH_TEMPLATE):
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
      "Instances require IMDSv2 (metadata tokens), which blocks SSRF credential theft.",
      MANDATORY, Severity.HIGH, ["Security Hub EC2.8", "Checkov CKV_AWS_79"],
      "Leave imdsv2 at its default (true); with remediation the pack sets httpTokens: "
      "required.", remediate=_remediate_imds, types=frozenset({INSTANCE, LAUNCH_TEMPLATE}))
def ec2_imdsv2_required(args, report):
    if args.resource_type not in (INSTANCE, LAUNCH_TEMPLATE):
        return
    options = args.props.get("metadataOptions") or {}
    if options.get("httpTokens") != "required":
        report("metadataOptions.httpTokens is not \"required\"")


@rule("ec2-imds-hop-limit",
      "The metadata response hop limit is 1, so containers on the instance cannot reach it.",
      ADVISORY, Severity.MEDIUM, ["Security Hub EC2.8", "Checkov CKV_AWS_341"],
      "Set metadataOptions.httpPutResponseHopLimit to 1 (envkit's default).",
      types=frozenset({INSTANCE, LAUNCH_TEMPLATE}))
def ec2_imds_hop_limit(args, report):
    if args.resource_type not in (INSTANCE, LAUNCH_TEMPLATE):
        return
    hops = (args.props.get("metadataOptions") or {}).get("httpPutResponseHopLimit")
    if hops is not None and hops > 1:
        report(f"httpPutResponseHopLimit is {hops}")


def _remediate_encryption(args):
    if args.resource_type != INSTANCE:
        return None
    props = plain(args.props)
    root = dict(props.get("rootBlockDevice") or {})
    if root.get("encrypted") is True:
        return None
    root["encrypted"] = True
    props["rootBlockDevice"] = root
    return props


@rule("ec2-root-volume-encrypted",
      "Instance root and attached EBS volumes are encrypted.",
      MANDATORY, Severity.HIGH, ["CIS 2.2.1", "Security Hub EC2.3", "Checkov CKV_AWS_8"],
      "Leave root_volume.encrypted at its default (true); with remediation the pack sets it.",
      remediate=_remediate_encryption, types=_INSTANCE)
def ec2_root_volume_encrypted(args, report):
    if args.resource_type != INSTANCE:
        return
    root = args.props.get("rootBlockDevice") or {}
    if root.get("encrypted") is not True:
        report("rootBlockDevice.encrypted is not true")
    for i, device in enumerate(as_list(args.props.get("ebsBlockDevices"))):
        if not (device or {}).get("encrypted"):
            report(f"ebsBlockDevices[{i}] is not encrypted")


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
      "Instance types stay within the allowed list (lab-sized by default).",
      ADVISORY, Severity.MEDIUM, ["AWS cost controls"],
      "Choose a type from the allowed list, or widen allowedInstanceTypes in the policy "
      "config.", types=_INSTANCE, config={"allowedInstanceTypes": {
          "type": "array", "items": {"type": "string"}, "default": LAB_INSTANCE_TYPES}})
def ec2_allowed_instance_types(args, report):
    if args.resource_type != INSTANCE:
        return
    allowed = config_value(args, "allowedInstanceTypes", LAB_INSTANCE_TYPES)
    itype = args.props.get("instanceType")
    if not any(fnmatch.fnmatchcase(str(itype), pattern) for pattern in allowed):
        report(f"instance type {itype} is not in the allowed list")


@rule("ec2-public-ip-only-for-web",
      "Only instances that serve the web (http/https ingress) get a public IP.",
      ADVISORY, Severity.LOW, ["Security Hub EC2.9"],
      "Set public_ip: false for instances that need no inbound internet traffic.",
      kind="stack", types=frozenset({INSTANCE, *SG_TYPES}))
def ec2_public_ip_only_for_web(args, report):
    web_groups = set()
    for r in by_type(args.resources, "aws:ec2/securityGroup:SecurityGroup"):
        for rule_ in known(lambda r=r: sg_rules(r, "ingress"), []):
            if covers(rule_, 80) or covers(rule_, 443):
                web_groups.add(r.urn)
    for r in by_type(args.resources, INSTANCE):
        public = known(lambda r=r: r.props.get("associatePublicIpAddress"))
        if not public:
            continue
        groups = {d.urn for d in r.dependencies}
        if not groups & web_groups:
            report(f"instance '{r.name}' has a public IP but serves no http/https", r.urn)


@rule("ec2-no-unattached-eip",
      "Every elastic IP is attached to an instance or network interface.",
      ADVISORY, Severity.LOW, ["Security Hub EC2.12", "Checkov CKV2_AWS_19"],
      "Attach the address (instances.NAME.elastic_ip) or release it.", kind="stack",
      types=frozenset({"aws:ec2/eip:Eip", "aws:ec2/eipAssociation:EipAssociation"}))
def ec2_no_unattached_eip(args, report):
    associated = set()
    for r in by_type(args.resources, "aws:ec2/eipAssociation:EipAssociation"):
        associated |= {d.urn for d in r.dependencies}
    for r in by_type(args.resources, "aws:ec2/eip:Eip"):
        attached = known(lambda r=r: r.props.get("instance") or r.props.get(
            "networkInterface"), True)
        if not attached and r.urn not in associated:
            report(f"elastic IP '{r.name}' is not attached", r.urn)


@rule("ec2-detailed-monitoring",
      "Instances have detailed (1-minute) CloudWatch monitoring.",
      ADVISORY, Severity.LOW, ["Checkov CKV_AWS_126"],
      "Set monitoring: true on the instance (it costs a little).", types=_INSTANCE)
def ec2_detailed_monitoring(args, report):
    if args.resource_type == INSTANCE and not args.props.get("monitoring"):
        report("detailed monitoring is off")


DEFAULT_AMI_OWNERS = ["137112412989", "801119661308", "099720109477", "136693071363",
                      "309956199498", "amazon", "self"]


@rule("ec2-ami-allowed-owner",
      "Instances boot AMIs published by an allowed owner (guards against name-confusion "
      "attacks with look-alike public images).",
      MANDATORY, Severity.HIGH, ["AWS AMI name confusion"],
      "Use an envkit AMI alias (owners pinned) or add the publisher to allowedAmiOwners.",
      types=_INSTANCE,
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
