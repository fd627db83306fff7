"""Where the organisations of a desired-state tree are: one directory, or several.

Two layouts are read:

- **one organisation**: the directory holds ``organization.yaml`` (``desired-state/``);
- **several**: the directory holds none, and each of its sub-directories that holds one
  is an organisation, named after the sub-directory (``desired-state/acme-mistral/``,
  ``desired-state/acme-anthropic/``), each with its own provider, vault, lock and journal.

:func:`organizations` lists them, :func:`select` picks one by name (``--org NAME``), and
:func:`several_message` is what a command that works on one organisation says when given
a root of several. Reads directory listings only; hidden directories (``.schema``) and
links are never organisations.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from pathlib import Path

from reconciler.errors import ConfigError

ORGANIZATION_FILES = ("organization.yaml", "organization.yml")


@dataclass(frozen=True, slots=True)
class OrgDir:
    """One organisation's desired-state directory, and the name ``--org`` gives it."""

    name: str
    path: Path


def _holds_organization(directory: Path) -> bool:
    return any((directory / f).is_file() for f in ORGANIZATION_FILES)


def _sub_organizations(root: Path) -> list[OrgDir]:
    if not root.is_dir():
        return []
    return [
        OrgDir(p.name, p)
        for p in sorted(root.iterdir())
        if not p.name.startswith(".") and not p.is_symlink() and p.is_dir()
        if _holds_organization(p)
    ]


def is_multi_org(root: Path) -> bool:
    """True when ``root`` holds no organisation itself but sub-directories that do."""
    root = Path(root)
    return not _holds_organization(root) and bool(_sub_organizations(root))


def organizations(root: Path) -> list[OrgDir]:
    """The organisations under ``root``, by name: ``root`` itself when it holds
    ``organization.yaml``, else each sub-directory that does (none: an empty list)."""
    root = Path(root)
    if _holds_organization(root):
        return [OrgDir(root.resolve().name, root)]
    return _sub_organizations(root)


def siblings(directory: Path) -> list[OrgDir]:
    """The other organisations of the tree ``directory`` is one organisation of (none
    when its parent is not a root of several)."""
    directory = Path(directory).resolve()
    return [o for o in _sub_organizations(directory.parent) if o.path != directory]


def select(root: Path, name: str | None) -> Path:
    """The directory of organisation ``name`` under ``root`` (None: ``root`` itself)."""
    root = Path(root)
    if name is None:
        return root
    found = organizations(root)
    for org in found:
        if org.name == name:
            return org.path
    names = [o.name for o in found]
    hint = difflib.get_close_matches(name, names, n=1)
    if hint:
        raise ConfigError(f"{root} holds no organisation {name!r} (did you mean {hint[0]!r}?)")
    listed = ", ".join(names) if names else "none"
    raise ConfigError(f"{root} holds no organisation {name!r}; it holds: {listed}")


def several_message(root: Path) -> str:
    """What a command on one organisation says about a root of several."""
    found = [o.name for o in _sub_organizations(Path(root))]
    if len(found) == 1:  # as examples/: one organisation, in a directory of its own
        return (
            f"{root} holds its organisation in a sub-directory ({found[0]}): name it with "
            f"--org {found[0]} or give its directory ({Path(root) / found[0]})"
        )
    return (
        f"{root} holds several organisations ({', '.join(found)}): name one with --org NAME "
        f"or give its directory (e.g. {Path(root) / found[0]})"
    )
