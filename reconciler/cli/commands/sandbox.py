"""``reconciler sandbox``: serve, reset, seed and accept an invitation on the local La
Plateforme, or (``--provider anthropic``) the local Anthropic organisation.

Each command parses its options and calls its module under ``reconciler/cli/``; heavy
modules are imported inside the command so ``reconciler --help`` stays fast.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from reconciler.cli.options import (
    SANDBOX_STATE,
)

sandbox_app = typer.Typer(
    name="sandbox",
    help="A local La Plateforme speaking the same Admin API (no credentials needed).",
    no_args_is_help=True,
    rich_markup_mode=None,
)
ProviderStatePathOpt = Annotated[
    Path | None,
    typer.Option(
        "--state",
        metavar="FILE",
        help=(
            "State file (created from the seed when missing); default: "
            ".sandbox/state.json, or .sandbox/state.anthropic.json for anthropic."
        ),
    ),
]
SandboxProviderOpt = Annotated[
    str, typer.Option("--provider", metavar="NAME", help="The platform: mistral or anthropic.")
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
    host: Annotated[
        str, typer.Option("--host", metavar="HOST", help="Interface (loopback only).")
    ] = "127.0.0.1",
    state: ProviderStatePathOpt = None,
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
    provider: SandboxProviderOpt = "mistral",
) -> None:
    """Serve the sandbox over HTTP; prints the URL and the variables to export."""
    from reconciler.cli.common import guarded
    from reconciler.cli.sandbox import serve_command

    file = _sandbox_state(provider, state)
    if provider == "anthropic":
        from reconciler.cli.sandbox_anthropic import serve_anthropic

        raise typer.Exit(
            guarded(
                lambda: serve_anthropic(port=port, host=host, state=file, allow_remote=allow_remote)
            )
        )
    raise typer.Exit(
        guarded(
            lambda: serve_command(
                port=port,
                host=host,
                state=file,
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


def _sandbox_state(provider: str, state: Path | None) -> Path:
    """The state file of ``provider``'s sandbox: ``state`` exactly when given."""
    from reconciler.platform.anthropic.sandbox.state import DEFAULT_STATE_PATH

    if provider not in ("mistral", "anthropic"):
        raise typer.BadParameter(f"no sandbox for provider {provider!r}", param_hint="--provider")
    if state is not None:
        return state
    return DEFAULT_STATE_PATH if provider == "anthropic" else SANDBOX_STATE


@sandbox_app.command("reset")
def sandbox_reset(
    state: ProviderStatePathOpt = None,
    seed: SandboxSeedOpt = None,
    provider: SandboxProviderOpt = "mistral",
    force: Annotated[
        bool,
        typer.Option(
            "--force",
            help="Replace the file even if it is no sandbox state (one that was damaged).",
        ),
    ] = False,
) -> None:
    """Throw the sandbox state away and start again from the seed."""
    from reconciler.cli.common import guarded
    from reconciler.cli.sandbox import reset_command
    from reconciler.cli.sandbox_anthropic import reset_anthropic

    file = _sandbox_state(provider, state)
    if provider == "anthropic":
        if seed is not None:
            raise typer.BadParameter("the Anthropic sandbox has no seed file", param_hint="--seed")
        raise typer.Exit(guarded(lambda: reset_anthropic(state=file, force=force)))
    raise typer.Exit(guarded(lambda: reset_command(state=file, seed=seed, force=force)))


@sandbox_app.command("accept-invite")
def sandbox_accept_invite(
    email: Annotated[str, typer.Argument(metavar="EMAIL", help="The invited person's email.")],
    state: ProviderStatePathOpt = None,
    provider: SandboxProviderOpt = "mistral",
) -> None:
    """Accept a pending invitation as the invited person would (they join the organisation
    and the workspaces it names)."""
    from reconciler.cli.common import guarded
    from reconciler.cli.sandbox import accept_invite_command
    from reconciler.cli.sandbox_anthropic import accept_invite_anthropic

    file = _sandbox_state(provider, state)
    if provider == "anthropic":
        raise typer.Exit(guarded(lambda: accept_invite_anthropic(email=email, state=file)))
    raise typer.Exit(guarded(lambda: accept_invite_command(email=email, state=file)))


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


def register(app: typer.Typer) -> None:
    """Add these commands to ``app``, in the order its help lists them."""
    app.add_typer(sandbox_app)
