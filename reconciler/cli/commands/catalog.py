"""``reconciler catalog``: list the model catalog, or rebuild it from the platform.

Each command parses its options and calls its module under ``reconciler/cli/``; heavy
modules are imported inside the command so ``reconciler --help`` stays fast.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from reconciler.cli.options import (
    DESIRED_STATE,
    SANDBOX_STATE,
    STATE_DIR,
    ReadSandboxOpt,
    SandboxStateOpt,
    make_target,
)

catalog_app = typer.Typer(
    help="The model catalog (ids, aliases, prices) that validation and policy use.",
    no_args_is_help=True,
    rich_markup_mode=None,
)


CatalogDesiredOpt = Annotated[
    Path,
    typer.Option(
        "--desired",
        metavar="DIR",
        help="The desired-state directory; its provider's catalog is the one used.",
    ),
]


@catalog_app.command("list")
def catalog_list(directory: CatalogDesiredOpt = DESIRED_STATE) -> None:
    """List the models the catalog knows, with aliases and prices."""
    from reconciler.cli.catalog import list_command
    from reconciler.cli.common import guarded

    raise typer.Exit(guarded(lambda: list_command(directory)))


@catalog_app.command("refresh")
def catalog_refresh(
    sandbox: ReadSandboxOpt = False,
    sandbox_state: SandboxStateOpt = SANDBOX_STATE,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out", metavar="FILE", help="Write the catalog here (default: standard output)."
        ),
    ] = None,
    directory: CatalogDesiredOpt = DESIRED_STATE,
) -> None:
    """Rebuild the catalog from the platform's model list (prices kept from the shipped
    catalog); point RECONCILER_CATALOG at the file to use it."""
    from reconciler.cli.catalog import refresh_command
    from reconciler.cli.common import guarded, run_async

    options = make_target(sandbox, sandbox_state, None, STATE_DIR, 8)
    raise typer.Exit(guarded(lambda: run_async(refresh_command(options, out, directory))))


def register(app: typer.Typer) -> None:
    """Add these commands to ``app``, in the order its help lists them."""
    app.add_typer(catalog_app, name="catalog")
