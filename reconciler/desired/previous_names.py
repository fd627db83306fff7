"""Former names (``previous_names``) of the organisation, workspaces and keys: each
stands for one object.

The diff takes a live object that carries a previous name for the declared object, renamed
(:mod:`reconciler.diff`), so a previous name must be unambiguous: it may be neither the
object's own name, nor another object's name, nor another object's previous name, nor
listed twice. Workspace names ignore case, as on the platform; key names do not, nor does
the organisation's (its ownership record is named after it exactly:
:mod:`reconciler.identity`). Each problem points at the previous name and names the other
declaration's ``file:line``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from reconciler.desired.problems import Loc
from reconciler.desired.schema import OrganizationFile, WorkspaceFile
from reconciler.desired.sources import Reporter, Source


@dataclass(frozen=True, slots=True)
class _Declared:
    """One workspace or key: where it is declared, its name and its previous names."""

    source: Source
    loc: Loc  # of the object: its ``name`` and ``previous_names`` are under it
    name: str
    previous: Sequence[str]


def check_previous_names(
    reporter: Reporter, sources: Sequence[Source], organization: Source | None = None
) -> None:
    """Report every previous name that could stand for more than one object, or is the
    organisation's own name or listed twice (``organization``: ``organization.yaml``)."""
    if organization is not None and isinstance(organization.model, OrganizationFile):
        org = organization.model.organization
        declared = _Declared(organization, ("organization",), org.name, org.previous_names)
        _check(reporter, "organisation", [declared], str)
    valid = [s for s in sources if isinstance(s.model, WorkspaceFile)]
    workspaces = [
        _Declared(s, ("workspace",), s.model.workspace.name, s.model.workspace.previous_names)
        for s in valid
    ]
    _check(reporter, "workspace", workspaces, str.lower)
    if not any(k.previous_names for s in valid for k in s.model.workspace.api_keys):
        return  # no key names a previous one: none can clash (20,000 keys need no records)
    keys = [
        _Declared(s, ("workspace", "api_keys", i), k.name, k.previous_names)
        for s in valid
        for i, k in enumerate(s.model.workspace.api_keys)
    ]
    _check(reporter, "API key", keys, str)


def _check(
    reporter: Reporter, what: str, declared: Sequence[_Declared], fold: Callable[[str], str]
) -> None:
    current: dict[str, _Declared] = {}
    for obj in declared:
        current.setdefault(fold(obj.name), obj)  # a duplicate name is reported elsewhere
    claimed: dict[str, tuple[_Declared, Loc]] = {}
    for obj in declared:
        for index, old in enumerate(obj.previous):
            at = (*obj.loc, "previous_names", index)
            other = current.get(fold(old))
            earlier = claimed.get(fold(old))
            if fold(old) == fold(obj.name):
                message = f"'{old}' is this {what}'s own name"
            elif other is not None:
                message = (
                    f"'{old}' is the name of {what} '{other.name}' at "
                    f"{other.source.where((*other.loc, 'name'))}: a previous name must be no "
                    f"other {what}'s name"
                )
            elif earlier is not None:
                first, first_at = earlier
                message = (
                    f"'{old}' is listed twice (first at line {first.source.doc.mark(first_at)[0]})"
                    if first is obj
                    else f"'{old}' is already a previous name of {what} '{first.name}' at "
                    f"{first.source.where(first_at)}: a previous name stands for one {what}"
                )
            else:
                claimed[fold(old)] = (obj, at)
                continue
            reporter.add(obj.source, at, message)
