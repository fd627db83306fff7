"""``--org`` and roots of several organisations, for every command; ``reconciler orgs``.

A command given a directory of several organisations (:mod:`reconciler.desired.orgs`):

- with ``--org NAME``, works on that one, as if given its directory;
- ``validate``, ``plan`` and ``audit`` (reading only) run on each in turn, each under a
  heading naming it, as Atlantis plans every project of a pull request and ``terragrunt
  run-all plan`` every module; an error in one does not stop the next, and the exit code
  is the first error's, else 2 when any run found changes (``--detailed-exitcode``) or
  flags (``--fail-on``), else 0. A saved plan (``--out``), JSON and ``--target`` (an
  address in one organisation) are one organisation's: those need ``--org``;
- every other command (``apply`` above all) works on one organisation only and asks for
  ``--org`` (as Terraform applies one root module at a time).
"""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable
from pathlib import Path

from reconciler.desired.load import display_path, provider_name
from reconciler.desired.orgs import is_multi_org, organizations, select, several_message
from reconciler.errors import ConfigError


def one_org(root: Path, org: str | None) -> Path:
    """The one organisation's directory a command works on (``--org``, or ``root``)."""
    path = select(root, org)
    if is_multi_org(path):
        raise ConfigError(several_message(path))
    return path


def combined(codes: list[int]) -> int:
    """One exit code for runs on several organisations: the first error's, else the
    highest (2: changes or flagged keys somewhere), else 0."""
    failed = [c for c in codes if c not in (0, 2)]
    return failed[0] if failed else max(codes, default=0)


def heading(name: str, path: Path, fmt: str) -> str:
    if fmt == "markdown":
        return f"## Organisation `{name}` ({display_path(path)})\n\n"
    return f"=== Organisation {name} ({display_path(path)}) ===\n"


def run_each(
    root: Path,
    org: str | None,
    body: Callable[[Path], int],
    *,
    fmt: str = "text",
    one_only: str | None = None,
) -> int:
    """``body`` on the organisation ``--org`` names, or on each under a root of several
    (``one_only``: why this run cannot cover several, e.g. ``"--out"``). ``body`` is
    guarded (an error is printed and gives its exit code)."""
    from reconciler.cli.common import guarded, report_error

    try:
        path = select(root, org)
    except ConfigError as exc:
        return report_error(exc)
    if not is_multi_org(path):
        return guarded(lambda: body(path))
    if one_only is not None:
        return report_error(
            ConfigError(f"{one_only} is one organisation's: {several_message(path)}")
        )
    codes: list[int] = []
    for number, found in enumerate(organizations(path)):
        sys.stdout.write(("\n" if number else "") + heading(found.name, found.path, fmt))
        sys.stdout.flush()
        codes.append(guarded(functools.partial(body, found.path)))
    return combined(codes)


def orgs_command(root: Path, *, as_json: bool) -> int:
    """List the organisations under ``root``: name, directory, provider."""
    found = [
        {"name": o.name, "directory": display_path(o.path), "provider": provider_name(o.path)}
        for o in organizations(root)
    ]
    if not found:
        raise ConfigError(
            f"{display_path(root)} holds no organization.yaml, nor any directory that does"
        )
    if as_json:
        print(json.dumps(found))
    else:
        for row in found:
            print(f"{row['name']}\t{row['directory']}\t{row['provider']}")
    return 0
