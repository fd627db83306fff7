"""The options several commands share, declared once with their help and placeholder.

Typer's declarations are verbose; each option a second command takes is declared here
(``Annotated`` aliases), with the helpers that turn the target options into the library's
:class:`~reconciler.session.TargetOptions` and the rotation options into
:class:`~reconciler.diff.Rotations`. Imports nothing heavy, so ``reconciler --help``
stays fast.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from reconciler.env import RECONCILER_ALLOW_FILE_VAULT, RECONCILER_STATE_DIR, RECONCILER_VAULT

if TYPE_CHECKING:
    from reconciler.diff import Rotations
    from reconciler.session import TargetOptions

DESIRED_STATE = Path("desired-state")
SANDBOX_STATE = Path(".sandbox/state.json")
STATE_DIR = Path(".reconciler")

OrgOpt = Annotated[
    str | None,
    typer.Option(
        "--org",
        metavar="NAME",
        help="Of a directory of several organisations, this one (its sub-directory's name).",
    ),
]
DirectoryArg = Annotated[Path, typer.Argument(help="The desired-state directory.")]
DesiredDirOpt = Annotated[
    Path, typer.Option("--desired", metavar="DIR", help="The desired-state directory.")
]
# a command whose directory also comes after other arguments takes it either way
DirectoryAfterArg = Annotated[
    Path | None,
    typer.Argument(metavar="DIRECTORY", help="The desired-state directory.", show_default=False),
]
DesiredAlsoOpt = Annotated[
    Path | None,
    typer.Option("--desired", metavar="DIR", help="The same, as an option (older form)."),
]


def one_directory(directory: Path | None, desired: Path | None) -> Path:
    """The desired-state directory given as DIRECTORY or ``--desired`` (default:
    ``desired-state``); both, naming two, is a usage error."""
    if directory is not None and desired is not None and directory != desired:
        raise typer.BadParameter(
            f"two desired-state directories: {directory} and --desired {desired}",
            param_hint="DIRECTORY",
        )
    return directory or desired or DESIRED_STATE


OutputFormatOpt = Annotated[
    str,
    typer.Option(
        "--format",
        metavar="FORMAT",
        help="text (terminals), markdown (PR comments) or json (machines).",
    ),
]
FormatOpt = Annotated[
    str,
    typer.Option(
        "--format", metavar="FORMAT", help="text (terminals), markdown (PR comments) or json."
    ),
]
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
ReadSandboxOpt = Annotated[
    bool, typer.Option("--sandbox", help="Read from the embedded local sandbox (no credentials).")
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
        max=8_784,  # reconciler.model.MAX_GRACE_HOURS (a year; not imported: --help stays fast)
        help="Hours a rotated key's predecessor stays alive (0: deleted in this apply, "
        "for a leaked key). Default: keys.rotation_grace_hours.",
    ),
]

RotateAtMostOpt = Annotated[
    int | None,
    typer.Option(
        "--rotate-at-most",
        metavar="N",
        min=0,
        help="Rotate at most N of the keys due for rotation, the most overdue first; the "
        "others wait for a later apply (pacing after an import). --replace keys not counted.",
    ),
]


def check_format(fmt: str, *allowed: str) -> None:
    """``--format`` names one of ``allowed`` (a usage error otherwise)."""
    if fmt not in allowed:
        words = ", ".join(allowed[:-1]) + f" or {allowed[-1]}"
        raise typer.BadParameter(f"must be {words}", param_hint="--format")


def make_target(
    sandbox: bool,
    state: Path,
    vault: str | None,
    state_dir: Path,
    concurrency: int,
    allow_file_vault: bool = False,
) -> TargetOptions:
    """The library's target options from the command's."""
    from reconciler.session import TargetOptions

    return TargetOptions(
        sandbox=sandbox,
        sandbox_state=state,
        vault=vault,
        state_dir=state_dir,
        concurrency=concurrency,
        allow_file_vault=allow_file_vault,
    )


def make_rotations(
    replace: list[str] | None, grace: int | None, at_most: int | None
) -> Rotations | None:
    """The keys ``--replace`` rotates now, ``--grace``'s hours and ``--rotate-at-most``'s
    count; None when none of them is given (a saved plan's own are then used)."""
    from reconciler.diff import Rotations

    if not replace and grace is None and at_most is None:
        return None
    return Rotations(forced=frozenset(replace or ()), grace_hours=grace, at_most=at_most)
