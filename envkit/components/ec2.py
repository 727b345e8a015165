"""Ec2Lab: key pairs, security groups and instances of one lab, secure by default.

Defaults, each overridable in the spec: IMDSv2 required with a hop limit of 1, encrypted
root volumes, egress limited to http/https, no SSH from anywhere unless the spec writes
0.0.0.0/0 itself, and no key material in user data.
"""

from __future__ import annotations

import html
import shlex
from collections.abc import Mapping
from typing import Any

import pulumi
import pulumi_aws as aws

from .. import ssh
from ..spec.amis import AMI_ALIASES
from ..spec.models import EnvironmentSpec, InstanceSpec, RuleSpec, web_server_template
from .base import AMI_OWNER_TAG, _output, named
from .iam import IamLab
from .keys import SshKey
from .network import LabNetwork


def web_server_user_data(env: str, instance: str, index_html: str | None = None) -> str:
    """The built-in ``web-server`` user data: httpd installed, enabled, started, a page."""
    script = web_server_template()
    page = index_html or (
        f"<!doctype html><title>{html.escape(env)}</title>"
        f"<h1>envkit lab {html.escape(env)}: {html.escape(instance)}</h1>"
        "<p>Served by instance __INSTANCE_ID__</p>"
    )
    return script.replace("__INDEX_HTML__", page)


def user_data_for(spec: EnvironmentSpec, name: str, inst: InstanceSpec) -> str | None:
    """The user-data text of an instance, or None."""
    ud = inst.user_data
    if ud is None:
        return None
    if ud.file is not None:
        return ud.text()
    return web_server_user_data(spec.name, name, ud.index_html)


def _rule_args(rule: RuleSpec, outbound: bool) -> dict[str, Any]:
    protocol, low, high = rule.resolved()
    cidrs = rule.cidrs
    args: dict[str, Any] = {"protocol": protocol, "from_port": low, "to_port": high}
    v4 = [c for c in cidrs if ":" not in c]
    v6 = [c for c in cidrs if ":" in c]
    if v4:
        args["cidr_blocks"] = v4
    if v6:
        args["ipv6_cidr_blocks"] = v6
    direction = "to" if outbound else "from"
    args["description"] = rule.description or f"{rule.label()} {direction} {', '.join(cidrs)}"
    return args


