"""JSON Schema of the desired-state files, generated from :mod:`reconciler.desired.schema`.

Editors (e.g. the YAML language server, via a ``# yaml-language-server: $schema=...``
comment) use it to complete and check the YAML as it is typed. One schema per kind of
file, plus a combined one that picks the kind by the file's top-level section. Copies
ship in ``reconciler/data/schema/`` (kept current by a test).
"""

from __future__ import annotations

import json
from typing import Any

from pydantic.json_schema import models_json_schema

from reconciler.desired.schema import FILE_KINDS

DIALECT = "https://json-schema.org/draft/2020-12/schema"
KINDS = tuple(FILE_KINDS)  # organization, roles, workspace
COMBINED = "desired-state"
TITLE = "reconciler desired state, version 1"


def schema_for(kind: str | None = None) -> dict[str, Any]:
    """The schema for one kind of file, or (``None``) the combined one."""
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
        "description": "Any file of desired-state/: organization.yaml, roles.yaml or "
        "workspaces/<name>.yaml, told apart by the top-level section.",
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
    """File name of the shipped copy under ``reconciler/data/schema/``."""
    return f"{kind or COMBINED}.json"
