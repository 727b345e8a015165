"""The envkit kernel: IPython with envkit's extension preloaded and a banner that says
which target and Pulumi CLI it found. Install it with `envkit kernel install`."""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

from ipykernel.ipkernel import IPythonKernel

from .. import __version__

KERNEL_NAME = "envkit"
DISPLAY_NAME = "envkit (Python 3)"


class EnvkitKernel(IPythonKernel):
    """An IPython kernel with `%load_ext envkit` already done."""

    implementation = "envkit"
    implementation_version = __version__

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.shell.extension_manager.load_extension("envkit")
        from . import banner

        self._envkit_banner = banner()

    @property
    def banner(self) -> str:
        return f"{super().banner}\n{self._envkit_banner}\n"

    def _send_interrupt_children(self) -> None:
        # Jupyter's interrupt arrives as a message (the kernelspec's interrupt_mode), so the
        # kernel itself signals its process group, the Pulumi CLI included; envkit records
        # that it did, and an operation that then stops is reported as cancelled.
        from ..engine import note_interrupt

        note_interrupt()
        super()._send_interrupt_children()


def kernel_spec() -> dict[str, Any]:
    """The kernel.json envkit installs."""
    return {
        "argv": [sys.executable, "-m", "envkit.notebook.kernel", "-f", "{connection_file}"],
        "display_name": DISPLAY_NAME,
        "language": "python",
        "interrupt_mode": "message",
        "metadata": {"debugger": True},
    }


def install(name: str = KERNEL_NAME, user: bool = True, prefix: str | None = None) -> str:
    """Install the kernelspec for the current user (or under ``prefix``; with neither,
    system-wide); returns its folder."""
    from jupyter_client.kernelspec import KernelSpecManager

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / name
        folder.mkdir()
        spec = kernel_spec()
        if name != KERNEL_NAME:
            spec["display_name"] = f"{DISPLAY_NAME} [{name}]"
        (folder / "kernel.json").write_text(json.dumps(spec, indent=2))
        return KernelSpecManager().install_kernel_spec(str(folder), kernel_name=name,
                                                       user=user and prefix is None,
                                                       prefix=prefix)


def uninstall(name: str = KERNEL_NAME, user: bool = True, prefix: str | None = None) -> str:
    """Remove the kernelspec installed with the same options; returns the removed folder."""
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_core.paths import jupyter_data_dir

    from ..errors import InputError  # a name that is not installed: the input is wrong

    if prefix is not None:
        folder = Path(prefix) / "share" / "jupyter" / "kernels" / name
    elif user:
        folder = Path(jupyter_data_dir()) / "kernels" / name
    else:
        try:
            return KernelSpecManager().remove_kernel_spec(name)
        except KeyError:
            raise InputError(f"no kernel named '{name}' is installed") from None
    if not folder.is_dir():
        raise InputError(f"no kernel named '{name}' at {folder}")
    shutil.rmtree(folder)
    return str(folder)


def main() -> None:
    """Launch the kernel (the kernelspec's argv runs this)."""
    from ipykernel.kernelapp import IPKernelApp

    IPKernelApp.launch_instance(kernel_class=EnvkitKernel)


if __name__ == "__main__":
    main()
