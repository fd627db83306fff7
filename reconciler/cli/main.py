"""The ``reconciler`` command: parse arguments, call the library, print, exit.

This is the only place that exits. Heavy modules are imported inside each command so
``reconciler --help`` stays fast. Each command lives in its own small module under
``reconciler/cli/`` and is registered here.

Longer than the ~450 lines a module should be, on purpose: every option of every command
is declared here, once, with its help and placeholder (typer's declarations are verbose),
so the whole command line reads in one place; nothing else lives here.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from reconciler.cli.github_app import github_app
from reconciler.cli.help import use_words
from reconciler.env import RECONCILER_ALLOW_FILE_VAULT, RECONCILER_STATE_DIR, RECONCILER_VAULT

if TYPE_CHECKING:
    from reconciler.diff import Rotations
    from reconciler.session import TargetOptions

OrgOpt = Annotated[
    str | None,
    typer.Option(
        "--org",
        metavar="NAME",
        help="Of a directory of several organisations, this one (its sub-directory's name).",
    ),
]

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


@app.command("version")
def version_command() -> None:
    """Print the version (as --version does)."""
    from reconciler.cli.common import version_line

    print(version_line())


# --- commands: each section is owned by one module under reconciler/cli/ -------------
# [validate/schema]
@app.command()
def validate(
    directory: Annotated[Path, typer.Argument(help="The desired-state directory.")] = Path(
        "desired-state"
    ),
    today: Annotated[
        str | None,
        typer.Option("--today", metavar="YYYY-MM-DD", help="Check expiry dates against this day."),
    ] = None,
    org: OrgOpt = None,
) -> None:
    """Check the desired state offline: every problem, by file:line (each organisation of
    a directory of several, in turn)."""
    from reconciler.cli.common import few_collections
    from reconciler.cli.orgs import run_each
    from reconciler.cli.validate import validate_command

    with few_collections():
        code = run_each(directory, org, lambda d: validate_command(d, today=today))
    raise typer.Exit(code)


@app.command("orgs")
def orgs(
    directory: Annotated[
        Path, typer.Argument(help="The desired-state directory (one organisation, or several).")
    ] = Path("desired-state"),
    as_json: Annotated[
        bool, typer.Option("--json", help="A JSON list of {name, directory, provider}.")
    ] = False,
) -> None:
    """List the organisations a desired-state directory holds (for a CI matrix)."""
    from reconciler.cli.common import guarded
    from reconciler.cli.orgs import orgs_command

    raise typer.Exit(guarded(lambda: orgs_command(directory, as_json=as_json)))


@app.command()
def schema(
    kind: Annotated[
        str | None,
        typer.Option(
            "--kind", help="organization, roles or workspace (default: one schema for any file)."
        ),
    ] = None,
    provider: Annotated[
        str | None,
        typer.Option(
            "--provider", help="Complete this provider's role names (default: any provider)."
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
    ] = Path("desired-state"),
) -> None:
    """Print the JSON Schema of the desired-state files, or write it into your repository
    so editors check the YAML there."""
    from reconciler.cli.common import guarded
    from reconciler.cli.validate import schema_command

    raise typer.Exit(
        guarded(lambda: schema_command(kind, provider, write=write, desired=directory))
    )


# [plan]
SandboxOpt = Annotated[
    bool,
    typer.Option(
        "--sandbox",
        help=(
            "Target the embedded local sandbox (no credentials; apply stores new secrets "
            "in a file vault beside it)."
        ),
    ),
]
SandboxStateOpt = Annotated[
    Path, typer.Option("--sandbox-state", metavar="FILE", help="The sandbox's state file.")
]
VaultOpt = Annotated[
    str | None,
    typer.Option(
        "--vault",
        metavar="SPEC",
        help=f"Override the desired state's vault, e.g. file:PATH (env {RECONCILER_VAULT}).",
    ),
]
StateDirOpt = Annotated[
    Path,
    typer.Option(
        "--state-dir",
        metavar="DIR",
        help="Where the journal and audit logs live.",
        envvar=RECONCILER_STATE_DIR,
    ),
]
ConcurrencyOpt = Annotated[
    int,
    typer.Option(
        "--concurrency", metavar="N", min=1, max=64, help="Parallel requests while reading."
    ),
]
NoColorOpt = Annotated[bool, typer.Option("--no-color", help="Never colour the output.")]
AttributionDaysOpt = Annotated[
    int,
    typer.Option(
        "--attribution-days",
        metavar="DAYS",
        min=0,
        help="Read this many days of the platform's audit log to say who changed what "
        "outside reconciler (0: none).",
    ),
]
TargetOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--target",
        metavar="ADDRESS",
        help="Only this address (repeatable), e.g. api_key.dev-bob.",
    ),
]
ReplaceOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--replace",
        metavar="ADDRESS",
        help="Rotate this key now (repeatable), e.g. api_key.dev-bob: a new key, then the "
        "old one goes after its grace period.",
    ),
]
GraceOpt = Annotated[
    int | None,
    typer.Option(
        "--grace",
        metavar="HOURS",
        min=0,
        help="Hours a rotated key's predecessor stays alive (0: deleted in this apply, "
        "for a leaked key). Default: keys.rotation_grace_hours.",
    ),
]
AllowFileVaultOpt = Annotated[
    bool,
    typer.Option(
        "--allow-file-vault",
        help=(
            "Allow a file vault against a live organisation, to rehearse "
            f"(env {RECONCILER_ALLOW_FILE_VAULT}=1)."
        ),
    ),
]


def _target(
    sandbox: bool,
    state: Path,
    vault: str | None,
    state_dir: Path,
    concurrency: int,
    allow_file_vault: bool = False,
) -> TargetOptions:
    from reconciler.session import TargetOptions

    return TargetOptions(
        sandbox=sandbox,
        sandbox_state=state,
        vault=vault,
        state_dir=state_dir,
        concurrency=concurrency,
        allow_file_vault=allow_file_vault,
    )


def _rotations(replace: list[str] | None, grace: int | None) -> Rotations:
    from reconciler.diff import Rotations

    return Rotations(forced=frozenset(replace or ()), grace_hours=grace)


@app.command()
def plan(
    directory: Annotated[Path, typer.Argument(help="The desired-state directory.")] = Path(
        "desired-state"
    ),
    sandbox: SandboxOpt = False,
    sandbox_state: SandboxStateOpt = Path(".sandbox/state.json"),
    vault: VaultOpt = None,
    allow_file_vault: AllowFileVaultOpt = False,
    state_dir: StateDirOpt = Path(".reconciler"),
    concurrency: ConcurrencyOpt = 8,
    fmt: Annotated[
        str,
        typer.Option(
            "--format",
            metavar="FORMAT",
            help="text (terminals), markdown (PR comments) or json (machines).",
        ),
    ] = "text",
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
    no_color: NoColorOpt = False,
    attribution_days: AttributionDaysOpt = 30,
    org: OrgOpt = None,
) -> None:
    """Show what apply would change: desired state against the live organisation (each
    organisation of a directory of several, in turn)."""
    from reconciler.cli.common import few_collections, run_async
    from reconciler.cli.orgs import run_each
    from reconciler.cli.plan import plan_command

    if fmt not in ("text", "markdown", "json"):
        raise typer.BadParameter("must be text, markdown or json", param_hint="--format")
    options = _target(sandbox, sandbox_state, vault, state_dir, concurrency, allow_file_vault)
    one_only = (
        "--out"
        if out is not None
        else "--format json"
        if fmt == "json"
        else "--target"
        if target
        else None
    )
    with few_collections():
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
                    rotations=_rotations(replace, grace),
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
app.add_typer(secret_app)


@secret_app.command("put")
def secret_put(
    address: Annotated[str, typer.Argument(help="The key's address: api_key.NAME.")],
    directory: Annotated[
        Path, typer.Option("--desired", metavar="DIR", help="The desired-state directory.")
    ] = Path("desired-state"),
    sandbox: SandboxOpt = False,
    sandbox_state: SandboxStateOpt = Path(".sandbox/state.json"),
    vault: VaultOpt = None,
    allow_file_vault: AllowFileVaultOpt = False,
    org: OrgOpt = None,
) -> None:
    """Store a console-made key's secret, read from standard input (never echoed)."""
    from reconciler.cli.common import guarded, run_async
    from reconciler.cli.orgs import one_org
    from reconciler.cli.secret import put_command

    options = _target(sandbox, sandbox_state, vault, Path(".reconciler"), 8, allow_file_vault)
    raise typer.Exit(
        guarded(lambda: run_async(put_command(one_org(directory, org), options, address)))
    )


