"""``reconciler import DIR``: write the live organisation into DIR as a desired state.

The library does the work (:meth:`reconciler.session.Session.import_organization`, on
the same target options and provider lookup as ``plan``); this prints what was written,
what the YAML cannot express (what the next plan may still show), and DIR's validation
as ``validate`` prints it: 0 when DIR is valid, 1 otherwise.
"""

from __future__ import annotations

from pathlib import Path

from reconciler.cli.common import Progress, err
from reconciler.cli.validate import report_validation
from reconciler.session import ImportOutcome, Session, TargetOptions
from reconciler.textsafe import for_terminal


async def import_command(
    directory: Path, options: TargetOptions, *, name: str | None = None, prune: bool = False
) -> int:
    async with Session(directory, options) as session:
        progress = Progress()
        with progress.running("Reading"):
            outcome = await session.import_organization(name=name, prune=prune, progress=progress)
        err(progress.summary(outcome.live.target, outcome.live.requests))
    for line in _lines(outcome):
        print(for_terminal(line))
    return report_validation(outcome.validation)


def _lines(outcome: ImportOutcome) -> list[str]:
    report = outcome.report
    where = report.directory.as_posix().rstrip("/") + "/"
    lines = [
        f"Imported {report.workspaces} workspace(s) and {report.keys} key(s) into {where}: "
        f"{len(report.written)} file(s) written, {len(report.unchanged)} unchanged"
        + (f", {len(report.removed)} removed." if report.removed else ".")
    ]
    lines += [f"  wrote {path}" for path in report.written]
    lines += [f"  removed {path}" for path in report.removed]
    if report.notes:
        lines += [
            "",
            "Left out of the files, as the desired state cannot say it (a plan may still "
            "show these):",
        ]
        lines += [f"  - {note}" for note in report.notes]
    if outcome.adopted:
        lines += [
            "",
            f"{outcome.adopted} key(s) recorded as managed, their secrets unknown until a "
            "rotation stores them.",
        ]
    return lines
