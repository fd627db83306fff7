"""JSON Schema of the desired-state files, generated from :mod:`reconciler.desired.schema`.

Editors (e.g. the YAML language server, via a ``# yaml-language-server: $schema=...``
comment) use it to complete and check the YAML as it is typed. One schema per kind of
file, plus a combined one that picks the kind by the file's top-level section. These hold
for any provider: workspace roles are names there, checked against the provider's by
``validate``; a schema for one provider (:func:`schema_for` with ``provider``) lists its
roles and defaults, for an editor to complete them. ``reconciler schema --write DIR``
puts them into a repository's own tree (this one keeps its copies in
``desired-state/.schema/``, kept current by a test), so the comments point at files
beside the YAML, wherever the repository is.
"""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path
from typing import Any

from pydantic.json_schema import models_json_schema

from reconciler.desired.schema import FILE_KINDS
from reconciler.private_paths import replace_file
from reconciler.providers import ProviderSpec, get_provider

DIALECT = "https://json-schema.org/draft/2020-12/schema"
KINDS = tuple(FILE_KINDS)  # organization, roles, workspace, people, groups
COMBINED = "desired-state"
TITLE = "reconciler desired state, version 1"


def schema_for(kind: str | None = None, provider: str | None = None) -> dict[str, Any]:
    """The schema for one kind of file, or (``None``) the combined one; for any provider,
    or (``provider``) with that provider's role names and defaults."""
    schema = _schema_for(kind)
    return schema if provider is None else _for_provider(schema, get_provider(provider))


def _for_provider(schema: dict[str, Any], spec: ProviderSpec) -> dict[str, Any]:
    """``schema`` with ``spec``'s name, role names and vault prefix filled in."""
    out = copy.deepcopy(schema)
    defs = out["$defs"]
    if "OrganizationDoc" in defs:
        named = defs["OrganizationDoc"]["properties"]["provider"]
        named.update(const=spec.name, default=spec.name)
        defs["VaultDoc"]["properties"]["path_prefix"]["default"] = spec.vault_path_prefix
    if "MemberDoc" in defs:
        roles = defs["MemberDoc"]["properties"]["roles"]
        roles.update(
            items={"enum": list(spec.workspace_roles)},
            default=list(spec.member_roles),
            description=f"Workspace roles of {spec.display_name}.",
        )
    return out


def _schema_for(kind: str | None) -> dict[str, Any]:
    if kind is not None:
        if kind not in FILE_KINDS:
            raise ValueError(f"unknown kind '{kind}'; expected one of: {', '.join(KINDS)}")
        body = FILE_KINDS[kind].model_json_schema()
        return {"$schema": DIALECT, **body}
    _, defs = models_json_schema(
        [(cls, "validation") for cls in FILE_KINDS.values()], ref_template="#/$defs/{model}"
    )
    refs = {kind: f"#/$defs/{cls.__name__}" for kind, cls in FILE_KINDS.items()}
    return {
        "$schema": DIALECT,
        "title": TITLE,
        "description": "Any file of desired-state/: organization.yaml, roles.yaml, "
        "workspaces/<name>.yaml, people.yaml or groups.yaml, told apart by the top-level "
        "section.",
        "type": "object",
        "anyOf": [{"required": [kind]} for kind in KINDS],
        "allOf": [
            {"if": {"required": [kind]}, "then": {"$ref": ref}} for kind, ref in refs.items()
        ],
        **defs,
    }


def render(schema: dict[str, Any]) -> str:
    """Stable text (two-space indent, trailing newline) for printing and the shipped files."""
    return json.dumps(schema, indent=2, ensure_ascii=False) + "\n"


def shipped_name(kind: str | None) -> str:
    """File name of a written copy: ``workspace.json``, ``desired-state.json``, …"""
    return f"{kind or COMBINED}.json"


def write_schemas(directory: Path, provider: str | None = None) -> list[Path]:
    """Write every kind's schema and the combined one into ``directory`` (for any
    provider, or with ``provider``'s role names)."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for kind in (*KINDS, None):
        path = directory / shipped_name(kind)
        replace_file(path, render(schema_for(kind, provider)).encode(), mode=0o644)
        written.append(path)
    return written


_FILES = {  # kind: (the files, the folder they are in), under the desired-state directory
    "organization": ("organization.yaml", "."),
    "roles": ("roles.yaml", "."),
    "workspace": ("workspaces/*.yaml", "workspaces"),
    "people": ("people.yaml", "."),
    "groups": ("groups.yaml", "."),
}


def modelines(schemas: Path, desired: Path) -> dict[str, str]:
    """The first line each desired-state file needs to find its schema in ``schemas``,
    by file (pattern): the path is relative to the file, as editors resolve it."""
    lines = {}
    for kind in KINDS:
        pattern, folder = _FILES[kind]
        target = os.path.relpath(schemas / shipped_name(kind), desired / folder)
        schema = Path(target).as_posix()
        lines[(desired / pattern).as_posix()] = f"# yaml-language-server: $schema={schema}"
    return lines
