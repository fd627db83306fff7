"""The commands that run against a target: ``plan``, ``audit``, ``import``, ``apply``,
``force-unlock`` and ``secret put``.

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
    AllowFileVaultOpt,
    AttributionDaysOpt,
    ConcurrencyOpt,
    DesiredAlsoOpt,
    DirectoryAfterArg,
    DirectoryArg,
    GraceOpt,
    NoColorOpt,
    OrgOpt,
    OutputFormatOpt,
    ReplaceOpt,
    RotateAtMostOpt,
    SandboxOpt,
    SandboxStateOpt,
    StateDirOpt,
    TargetOpt,
    VaultOpt,
    check_format,
    make_rotations,
    make_target,
    one_directory,
)


def plan(
    directory: DirectoryArg = DESIRED_STATE,
    sandbox: SandboxOpt = False,
    sandbox_state: SandboxStateOpt = SANDBOX_STATE,
    vault: VaultOpt = None,
    allow_file_vault: AllowFileVaultOpt = False,
    state_dir: StateDirOpt = STATE_DIR,
    concurrency: ConcurrencyOpt = 8,
    fmt: OutputFormatOpt = "text",
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            metavar="FILE",
            help="Save the plan to this file; apply it later with: reconciler apply FILE.",
        ),
    ] = None,
    detailed_exitcode: Annotated[
        bool,
        typer.Option(
            "--detailed-exitcode", help="Exit 0 with no changes, 1 on error, 2 with changes."
        ),
    ] = False,
    target: TargetOpt = None,
    replace: ReplaceOpt = None,
    grace: GraceOpt = None,
    rotate_at_most: RotateAtMostOpt = None,
    no_color: NoColorOpt = False,
    attribution_days: AttributionDaysOpt = 30,
    org: OrgOpt = None,
) -> None:
    """Show what apply would change: desired state against the live organisation (each
    organisation of a directory of several, in turn)."""
    from reconciler.cli.common import few_collections, run_async

    with few_collections():  # imports too: they make the most objects, and no garbage
        from reconciler.cli.orgs import run_each
        from reconciler.cli.plan import plan_command

        check_format(fmt, "text", "markdown", "json")
        options = make_target(
            sandbox, sandbox_state, vault, state_dir, concurrency, allow_file_vault
        )
        one_only = (
            "--out"
            if out is not None
            else "--format json"
            if fmt == "json"
            else "--target"
            if target
            else None
        )
        code = run_each(
            directory,
            org,
            lambda d: run_async(
                plan_command(
                    d,
                    options,
                    fmt=fmt,
                    out=out,
                    detailed_exitcode=detailed_exitcode,
                    no_color=no_color,
                    targets=target or (),
                    attribution_days=attribution_days,
                    rotations=make_rotations(replace, grace, rotate_at_most),
                )
            ),
            fmt=fmt,
            one_only=one_only,
        )
    raise typer.Exit(code)


secret_app = typer.Typer(
    name="secret",
    help="Secrets of keys made outside reconciler (in a console).",
    no_args_is_help=True,
    rich_markup_mode=None,
)


@secret_app.command("put")
def secret_put(
    address: Annotated[str, typer.Argument(help="The key's address: api_key.NAME.")],
    directory: DirectoryAfterArg = None,
    desired: DesiredAlsoOpt = None,
    sandbox: SandboxOpt = False,
    sandbox_state: SandboxStateOpt = SANDBOX_STATE,
    vault: VaultOpt = None,
    allow_file_vault: AllowFileVaultOpt = False,
    org: OrgOpt = None,
) -> None:
    """Store a console-made key's secret, read from standard input (never echoed)."""
    from reconciler.cli.common import guarded, run_async
    from reconciler.cli.orgs import one_org
    from reconciler.cli.secret import put_command

    root = one_directory(directory, desired)
    options = make_target(sandbox, sandbox_state, vault, STATE_DIR, 8, allow_file_vault)
    raise typer.Exit(guarded(lambda: run_async(put_command(one_org(root, org), options, address))))


def audit(
    directory: DirectoryArg = DESIRED_STATE,
    sandbox: SandboxOpt = False,
    sandbox_state: SandboxStateOpt = SANDBOX_STATE,
    vault: VaultOpt = None,
    allow_file_vault: AllowFileVaultOpt = False,
    state_dir: StateDirOpt = STATE_DIR,
    concurrency: ConcurrencyOpt = 8,
    fmt: OutputFormatOpt = "text",
    fail_on: Annotated[
        str | None,
        typer.Option(
            "--fail-on",
            metavar="FLAGS",
            help="Comma-separated; exit 2 when a key carries one of them (unused, old, "
            "rotation-due, expiring, expired, unmanaged, secret-missing, secret-mismatch, "
            "secret-unreadable, retiring).",
        ),
    ] = None,
    attribution_days: AttributionDaysOpt = 30,
    org: OrgOpt = None,
) -> None:
    """List every API key (workspace, owner, age, last use, expiry, secret) with what
    needs a look: unused, old, due for rotation, expiring, unmanaged, secret missing.
    Changes nothing. Each organisation of a directory of several, in turn."""
    from reconciler.cli.common import few_collections, run_async

    with few_collections():  # imports too: they make the most objects, and no garbage
        from reconciler.cli.audit import audit_command, fail_on_flags
        from reconciler.cli.orgs import run_each

        check_format(fmt, "text", "markdown", "json")
        failing = fail_on_flags(fail_on)
        options = make_target(
            sandbox, sandbox_state, vault, state_dir, concurrency, allow_file_vault
        )
        code = run_each(
            directory,
            org,
            lambda d: run_async(audit_command(d, options, fmt, failing, attribution_days)),
            fmt=fmt,
            one_only="--format json" if fmt == "json" else None,
        )
    raise typer.Exit(code)


