"""The ``reconciler`` command: parse arguments, call the library, print, exit.

The command line is the only place that exits. Heavy modules are imported inside each command so
``reconciler --help`` stays fast. The commands are declared one group per module under
``reconciler/cli/commands/`` (the options several share, once, in
:mod:`reconciler.cli.options`) and registered here, in the order the help lists them;
each calls its own small module under ``reconciler/cli/``.
"""

from __future__ import annotations

import gc
import os
import sys
from typing import Annotated

import typer

from reconciler.cli.commands.catalog import register as register_catalog
from reconciler.cli.commands.desired import register as register_desired
from reconciler.cli.commands.policy import register as register_policy
from reconciler.cli.commands.runs import register as register_runs
from reconciler.cli.commands.sandbox import register as register_sandbox
from reconciler.cli.github_app import github_app
from reconciler.cli.help import use_words
from reconciler.log_target import claim_for_cli

app = typer.Typer(
    name="reconciler",
    help="GitOps for Mistral AI's La Plateforme: plan and apply workspaces, API keys and policy.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


def run() -> None:
    """Console-script entry point. When standard output's reader goes away
    (``reconciler catalog list | head``) the run ends quietly with exit 0, as ``cat`` does,
    whichever command or help text was writing: click meets the broken pipe (EPIPE) and
    swaps in a quiet stdout, or the last flush, here, meets it."""
    stdout = sys.stdout
    try:
        app()
    except SystemExit as done:
        code = done.code
    else:
        code = 0
    try:
        if sys.stdout is not stdout:
            raise BrokenPipeError  # click already met it (the only time it swaps stdout)
        sys.stdout.flush()
    except BrokenPipeError:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, stdout.fileno())  # whatever is left goes nowhere, quietly
        os.close(devnull)
        code = 0
    gc.freeze()  # the process ends: its last collection need not scan every object again
    sys.exit(code)


def _show_version(value: bool) -> None:
    if value:
        from reconciler.cli.common import version_line

        print(version_line())
        raise typer.Exit(0)


@app.callback()
def main(
    version: Annotated[
        bool,
        typer.Option(
            "--version", is_eager=True, callback=_show_version, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """GitOps for Mistral AI's La Plateforme: plan and apply workspaces, API keys and policy."""
    claim_for_cli()  # log events go to stderr, redacted, until a command sets logging up


@app.command("version")
def version_command() -> None:
    """Print the version (as --version does)."""
    from reconciler.cli.common import version_line

    print(version_line())


# --- commands: one module per group under reconciler/cli/commands/, in help order --------
register_desired(app)
register_runs(app)
register_sandbox(app)
register_policy(app)
register_catalog(app)
app.add_typer(github_app, name="github")  # reconciler/cli/github_app.py

use_words(app)  # every command's help reads ROLE MODEL TOKENS, never {role} or <str>
