"""``envkit kernel install|uninstall``: the envkit Jupyter kernel."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from .. import cli_types

kernel_app = typer.Typer(help="The envkit Jupyter kernel.", no_args_is_help=True)

UserOpt = Annotated[bool, typer.Option("--user", help="Install for the current user (the "
                                                     "default).")]
SysPrefixOpt = Annotated[bool, typer.Option("--sys-prefix", help="Install into this Python's "
                                                                 "prefix (the venv).")]
PrefixOpt = Annotated[str | None, typer.Option("--prefix", parser=cli_types.folder,
                                              help="Install under this prefix.")]
NameOpt = Annotated[str, typer.Option("--name", parser=cli_types.kernel_name,
                                      help="Kernelspec name.")]


def _kernel_place(user: bool, sys_prefix: bool, prefix: str | None) -> tuple[bool, str | None]:
    """(for the user, under a prefix): the current user's Jupyter folder unless a prefix is
    chosen, as `jupyter kernelspec install --user` (never system-wide by default)."""
    if sum(map(bool, (user, sys_prefix, prefix))) > 1:
        raise typer.BadParameter("choose one of --user, --sys-prefix, --prefix")
    chosen = sys.prefix if sys_prefix else prefix
    return chosen is None, chosen


@kernel_app.command("install")
def kernel_install(user: UserOpt = False, sys_prefix: SysPrefixOpt = False,
                   prefix: PrefixOpt = None, name: NameOpt = "envkit") -> None:
    """Install the kernelspec ("envkit (Python 3)"), for the current user by default."""
    from ..notebook.kernel import install

    for_user, under = _kernel_place(user, sys_prefix, prefix)
    folder = install(name, user=for_user, prefix=under)
    typer.echo(f"installed kernel '{name}' in {folder}")


@kernel_app.command("uninstall")
def kernel_uninstall(user: UserOpt = False, sys_prefix: SysPrefixOpt = False,
                     prefix: PrefixOpt = None, name: NameOpt = "envkit") -> None:
    """Remove the kernelspec (the current user's by default)."""
    from ..notebook.kernel import uninstall

    for_user, under = _kernel_place(user, sys_prefix, prefix)
    folder = uninstall(name, user=for_user, prefix=under)
    typer.echo(f"removed kernel '{name}' ({folder})")
