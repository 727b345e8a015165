"""``python -m envkit.cli``: the envkit command line."""

from . import main

main()
