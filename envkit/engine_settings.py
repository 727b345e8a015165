"""What every stack envkit drives runs with: the backend and the secrets passphrase.

Both follow Pulumi's precedence, which docs/engine.md tells users:

- backend: ``PULUMI_BACKEND_URL`` (it beats a project's ``backend``: pulumi/pulumi
  pkg/workspace/creds.go:58-61), then ``--backend``, then ``file://$ENVKIT_HOME/state``;
- passphrase: ``PULUMI_CONFIG_PASSPHRASE``, then ``PULUMI_CONFIG_PASSPHRASE_FILE`` (both read
  by the CLI itself, pkg/secrets/passphrase/manager.go:378-397), then ``ENVKIT_PASSPHRASE``,
  then the one envkit generated in ENVKIT_HOME.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import home
from .errors import InputError


@dataclass(frozen=True)
class Setting:
    """A resolved setting and where it came from (a variable's or option's name)."""

    value: str | None
    source: str


def default_backend(create: bool = True) -> str:
    """envkit's own backend: a file backend in ENVKIT_HOME/state (the folder is made only
    for the engine: a report such as `doctor` never creates it)."""
    return "file://" + str(home.subdir("state") if create else home.location() / "state")


def resolve_backend(backend: str | None = None, create: bool = True) -> Setting:
    """The backend URL and its source: PULUMI_BACKEND_URL, else ``backend`` (--backend),
    else envkit's folder (made when ``create``)."""
    from_env = os.environ.get("PULUMI_BACKEND_URL")
    if from_env:
        return Setting(from_env, "PULUMI_BACKEND_URL")
    if backend:
        return Setting(backend, "--backend")
    return Setting(default_backend(create), "default (ENVKIT_HOME/state)")


def backend_conflict(backend: str | None) -> str | None:
    """The warning to show when ``--backend`` is overridden by PULUMI_BACKEND_URL."""
    from_env = os.environ.get("PULUMI_BACKEND_URL")
    if backend and from_env and backend.rstrip("/") != from_env.rstrip("/"):
        from .limits import clip

        return (f"warning: --backend {clip(backend, 200)} is ignored: PULUMI_BACKEND_URL "
                f"({clip(from_env, 200)}) wins, as it does for Pulumi")
    return None


def backend_url(backend: str | None) -> str | None:
    """The URL to write into the project's ``backend`` (None when PULUMI_BACKEND_URL is set:
    the CLI reads it itself and it would win anyway)."""
    if os.environ.get("PULUMI_BACKEND_URL"):
        return None
    return resolve_backend(backend).value


def is_shared_backend(backend: str | None) -> bool:
    """Whether the backend is anything but envkit's own folder in ENVKIT_HOME."""
    url = resolve_backend(backend, create=False).value or ""
    return url.rstrip("/") != default_backend(create=False).rstrip("/")


def passphrase_source(explicit: str | None = None) -> str:
    """Where the passphrase comes from, by Pulumi's precedence then envkit's (never the
    passphrase itself): an argument, PULUMI_CONFIG_PASSPHRASE, PULUMI_CONFIG_PASSPHRASE_FILE,
    ENVKIT_PASSPHRASE, or ENVKIT_HOME's generated one."""
    if explicit:
        return "passphrase argument"
    # LookupEnv: set, even empty, is used (manager.go:380).
    if "PULUMI_CONFIG_PASSPHRASE" in os.environ:
        return "PULUMI_CONFIG_PASSPHRASE"
    if os.environ.get("PULUMI_CONFIG_PASSPHRASE_FILE"):
        return "PULUMI_CONFIG_PASSPHRASE_FILE"
    if os.environ.get("ENVKIT_PASSPHRASE"):
        return "ENVKIT_PASSPHRASE"
    return "generated (ENVKIT_HOME/passphrase)"


def passphrase_value(explicit: str | None = None) -> str:
    """The passphrase the CLI will use (for envkit's own check; never printed)."""
    source = passphrase_source(explicit)
    if source == "passphrase argument":
        return explicit or ""
    if source == "PULUMI_CONFIG_PASSPHRASE":
        return os.environ["PULUMI_CONFIG_PASSPHRASE"]
    if source == "PULUMI_CONFIG_PASSPHRASE_FILE":
        raw = os.environ["PULUMI_CONFIG_PASSPHRASE_FILE"]
        try:  # as the CLI: the file's text, trimmed (manager.go:384-391)
            from .limits import clip

            return Path(raw).read_text(encoding="utf-8", errors="replace")[:65536].strip()
        except OSError as exc:
            raise InputError(f"PULUMI_CONFIG_PASSPHRASE_FILE ({clip(raw, 200)}) cannot be "
                             f"read: {exc.strerror or exc}") from None
    if source == "ENVKIT_PASSPHRASE":
        return os.environ["ENVKIT_PASSPHRASE"]
    return home.passphrase()


