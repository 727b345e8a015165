"""Jupyter front end: magics, the Dashboard widget and the envkit kernel."""

from __future__ import annotations

from typing import Any

__all__ = ["Dashboard", "banner", "engine_ready", "load_ipython_extension", "registered"]


def __getattr__(name: str) -> Any:
    if name == "Dashboard":
        from .dashboard import Dashboard

        return Dashboard
    raise AttributeError(name)


def banner() -> str:
    """One line saying which target and Pulumi CLI the kernel found."""
    from ..engine import find_pulumi
    from ..targets import aws_credentials_available

    try:
        target = "aws (credentials found)" if aws_credentials_available() else \
            "local emulator (no AWS credentials)"
    except Exception:  # noqa: BLE001 - a banner must not break the kernel
        target = "unknown (credential check failed)"
    cli = find_pulumi()
    engine = f"Pulumi CLI {cli}" if cli else \
        "no Pulumi CLI (plan and policy work offline; `envkit install-pulumi`)"
    from .. import home

    return f"envkit: target {target}; {engine}; ENVKIT_HOME {home.home()}"


def load_ipython_extension(ipython: Any) -> None:
    """`%load_ext envkit`: register the %envkit / %%envkit magics."""
    from .magics import EnvkitMagics

    ipython.register_magics(EnvkitMagics(ipython))


def registered(name: str) -> Any:
    """The spec a `%%envkit NAME` cell registered in this session."""
    from .magics import REGISTERED

    return REGISTERED[name]


def engine_ready(verbose: bool = True) -> bool:
    """Whether the Pulumi CLI is available; when not, say so visibly (for notebook cells
    that need the engine and skip without it)."""
    from ..engine import find_pulumi

    if find_pulumi() is not None:
        return True
    if verbose:
        from IPython.display import display

        from .views import MessageView

        display(MessageView(
            "SKIPPED: this cell needs the Pulumi CLI, which is not installed here. To "
            "install it, run `envkit install-pulumi` in a terminal (it needs the internet). "
            "The cells above ran offline.", kind="notice"))
    return False
