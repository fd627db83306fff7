"""The ``reconciler`` command: parse arguments, call the library, print, exit.

The command line is the only place that exits. Heavy modules are imported inside each command so
``reconciler --help`` stays fast. The commands are declared one group per module under
``reconciler/cli/commands/`` (the options several share, once, in
:mod:`reconciler.cli.options`) and registered here, in the order the help lists them;
each calls its own small module under ``reconciler/cli/``.
"""

from __future__ import annotations

import copy
import gc
import os
import sys
from collections.abc import Sequence
from typing import Annotated, Any

import typer
import typer.main
from typer.core import TyperGroup

from reconciler.cli.commands.catalog import register as register_catalog
from reconciler.cli.commands.desired import register as register_desired
from reconciler.cli.commands.policy import register as register_policy
from reconciler.cli.commands.runs import register as register_runs
from reconciler.cli.commands.sandbox import register as register_sandbox
from reconciler.cli.github_app import github_app
from reconciler.cli.help import WordsCommand, use_words
from reconciler.cli.startup import resume
from reconciler.log_target import claim_for_cli

#: click's UsageError (in typer's copy of click): a mistyped option, a bad value.
UsageError: type[Exception] = next(
    c for c in typer.BadParameter.__mro__ if c.__name__ == "UsageError"
)


class Command(WordsCommand):
    """Every command of ``reconciler``: its help in words (:class:`WordsCommand`), and the
    garbage collector, paused while the program starts, on again when it runs
    (:mod:`reconciler.cli.startup`)."""

    def invoke(self, ctx: Any) -> Any:
        resume()
        return super().invoke(ctx)


class Group(TyperGroup):
    """``reconciler`` itself: a usage error (an unknown command, a mistyped option, a bad
    value, a missing argument, no command at all) exits 1, as every other error does (and as
    Terraform's), never click's 2: ``plan --detailed-exitcode``, ``audit --fail-on`` and
    ``policy check`` say 2 for changes, flagged keys and a denial, so a typo in CI must
    not read as one of them."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        """``reconciler``'s own options (``reconciler --bogus``), and no command at all
        (the help is shown)."""
        try:
            return list(super().parse_args(ctx, args))
        except UsageError as exc:
            exc.exit_code = 1  # type: ignore[attr-defined]
            raise

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except UsageError as exc:
            exc.exit_code = 1  # type: ignore[attr-defined]
            raise


app = typer.Typer(
    cls=Group,
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
        app_for(sys.argv[1:])()
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


def app_for(args: Sequence[str]) -> typer.Typer:
    """The app that runs ``args``: when they start with a command's (or a group's) name,
    ``app`` with that command alone, else the whole ``app`` (its help, ``--version``, a
    mistyped name and the names it suggests).

    Typer builds every command's parameters from its signature before it runs any (some
    30 ms for all of them, a tenth of a ``validate``); a command needs only its own. Its
    parsing, help and errors are the same either way."""
    name = args[0] if args else ""
    if not name or name.startswith("-"):
        return app
    commands = [
        info
        for info in app.registered_commands
        if info.callback is not None
        and (info.name or typer.main.get_command_name(info.callback.__name__)) == name
    ]
    groups = [
        info
        for info in app.registered_groups
        if typer.main.solve_typer_info_defaults(info).name == name
    ]
    if not commands and not groups:
        return app
    alone = copy.copy(app)  # the same settings, callback and command records
    alone.registered_commands = commands
    alone.registered_groups = groups
    return alone


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

# every command's help reads ROLE MODEL TOKENS, never {role} or <str>; the collector,
# paused while the program starts, runs again once a command does
use_words(app, Command)
