"""SSH key pairs generated once per environment and kept in the stack's state.

pulumi-aws's ``KeyPair`` only imports a public key, so the key itself is made by a small
dynamic provider with ``cryptography``: it runs at create time only, the private key is a
Pulumi secret in the (encrypted) state, and every later update carries it forward.

The provider is pickled into the state (``__provider``) and, on every later operation,
unpickled and run by ``pulumi-resource-pulumi-python`` under the interpreter named by
``PULUMI_PYTHON_CMD`` (envkit sets it to its own; see ``Environment.env_vars``). Without
``diff`` and ``update`` of its own, a change to the pickled provider alone (a new envkit,
dill or Python) would make the engine update the resource through the default
``update``, which returns no outputs and so wipes ``private_key`` from the state
(pulumi/dynamic/dynamic.py ``ResourceProvider.update``; pulumi/dynamic/__main__.py
``Update`` stores only ``__provider`` then).
"""

from __future__ import annotations

from typing import Any

import pulumi
from pulumi.dynamic import CreateResult, DiffResult, ReadResult, ResourceProvider, UpdateResult
from pulumi.dynamic import Resource as DynamicResource

ALGORITHMS = ("ed25519", "rsa")
#: The inputs that define a key; the serialized provider (``__provider``) is not one.
_KEY_INPUTS = ("algorithm",)


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


def _key_state(props: dict[str, Any]) -> dict[str, Any]:
    """The outputs that are the key itself (never the serialized provider)."""
    return {k: props.get(k) for k in ("algorithm", "public_key", "private_key")}


class _SshKeyProvider(ResourceProvider):
    def create(self, props: dict[str, Any]) -> CreateResult:
        import hashlib

        public, private = generate_openssh_key(props["algorithm"])
        key_id = "sshkey-" + hashlib.sha256(public.encode()).hexdigest()[:16]
        return CreateResult(id_=key_id, outs={
            "algorithm": props["algorithm"], "public_key": public, "private_key": private,
        })

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        """A new algorithm means a new key (replace); nothing else changes the key, in
        particular not a re-serialized provider."""
        changed = [k for k in _KEY_INPUTS if olds.get(k) != news.get(k)]
        if changed:
            return DiffResult(changes=True, replaces=changed, delete_before_replace=False)
        return DiffResult(changes=False)

    def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        """Carry the key pair forward (``olds`` are the stored outputs)."""
        return UpdateResult(outs=_key_state(olds))

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        """The key exists only in the state, so a refresh reads back what is stored."""
        return ReadResult(id_, _key_state(props))


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
