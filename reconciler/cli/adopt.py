"""``reconciler import DIR``: write the live organisation into DIR as a desired state.

The provider is the one DIR's ``organization.yaml`` names (the default when there is none
yet), opened on the same target options as ``plan``. The library
(:mod:`reconciler.adoption`) writes the files; this prints what it wrote, what the YAML
cannot express (what the next plan will still show), and validates DIR as ``validate``
does: 0 when it is valid, 1 otherwise.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from reconciler.adoption import ImportReport, import_into
from reconciler.cli.common import Progress, err
from reconciler.cli.validate import validate_command
from reconciler.desired.load import provider_name
from reconciler.providers import get_provider
from reconciler.session import TargetOptions, open_provider
from reconciler.textsafe import for_terminal


async def import_command(
    directory: Path, options: TargetOptions, *, name: str | None = None, prune: bool = False
) -> int:
    spec = get_provider(options.provider or provider_name(directory))
    provider = open_provider(replace(options, provider=spec.name))
    progress = Progress()
    try:
        with progress.running("Reading"):
            live = await provider.fetch(progress)
    finally:
        await provider.aclose()
    err(progress.summary(live.target, live.requests))
    report = import_into(directory, live, spec, name=name, prune=prune)
    for line in _lines(report):
        print(for_terminal(line))
    return validate_command(directory)


def _lines(report: ImportReport) -> list[str]:
    where = report.directory.as_posix().rstrip("/") + "/"
    lines = [
        f"Imported {report.workspaces} workspace(s) and {report.keys} key(s) into {where}: "
        f"{len(report.written)} file(s) written, {len(report.unchanged)} unchanged"
        + (f", {len(report.removed)} removed." if report.removed else ".")
    ]
    lines += [f"  wrote {path}" for path in report.written]
    lines += [f"  removed {path}" for path in report.removed]
    if report.notes:
        lines += ["", "Not imported as it is (a plan may still show these):"]
        lines += [f"  - {note}" for note in report.notes]
    lines += [
        "",
        "Imported keys are managed from now on, their secrets unknown until a rotation.",
    ]
    return lines
