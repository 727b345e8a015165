"""Files that ship inside the envkit package: the labs, the lab notebooks and the CrossGuard
policy pack.

They are found with :mod:`importlib.resources`, so a wheel, an sdist, a pipx or an editable
install all find them. In the repository the canonical files live in the top-level
``labs/``, ``notebooks/`` and ``policies/`` folders; ``envkit/labs``, ``envkit/notebooks`` and
``envkit/policies`` are symlinks to them, which setuptools follows when it builds.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path
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


def lab_path(name: str) -> Path:
    """The shipped lab ``name`` as a file on disk (what a notebook hands to ``Classroom`` or
    ``envkit.plan``). Raises ``KeyError`` naming the shipped labs for an unknown name."""
    found = labs()
    if name not in found:
        raise KeyError(f"no shipped lab named {name!r}; shipped labs: {', '.join(found)}")
    return Path(str(found[name]))


#: The line that opens the note to envkit's maintainers in the reference lab's header
#: (``labs/aws-basics.yaml`` is the spec format's reference): not for a user's copy.
_MAINTAINER_NOTE = "# This is the reference for the spec format."


def starter_spec(name: str, written_as: str) -> str:
    """The text ``envkit init`` writes: the shipped lab ``name`` with its header's note to
    envkit's maintainers replaced by where the file came from and what to run next."""
    text = labs()[name].read_text(encoding="utf-8")
    lines = text.splitlines(keepends=True)
    header = 0
    while header < len(lines) and lines[header].startswith("#"):
        header += 1
    # The note runs from its first line to the end of the header.
    cut = next((i for i, line in enumerate(lines[:header]) if line.startswith(_MAINTAINER_NOTE)),
               header)
    kept = [*lines[:cut], f"# Written by `envkit init {name}`; next: "
            f"`{next_command(name, written_as)}`.\n"]
    return "".join(kept) + "".join(lines[header:])


def next_command(name: str, written_as: str) -> str:
    """The command that fits a freshly written copy of the shipped lab ``name``."""
    text = labs()[name].read_text(encoding="utf-8")
    is_class = any(line.startswith("classroom:") for line in text.splitlines())
    return f"envkit class plan {written_as}" if is_class else f"envkit plan {written_as}"
