"""The environment spec: models, loading and validation."""

from .loader import load_spec, load_spec_text
from .models import (
    Ec2Spec,
    EnvironmentSpec,
    GroupSpec,
    IamSpec,
    InstanceSpec,
    KeyPairSpec,
    NetworkSpec,
    PasswordPolicySpec,
    PolicyDocument,
    RoleSpec,
    RootVolumeSpec,
    RuleSpec,
    SecurityGroupSpec,
    UserDataSpec,
    UserSpec,
)

__all__ = [
    "Ec2Spec",
    "EnvironmentSpec",
    "GroupSpec",
    "IamSpec",
    "InstanceSpec",
    "KeyPairSpec",
    "NetworkSpec",
    "PasswordPolicySpec",
    "PolicyDocument",
    "RoleSpec",
    "RootVolumeSpec",
    "RuleSpec",
    "SecurityGroupSpec",
    "UserDataSpec",
    "UserSpec",
    "load_spec",
    "load_spec_text",
]
