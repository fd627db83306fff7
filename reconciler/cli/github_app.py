"""``reconciler github …``: the arguments of the GitHub commands (run in :mod:`.github`).

Registered on the main app by :mod:`.main`; like it, this imports only typer, so
``reconciler --help`` stays fast.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from reconciler.env import GITHUB_REPOSITORY

github_app = typer.Typer(
    help=(
        "GitHub integration: plan comments on pull requests, drift issues, job summaries "
        "and step outputs."
    ),
    no_args_is_help=True,
    rich_markup_mode=None,
)
RepoOpt = Annotated[
    str | None,
    typer.Option("--repo", metavar="OWNER/NAME", help=f"Default: ${GITHUB_REPOSITORY}."),
]


@github_app.command("comment")
def github_comment(
    repo: RepoOpt = None,
    pr: Annotated[
        int | None,
        typer.Option(
            "--pr",
            metavar="NUMBER",
            min=1,
            help="Pull request number (default: the Actions event's).",
        ),
    ] = None,
    file: Annotated[
        Path | None,
        typer.Option(
            "--file",
            metavar="FILE",
            help="The plan (plan --format markdown); default: standard input.",
        ),
    ] = None,
    key: Annotated[
        str | None,
        typer.Option("--key", help="Tells plans on one PR apart, e.g. the directory or target."),
    ] = None,
    author: Annotated[
        str | None,
        typer.Option(
            "--author", metavar="LOGIN", help="Only edit comments by this login (e.g. a bot's)."
        ),
    ] = None,
) -> None:
    """Post the plan on a pull request, or edit the previous plan comment in place."""
    from reconciler.cli.common import guarded
    from reconciler.cli.github import comment_command

    raise typer.Exit(
        guarded(lambda: comment_command(repo=repo, pr=pr, file=file, key=key, author=author))
    )


@github_app.command("drift")
def github_drift(
    plan_json: Annotated[
        Path,
        typer.Option(
            "--plan-json", metavar="FILE", help="Output of: reconciler plan --format json."
        ),
    ],
    repo: RepoOpt = None,
    label: Annotated[str, typer.Option("--label", help="Label of drift issues.")] = (
        "reconciler-drift"
    ),
    unmanaged_is_drift: Annotated[
        bool,
        typer.Option(
            "--unmanaged-is-drift", help="Also open an issue for objects merely left alone."
        ),
    ] = False,
) -> None:
    """Keep one issue open per drifted target: create, update, reopen, close."""
    from reconciler.cli.common import guarded
    from reconciler.cli.github import drift_command

    raise typer.Exit(
        guarded(
            lambda: drift_command(
                repo=repo, plan_json=plan_json, label=label, unmanaged_is_drift=unmanaged_is_drift
            )
        )
    )


@github_app.command("summary")
def github_summary(
    file: Annotated[
        Path | None,
        typer.Option("--file", metavar="FILE", help="Markdown to add; default: standard input."),
    ] = None,
) -> None:
    """Append Markdown (a plan) to the Actions job summary ($GITHUB_STEP_SUMMARY)."""
    from reconciler.cli.common import guarded
    from reconciler.cli.github import summary_command

    raise typer.Exit(guarded(lambda: summary_command(file=file)))


@github_app.command("outputs")
def github_outputs(
    plan_file: Annotated[
        Path,
        typer.Option("--plan", metavar="FILE", help="A saved plan (plan --out FILE)."),
    ],
) -> None:
    """Hand a saved plan's counts to later steps ($GITHUB_OUTPUT): api-changes (apply's
    work through the Admin API), manual-changes (the admin console's), conflicts."""
    from reconciler.cli.common import guarded
    from reconciler.cli.github import outputs_command

    raise typer.Exit(guarded(lambda: outputs_command(plan_file=plan_file)))
