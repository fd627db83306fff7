"""The ``reconciler`` command: parse arguments, call the library, print, exit.

This is the only place that exits. Heavy modules are imported inside each command so
``reconciler --help`` stays fast. Each command lives in its own small module under
``reconciler/cli/`` and is registered here.
"""

from __future__ import annotations

import typer

app = typer.Typer(
    name="reconciler",
    help="GitOps for Mistral AI's La Plateforme: plan and apply workspaces, API keys and policy.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


def run() -> None:
    """Console-script entry point."""
    app()


# --- commands: each section is owned by one module under reconciler/cli/ -------------
# [validate/schema]
# [plan]
# [apply]
# [sandbox]
# [policy/budget]
