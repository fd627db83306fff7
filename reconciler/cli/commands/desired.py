"""The commands that read only the desired state: ``validate``, ``orgs``, ``schema``.

Each command parses its options and calls its module under ``reconciler/cli/``; heavy
modules are imported inside the command so ``reconciler --help`` stays fast.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from reconciler.cli.options import (
    DESIRED_STATE,
    DirectoryArg,
    OrgOpt,
)


def validate(
    directory: DirectoryArg = DESIRED_STATE,
    today: Annotated[
        str | None,
        typer.Option(
            "--today",
            metavar="YYYY-MM-DD",
            help="Check expiry dates against this day (default: today in UTC, as plans count it).",
        ),
    ] = None,
    org: OrgOpt = None,
) -> None:
    """Check the desired state offline: every problem, by file:line (each organisation of
    a directory of several, in turn)."""
    from reconciler.cli.common import few_collections

    with few_collections():  # imports too: they make the most objects, and no garbage
        from reconciler.cli.orgs import run_each
        from reconciler.cli.validate import validate_command

        code = run_each(directory, org, lambda d: validate_command(d, today=today))
    raise typer.Exit(code)


def orgs(
    directory: Annotated[
        Path, typer.Argument(help="The desired-state directory (one organisation, or several).")
    ] = DESIRED_STATE,
    as_json: Annotated[
        bool, typer.Option("--json", help="A JSON list of {name, directory, provider}.")
    ] = False,
) -> None:
    """List the organisations a desired-state directory holds (for a CI matrix)."""
    from reconciler.cli.common import guarded
    from reconciler.cli.orgs import orgs_command

    raise typer.Exit(guarded(lambda: orgs_command(directory, as_json=as_json)))


def schema(
    kind: Annotated[
        str | None,
        typer.Option(
            "--kind",
            metavar="KIND",
            help="organization, roles or workspace (default: one schema for any file).",
        ),
    ] = None,
    provider: Annotated[
        str | None,
        typer.Option(
            "--provider",
            metavar="NAME",
            help="Complete this provider's role names (default: any provider).",
        ),
    ] = None,
    write: Annotated[
        Path | None,
        typer.Option(
            "--write",
            metavar="DIR",
            help="Write every schema into DIR (e.g. desired-state/.schema) instead of printing.",
        ),
    ] = None,
    directory: Annotated[
        Path,
        typer.Option(
            "--desired", metavar="DIR", help="The desired-state directory (for --write's hints)."
        ),
    ] = DESIRED_STATE,
) -> None:
    """Print the JSON Schema of the desired-state files, or write it into your repository
    so editors check the YAML there."""
    from reconciler.cli.common import guarded
    from reconciler.cli.validate import schema_command

    raise typer.Exit(
        guarded(lambda: schema_command(kind, provider, write=write, desired=directory))
    )


def register(app: typer.Typer) -> None:
    """Add these commands to ``app``, in the order its help lists them."""
    app.command()(validate)
    app.command("orgs")(orgs)
    app.command()(schema)
