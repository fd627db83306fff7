"""Write an import into a desired-state directory, merging into the files already there.

- ``organization.yaml``: written new, or its name and spend limit (if it manages one)
  updated in place, and the live organisation's ``id`` written when it has none; one that
  cannot be read stops the import (it names the organisation);
- ``roles.yaml``: written, with no roles, only when missing;
- ``.schema/``: the JSON Schemas (with the provider's role names) that each file's first
  line names, so editors complete and check the YAML;
- ``workspaces/*.yaml``: one per imported workspace (:mod:`.workspaces`);
- ``people.yaml`` and ``groups.yaml``: the organisation's people (members and pending
  invitations) and user groups (:mod:`.people`, :mod:`.people_files`);
- the report names the live keys it declared, for the session to adopt them as managed
  (:mod:`.ledger`).

Files are read and written through :mod:`.files`: never written when that would lose a
comment, never read through a link out of the directory.
"""

from __future__ import annotations

import copy
import datetime as dt
from collections.abc import Mapping, Sequence
from pathlib import Path

from ruamel.yaml.comments import CommentedMap

from reconciler.adoption import merge
from reconciler.adoption.documents import Imported, WorkspaceEntry, imported
from reconciler.adoption.files import SCHEMAS, ImportReport, Writer, existing, schema_ref
from reconciler.adoption.people import group_entries, people_entries
from reconciler.adoption.people_files import import_people
from reconciler.adoption.workspaces import import_workspaces
from reconciler.adoption.yaml_text import Unreadable, dump
from reconciler.desired.json_schema import KINDS, render, schema_for, shipped_name
from reconciler.desired.load import WORKSPACES_DIR, display_path
from reconciler.errors import ConfigError
from reconciler.model import ApiKey, LiveState, SecretTarget
from reconciler.providers import ProviderSpec


def import_into(
    directory: Path,
    live: LiveState,
    spec: ProviderSpec,
    *,
    name: str | None = None,
    prune: bool = False,
    today: dt.date | None = None,
    secrets: Mapping[str, SecretTarget] | None = None,
) -> ImportReport:
    """Write ``live`` as the desired state in ``directory`` (see the module docstring).

    ``name`` is the organisation's name (the Admin API does not give it): by default the
    one ``organization.yaml`` already names. ``today`` dates expired keys (default: UTC).
    ``secrets``: by key id, where a key's secret already is when that is not the default
    path (written as the key's ``secret:``, so plans and audits look there).
    """
    report = ImportReport(directory=directory)
    writer = Writer(directory, report, live.target, spec.member_roles)
    org_path = existing(directory, "organization")
    org = writer.read(org_path) if org_path else None
    if org_path is not None and org is None:
        raise ConfigError(f"{display_path(org_path)} cannot be read; fix it, then import again")
    org_name = name or live.organization.name or (_named(org[1]) if org else None)
    if not org_name:
        raise ConfigError(
            "the Admin API does not give the organisation's name: pass it once with "
            "--name (e.g. --name 'Acme Analytics')"
        )
    directory.mkdir(parents=True, exist_ok=True)  # once nothing refuses the import
    result = imported(
        live,
        spec,
        name=org_name,
        today=today or dt.datetime.now(dt.UTC).date(),
        secrets=secrets,
    )
    report.notes.extend(result.notes)
    for kind in (*KINDS, None):  # the schemas the files' first lines name, for editors
        path = directory / SCHEMAS / shipped_name(kind)
        writer.write(path, render(schema_for(kind, spec.name)), writer.text(path))
    _organization(writer, org_path or directory / "organization.yaml", org, result)
    roles_path = directory / "roles.yaml"
    if existing(directory, "roles") is None:
        schema = schema_ref("roles", roles_path, directory)
        writer.write(roles_path, merge.roles_file(schema=schema))
    import_workspaces(writer, directory / WORKSPACES_DIR, result, prune)
    people = people_entries(live, spec, report.notes)
    groups = group_entries(live, spec, report.notes)
    import_people(writer, people, groups, spec.default_organization_role, prune=prune)
    report.workspaces = len(result.workspaces)
    report.keys = sum(len(w.keys) for w in result.workspaces)
    report.declared = _declared(live, result.workspaces)
    return report


def _named(doc: CommentedMap) -> str | None:
    """The name an existing ``organization.yaml`` gives the organisation."""
    try:
        known = merge.section(doc, "organization").get("name")
    except Unreadable:
        return None
    return known if isinstance(known, str) and known else None


def _organization(
    writer: Writer, path: Path, org: tuple[str, CommentedMap] | None, result: Imported
) -> None:
    if org is None:
        schema = schema_ref("organization", path, writer.directory)
        text = merge.organization_file(result.organization, schema=schema, source=writer.source)
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


def _declared(live: LiveState, workspaces: Sequence[WorkspaceEntry]) -> list[ApiKey]:
    """The live keys an import declared, each with the secret it was given."""
    targets = {k.name: k.secret for w in workspaces for k in w.keys}
    return [
        k.model_copy(update={"secret": targets[k.name]}) for k in live.keys if k.name in targets
    ]