def engine_env(secrets_provider: str | None = None, passphrase: str | None = None
               ) -> dict[str, str]:
    """The variables envkit adds for the Pulumi CLI (on top of this process's environment,
    which the SDK passes through: pulumi/automation/_cmd.py ``PulumiCommand.run``).

    ``PULUMI_PYTHON_CMD`` is this interpreter (the dynamic-provider host runs
    ``${PULUMI_PYTHON_CMD:-python3}``); ``PULUMI_FALLBACK_TO_STATE_SECRETS_MANAGER`` makes a
    fresh workspace use the stack's own secrets state. ``PULUMI_CONFIG_PASSPHRASE`` is set only when
    neither it nor PULUMI_CONFIG_PASSPHRASE_FILE is set by the user (the CLI reads those
    itself, in that order) and no other secrets provider was chosen: then it is
    ``passphrase``, ENVKIT_PASSPHRASE or the generated one.
    """
    env = {"PULUMI_SKIP_UPDATE_CHECK": "true", "PULUMI_PYTHON_CMD": sys.executable}
    # A machine whose workspace has no stack config yet (a second machine on a shared
    # backend) takes the secrets manager the stack's state records instead of making a new
    # salt (pulumi/pulumi pkg/cmd/pulumi/stack/secrets.go:248-283, off by default:
    # sdk/go/common/env/env.go:132).
    env["PULUMI_FALLBACK_TO_STATE_SECRETS_MANAGER"] = os.environ.get(
        "PULUMI_FALLBACK_TO_STATE_SECRETS_MANAGER", "true")
    if secrets_provider and secrets_provider != "passphrase":
        return env
    source = passphrase_source(passphrase)
    if source not in ("PULUMI_CONFIG_PASSPHRASE", "PULUMI_CONFIG_PASSPHRASE_FILE"):
        env["PULUMI_CONFIG_PASSPHRASE"] = passphrase_value(passphrase)
    return env


# --- checking a passphrase against a stack, as the CLI does ---------------------------------------


def passphrase_opens(phrase: str, state: str) -> bool | None:
    """Whether ``phrase`` opens a passphrase secrets manager's ``state`` (its ``salt``,
    ``v1:<salt>:v1:<nonce>:<ciphertext>``); None when the state is not one envkit can read.

    Pulumi's own check (pkg/secrets/passphrase/manager.go:47-72
    ``symmetricCrypterFromPhraseAndState``): a key from PBKDF2-SHA256 with 1,000,000 rounds
    over the salt (sdk/go/common/resource/config/crypt.go:165-170), AES-256-GCM, and the
    plaintext must be ``pulumi``.
    """
    import base64
    import binascii
    import hashlib

    parts = state.split(":", 2)
    if len(parts) != 3 or parts[0] != "v1":
        return None
    value = parts[2].split(":")
    if len(value) != 3 or value[0] != "v1":
        return None
    try:
        salt = base64.b64decode(parts[1], validate=True)
        nonce = base64.b64decode(value[1], validate=True)
        ciphertext = base64.b64decode(value[2], validate=True)
    except (binascii.Error, ValueError):
        return None
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    key = hashlib.pbkdf2_hmac("sha256", phrase.encode(), salt, 1_000_000, 32)
    try:
        return AESGCM(key).decrypt(nonce, ciphertext, None) == b"pulumi"
    except (InvalidTag, ValueError):
        return False


def secrets_salt(deployment: dict[str, Any] | None) -> str | None:
    """The passphrase salt a stack's exported deployment records (``secrets_providers``:
    ``{"type": "passphrase", "state": {"salt": ...}}``), or None."""
    providers = (deployment or {}).get("secrets_providers")
    if not isinstance(providers, dict) or providers.get("type") != "passphrase":
        return None
    state = providers.get("state")
    salt = state.get("salt") if isinstance(state, dict) else None
    return salt if isinstance(salt, str) else None


WRONG_PASSPHRASE = (
    "{stack}: the stack already exists in the backend {backend} and the passphrase from "
    "{source} does not open its secrets, so nothing was done.\n"
    "Set PULUMI_CONFIG_PASSPHRASE (or PULUMI_CONFIG_PASSPHRASE_FILE, or ENVKIT_PASSPHRASE) "
    "to the passphrase the stack was created with, on every machine that uses this backend "
    "(docs/engine.md, \"Which passphrase encrypts the stacks' secrets\")."
)
