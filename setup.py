"""Build hook (all other metadata is in pyproject.toml).

The lab notebooks ship as they are committed: without outputs. Opening the checkout's
notebooks/ in JupyterLab autosaves outputs into the working copy; whatever is there, the
wheel gets each code cell's outputs and execution count cleared.
"""

import json
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py


def strip_outputs(path: Path) -> None:
    """Clear the outputs and execution counts of a notebook file, in place."""
    notebook = json.loads(path.read_text(encoding="utf-8"))
    for cell in notebook.get("cells", []):
        if cell.get("cell_type") == "code":
            cell["outputs"] = []
            cell["execution_count"] = None
    path.write_text(json.dumps(notebook, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


class BuildPy(build_py):
    """build_py, then the shipped notebooks without outputs."""

    def run(self) -> None:
        super().run()
        for path in Path(self.build_lib, "envkit", "notebooks").glob("*.ipynb"):
            strip_outputs(path)


setup(cmdclass={"build_py": BuildPy})
