"""The workspace files of an import: each live workspace to its file, each file updated.

Part of :mod:`reconciler.adoption`. A live workspace is the one a file declares by name,
or failing that by one of its ``previous_names`` (a rename not applied yet), case ignored;
a live key likewise in any file. A workspace no file declares gets a new
``workspaces/<name>.yaml``. Then, for each file, in three passes:

1. mark what goes (on the file as read): entries of keys now in another workspace (they
   move to its file with their comments, but for those above them, which stay here),
   entries of members and keys gone from the live organisation (only with ``prune``;
   else kept and listed), and the fields the live side no longer has (a key's
   ``expires``, the workspace's ``description``);
2. take what goes out of the text itself, so every other comment stays where it is, and
   read the text again;
3. update values in place and append new entries (:mod:`.merge`); a file whose document
   did not change is not written out again, so one in another layout keeps it.

A file whose workspace is gone from the live organisation is removed with ``prune``,
else kept and listed; one that declares an archived workspace is a record, left as it is.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ruamel.yaml.comments import CommentedMap

from reconciler.adoption import merge
from reconciler.adoption.documents import Imported, KeyEntry, WorkspaceEntry, quoted
from reconciler.adoption.files import Writer, schema_ref
from reconciler.adoption.yaml_text import Entry, Unreadable, dump, load, remove_entries
from reconciler.desired.load import SUFFIXES


@dataclass
class _File:
    """A workspace file that was there before the import."""

    path: Path
    disk: str  # as read
    doc: CommentedMap
    ws: CommentedMap  # its workspace section
    text: str = ""  # as read, less what was taken out (whose comments may go)
    holds: WorkspaceEntry | None = None  # the live workspace it declares
    doomed: list[Entry] = field(default_factory=list)
    moved_out: list[Entry] = field(default_factory=list)  # keys now in another workspace
    removed: bool = False  # pruned: the file is gone

    @property
    def archived(self) -> bool:
        return self.ws.get("archived") is True


def import_workspaces(writer: Writer, folder: Path, result: Imported, prune: bool) -> None:
    """Write ``result``'s workspaces into ``folder`` (see the module docstring)."""
    files, stems = _load(writer, folder)
    holders = _holders(writer, files, result.workspaces)
    live_ws = {k.name: w for w in result.workspaces for k in w.keys}
    moved: dict[str, CommentedMap] = {}
    for file in files:
        if not file.archived:
            _mark(writer, file, result, live_ws, moved, prune)
    for file in files:
        if (file.doomed or file.moved_out) and not file.removed:
            _take_out(writer, file)
    for entry in result.workspaces:
        holder = holders.get(entry.name)
        if holder is None:
            _new(writer, folder, entry, stems)
        elif holder.archived:
            writer.report.notes.append(
                f"{writer.show(holder.path)}: workspace {quoted(entry.name)} is archived there "
                "but live: left as it is"
            )
        else:
            _update(writer, holder, entry, moved)
    for file in files:  # kept, but keys moved out of it
        if file.holds is None and file.text != file.disk and not file.removed:
            writer.write(file.path, dump(file.doc), file.disk, baseline=file.text)


def _load(writer: Writer, folder: Path) -> tuple[list[_File], set[str]]:
    """The readable workspace files, and the stems (lower case) of every file there."""
    files: list[_File] = []
    stems: set[str] = set()
    paths = sorted(p for p in folder.iterdir() if p.suffix in SUFFIXES) if folder.is_dir() else []
    for path in paths:
        stems.add(path.stem.lower())
        read = writer.read(path)
        if read is None:
            continue
        text, doc = read
        try:
            files.append(_File(path, text, doc, merge.section(doc, "workspace"), text))
        except Unreadable as exc:
            writer.report.notes.append(f"{writer.show(path)}: left as it is: {exc}")
    return files, stems


def _holders(
    writer: Writer, files: Sequence[_File], entries: Sequence[WorkspaceEntry]
) -> dict[str, _File]:
    """Live workspace name -> the file declaring it: by its name first, then by a previous
    name. A file two live workspaces claim is left to the first (the other is listed)."""
    current: dict[str, _File] = {}
    previous: dict[str, _File] = {}
    for file in files:
        called = [n.lower() for n in merge.names(file.ws)]
        if called:
            current.setdefault(called[0], file)
            for name in called[1:]:
                previous.setdefault(name, file)
    holders: dict[str, _File] = {}
    for entry in sorted(entries, key=lambda e: e.name.lower() not in current):
        found = current.get(entry.name.lower()) or previous.get(entry.name.lower())
        if found is None:
            continue
        if found.holds is not None:
            writer.report.notes.append(
                f"{writer.show(found.path)} declares workspace {quoted(found.holds.name)}, and "
                f"{quoted(entry.name)} as a previous name: {quoted(entry.name)} not written"
            )
            continue
        holders[entry.name] = found
        found.holds = entry
    return holders


