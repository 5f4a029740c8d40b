"""``python -m tenantml.preview check|preview``: the two commands without the rest of the CLI."""

from tenantml.preview.cli import main

main()
