"""Field-level differences inside a collection-valued field, found by DeepDiff.

Most projected fields are scalars, and :func:`~reconciler.diff.changes.field_changes`
compares them by equality. A few are collections: a group's members and nested groups
(sets, kept as sorted lists) and its workspace grants (workspace -> roles). When one of
those differs, printing the whole list before and after hides the one member who joined
among two hundred; :func:`collection_changes` instead lists each element added or removed
and each value changed, under a path that names where (``workspaces.ml``), so a plan reads
``+ members = "carol@acme.com"`` as Terraform prints a set's elements. (Two short lists,
a member's roles, are shown whole instead: :func:`~reconciler.diff.changes.field_changes`.)

Order never matters here (the projections are sets), so DeepDiff compares with
``ignore_order``. It is imported on first use: plans without a changed collection never
load it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

# DeepDiff's report types, by what each says happened to an element
_ADDED = frozenset({"iterable_item_added", "dictionary_item_added", "set_item_added"})
_REMOVED = frozenset({"iterable_item_removed", "dictionary_item_removed", "set_item_removed"})


def _path(name: str, steps: list[Any]) -> str:
    """``name`` and the mapping keys below it, dotted; sequence positions are dropped
    (with order ignored, an element's position says nothing)."""
    return ".".join([name, *(str(step) for step in steps if not isinstance(step, int))])


def collection_changes(
    name: str, before: list[Any] | dict[str, Any], after: list[Any] | dict[str, Any]
) -> Iterator[tuple[str, Any, Any, bool]]:
    """``(path, before, after, is_element)`` for each difference between two collections.

    An element added has ``before`` None, one removed ``after`` None, both with
    ``is_element`` set; a value changed in place has both sides and ``is_element`` unset.
    """
    from deepdiff import DeepDiff

    tree = DeepDiff(before, after, ignore_order=True, view="tree")
    found: list[tuple[str, Any, Any, bool]] = []
    for report, levels in tree.items():
        for level in levels:
            steps = level.path(output_format="list")
            path = _path(name, steps)
            if report in _ADDED:
                found.extend(_elements(path, level.t2, added=True))
            elif report in _REMOVED:
                found.extend(_elements(path, level.t1, added=False))
            elif steps and isinstance(steps[-1], int):
                # an element of a set-like list "changed" is one removed and one added
                found.extend(_elements(path, level.t1, added=False))
                found.extend(_elements(path, level.t2, added=True))
            else:  # values_changed, type_changes under a mapping key
                found.append((path, level.t1, level.t2, False))
    yield from sorted(found, key=lambda f: (f[0], f[1] is None, str(f[1]), str(f[2])))


def _elements(path: str, value: Any, *, added: bool) -> Iterator[tuple[str, Any, Any, bool]]:
    """A whole entry added or removed (a new workspace grant: its roles) as its elements."""
    items = value if isinstance(value, list) else [value]
    for item in items:
        yield (path, None, item, True) if added else (path, item, None, True)