def _mark(
    writer: Writer,
    file: _File,
    result: Imported,
    live_ws: dict[str, WorkspaceEntry],
    moved: dict[str, CommentedMap],
    prune: bool,
) -> None:
    """Pass 1: mark what leaves ``file`` (see the module docstring)."""
    entry = file.holds
    keys = merge.entries(file.ws, "api_keys")
    for index, item in enumerate(keys):
        called = merge.names(item)
        live = next((n for n in called if n in live_ws), None)
        if live is not None and live_ws[live] is not entry:
            moved[live] = item
            file.moved_out.append((keys, index))
        elif live is not None:
            _unset(file, item, "expires", _key_entry(live_ws[live], live).expires is None)
        elif entry is not None and called and not set(called) & result.skipped_keys:
            _gone(writer, file, (keys, index), f"key {quoted(called[0])}", prune)
    if entry is None:
        _gone_workspace(writer, file, result, prune)
        return
    _unset(file, file.ws, "description", not entry.description)
    members = merge.entries(file.ws, "members")
    wanted = {m.email.lower() for m in entry.members} | {entry.admin.lower()}
    for index, item in enumerate(members):
        email = next(iter(merge.names(item, "email")), None)
        if email is not None and email.lower() not in wanted:
            _gone(writer, file, (members, index), f"member {quoted(email)}", prune)


def _key_entry(workspace: WorkspaceEntry, name: str) -> KeyEntry:
    return next(k for k in workspace.keys if k.name == name)


def _unset(file: _File, node: object, key: str, gone: bool) -> None:
    """Mark ``node[key]`` for removal when the live side has no such value (a flow mapping,
    whose keys share a line, loses it in pass 3 instead)."""
    if gone and isinstance(node, CommentedMap) and key in node and not node.fa.flow_style():
        file.doomed.append((node, key))


def _gone(writer: Writer, file: _File, doomed: Entry, what: str, prune: bool) -> None:
    """An entry gone from live: marked for removal with ``prune``, else kept (listed)."""
    shown = writer.show(file.path)
    if prune:
        file.doomed.append(doomed)
        writer.report.notes.append(f"{shown}: {what} is not in the live organisation; removed")
        return
    writer.report.notes.append(
        f"{shown}: {what} is not in the live organisation; kept (the plan will create it; "
        "--prune removes it)"
    )


def _gone_workspace(writer: Writer, file: _File, result: Imported, prune: bool) -> None:
    """A file whose workspace is not live: removed with ``prune``, else kept (listed)."""
    if set(merge.names(file.ws)) & result.skipped_workspaces:
        return  # live, but not imported (listed with the reason)
    shown = writer.show(file.path)
    if prune:
        file.path.unlink()
        file.removed = True
        writer.report.removed.append(shown)
        return
    writer.report.notes.append(
        f"{shown}: workspace {quoted(str(file.ws.get('name', '')))} is not in the live "
        "organisation; kept (the plan will create it; --prune removes the file)"
    )


def _take_out(writer: Writer, file: _File) -> None:
    """Pass 2: the doomed entries out of the file's text, which is read again."""
    text = remove_entries(file.text, file.doomed, file.moved_out)
    try:
        doc = load(text.encode("utf-8"))
        ws = merge.section(doc, "workspace")
    except Unreadable as exc:  # never seen: removing whole entries keeps the YAML whole
        writer.report.notes.append(f"{writer.show(file.path)}: left as it is: {exc}")
        file.removed = True
        return
    file.text, file.doc, file.ws, file.doomed, file.moved_out = text, doc, ws, [], []


def _new(writer: Writer, folder: Path, entry: WorkspaceEntry, stems: set[str]) -> None:
    path = folder / f"{entry.name}.yaml"
    if entry.name.lower() in stems:
        writer.report.notes.append(
            f"{writer.show(path)} declares another workspace or cannot be read: workspace "
            f"{quoted(entry.name)} not written"
        )
        return
    schema = schema_ref("workspace", path, writer.directory)
    writer.write(path, merge.workspace_file(entry, schema=schema, source=writer.source))


def _update(
    writer: Writer, file: _File, entry: WorkspaceEntry, moved: dict[str, CommentedMap]
) -> None:
    """Pass 3: values set in place, new entries appended; written if anything changed."""
    if file.removed:
        return
    original = copy.deepcopy(file.doc)
    merge.update_workspace(file.ws, entry)
    members = merge.entries(file.ws, "members", create=bool(entry.members))
    by_email = {e.lower(): i for i, e in merge.indexed(members, "email")}
    for member in entry.members:
        index = by_email.get(member.email.lower())
        if index is None:
            merge.append(members, merge.new_member(member))
        else:
            merge.update_member(members[index], member, writer.member_roles)
    keys = merge.entries(file.ws, "api_keys", create=bool(entry.keys))
    by_name = {n: i for i, n in merge.indexed(keys)}
    for key in entry.keys:
        index = by_name.get(key.name)
        if index is None:
            item = moved.get(key.name) or merge.new_key(key)
            merge.append(keys, item)
            if key.name in moved:
                writer.report.notes.append(
                    f"{writer.show(file.path)}: key {quoted(key.name)} moved here from another "
                    "workspace's file (it lives in this workspace)"
                )
        else:
            item = keys[index]
        merge.update_key(item, key)
    changed = file.text != file.disk or file.doc != original
    writer.write(file.path, dump(file.doc) if changed else file.disk, file.disk, baseline=file.text)
