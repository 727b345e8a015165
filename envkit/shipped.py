"""Files that ship inside the envkit package: the labs, the lab notebooks and the CrossGuard
policy pack.

They are found with :mod:`importlib.resources`, so a wheel, an sdist, a pipx or an editable
install all find them. In the repository the canonical files live in the top-level
``labs/``, ``notebooks/`` and ``policies/`` folders; ``envkit/labs``, ``envkit/notebooks`` and
``envkit/policies`` are symlinks to them, which setuptools follows when it builds.
"""

from __future__ import annotations

from importlib.resources import files
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # importlib.resources.abc is 3.11+; annotations only
    from importlib.resources.abc import Traversable


def _folder(name: str) -> Traversable:
    return files("envkit").joinpath(name)


def labs() -> dict[str, Traversable]:
    """The shipped lab specs, by name (``aws-basics`` for ``labs/aws-basics.yaml``)."""
    folder = _folder("labs")
    if not folder.is_dir():
        return {}
    return {entry.name.removesuffix(".yaml"): entry for entry in
            sorted(folder.iterdir(), key=lambda e: e.name) if entry.name.endswith(".yaml")}


def notebooks() -> dict[str, Traversable]:
    """The shipped lab notebooks, by file name."""
    folder = _folder("notebooks")
    if not folder.is_dir():
        return {}
    return {entry.name: entry for entry in sorted(folder.iterdir(), key=lambda e: e.name)
            if entry.name.endswith(".ipynb")}


#: The policy pack's files, all of which ship (``__main__.py`` builds the pack from
#: :mod:`envkit.policy.rules`).
POLICY_PACK_FILES = ("PulumiPolicy.yaml", "__main__.py", "requirements.txt")


def policy_pack() -> Traversable:
    """The shipped policy pack folder (as packaged; see :mod:`envkit.policy.pack` for the
    copy the engine runs)."""
    return _folder("policies")
