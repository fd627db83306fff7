"""``reconciler policy`` (check a request, seed the usage store) and ``budget``.

Each command parses its options and calls its module under ``reconciler/cli/``; heavy
modules are imported inside the command so ``reconciler --help`` stays fast.
"""

from __future__ import annotations

from typing import Annotated

import typer

from reconciler.cli.options import (
    DESIRED_STATE,
    SANDBOX_STATE,
    ConcurrencyOpt,
    DesiredAlsoOpt,
    DesiredDirOpt,
    DirectoryAfterArg,
    DirectoryArg,
    FormatOpt,
    OrgOpt,
    ReadSandboxOpt,
    SandboxStateOpt,
    check_format,
    one_directory,
)

policy_app = typer.Typer(
    help="Application-side policy: what a role or key may do, from the desired state.",
    no_args_is_help=True,
    rich_markup_mode=None,
)


@policy_app.command("check")
def policy_check(
    role: Annotated[str, typer.Argument(help="A role, or a key as api_key.NAME.")],
    model: Annotated[str, typer.Argument(help="A model id or alias.")],
    tokens: Annotated[str, typer.Argument(help="Estimated tokens of the request (in + out).")],
    directory: DirectoryAfterArg = None,
    desired: DesiredAlsoOpt = None,
    output_tokens: Annotated[
        str | None,
        typer.Option(
            "--output-tokens", metavar="N", help="How many of TOKENS are output (for pricing)."
        ),
    ] = None,
    store: Annotated[
        str | None,
        typer.Option(
            "--store",
            metavar="STORE",
            help="A shared usage store to check budgets against: a SQLite file or a "
            "postgresql:// URL.",
        ),
    ] = None,
    fmt: Annotated[
        str,
        typer.Option("--format", metavar="FORMAT", help="text (one line) or json (the decision)."),
    ] = "text",
    provider: Annotated[
        str | None,
        typer.Option(
            "--provider",
            metavar="NAME",
            help="The provider whose calls are checked (e.g. groq); default: the desired "
            "state's. A desired state of another provider is an error.",
        ),
    ] = None,
) -> None:
    """Would the policy allow this request? Exit 0 allowed, 2 denied, 1 on error."""
    from reconciler.cli.common import guarded
    from reconciler.cli.policy import check_command

    check_format(fmt, "text", "json")
    root = one_directory(directory, desired)
    code = guarded(
        lambda: check_command(
            root,
            role,
            model,
            tokens,
            output_tokens=output_tokens,
            store=store,
            fmt=fmt,
            provider=provider,
        )
    )
    raise typer.Exit(code)


@policy_app.command("seed")
def policy_seed(
    store: Annotated[
        str,
        typer.Option(
            "--store",
            metavar="STORE",
            help="The shared usage store to seed: a SQLite file or a postgresql:// URL.",
        ),
    ],
    directory: DesiredDirOpt = DESIRED_STATE,
    sandbox: ReadSandboxOpt = False,
    sandbox_state: SandboxStateOpt = SANDBOX_STATE,
    concurrency: ConcurrencyOpt = 8,
) -> None:
    """Start the store's month from the platform's spend this month, per workspace."""
    from reconciler.cli.common import guarded, run_async
    from reconciler.cli.policy import seed_command, target_options

    options = target_options(sandbox, sandbox_state, concurrency)
    raise typer.Exit(guarded(lambda: run_async(seed_command(directory, options, store))))


def budget(
    directory: DirectoryArg = DESIRED_STATE,
    sandbox: ReadSandboxOpt = False,
    sandbox_state: SandboxStateOpt = SANDBOX_STATE,
    concurrency: ConcurrencyOpt = 8,
    month: Annotated[
        str | None,
        typer.Option("--month", metavar="YYYY-MM", help="YYYY-MM (default: this month, UTC)."),
    ] = None,
    fmt: FormatOpt = "text",
    org: OrgOpt = None,
) -> None:
    """This month's spend per workspace against its budget; warns at 50/80/100%."""
    from reconciler.cli.common import guarded, run_async
    from reconciler.cli.orgs import one_org
    from reconciler.cli.policy import budget_command, target_options

    check_format(fmt, "text", "markdown", "json")
    options = target_options(sandbox, sandbox_state, concurrency)
    code = guarded(
        lambda: run_async(budget_command(one_org(directory, org), options, month=month, fmt=fmt))
    )
    raise typer.Exit(code)


def register(app: typer.Typer) -> None:
    """Add these commands to ``app``, in the order its help lists them."""
    app.add_typer(policy_app, name="policy")
    app.command()(budget)
