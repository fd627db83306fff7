"""Write an import into a desired-state directory, merging into the files already there.

The one module of :mod:`reconciler.adoption` that touches files. For each file:

- missing: written new (``organization.yaml``; ``roles.yaml`` with no roles; one
  ``workspaces/<name>.yaml`` per imported workspace);
- present: read as validation reads it (inside the directory, size- and depth-checked) in
  round-trip mode, updated in place (:mod:`.merge`), and written back only if it changed.
  A live workspace is found in the file whose ``name`` or ``previous_names`` carry its
  name (case ignored), a live key likewise in any file; a key now in another workspace
  moves to that workspace's file, comments and all;
- entries for objects gone from the live organisation (members, keys, whole workspace
  files) are removed only with ``prune``, else kept and listed; removed entries are taken
  out of the text itself so the comments around them stay;
- never written when doing so would drop a comment that was not inside a removed entry,
  or when the file cannot be read (both listed); an archived workspace's file is a record
  and is left as it is.

Files are replaced atomically (a temporary file renamed over the old one).
"""

from __future__ import annotations

import copy
import datetime as dt
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from ruamel.yaml.comments import CommentedMap, CommentedSeq

from reconciler.adoption import merge
from reconciler.adoption.documents import Imported, WorkspaceEntry, imported, quoted
from reconciler.adoption.ledger import adopt_imported_keys
from reconciler.adoption.yaml_text import Unreadable, comments, dump, load, remove_items
from reconciler.desired.json_schema import shipped_name
from reconciler.desired.load import SUFFIXES, WORKSPACES_DIR, display_path
from reconciler.desired.sources import read_bytes
from reconciler.errors import ConfigError
from reconciler.model import ApiKey, LiveState, SecretTarget
from reconciler.providers import ProviderSpec
from reconciler.textsafe import for_terminal


@dataclass
class ImportReport:
    """What an import wrote, and what it could not (``notes``, for the user to read)."""

    directory: Path
    written: list[str] = field(default_factory=list)  # files created or changed
    unchanged: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)  # files deleted (prune)
    notes: list[str] = field(default_factory=list)
    workspaces: int = 0
    keys: int = 0


@dataclass
class _File:
    """A workspace file that was there before the import."""

    path: Path
    disk: str  # as read
    text: str  # as read, less the entries taken out (comments of the rest: all kept)
    doc: CommentedMap
    ws: CommentedMap
    holds: WorkspaceEntry | None = None  # the live workspace it declares, if any
    doomed: list[tuple[CommentedSeq, int]] = field(default_factory=list)
    dropped: bool = False  # doomed entries were taken out of ``text``

    @property
    def name(self) -> str:
        return str(self.ws.get("name", ""))


def schema_ref(kind: str, file: Path) -> str:
    """The ``$schema`` of a file: the shipped schema, relative to the file's folder."""
    shipped = Path(
        str(resources.files("reconciler.data").joinpath("schema").joinpath(shipped_name(kind)))
    )
    try:
        return Path(os.path.relpath(shipped.resolve(), file.parent.resolve())).as_posix()
    except ValueError:  # another drive
        return shipped.resolve().as_uri()


class _Writer:
    """Reads and writes the files of one import, and keeps its report."""

    def __init__(
        self, directory: Path, report: ImportReport, source: str, member_roles: tuple[str, ...]
    ) -> None:
        self.directory = directory
        self.report = report
        self.source = for_terminal(source)
        self.member_roles = member_roles  # the provider's, for a member listed without roles

    def show(self, path: Path) -> str:
        return display_path(path)

    def read(self, path: Path) -> tuple[str, CommentedMap] | None:
        """The file's text and document; None (listed) when it cannot be read."""
        data = read_bytes(path, root=self.directory)
        try:
            if isinstance(data, str):
                raise Unreadable(data)
            doc = load(data)
            return data.decode("utf-8-sig"), doc
        except Unreadable as exc:
            self.report.notes.append(f"{self.show(path)}: left as it is: {exc}")
            return None

    def write(
        self, path: Path, text: str, disk: str | None = None, *, baseline: str | None = None
    ) -> None:
        """Write ``text`` to ``path`` (which holds ``disk``) if it differs, unless that
        would lose one of the comments of ``baseline`` (default: ``disk``)."""
        shown = self.show(path)
        if text == disk:
            self.report.unchanged.append(shown)
            return
        lost = comments(baseline if baseline is not None else disk or "") - comments(text)
        if lost:
            self.report.notes.append(
                f"{shown}: left as it is: updating it would drop the comment "
                f"{quoted(next(iter(lost)))}; update it by hand"
            )
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as handle:
            handle.write(text)
        os.replace(tmp, path)
        self.report.written.append(shown)