# [audit]
@app.command()
def audit(
    directory: Annotated[Path, typer.Argument(help="The desired-state directory.")] = Path(
        "desired-state"
    ),
    sandbox: SandboxOpt = False,
    sandbox_state: SandboxStateOpt = Path(".sandbox/state.json"),
    vault: VaultOpt = None,
    allow_file_vault: AllowFileVaultOpt = False,
    state_dir: StateDirOpt = Path(".reconciler"),
    concurrency: ConcurrencyOpt = 8,
    fmt: Annotated[
        str,
        typer.Option(
            "--format",
            metavar="FORMAT",
            help="text (terminals), markdown (PR comments) or json (machines).",
        ),
    ] = "text",
    fail_on: Annotated[
        str | None,
        typer.Option(
            "--fail-on",
            metavar="FLAGS",
            help="Comma-separated; exit 2 when a key carries one of them (unused, old, "
            "rotation-due, expiring, expired, unmanaged, secret-missing, secret-mismatch).",
        ),
    ] = None,
    attribution_days: AttributionDaysOpt = 30,
    org: OrgOpt = None,
) -> None:
    """List every API key (workspace, owner, age, last use, expiry, secret) with what
    needs a look: unused, old, due for rotation, expiring, unmanaged, secret missing.
    Changes nothing. Each organisation of a directory of several, in turn."""
    from reconciler.cli.audit import audit_command, fail_on_flags
    from reconciler.cli.common import few_collections, run_async
    from reconciler.cli.orgs import run_each

    if fmt not in ("text", "markdown", "json"):
        raise typer.BadParameter("must be text, markdown or json", param_hint="--format")
    failing = fail_on_flags(fail_on)
    options = _target(sandbox, sandbox_state, vault, state_dir, concurrency, allow_file_vault)
    with few_collections():
        code = run_each(
            directory,
            org,
            lambda d: run_async(audit_command(d, options, fmt, failing, attribution_days)),
            fmt=fmt,
            one_only="--format json" if fmt == "json" else None,
        )
    raise typer.Exit(code)


