"""The SSH command of an instance, as an argv list built from its parts (never a shell
string): the private key file, the AMI's default user and the instance's address.

`envkit ssh --run` execs the list; everything that shows the command (``envkit ssh``, the
``ssh_command`` stack output) shows ``shlex.join`` of it, so a path with spaces or shell
metacharacters stays one argument and can be pasted into a shell as is.
"""

from __future__ import annotations

import ipaddress
from typing import TYPE_CHECKING, Any

from .spec.amis import AMI_ALIASES

if TYPE_CHECKING:
    from .spec.models import EnvironmentSpec, InstanceSpec

DEFAULT_USER = "ec2-user"


def login_user(inst: InstanceSpec) -> str:
    """The AMI's default user (``ec2-user`` for an AMI id envkit has no alias for)."""
    alias = AMI_ALIASES.get(inst.ami)
    return alias.default_user if alias else DEFAULT_USER


def is_windows(inst: InstanceSpec) -> bool:
    """Whether the instance runs Windows (reached with RDP, not SSH)."""
    alias = AMI_ALIASES.get(inst.ami)
    return alias is not None and alias.platform == "windows"


def key_file(spec: EnvironmentSpec, inst: InstanceSpec, key_dir: str) -> str | None:
    """The private key for an instance's key pair: ``key_dir/<pair>.pem`` for a key envkit
    generated; for a ``public_key_file``, the file beside it without ``.pub`` (resolved
    from the spec's folder when the spec was loaded); None otherwise."""
    if not inst.key_pair:
        return None
    pair = spec.ec2.key_pairs.get(inst.key_pair)
    if pair is None:
        return None
    if pair.generated:
        return f"{key_dir}/{inst.key_pair}.pem"
    path = str(pair.public_key_file) if pair.public_key_file else ""
    return path[:-4] if path.endswith(".pub") else None


def command(user: str, address: str, key: str | None) -> list[str]:
    """``ssh [-i KEY] USER@ADDRESS`` as an argv list."""
    return ["ssh", *(["-i", key] if key else []), f"{user}@{address}"]


def ssh_argv(spec: EnvironmentSpec, instance: str, outputs: dict[str, Any],
             key_dir: str) -> list[str] | None:
    """The argv for ``envkit ssh``, from the spec and the instance's stack outputs; None
    when no address is recorded. The address must be an IP address: it becomes the part
    of an argument after ``@``, so nothing that reads as an option can get there."""
    from .errors import OperationError
    from .limits import clip

    inst = spec.ec2.instances[instance]
    address = outputs.get("public_ip") or outputs.get("private_ip")
    if not address:
        return None
    try:
        ipaddress.ip_address(str(address))
    except ValueError:
        raise OperationError(f"'{instance}' has no usable address recorded "
                             f"('{clip(address)}' is not an IP address)") from None
    if is_windows(inst):
        raise OperationError(f"'{instance}' runs Windows: connect with RDP to {address}:3389 "
                             f"as {login_user(inst)}")
    return command(login_user(inst), str(address), key_file(spec, inst, key_dir))