def _existing(directory: Path, stem: str) -> Path | None:
    return next((p for s in SUFFIXES if (p := directory / f"{stem}{s}").is_file()), None)


def import_into(
    directory: Path,
    live: LiveState,
    spec: ProviderSpec,
    *,
    name: str | None = None,
    prune: bool = False,
    today: dt.date | None = None,
) -> ImportReport:
    """Write ``live`` as the desired state in ``directory`` (see the module docstring).

    ``name`` is the organisation's name (the Admin API does not give it): by default the
    one ``organization.yaml`` already names. ``today`` dates expired keys (default: UTC).
    """
    directory.mkdir(parents=True, exist_ok=True)
    report = ImportReport(directory=directory)
    writer = _Writer(directory, report, live.target, spec.member_roles)
    org_path = _existing(directory, "organization")
    org = writer.read(org_path) if org_path else None
    if org_path is not None and org is None:
        raise ConfigError(f"{display_path(org_path)} cannot be read; fix it, then import again")
    known = org[1].get("organization", {}).get("name") if org else None
    org_name = name or live.organization.name or (known if isinstance(known, str) else None)
    if not org_name:
        raise ConfigError(
            "the Admin API does not give the organisation's name: pass it once with "
            "--name (e.g. --name 'Acme Analytics')"
        )
    result = imported(live, spec, name=org_name, today=today or dt.datetime.now(dt.UTC).date())
    report.notes.extend(result.notes)
    _organization(writer, org_path or directory / "organization.yaml", org, result)
    roles_path = directory / "roles.yaml"
    if _existing(directory, "roles") is None:
        writer.write(roles_path, merge.roles_file(schema=schema_ref("roles", roles_path)))
    _workspaces(writer, directory / WORKSPACES_DIR, result, prune)
    report.workspaces = len(result.workspaces)
    report.keys = sum(len(w.keys) for w in result.workspaces)
    adopt_imported_keys(_adopted(live, result.workspaces))
    return report


def _organization(
    writer: _Writer, path: Path, org: tuple[str, CommentedMap] | None, result: Imported
) -> None:
    if org is None:
        text = merge.organization_file(
            result.organization, schema=schema_ref("organization", path), source=writer.source
        )
        writer.write(path, text)
        return
    text, doc = org
    original = copy.deepcopy(doc)
    try:
        merge.update_organization(doc, result.organization)
    except Unreadable as exc:
        writer.report.notes.append(f"{writer.show(path)}: left as it is: {exc}")
        return
    writer.write(path, dump(doc) if doc != original else text, text)


def _adopted(live: LiveState, workspaces: Sequence[WorkspaceEntry]) -> list[ApiKey]:
    """The live keys an import declared, each with the secret path it was given."""
    paths = {k.name: k.secret_path for w in workspaces for k in w.keys}
    return [
        k.model_copy(update={"secret": SecretTarget(path=paths[k.name])})
        for k in live.keys
        if k.name in paths
    ]


def _load_workspaces(writer: _Writer, folder: Path) -> tuple[list[_File], set[str]]:
    """The readable workspace files, and the stems of every file there."""
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
            files.append(_File(path, text, text, doc, merge.section(doc, "workspace")))
        except Unreadable as exc:
            writer.report.notes.append(f"{writer.show(path)}: left as it is: {exc}")
    return files, stems


def _workspaces(writer: _Writer, folder: Path, result: Imported, prune: bool) -> None:
    files, stems = _load_workspaces(writer, folder)
    by_name: dict[str, _File] = {}
    for file in files:
        for ws_name in merge.names(file.ws):
            by_name.setdefault(ws_name.lower(), file)
    for entry in result.workspaces:
        holder = by_name.get(entry.name.lower())
        if holder is not None and holder.holds is None:
            holder.holds = entry
    live_ws = {k.name: w.name for w in result.workspaces for k in w.keys}
    moved: dict[str, CommentedMap] = {}
    for file in files:
        if file.ws.get("archived") is True:
            continue  # a record of an archived workspace
        _leftovers(writer, file, result, live_ws, moved, prune)
    for file in files:
        if file.doomed:
            _drop_doomed(writer, file)
            if file.holds is None:  # kept, with the keys that moved out of it taken out
                writer.write(file.path, dump(file.doc), file.disk, baseline=file.text)
    for entry in result.workspaces:
        holder = by_name.get(entry.name.lower())
        if holder is None:
            _new_workspace(writer, folder, entry, stems)
        elif holder.ws.get("archived") is True:
            writer.report.notes.append(
                f"{writer.show(holder.path)}: workspace {quoted(entry.name)} is archived there "
                "but live: left as it is"
            )
        elif holder.holds is entry:
            _merge_workspace(writer, holder, entry, moved)


