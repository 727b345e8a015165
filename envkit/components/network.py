"""LabNetwork: the default VPC, or a dedicated lab VPC with one public subnet.

A dedicated VPC gets an internet gateway, a route table with the default route through
it, and its default security group emptied (CIS AWS Foundations 5.4), so nothing lands in
an open group by accident.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pulumi
import pulumi_aws as aws

from ..spec.models import EnvironmentSpec
from .base import _output, named


class LabNetwork(pulumi.ComponentResource):
    """Where a lab's instances live (type ``envkit:network:LabNetwork``).

    Outputs: ``vpc_id``, ``subnet_id``, ``availability_zone``, ``vpc_cidr``.
    """

    vpc_id: pulumi.Output[str]
    subnet_id: pulumi.Output[str]
    availability_zone = _output("availability_zone")
    vpc_cidr: pulumi.Output[str]

    def __init__(self, name: str, spec: EnvironmentSpec, tags: dict[str, str],
                 opts: pulumi.ResourceOptions | None = None,
                 existing: Mapping[str, Any] | None = None) -> None:
        """``existing`` ({vpc_id, subnet_id, vpc_cidr}) is a network made elsewhere (a
        classroom's shared stack): nothing is created or looked up."""
        super().__init__("envkit:network:LabNetwork", name, None, opts)
        net = spec.ec2.network
        env = spec.name
        az = spec.availability_zone
        child = pulumi.ResourceOptions(parent=self)
        invoke = pulumi.InvokeOptions(parent=self)

        if existing is not None:
            self.vpc_id = existing["vpc_id"]
            self.vpc_cidr = existing["vpc_cidr"]
            self.subnet_id = existing["subnet_id"]
        elif not net.dedicated:
            vpc = aws.ec2.get_vpc_output(default=True, opts=invoke)
            subnet = aws.ec2.get_subnet_output(
                vpc_id=vpc.id, default_for_az=True, availability_zone=az, opts=invoke)
            self.vpc_id = vpc.id
            self.vpc_cidr = vpc.cidr_block
            self.subnet_id = subnet.id
        else:
            vpc = aws.ec2.Vpc(f"{env}-vpc", cidr_block=net.vpc_cidr, enable_dns_support=True,
                              enable_dns_hostnames=True, tags=named(tags, f"{env}-vpc"),
                              opts=child)
            vopts = pulumi.ResourceOptions(parent=vpc)
            aws.ec2.DefaultSecurityGroup(f"{env}-vpc-default-sg", vpc_id=vpc.id, ingress=[],
                                         egress=[], tags=named(tags, f"{env}-default-closed"),
                                         opts=vopts)
            igw = aws.ec2.InternetGateway(f"{env}-igw", vpc_id=vpc.id,
                                          tags=named(tags, f"{env}-igw"), opts=vopts)
            subnet = aws.ec2.Subnet(f"{env}-public", vpc_id=vpc.id, cidr_block=net.subnet_cidr,
                                    availability_zone=az, map_public_ip_on_launch=False,
                                    tags=named(tags, f"{env}-public"), opts=vopts)
            routes = aws.ec2.RouteTable(
                f"{env}-public-routes", vpc_id=vpc.id,
                routes=[{"cidr_block": "0.0.0.0/0", "gateway_id": igw.id}],
                tags=named(tags, f"{env}-public-routes"), opts=vopts)
            aws.ec2.RouteTableAssociation(f"{env}-public-routes-assoc", subnet_id=subnet.id,
                                          route_table_id=routes.id,
                                          opts=pulumi.ResourceOptions(parent=subnet))
            self.vpc_id = vpc.id
            self.vpc_cidr = vpc.cidr_block
            self.subnet_id = subnet.id
        self.exports = {
            "vpc_id": self.vpc_id, "subnet_id": self.subnet_id,
            "availability_zone": az, "vpc_cidr": self.vpc_cidr,
        }
        # Done registering children. The outputs are the stack's (see stack_program):
        # registering them here too would keep a second copy of every secret in state.
        self.register_outputs({})
