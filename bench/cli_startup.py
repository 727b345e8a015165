"""Benchmark: `envkit --help` start-up beside a bare Typer app with one command.

The bare app is built with the same Typer settings as envkit's.

Both run as fresh processes, alternating, in the same run; prints JSON with the medians
and the ratio (target <= 1.5x). envkit runs from compiled bytecode, as after a wheel or
pipx install (pip compiles what it installs; an editable checkout where
PYTHONDONTWRITEBYTECODE=1 is set, as on these machines, would compile envkit's modules
again on every start, which is not what users run). Also records which heavy modules the
envkit process imported (none of pulumi, pulumi_aws, boto3, moto should be there).
Usage: python bench/cli_startup.py [--repeat N]
"""

from __future__ import annotations

import argparse
import compileall
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from plan import _side_by_side

BARE = '''
import typer
# The same Typer settings as envkit's app, so only envkit's own cost differs.
app = typer.Typer(no_args_is_help=True, pretty_exceptions_enable=False,
                  add_completion=False, rich_markup_mode=None)

@app.callback()
def root() -> None:
    """A bare app."""

@app.command()
def hello(name: str = "world") -> None:
    """Say hello."""
    typer.echo(name)

app()
'''
HEAVY = ("pulumi", "pulumi_aws", "boto3", "botocore", "moto", "pydantic", "ruamel")


def _run(cmd: list[str]) -> None:
    subprocess.run(cmd, check=True, capture_output=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        bare = Path(tmp) / "bare.py"
        bare.write_text(BARE)
        envkit_cmd = [sys.executable, "-m", "envkit.cli", "--help"]
        bare_cmd = [sys.executable, str(bare), "--help"]
        import envkit

        compileall.compile_dir(str(Path(envkit.__file__).parent), quiet=1)  # as pip does
        _run(envkit_cmd), _run(bare_cmd)  # warm the file cache
        envkit_s, bare_s = _side_by_side([lambda: _run(envkit_cmd), lambda: _run(bare_cmd)],
                                         args.repeat)
    probe = ("import sys, runpy; sys.argv=['envkit','--help']\n"
             "try:\n    runpy.run_module('envkit.cli', run_name='__main__')\n"
             "except SystemExit:\n    pass\n"
             f"print(sorted({{m.split('.')[0] for m in sys.modules}} & set({HEAVY!r})))")
    heavy = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True
                           ).stdout.strip().splitlines()[-1]
    print(json.dumps({
        "benchmark": "cli_startup",
        "envkit_help_s": round(envkit_s, 4),
        "bare_typer_help_s": round(bare_s, 4),
        "ratio": round(envkit_s / bare_s, 3),
        "target_ratio_max": 1.5,
        "met": envkit_s / bare_s <= 1.5,
        "heavy_modules_imported": json.loads(heavy.replace("'", '"')),
    }, indent=2))


if __name__ == "__main__":
    main()