def import_(
    directory: Annotated[Path, typer.Argument(help="The desired-state directory to write.")] = Path(
        "desired-state"
    ),
    sandbox: SandboxOpt = False,
    sandbox_state: SandboxStateOpt = SANDBOX_STATE,
    vault: VaultOpt = None,
    allow_file_vault: AllowFileVaultOpt = False,
    concurrency: ConcurrencyOpt = 8,
    name: Annotated[
        str | None,
        typer.Option(
            "--name",
            metavar="NAME",
            help="The organisation's name (the Admin API does not give it); "
            "default: the one organization.yaml already names.",
        ),
    ] = None,
    prune: Annotated[
        bool,
        typer.Option(
            "--prune", help="Remove entries and files of objects gone from the live organisation."
        ),
    ] = False,
    org: OrgOpt = None,
) -> None:
    """Write the live organisation as a desired state (again: update it in place)."""
    from reconciler.cli.adopt import import_command
    from reconciler.cli.common import guarded, run_async
    from reconciler.cli.orgs import one_org

    options = make_target(sandbox, sandbox_state, vault, STATE_DIR, concurrency, allow_file_vault)
    code = guarded(
        lambda: run_async(import_command(one_org(directory, org), options, name=name, prune=prune))
    )
    raise typer.Exit(code)


def apply(
    path: Annotated[
        Path,
        typer.Argument(help="A saved plan file (from plan --out), or the desired-state directory."),
    ] = DESIRED_STATE,
    sandbox: SandboxOpt = False,
    sandbox_state: SandboxStateOpt = SANDBOX_STATE,
    vault: VaultOpt = None,
    allow_file_vault: AllowFileVaultOpt = False,
    state_dir: StateDirOpt = STATE_DIR,
    concurrency: ConcurrencyOpt = 8,
    auto_approve: Annotated[
        bool, typer.Option("--auto-approve", help="Apply without asking (for CI).")
    ] = False,
    force: Annotated[
        bool, typer.Option("--force", help="Apply even when the plan deletes many keys.")
    ] = False,
    target: TargetOpt = None,
    replace: ReplaceOpt = None,
    grace: GraceOpt = None,
    rotate_at_most: RotateAtMostOpt = None,
    lock_timeout: Annotated[
        float,
        typer.Option(
            "--lock-timeout",
            min=0.0,
            metavar="SECONDS",
            help="Seconds to wait for another apply's lock.",
        ),
    ] = 0.0,
    parallelism: Annotated[
        int,
        typer.Option(
            "--parallelism",
            metavar="N",
            min=1,
            max=64,
            help="Independent changes carried out at once.",
        ),
    ] = 8,
    no_color: NoColorOpt = False,
    exact: Annotated[
        bool,
        typer.Option(
            "--exact",
            help="With a saved plan: refuse it as stale unless a plan made now has exactly "
            "its changes (CI, applying the plan reviewers saw).",
        ),
    ] = False,
    org: OrgOpt = None,
) -> None:
    """Carry out the plan: create, update and delete through the Admin API; store secrets.
    One organisation at a time: of a directory of several, name it with --org."""
    from reconciler.cli.common import few_collections, guarded, run_async

    with few_collections():  # imports too: they make the most objects, and no garbage
        from reconciler.cli.apply import apply_command
        from reconciler.cli.orgs import one_org

        options = make_target(
            sandbox, sandbox_state, vault, state_dir, concurrency, allow_file_vault
        )
        code = guarded(
            lambda: run_async(
                apply_command(
                    path if path.is_file() else one_org(path, org),
                    options,
                    auto_approve=auto_approve,
                    force=force,
                    targets=target,
                    rotations=make_rotations(replace, grace, rotate_at_most),
                    lock_timeout=lock_timeout,
                    parallelism=parallelism,
                    no_color=no_color,
                    exact=exact,
                    org=org if path.is_file() else None,
                )
            )
        )
    raise typer.Exit(code)


def force_unlock(
    lock_id: Annotated[
        str, typer.Argument(metavar="LOCK_ID", help="The lock's id, as a lock error names it.")
    ],
    directory: Annotated[
        Path, typer.Argument(help="The desired-state directory (its vault holds the lock).")
    ] = DESIRED_STATE,
    sandbox: SandboxOpt = False,
    sandbox_state: SandboxStateOpt = SANDBOX_STATE,
    vault: VaultOpt = None,
    force: Annotated[
        bool, typer.Option("--force", "-force", help="Do not ask for confirmation.")
    ] = False,
    org: OrgOpt = None,
) -> None:
    """Remove the apply lock left by an apply that died (asks first, unless -force)."""
    from reconciler.cli.common import guarded, run_async
    from reconciler.cli.orgs import one_org
    from reconciler.cli.unlock import force_unlock_command

    options = make_target(sandbox, sandbox_state, vault, STATE_DIR, 8)
    code = guarded(
        lambda: run_async(
            force_unlock_command(one_org(directory, org), options, lock_id, force=force)
        )
    )
    raise typer.Exit(code)


def register(app: typer.Typer) -> None:
    """Add these commands to ``app``, in the order its help lists them."""
    app.command()(plan)
    app.add_typer(secret_app)
    app.command()(audit)
    app.command("import")(import_)
    app.command()(apply)
    app.command("force-unlock")(force_unlock)
