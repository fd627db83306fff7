"""``reconciler github …``: the arguments of the GitHub commands (run in :mod:`.github`).

Registered on the main app by :mod:`.main`; like it, this imports only typer, so
``reconciler --help`` stays fast.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from reconciler.cli.options import STATE_DIR, StateDirOpt
from reconciler.env import GITHUB_REF_NAME, GITHUB_REPOSITORY, GITHUB_SHA

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
KeyOpt = Annotated[
    str | None,
    typer.Option(
        "--key", metavar="KEY", help="Tells plans on one PR apart, e.g. the directory or target."
    ),
]
PrOpt = Annotated[
    int | None,
    typer.Option(
        "--pr",
        metavar="NUMBER",
        min=1,
        help="Pull request number (default: the Actions event's).",
    ),
]
CommitOpt = Annotated[
    str | None,
    typer.Option(
        "--commit", metavar="SHA", help="The pull request's commit that was planned (its head)."
    ),
]
ShaOpt = Annotated[
    str | None,
    typer.Option("--sha", metavar="SHA", help=f"The merged commit (default: ${GITHUB_SHA})."),
]
AuthorOpt = Annotated[
    str | None,
    typer.Option(
        "--author",
        metavar="LOGIN",
        help="Only comments and issues by this login (the token's: github-actions[bot]) count.",
    ),
]


@github_app.command("comment")
def github_comment(
    repo: RepoOpt = None,
    pr: PrOpt = None,
    file: Annotated[
        Path | None,
        typer.Option(
            "--file",
            metavar="FILE",
            help="The plan (plan --format markdown); default: standard input.",
        ),
    ] = None,
    key: KeyOpt = None,
    author: AuthorOpt = None,
    commit: CommitOpt = None,
    base: Annotated[
        str | None,
        typer.Option(
            "--base", metavar="SHA", help="The base commit it was planned against (with --commit)."
        ),
    ] = None,
    plan_file: Annotated[
        Path | None,
        typer.Option(
            "--plan",
            metavar="FILE",
            help="The saved plan (plan --out FILE), whose checksum the comment names.",
        ),
    ] = None,
) -> None:
    """Post the plan on a pull request, or edit the previous plan comment in place. With
    --commit and --base, the comment names them, the run and the saved plan's artifact
    (with --plan, its checksum)."""
    from reconciler.cli.common import guarded
    from reconciler.cli.github import comment_command

    raise typer.Exit(
        guarded(
            lambda: comment_command(
                repo=repo,
                pr=pr,
                file=file,
                key=key,
                author=author,
                commit=commit,
                base=base,
                plan_file=plan_file,
            )
        )
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
    label: Annotated[
        str, typer.Option("--label", metavar="LABEL", help="Label of drift issues.")
    ] = ("reconciler-drift"),
    unmanaged_is_drift: Annotated[
        bool,
        typer.Option(
            "--unmanaged-is-drift", help="Also open an issue for objects merely left alone."
        ),
    ] = False,
    author: AuthorOpt = None,
) -> None:
    """Keep one issue open per drifted target: create, update, reopen, close."""
    from reconciler.cli.common import guarded
    from reconciler.cli.github import drift_command

    raise typer.Exit(
        guarded(
            lambda: drift_command(
                repo=repo,
                plan_json=plan_json,
                label=label,
                unmanaged_is_drift=unmanaged_is_drift,
                author=author,
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
    key: KeyOpt = None,
    pr: Annotated[
        int | None,
        typer.Option("--pr", metavar="NUMBER", min=1, help="The pull request planned, if any."),
    ] = None,
    commit: CommitOpt = None,
) -> None:
    """Hand a saved plan's counts to later steps ($GITHUB_OUTPUT): api-changes (apply's
    work through the Admin API), manual-changes (the admin console's), conflicts, its
    plan-checksum; with --commit, plan-artifact (the name to save the plan under for the
    merge job)."""
    from reconciler.cli.common import guarded
    from reconciler.cli.github import outputs_command

    raise typer.Exit(
        guarded(lambda: outputs_command(plan_file=plan_file, key=key, pr=pr, commit=commit))
    )


@github_app.command("reviewed-plan")
def github_reviewed_plan(
    out: Annotated[
        Path,
        typer.Option("--out", metavar="FILE", help="Where to write the reviewed plan."),
    ],
    repo: RepoOpt = None,
    key: KeyOpt = None,
    run_id: Annotated[
        int | None,
        typer.Option(
            "--run-id",
            metavar="RUN",
            min=1,
            help="Take the plan that run saved, instead of the merged pull request's.",
        ),
    ] = None,
    sha: ShaOpt = None,
) -> None:
    """Fetch the plan reviewers saw: the one saved for the pull request merged as --sha
    (at its last commit), or by --run-id. Prints found=true|false and pull-request=N."""
    from reconciler.cli.common import guarded
    from reconciler.cli.github_merge import reviewed_plan_command

    raise typer.Exit(
        guarded(lambda: reviewed_plan_command(repo=repo, key=key, out=out, run_id=run_id, sha=sha))
    )


@github_app.command("mark-stale")
def github_mark_stale(
    repo: RepoOpt = None,
    key: KeyOpt = None,
    sha: ShaOpt = None,
    branch: Annotated[
        str | None,
        typer.Option(
            "--branch",
            metavar="BRANCH",
            help=f"The branch merged into (default: ${GITHUB_REF_NAME}).",
        ),
    ] = None,
    replan: Annotated[
        str | None,
        typer.Option(
            "--replan",
            metavar="WORKFLOW",
            help="Dispatch this workflow file (input pull-request) to plan each one again.",
        ),
    ] = None,
    author: AuthorOpt = None,
) -> None:
    """Mark the plan comments of the other open pull requests stale (edited in place) after
    a merge moved their base, and plan them again."""
    from reconciler.cli.common import guarded
    from reconciler.cli.github_merge import mark_stale_command

    raise typer.Exit(
        guarded(
            lambda: mark_stale_command(
                repo=repo, key=key, sha=sha, branch=branch, workflow=replan, author=author
            )
        )
    )


@github_app.command("skipped-merges")
def github_skipped_merges(
    state_dir: StateDirOpt = STATE_DIR,
    repo: RepoOpt = None,
    key: KeyOpt = None,
    directory: Annotated[
        str | None,
        typer.Option(
            "--directory",
            metavar="DIR",
            help="The desired-state directory whose changes count (default: --key).",
        ),
    ] = None,
    sha: ShaOpt = None,
    author: AuthorOpt = None,
) -> None:
    """Before the apply of a merge: tell each pull request merged since the last apply
    (recorded in the state directory) whose own apply never ran (GitHub cancels a waiting
    one when a later merge queues) that this merge's apply carries its changes."""
    from reconciler.cli.common import guarded
    from reconciler.cli.github_merge import skipped_merges_command

    raise typer.Exit(
        guarded(
            lambda: skipped_merges_command(
                repo=repo,
                key=key,
                state_dir=state_dir,
                directory=directory,
                sha=sha,
                author=author,
            )
        )
    )
