"""SSH key pairs generated once per environment and kept in the stack's state.

pulumi-aws's ``KeyPair`` only imports a public key, so the key itself is made by a small
dynamic provider with ``cryptography``: it runs at create time only, the private key is a
Pulumi secret in the (encrypted) state, and every later update reuses it.
"""

from __future__ import annotations

from typing import Any

import pulumi
from pulumi.dynamic import CreateResult, ResourceProvider
from pulumi.dynamic import Resource as DynamicResource


def generate_openssh_key(algorithm: str) -> tuple[str, str]:
    """A new key pair as (OpenSSH public key, OpenSSH private key PEM)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

    if algorithm == "rsa":
        key: Any = rsa.generate_private_key(public_exponent=65537, key_size=4096)
        private_format = serialization.PrivateFormat.TraditionalOpenSSL
    else:
        key = ed25519.Ed25519PrivateKey.generate()
        private_format = serialization.PrivateFormat.OpenSSH
    private = key.private_bytes(serialization.Encoding.PEM, private_format,
                                serialization.NoEncryption()).decode()
    public = key.public_key().public_bytes(serialization.Encoding.OpenSSH,
                                           serialization.PublicFormat.OpenSSH).decode()
    return public, private


class _SshKeyProvider(ResourceProvider):
    def create(self, props: dict[str, Any]) -> CreateResult:
        import hashlib

        public, private = generate_openssh_key(props["algorithm"])
        key_id = "sshkey-" + hashlib.sha256(public.encode()).hexdigest()[:16]
        return CreateResult(id_=key_id, outs={
            "algorithm": props["algorithm"], "public_key": public, "private_key": private,
        })


class SshKey(DynamicResource, module="envkit", name="SshKey"):
    """A generated SSH key; ``private_key`` is a secret output."""

    public_key: pulumi.Output[str]
    private_key: pulumi.Output[str]

    def __init__(self, name: str, algorithm: str = "ed25519",
                 opts: pulumi.ResourceOptions | None = None) -> None:
        secret = pulumi.ResourceOptions(additional_secret_outputs=["private_key"])
        super().__init__(
            _SshKeyProvider(), name,
            {"algorithm": algorithm, "public_key": None, "private_key": None},
            pulumi.ResourceOptions.merge(opts, secret),
        )
