"""Pulumi component resources that make up a lab."""

from .ec2 import Ec2Lab
from .iam import IamLab
from .keys import SshKey
from .network import LabNetwork

__all__ = ["Ec2Lab", "IamLab", "LabNetwork", "SshKey"]
