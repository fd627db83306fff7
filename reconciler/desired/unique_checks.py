"""What must be unique across the workspace files: workspace names (ignoring case), key
names, and the place each key's secret is written.

Part of :mod:`reconciler.desired.checks`, run on the documents that passed the schema. A
duplicate points at the second declaration and names the first one's ``file:line``. An
organisation may hold 100,000 keys: where each name and destination was first declared is
kept as the key's index in its file, and a location is built only for a problem.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from reconciler.desired.problems import Loc
from reconciler.desired.schema import ApiKeyDoc, OrganizationFile
from reconciler.desired.sources import Reporter, Source


def github_secret_name(path: str) -> str:
    """The GitHub secret name for a path: the rule of ``reconciler.vault.github.secret_name``."""
    return re.sub(r"[^A-Z0-9_]", "_", path.upper())


def secret_destination(org: OrganizationFile | None, ws: str, key: ApiKeyDoc) -> tuple[str, ...]:
    """Where a key's secret lands, to find two keys that would overwrite each other."""
    secret = key.secret
    default = org.organization.vault.backend if org else "vault"
    backend = (secret.backend if secret else None) or default
    path = (secret.path if secret else None) or f"{ws}/{key.name}"
    if backend == "github" and secret is not None:
        name = github_secret_name(path)
        return (backend, secret.repository or "", secret.environment or "", name)
    return (backend, path)


def _key_loc(index: int) -> Loc:
    return ("workspace", "api_keys", index)


def _describe(dest: tuple[str, ...]) -> str:
    if dest[0] == "github":
        _, repository, environment, name = dest
        where = f"{repository} environment {environment}" if environment else repository
        return f"github:{where}/{name}"
    return f"{dest[0]}:{dest[1]}"


def check_unique(
    reporter: Reporter, org: OrganizationFile | None, workspaces: Sequence[Source]
) -> None:
    """Report every workspace name, key name and secret destination declared twice, in
    ``workspaces``: sources whose model is a valid ``WorkspaceFile``."""
    ws_first: dict[str, Source] = {}
    # where each key name and secret destination is first declared: the file and the key's
    # index in it (a location is built only for a problem: there are 100,000 keys)
    key_first: dict[str, tuple[Source, int]] = {}
    dest_first: dict[tuple[str, ...], tuple[Source, int]] = {}
    for source in workspaces:
        ws = source.model.workspace
        if ws.name.lower() in ws_first:  # the platform ignores case in workspace names
            first = ws_first[ws.name.lower()]
            was = first.model.workspace.name
            reporter.add(
                source,
                ("workspace", "name"),
                f"workspace '{ws.name}' is already declared at "
                f"{first.where(('workspace', 'name'))}"
                + (f" as '{was}' (workspace names ignore case)" if was != ws.name else ""),
            )
        else:
            ws_first[ws.name.lower()] = source
        for index, key in enumerate(ws.api_keys):
            if key.name in key_first:
                other, other_index = key_first[key.name]
                reporter.add(
                    source,
                    (*_key_loc(index), "name"),
                    f"API key '{key.name}' is already declared at "
                    f"{other.where((*_key_loc(other_index), 'name'))} (key names are unique in "
                    "the organisation)",
                )
                continue
            key_first[key.name] = (source, index)
            if source.tainted and source.refused((*_key_loc(index), "secret")):
                continue  # its secret settings were refused: its destination is unknown
            dest = secret_destination(org, ws.name, key)
            if dest in dest_first:
                other, other_index = dest_first[dest]
                explicit = key.secret is not None and key.secret.path is not None
                loc = _key_loc(index)
                at = (*loc, "secret", "path") if explicit else loc
                other_name = other.model.workspace.api_keys[other_index].name
                reporter.add(
                    source,
                    at,
                    f"secret destination {_describe(dest)}{'' if explicit else ' (the default)'} "
                    f"is already used by API key '{other_name}' at "
                    f"{other.where(_key_loc(other_index))}",
                )
            else:
                dest_first[dest] = (source, index)
