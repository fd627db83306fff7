"""Write an import's people and groups: ``people.yaml`` and ``groups.yaml``.

Part of :mod:`reconciler.adoption`, beside :mod:`.workspaces`. A new file is laid out like
the example's; an existing one is merged in place (comments and order kept): a person's
role and seats, and a group's description, members, nested groups, organisation role and
workspace grants, are set to the live ones; people and groups not yet there are
appended. Entries of people and groups gone from the live organisation (a person who
left, an invitation withdrawn or expired, a group deleted) are listed and kept, or
removed with ``prune``, as :mod:`.workspaces` does with its entries; the note that a
person's invitation is pending goes once they have joined.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from ruamel.yaml.comments import CommentedMap, CommentedSeq

from reconciler.adoption import merge
from reconciler.adoption.documents import quoted
from reconciler.adoption.files import Writer, existing, schema_ref
from reconciler.adoption.people import PENDING, GroupEntry, PersonEntry
from reconciler.adoption.yaml_text import (
    Entry,
    Unreadable,
    dump,
    entry_lines,
    flow_map,
    flow_seq,
    live_text,
    load,
    remove_entries,
)

_PEOPLE_HEADER = (
    "Everyone in the organisation, by email, imported from {source} by `reconciler import`. "
    "A person listed here but not in the organisation is invited; with "
    "organization.prune_people, a person no longer listed is offboarded."
)
_GROUPS_HEADER = (
    "User groups, imported from {source} by `reconciler import`: a team's access as one "
    "entry. Their members reach each workspace listed with the roles given; they are not "
    "also listed as the workspace's members."
)


def import_people(
    writer: Writer,
    people: Sequence[PersonEntry] | None,
    groups: Sequence[GroupEntry],
    default_role: str | None,
    *,
    prune: bool = False,
) -> None:
    """Write ``people.yaml`` (unless ``people`` is None) and ``groups.yaml`` (when there
    are groups, or the file exists)."""
    if people is not None:
        _file(writer, "people", people, _new_person, _update_person(default_role), prune)
    if groups or existing(writer.directory, "groups") is not None:
        _file(writer, "groups", groups, _new_group, _update_group, prune)


def _file(
    writer: Writer,
    kind: str,
    entries: Sequence[Any],
    new: Callable[[Any], CommentedMap],
    update: Callable[[CommentedMap, Any], None],
    prune: bool,
) -> None:
    """Create ``<kind>.yaml`` from ``entries``, or merge them into the one there."""
    key = "email" if kind == "people" else "name"
    path = existing(writer.directory, kind)
    if path is None:
        path = writer.directory / f"{kind}.yaml"
        doc = CommentedMap()
        doc["version"] = 1
        seq = doc[kind] = CommentedSeq() if entries else flow_seq([])
        for entry in entries:
            _add(seq, new(entry), entry)
        doc.yaml_set_comment_before_after_key(kind, before="\n")
        header = _PEOPLE_HEADER if kind == "people" else _GROUPS_HEADER
        schema = schema_ref(kind, path, writer.directory)
        writer.write(path, merge.header(schema, [header.format(source=writer.source)]) + dump(doc))
        return
    read = writer.read(path)
    if read is None:
        return
    text, doc = read
    try:
        baseline = _settled(writer, path, text, doc, kind, entries, prune)
        if baseline != text:
            doc = load(baseline.encode("utf-8"))
        original = copy.deepcopy(doc)
        seq = merge.entries(doc, kind, create=True)
        index = {name.lower(): i for i, name in merge.indexed(seq, key)}
        for entry in entries:
            at = index.get(getattr(entry, key).lower())
            if at is None:
                _add(seq, new(entry), entry)
            elif isinstance(seq[at], CommentedMap):
                update(seq[at], entry)
    except Unreadable as exc:
        writer.report.notes.append(f"{writer.show(path)}: left as it is: {exc}")
        return
    changed = doc != original or baseline != text
    writer.write(path, dump(doc) if changed else text, text, baseline=baseline)


def _settled(
    writer: Writer,
    path: Path,
    text: str,
    doc: CommentedMap,
    kind: str,
    entries: Sequence[Any],
    prune: bool,
) -> str:
    """``text`` less, with ``prune``, the entries gone from live (each listed either way),
    and less the pending-invitation note of a person who has joined."""
    key = "email" if kind == "people" else "name"
    seq = merge.entries(doc, kind, create=True)
    live = {str(getattr(e, key)).lower(): e for e in entries}
    shown, what = writer.show(path), "person" if kind == "people" else "group"
    restored = "the plan will invite them" if kind == "people" else "the plan will create it"
    block = not seq.fa.flow_style()  # entries a line each, which can go whole
    doomed: list[Entry] = []
    lines = text.splitlines(keepends=True)
    for index, name in merge.indexed(seq, key):
        entry = live.get(name.lower())
        if entry is None:
            if prune and block:
                doomed.append((seq, index))
            kept = "removed" if prune and block else f"kept ({restored}; --prune removes it)"
            writer.report.notes.append(
                f"{shown}: {what} {quoted(name)} is not in the live organisation; {kept}"
            )
        elif kind == "people" and entry.comment is None and block:
            for number in entry_lines(lines, seq, index, above=False):
                lines[number] = lines[number].replace(f"  # {PENDING}\n", "\n")
    return remove_entries("".join(lines), doomed)


def _add(seq: CommentedSeq, item: CommentedMap, entry: Any) -> None:
    """Append ``item`` (``entry``'s), with the entry's comment for the reader, if any."""
    merge.append(seq, item)
    comment = getattr(entry, "comment", None)
    if comment:
        seq.yaml_add_eol_comment(comment, len(seq) - 1)


def _new_person(entry: PersonEntry) -> CommentedMap:
    person: dict[str, Any] = {"email": entry.email}
    if entry.role is not None:
        person["role"] = entry.role
    if entry.seats:
        person["seats"] = flow_seq(entry.seats)
    return flow_map(person)


def _update_person(default_role: str | None) -> Callable[[CommentedMap, PersonEntry], None]:
    def update(person: CommentedMap, entry: PersonEntry) -> None:
        if (person.get("role") or default_role) != (entry.role or default_role):
            _put(person, "role", entry.role)
        if sorted(map(str, person.get("seats") or [])) != list(entry.seats):
            _put(person, "seats", flow_seq(entry.seats) if entry.seats else None)

    return update


def _new_group(entry: GroupEntry) -> CommentedMap:
    group = CommentedMap()
    group["name"] = entry.name
    _update_group(group, entry)
    return group


def _update_group(group: CommentedMap, entry: GroupEntry) -> None:
    wanted: dict[str, Any] = {
        "description": live_text(entry.description) if entry.description else None,
        "members": entry.members,
        "nested": entry.nested,
        "organization_role": entry.organization_role,
        "workspaces": entry.workspaces or None,
    }
    for field, value in wanted.items():
        have = group.get(field)
        if field in ("members", "nested"):
            if sorted(str(e).lower() for e in have or []) != list(value):
                _put(group, field, flow_seq(value) if value else None)
        elif field == "workspaces":
            now = {str(w): sorted(map(str, r)) for w, r in (have or {}).items()}
            if now != {w: list(r) for w, r in (value or {}).items()}:
                _put(group, field, _grants(value) if value else None)
        elif field == "organization_role":
            if value is not None and have != value:
                _put(group, field, value)  # a group without one in the file: not managed
        elif (have or None) != value:
            _put(group, field, value)


def _grants(workspaces: dict[str, tuple[str, ...]]) -> CommentedMap:
    out = CommentedMap()
    for ws, roles in workspaces.items():
        out[ws] = flow_seq(roles)
    return out


#: The order of an entry's fields, as the example files write them.
_ORDER: tuple[str, ...] = (
    *("email", "name", "role", "seats", "description"),
    *("members", "nested", "organization_role", "workspaces"),
)


def _put(node: CommentedMap, key: str, value: Any) -> None:
    """Set ``node[key]`` (a new field goes where the example files have it), or remove it
    when ``value`` is None."""
    if value is None:
        node.pop(key, None)
    elif key in node:
        node[key] = value
    else:
        before = set(_ORDER[: _ORDER.index(key)])
        at = max((i + 1 for i, k in enumerate(node) if k in before), default=len(node))
        node.insert(at, key, value)