def _new_workspace(writer: _Writer, folder: Path, entry: WorkspaceEntry, stems: set[str]) -> None:
    path = folder / f"{entry.name}.yaml"
    if entry.name.lower() in stems:
        writer.report.notes.append(
            f"{writer.show(path)} holds another workspace or cannot be read: workspace "
            f"{quoted(entry.name)} not written"
        )
        return
    schema = schema_ref("workspace", path)
    writer.write(path, merge.workspace_file(entry, schema=schema, source=writer.source))


def _leftovers(
    writer: _Writer,
    file: _File,
    result: Imported,
    live_ws: dict[str, str],
    moved: dict[str, CommentedMap],
    prune: bool,
) -> None:
    """Mark what ``file`` declares that moved to another workspace's file, or is gone from
    live (removed with ``prune``, else kept)."""
    entry = file.holds
    keys = merge.entries(file.ws, "api_keys")
    for index, item in enumerate(keys):
        called = merge.names(item)
        live = next((n for n in called if n in live_ws), None)
        if live is not None:
            if entry is None or live_ws[live] != entry.name:
                moved[live] = item
                file.doomed.append((keys, index))
        elif entry is not None and called and not set(called) & result.skipped_keys:
            _gone(writer, file, keys, index, f"key {quoted(called[0])}", prune)
    if entry is None:
        _gone_workspace(writer, file, result, prune)
        return
    members = merge.entries(file.ws, "members")
    wanted = {m.email.lower() for m in entry.members} | {entry.admin.lower()}
    for index, item in enumerate(members):
        email = next(iter(merge.names(item, "email")), None)
        if email is not None and email.lower() not in wanted:
            _gone(writer, file, members, index, f"member {quoted(email)}", prune)


def _gone_workspace(writer: _Writer, file: _File, result: Imported, prune: bool) -> None:
    """A file whose workspace is not live: removed with ``prune``, else kept (listed)."""
    if set(merge.names(file.ws)) & result.skipped_workspaces:
        return  # live, but not imported (listed with the reason)
    shown = writer.show(file.path)
    if prune:
        file.path.unlink()
        file.doomed = []
        writer.report.removed.append(shown)
        return
    writer.report.notes.append(
        f"{shown}: workspace {quoted(file.name)} is not in the live organisation; kept (the "
        "plan will create it; --prune removes the file)"
    )


def _gone(
    writer: _Writer, file: _File, seq: CommentedSeq, index: int, what: str, prune: bool
) -> None:
    """An entry gone from live: marked for removal with ``prune``, else kept (listed)."""
    shown = writer.show(file.path)
    if prune:
        file.doomed.append((seq, index))
        writer.report.notes.append(f"{shown}: {what} is not in the live organisation; removed")
    else:
        writer.report.notes.append(
            f"{shown}: {what} is not in the live organisation; kept (the plan will create it; "
            "--prune removes it)"
        )


def _drop_doomed(writer: _Writer, file: _File) -> None:
    """Take the doomed entries out of the file's text, and read it again."""
    text = remove_items(file.text, file.doomed)
    file.text, file.doc = text, load(text.encode("utf-8"))
    file.ws = merge.section(file.doc, "workspace")
    file.doomed, file.dropped = [], True


def _merge_workspace(
    writer: _Writer, file: _File, entry: WorkspaceEntry, moved: dict[str, CommentedMap]
) -> None:
    original = copy.deepcopy(file.doc)
    merge.update_workspace(file.ws, entry)
    members = merge.entries(file.ws, "members", create=bool(entry.members))
    by_email = {e.lower(): i for i, e in merge.indexed(members, "email")}
    default = writer.member_roles
    for member in entry.members:
        index = by_email.get(member.email.lower())
        if index is None:
            members.append(merge.new_member(member))
        else:
            merge.update_member(members[index], member, default)
    keys = merge.entries(file.ws, "api_keys", create=bool(entry.keys))
    by_name = {n: i for i, n in merge.indexed(keys)}
    for key in entry.keys:
        index = by_name.get(key.name)
        if index is not None:
            merge.update_key(keys[index], key)
        elif key.name in moved:
            keys.append(moved[key.name])
            merge.update_key(keys[-1], key)
            writer.report.notes.append(
                f"{writer.show(file.path)}: key {quoted(key.name)} moved here from another "
                "workspace's file (it lives in this workspace)"
            )
        else:
            keys.append(merge.new_key(key))
    # an unchanged document is not written out again: a file in another layout keeps it
    changed = file.dropped or file.doc != original
    writer.write(file.path, dump(file.doc) if changed else file.disk, file.disk, baseline=file.text)
