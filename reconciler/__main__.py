"""Entry point for ``python -m reconciler``."""

from reconciler.cli.main import run

run()