# [import]
@app.command("import")
def import_(
    directory: Annotated[Path, typer.Argument(help="The desired-state directory to write.")] = Path(
        "desired-state"
    ),
    sandbox: SandboxOpt = False,
    sandbox_state: SandboxStateOpt = Path(".sandbox/state.json"),
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

    options = _target(
        sandbox, sandbox_state, vault, Path(".reconciler"), concurrency, allow_file_vault
    )
    code = guarded(
        lambda: run_async(import_command(one_org(directory, org), options, name=name, prune=prune))
    )
    raise typer.Exit(code)


# [apply]
@app.command()
def apply(
    path: Annotated[
        Path,
        typer.Argument(help="A saved plan file (from plan --out), or the desired-state directory."),
    ] = Path("desired-state"),
    sandbox: SandboxOpt = False,
    sandbox_state: SandboxStateOpt = Path(".sandbox/state.json"),
    vault: VaultOpt = None,
    allow_file_vault: AllowFileVaultOpt = False,
    state_dir: StateDirOpt = Path(".reconciler"),
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
            "--parallelism", min=1, max=64, help="Independent changes carried out at once."
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
    from reconciler.cli.apply import apply_command
    from reconciler.cli.common import few_collections, guarded, run_async
    from reconciler.cli.orgs import one_org

    options = _target(sandbox, sandbox_state, vault, state_dir, concurrency, allow_file_vault)
    with few_collections():
        code = guarded(
            lambda: run_async(
                apply_command(
                    path if path.is_file() else one_org(path, org),
                    options,
                    auto_approve=auto_approve,
                    force=force,
                    targets=target,
                    rotations=_rotations(replace, grace),
                    lock_timeout=lock_timeout,
                    parallelism=parallelism,
                    no_color=no_color,
                    exact=exact,
                )
            )
        )
    raise typer.Exit(code)


# [force-unlock]
@app.command("force-unlock")
def force_unlock(
    lock_id: Annotated[
        str, typer.Argument(metavar="LOCK_ID", help="The lock's id, as a lock error names it.")
    ],
    directory: Annotated[
        Path, typer.Argument(help="The desired-state directory (its vault holds the lock).")
    ] = Path("desired-state"),
    sandbox: SandboxOpt = False,
    sandbox_state: SandboxStateOpt = Path(".sandbox/state.json"),
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

    options = _target(sandbox, sandbox_state, vault, Path(".reconciler"), 8)
    code = guarded(
        lambda: run_async(
            force_unlock_command(one_org(directory, org), options, lock_id, force=force)
        )
    )
    raise typer.Exit(code)


# [sandbox]
sandbox_app = typer.Typer(
    name="sandbox",
    help="A local La Plateforme speaking the same Admin API (no credentials needed).",
    no_args_is_help=True,
    rich_markup_mode=None,
)
app.add_typer(sandbox_app)
SandboxStatePathOpt = Annotated[
    Path,
    typer.Option(
        "--state", metavar="FILE", help="State file (created from the seed when missing)."
    ),
]
SandboxSeedOpt = Annotated[
    Path | None,
    typer.Option(
        "--seed", metavar="FILE", help="Seed file (YAML/JSON); default: the demo organisation."
    ),
]


@sandbox_app.command("serve")
def sandbox_serve(
    port: Annotated[
        int, typer.Option("--port", metavar="N", min=0, max=65535, help="0: any free port.")
    ] = 8765,
    host: Annotated[str, typer.Option("--host", help="Interface (loopback only).")] = "127.0.0.1",
    state: SandboxStatePathOpt = Path(".sandbox/state.json"),
    seed: SandboxSeedOpt = None,
    latency_ms: Annotated[
        int | None,
        typer.Option("--latency-ms", metavar="MS", min=0, help="Latency added per request (ms)."),
    ] = None,
    faults: Annotated[
        Path | None,
        typer.Option("--faults", metavar="FILE", help="Fault rules file (YAML or JSON)."),
    ] = None,
    fault: Annotated[
        list[str] | None,
        typer.Option(
            "--fault",
            metavar="RULE",
            help="A fault rule (repeatable), e.g. 'POST /v1/admin/api-keys nth=2 status=503'.",
        ),
    ] = None,
    fault_seed: Annotated[
        int | None,
        typer.Option("--fault-seed", metavar="N", help="Seed of the probability faults."),
    ] = None,
    admin_key_file: Annotated[
        Path | None,
        typer.Option(
            "--admin-key-file",
            metavar="FILE",
            help="File holding the admin key (default: built-in).",
        ),
    ] = None,
    allow_remote: Annotated[
        bool, typer.Option("--allow-remote", help="Allow a non-loopback --host.")
    ] = False,
    provider: Annotated[
        str, typer.Option("--provider", help="The platform to serve: mistral or anthropic.")
    ] = "mistral",
) -> None:
    """Serve the sandbox over HTTP; prints the URL and the variables to export."""
    from reconciler.cli.common import guarded
    from reconciler.cli.sandbox import serve_command

    if provider == "anthropic":
        from reconciler.cli.sandbox_anthropic import serve_anthropic

        raise typer.Exit(
            guarded(
                lambda: serve_anthropic(
                    port=port, host=host, state=state, allow_remote=allow_remote
                )
            )
        )
    if provider != "mistral":
        raise typer.BadParameter(f"no sandbox for provider {provider!r}", param_hint="--provider")
    raise typer.Exit(
        guarded(
            lambda: serve_command(
                port=port,
                host=host,
                state=state,
                seed=seed,
                latency_ms=latency_ms,
                faults=faults,
                fault=fault or (),
                fault_seed=fault_seed,
                admin_key_file=admin_key_file,
                allow_remote=allow_remote,
            )
        )
    )


@sandbox_app.command("reset")
def sandbox_reset(
    state: SandboxStatePathOpt = Path(".sandbox/state.json"), seed: SandboxSeedOpt = None
) -> None:
    """Throw the sandbox state away and start again from the seed."""
    from reconciler.cli.common import guarded
    from reconciler.cli.sandbox import reset_command

    raise typer.Exit(guarded(lambda: reset_command(state=state, seed=seed)))


@sandbox_app.command("accept-invite")
def sandbox_accept_invite(
    email: Annotated[str, typer.Argument(metavar="EMAIL", help="The invited person's email.")],
    state: SandboxStatePathOpt = Path(".sandbox/state.json"),
) -> None:
    """Accept a pending invitation as the invited person would (they join the organisation
    and the workspaces it names)."""
    from reconciler.cli.common import guarded
    from reconciler.cli.sandbox import accept_invite_command

    raise typer.Exit(guarded(lambda: accept_invite_command(email=email, state=state)))


@sandbox_app.command("seed")
def sandbox_seed(
    out: Annotated[
        Path, typer.Option("--out", metavar="FILE", help="File to write (.yaml or .json).")
    ],
    generate: Annotated[
        bool, typer.Option("--generate", help="Generate a large organisation (benchmarks).")
    ] = False,
    workspaces: Annotated[
        int, typer.Option("--workspaces", metavar="N", min=1, help="Workspaces to generate.")
    ] = 100,
    keys: Annotated[
        int, typer.Option("--keys", metavar="N", min=0, help="API keys to generate.")
    ] = 1000,
    users: Annotated[
        int | None, typer.Option("--users", metavar="N", min=1, help="Default: 2 per workspace.")
    ] = None,
    random_seed: Annotated[
        int, typer.Option("--random-seed", metavar="N", help="Same seed, same organisation.")
    ] = 0,
) -> None:
    """Write a seed file: the demo organisation, or --generate a large one."""
    from reconciler.cli.common import guarded
    from reconciler.cli.sandbox import seed_command

    raise typer.Exit(
        guarded(
            lambda: seed_command(
                out=out,
                generate=generate,
                workspaces=workspaces,
                keys=keys,
                users=users,
                random_seed=random_seed,
            )
        )
    )


# [policy/budget]
policy_app = typer.Typer(
    help="Application-side policy: what a role or key may do, from the desired state.",
    no_args_is_help=True,
    rich_markup_mode=None,
)
app.add_typer(policy_app, name="policy")

DesiredDirOpt = Annotated[
    Path, typer.Option("--desired", metavar="DIR", help="The desired-state directory.")
]
ReadSandboxOpt = Annotated[
    bool, typer.Option("--sandbox", help="Read from the embedded local sandbox (no credentials).")
]
FormatOpt = Annotated[
    str,
    typer.Option(
        "--format", metavar="FORMAT", help="text (terminals), markdown (PR comments) or json."
    ),
]


@policy_app.command("check")
def policy_check(
    role: Annotated[str, typer.Argument(help="A role, or a key as api_key.NAME.")],
    model: Annotated[str, typer.Argument(help="A model id or alias.")],
    tokens: Annotated[str, typer.Argument(help="Estimated tokens of the request (in + out).")],
    directory: DesiredDirOpt = Path("desired-state"),
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

    if fmt not in ("text", "json"):
        raise typer.BadParameter("must be text or json", param_hint="--format")
    code = guarded(
        lambda: check_command(
            directory,
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
    directory: DesiredDirOpt = Path("desired-state"),
    sandbox: ReadSandboxOpt = False,
    sandbox_state: SandboxStateOpt = Path(".sandbox/state.json"),
    concurrency: ConcurrencyOpt = 8,
) -> None:
    """Start the store's month from the platform's spend this month, per workspace."""
    from reconciler.cli.common import guarded, run_async
    from reconciler.cli.policy import seed_command, target_options

    options = target_options(sandbox, sandbox_state, concurrency)
    raise typer.Exit(guarded(lambda: run_async(seed_command(directory, options, store))))


@app.command()
def budget(
    directory: Annotated[Path, typer.Argument(help="The desired-state directory.")] = Path(
        "desired-state"
    ),
    sandbox: ReadSandboxOpt = False,
    sandbox_state: SandboxStateOpt = Path(".sandbox/state.json"),
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

    if fmt not in ("text", "markdown", "json"):
        raise typer.BadParameter("must be text, markdown or json", param_hint="--format")
    options = target_options(sandbox, sandbox_state, concurrency)
    code = guarded(
        lambda: run_async(budget_command(one_org(directory, org), options, month=month, fmt=fmt))
    )
    raise typer.Exit(code)


# [catalog]
catalog_app = typer.Typer(
    help="The model catalog (ids, aliases, prices) that validation and policy use.",
    no_args_is_help=True,
    rich_markup_mode=None,
)
app.add_typer(catalog_app, name="catalog")


CatalogDesiredOpt = Annotated[
    Path,
    typer.Option(
        "--desired", help="The desired-state directory; its provider's catalog is the one used."
    ),
]


@catalog_app.command("list")
def catalog_list(directory: CatalogDesiredOpt = Path("desired-state")) -> None:
    """List the models the catalog knows, with aliases and prices."""
    from reconciler.cli.catalog import list_command
    from reconciler.cli.common import guarded

    raise typer.Exit(guarded(lambda: list_command(directory)))


@catalog_app.command("refresh")
def catalog_refresh(
    sandbox: ReadSandboxOpt = False,
    sandbox_state: SandboxStateOpt = Path(".sandbox/state.json"),
    out: Annotated[
        Path | None,
        typer.Option(
            "--out", metavar="FILE", help="Write the catalog here (default: standard output)."
        ),
    ] = None,
    directory: CatalogDesiredOpt = Path("desired-state"),
) -> None:
    """Rebuild the catalog from the platform's model list (prices kept from the shipped
    catalog); point RECONCILER_CATALOG at the file to use it."""
    from reconciler.cli.catalog import refresh_command
    from reconciler.cli.common import guarded, run_async

    options = _target(sandbox, sandbox_state, None, Path(".reconciler"), 8)
    raise typer.Exit(guarded(lambda: run_async(refresh_command(options, out, directory))))


# [github]: reconciler/cli/github_app.py
app.add_typer(github_app, name="github")

use_words(app)  # every command's help reads ROLE MODEL TOKENS, never {role} or <str>
