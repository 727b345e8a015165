"""AMI aliases: the names a spec may use instead of an ``ami-`` id.

Each alias is a lookup (``aws.ec2.get_ami``: owner, name pattern, architecture, most
recent) rather than a fixed id, because AMI ids differ per region and change with every
release. These are envkit's vocabulary, not AWS facts; the owners are the publishers'
well-known account ids, pinned so that a look-alike public AMI cannot win the lookup.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class AmiAlias:
    """How one alias is resolved: owner account, image-name pattern, architecture."""

    owner: str
    name_pattern: str
    architecture: str
    platform: str = "linux"
    default_user: str = "ec2-user"


AMAZON = "137112412989"
AMAZON_WINDOWS = "801119661308"
CANONICAL = "099720109477"
DEBIAN = "136693071363"
REDHAT = "309956199498"

AMI_ALIASES: dict[str, AmiAlias] = {
    "amazon-linux-2023": AmiAlias(AMAZON, "al2023-ami-2023.*-x86_64", "x86_64"),
    "amazon-linux-2023-arm64": AmiAlias(AMAZON, "al2023-ami-2023.*-arm64", "arm64"),
    "amazon-linux-2": AmiAlias(AMAZON, "amzn2-ami-hvm-*-x86_64-gp2", "x86_64"),
    "ubuntu-24.04": AmiAlias(
        CANONICAL, "ubuntu/images/hvm-ssd-gp3/ubuntu-noble-24.04-amd64-server-*", "x86_64",
        default_user="ubuntu",
    ),
    "ubuntu-22.04": AmiAlias(
        CANONICAL, "ubuntu/images/hvm-ssd/ubuntu-jammy-22.04-amd64-server-*", "x86_64",
        default_user="ubuntu",
    ),
    "debian-12": AmiAlias(DEBIAN, "debian-12-amd64-*", "x86_64", default_user="admin"),
    "rhel-9": AmiAlias(REDHAT, "RHEL-9.*_HVM-*-x86_64-*", "x86_64"),
    "windows-2022": AmiAlias(
        AMAZON_WINDOWS, "Windows_Server-2022-English-Full-Base-*", "x86_64",
        platform="windows", default_user="Administrator",
    ),
}