class Ec2Lab(pulumi.ComponentResource):
    """The EC2 half of a lab (type ``envkit:ec2:Ec2Lab``).

    Outputs: ``instances`` (name -> {id, private_ip, public_ip, public_dns, ssh_command,
    web_url, network_interfaces}), ``security_groups`` (name -> id), ``key_pairs``
    (name -> key name), ``private_keys`` (secret; generated key name -> PEM).

    ``emulator=True`` (the local target) leaves out what the emulator (moto) cannot do:
    detailed monitoring (``MonitorInstances`` is a stub there, so the provider's create
    would fail) and spot purchase (moto returns no spot request id, so the provider would
    replace every spot instance on each ``up``); instances are on-demand, unmonitored.
    """

    instances = _output("instances")
    security_groups = _output("security_groups")
    key_pairs = _output("key_pairs")
    private_keys = _output("private_keys", secret=True)

    def __init__(self, name: str, spec: EnvironmentSpec, tags: dict[str, str],
                 network: LabNetwork, iam: IamLab | None = None,
                 key_dir: str | None = None,
                 opts: pulumi.ResourceOptions | None = None,
                 existing_security_groups: Mapping[str, Any] | None = None,
                 existing_instance_profiles: Mapping[str, Any] | None = None, *,
                 emulator: bool = False) -> None:
        """``existing_security_groups`` (name -> id) and ``existing_instance_profiles`` (role
        -> profile name) are made elsewhere (a classroom's shared stack) and used by name."""
        super().__init__("envkit:ec2:Ec2Lab", name, None, opts)
        self._emulator = emulator
        self._existing_groups = dict(existing_security_groups or {})
        # One lookup per AMI alias, shared by every instance that names it: instances of
        # one lab launch the same image, and each extra invoke is a provider round trip
        # (and, offline, one more pending output for Pulumi's runtime to poll).
        self._amis: dict[str, Any] = {}
        self._existing_profiles = dict(existing_instance_profiles or {})
        ec2 = spec.ec2
        env = spec.name
        child = pulumi.ResourceOptions(parent=self)
        if key_dir is None:
            from ..home import keys_dir

            key_dir = str(keys_dir(env))

        key_pairs: dict[str, aws.ec2.KeyPair] = {}
        private_keys: dict[str, Any] = {}
        for kname, kp in ec2.key_pairs.items():
            if kp.generated:
                gen = SshKey(f"{env}-key-{kname}-material", algorithm=kp.type, opts=child)
                public_key: Any = gen.public_key
                private_keys[kname] = gen.private_key
            else:
                public_key = kp.public_key_text()
            key_pairs[kname] = aws.ec2.KeyPair(
                f"{env}-key-{kname}", key_name=f"{env}-{kname}", public_key=public_key,
                tags=named(tags, f"{env}-{kname}"), opts=child)

        groups: dict[str, aws.ec2.SecurityGroup] = {}
        for gname, sg in ec2.security_groups.items():
            groups[gname] = aws.ec2.SecurityGroup(
                f"{env}-sg-{gname}", name=f"{env}-{gname}", vpc_id=network.vpc_id,
                description=sg.description or f"envkit {env}: {gname}",
                ingress=[_rule_args(r, outbound=False) for r in sg.ingress],
                egress=[_rule_args(r, outbound=True) for r in sg.egress],
                tags=named(tags, f"{env}-{gname}"), opts=child)

        instances_out: dict[str, Any] = {}
        for iname, inst in ec2.instances.items():
            instances_out[iname] = self._instance(
                spec, iname, inst, tags, network, iam, key_pairs, key_dir, groups, child)

        #: The stack outputs this component contributes, leaf by leaf.
        self.exports: dict[str, Any] = {
            "instances": instances_out,
            "security_groups": {n: g.id for n, g in groups.items()},
            "key_pairs": {n: k.key_name for n, k in key_pairs.items()},
            "private_keys": private_keys,
        }
        # Done registering children. The outputs are the stack's (see stack_program):
        # registering them here too would keep a second copy of every secret in state.
        self.register_outputs({})

    def _ami(self, name: str) -> Any:
        """The image id for an AMI alias (looked up once per alias), or the id as given."""
        alias = AMI_ALIASES.get(name)
        if alias is None:
            return name
        if name not in self._amis:
            self._amis[name] = aws.ec2.get_ami_output(
                most_recent=True, owners=[alias.owner],
                filters=[
                    {"name": "name", "values": [alias.name_pattern]},
                    {"name": "architecture", "values": [alias.architecture]},
                    {"name": "virtualization-type", "values": ["hvm"]},
                    {"name": "root-device-type", "values": ["ebs"]},
                    {"name": "state", "values": ["available"]},
                ],
                opts=pulumi.InvokeOptions(parent=self)).id
        return self._amis[name]

    def _instance(self, spec: EnvironmentSpec, iname: str, inst: InstanceSpec,
                  tags: dict[str, str], network: LabNetwork, iam: IamLab | None,
                  key_pairs: dict[str, aws.ec2.KeyPair], key_dir: str,
                  groups: dict[str, aws.ec2.SecurityGroup],
                  child: pulumi.ResourceOptions) -> dict[str, Any]:
        env = spec.name
        alias = AMI_ALIASES.get(inst.ami)
        ami = self._ami(inst.ami)
        sg_ids = [groups[g].id if g in groups else self._existing_groups[g]
                  for g in inst.security_groups]
        args: dict[str, Any] = {
            "ami": ami,
            "instance_type": inst.type,
            "subnet_id": network.subnet_id,
            "vpc_security_group_ids": sg_ids,
            "associate_public_ip_address": inst.public_ip,
            "metadata_options": {
                "http_endpoint": "enabled",
                "http_tokens": "required" if inst.imdsv2 else "optional",
                "http_put_response_hop_limit": 1,
            },
            "root_block_device": {
                "volume_size": inst.root_volume.size_gb,
                "volume_type": inst.root_volume.type,
                "encrypted": inst.root_volume.encrypted,
                "delete_on_termination": True,
                "tags": named(tags, f"{env}-{iname}-root"),
                **({"iops": inst.root_volume.iops} if inst.root_volume.iops else {}),
            },
            "monitoring": inst.monitoring and not self._emulator,
            "tenancy": inst.tenancy,
            "tags": named({**tags, **inst.tags, **({AMI_OWNER_TAG: alias.owner} if alias else {})},
                          f"{env}-{iname}"),
        }
        if inst.key_pair:
            args["key_name"] = key_pairs[inst.key_pair].key_name
        if inst.role and inst.role in self._existing_profiles:
            args["iam_instance_profile"] = self._existing_profiles[inst.role]
        elif inst.role and iam is not None:
            args["iam_instance_profile"] = iam.instance_profile(inst.role).name
        user_data = user_data_for(spec, iname, inst)
        if user_data is not None:
            args["user_data"] = user_data
            args["user_data_replace_on_change"] = True
        if inst.purchase == "spot" and not self._emulator:
            args["instance_market_options"] = {
                "market_type": "spot",
                "spot_options": {"spot_instance_type": "one-time",
                                 "instance_interruption_behavior": "terminate"},
            }
        instance = aws.ec2.Instance(f"{env}-{iname}", opts=child, **args)
        iopts = pulumi.ResourceOptions(parent=instance)

        public_ip: Any = instance.public_ip
        public_dns: Any = instance.public_dns
        if inst.elastic_ip:
            eip = aws.ec2.Eip(f"{env}-{iname}-eip", domain="vpc", instance=instance.id,
                              tags=named(tags, f"{env}-{iname}-eip"), opts=iopts)
            public_ip, public_dns = eip.public_ip, eip.public_dns

        enis = [instance.primary_network_interface_id]
        for index in range(1, inst.extra_network_interfaces + 1):
            eni = aws.ec2.NetworkInterface(
                f"{env}-{iname}-eni{index}", subnet_id=network.subnet_id,
                security_groups=sg_ids, description=f"envkit {env}: {iname} interface {index}",
                tags=named(tags, f"{env}-{iname}-eni{index}"), opts=iopts)
            aws.ec2.NetworkInterfaceAttachment(
                f"{env}-{iname}-eni{index}-attach", instance_id=instance.id,
                network_interface_id=eni.id, device_index=index,
                opts=pulumi.ResourceOptions(parent=eni))
            enis.append(eni.id)

        user = ssh.login_user(inst)
        key_file = ssh.key_file(spec, inst, key_dir)
        address = pulumi.Output.all(public_ip, instance.private_ip).apply(
            lambda ips: ips[0] or ips[1])
        if ssh.is_windows(inst):
            ssh_command: Any = address.apply(lambda a: f"RDP to {a}:3389 as {user}")
        else:  # shown as shlex.join of the argv `envkit ssh --run` executes
            ssh_command = address.apply(
                lambda a: shlex.join(ssh.command(user, a, key_file)))
        web = inst.user_data is not None and inst.user_data.template is not None
        web_url = (pulumi.Output.all(public_dns, public_ip).apply(
            lambda v: f"http://{v[0] or v[1]}/") if web else None)
        return {
            "id": instance.id,
            "private_ip": instance.private_ip,
            "public_ip": public_ip,
            "public_dns": public_dns,
            "ssh_command": ssh_command,
            "web_url": web_url,
            "network_interfaces": enis,
        }
