"""Write an import's people and groups: ``people.yaml`` and ``groups.yaml``.

Part of :mod:`reconciler.adoption`, beside :mod:`.workspaces`. A new file is laid out like
the example's; an existing one is merged in place (comments and order kept): a person's
role and seats, and a group's description, members, nested groups, organisation role and
workspace grants, are set to the live ones; people and groups not yet there are
appended; none is ever removed (pruning people is the plan's, with
``organization.prune_people``).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from typing import Any

from ruamel.yaml.comments import CommentedMap, CommentedSeq

from reconciler.adoption import merge
from reconciler.adoption.files import Writer, existing, schema_ref
from reconciler.adoption.people import GroupEntry, PersonEntry
from reconciler.adoption.yaml_text import Unreadable, dump, flow_map, flow_seq, live_text

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
) -> None:
    """Write ``people.yaml`` (unless ``people`` is None) and ``groups.yaml`` (when there
    are groups, or the file exists)."""
    if people is not None:
        _file(writer, "people", people, _new_person, _update_person(default_role))
    if groups or existing(writer.directory, "groups") is not None:
        _file(writer, "groups", groups, _new_group, _update_group)


def _file(
    writer: Writer,
    kind: str,
    entries: Sequence[Any],
    new: Callable[[Any], CommentedMap],
    update: Callable[[CommentedMap, Any], None],
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
    original = copy.deepcopy(doc)
    try:
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
    writer.write(path, dump(doc) if doc != original else text, text)


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
