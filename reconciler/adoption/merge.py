"""Import entries as YAML documents: new files, and existing ones updated in place.

Pure: works on ruamel.yaml round-trip documents (:mod:`.yaml_text`), so whatever a file
already holds keeps its comments, its key order and its quoting. A new file is laid out
like the example files (the ``$schema`` line first). An existing one has its values set
only where they differ from the live ones, and new entries appended; an object's name is
its identity and is never rewritten (a different name there is a rename not yet applied,
matched through ``previous_names``), and the fields only the desired state holds (roles,
policy, secrets, descriptions of keys) are left as they are.
"""

from __future__ import annotations

import textwrap
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from ruamel.yaml.comments import CommentedMap, CommentedSeq

from reconciler.adoption.documents import KeyEntry, MemberEntry, OrganizationEntry, WorkspaceEntry
from reconciler.adoption.yaml_text import WIDTH, Unreadable, dump, flow_map, flow_seq, live_text
from reconciler.model import SecretTarget


def header(schema: str, lines: Iterable[str]) -> str:
    """The comment a new file starts with: the ``$schema`` line first, then ``lines``
    (wrapped; "" for an empty comment line)."""
    out = [f"# yaml-language-server: $schema={schema}", "#"]
    for line in lines:
        out += [f"# {part}" for part in textwrap.wrap(line, WIDTH - 2)] or ["#"]
    return "\n".join(out) + "\n"


def _set(mapping: CommentedMap, key: str, value: Any, same: Callable[[Any, Any], bool]) -> None:
    """Set ``mapping[key]`` unless it already holds ``value`` (its style and comments stay)."""
    if key not in mapping or not same(mapping[key], value):
        mapping[key] = value


def _equal(a: Any, b: Any) -> bool:
    return bool(a == b)


def _same_email(a: Any, b: Any) -> bool:
    return isinstance(a, str) and a.lower() == str(b).lower()


def _same_items(a: Any, b: Any) -> bool:
    return isinstance(a, list) and sorted(map(str, a)) == sorted(map(str, b))


def section(doc: CommentedMap, name: str) -> CommentedMap:
    """The file's top-level section (``organization``, ``workspace``), or Unreadable."""
    found = doc.get(name)
    if not isinstance(found, CommentedMap):
        raise Unreadable(f"no '{name}:' mapping")
    return found


def entries(node: CommentedMap, key: str, *, create: bool = False) -> CommentedSeq:
    """The list under ``key`` (a new empty one when missing, attached if ``create``), or
    Unreadable."""
    found = node.get(key)
    if found is None:
        found = flow_seq([])
        if create:
            node[key] = found
    if not isinstance(found, CommentedSeq):
        raise Unreadable(f"'{key}' is not a list")
    return found


def append(seq: CommentedSeq, item: Any) -> None:
    """Append ``item``; an empty list written ``[]`` becomes a block list, one entry a line."""
    if not seq and seq.fa.flow_style():
        seq.fa.set_block_style()
    seq.append(item)


def names(item: Any, field: str = "name") -> list[str]:
    """What an entry is called: its ``name`` (or ``email``), then its ``previous_names``."""
    if not isinstance(item, Mapping):
        return []
    out = [item[field]] if isinstance(item.get(field), str) else []
    previous = item.get("previous_names")
    if isinstance(previous, list):
        out.extend(p for p in previous if isinstance(p, str))
    return out


def indexed(seq: CommentedSeq, field: str = "name") -> Iterator[tuple[int, str]]:
    """``(index, name)`` for every name an entry of ``seq`` answers to."""
    for index, item in enumerate(seq):
        for name in names(item, field):
            yield index, name


# --- organization.yaml and roles.yaml -------------------------------------------------


def organization_file(entry: OrganizationEntry, *, schema: str, source: str) -> str:
    doc = CommentedMap()
    doc["version"] = 1
    org = CommentedMap()
    org["name"] = live_text(entry.name)
    if entry.id is not None:
        org["id"] = entry.id
    org["provider"] = entry.provider
    if entry.spend_limit is not None:
        org["spend_limit"] = flow_map(entry.spend_limit)
    doc["organization"] = org
    doc.yaml_set_comment_before_after_key("organization", before="\n")
    lines = [
        f"Organisation settings, imported from {source} by `reconciler import`.",
        "Reference: desired-state/README.md. Check with `reconciler validate`.",
        "",
        entry.vault_comment,
    ]
    return header(schema, lines) + dump(doc)


def update_organization(doc: CommentedMap, entry: OrganizationEntry) -> None:
    """The name and the spend limit (if the file manages it) set to ``entry``'s, and the
    id written when the file has none."""
    org = section(doc, "organization")
    _set(org, "name", live_text(entry.name), _equal)
    if entry.id is not None and not org.get("id"):
        org.insert(list(org).index("name") + 1 if "name" in org else 0, "id", entry.id)
    current = org.get("spend_limit")
    if entry.spend_limit is None or current is None:
        return  # not managed there, or not expressible
    if not isinstance(current, CommentedMap):
        org["spend_limit"] = flow_map(entry.spend_limit)
        return
    for key, value in entry.spend_limit.items():
        _set(current, key, value, _equal)
    for key in [k for k in current if k not in entry.spend_limit]:
        del current[key]


def roles_file(*, schema: str) -> str:
    doc = CommentedMap()
    doc["version"] = 1
    doc["roles"] = flow_map({})
    doc.yaml_set_comment_before_after_key("roles", before="\n")
    lines = [
        "Application roles (models, token caps, daily budgets) that keys name with `role:`, "
        "enforced by apps with the policy library. Imported keys name none.",
    ]
    return header(schema, lines) + dump(doc)


# --- workspaces/<name>.yaml -----------------------------------------------------------


def new_member(entry: MemberEntry) -> CommentedMap:
    member: dict[str, Any] = {"email": entry.email}
    if entry.roles:
        member["roles"] = flow_seq(entry.roles)
    return flow_map(member)


def new_key(entry: KeyEntry) -> CommentedMap:
    key = CommentedMap()
    key["name"] = entry.name
    key["owner"] = entry.owner
    if entry.owner_comment:
        key.yaml_add_eol_comment(entry.owner_comment, "owner")
    if entry.expires is not None:
        key["expires"] = entry.expires
    key["secret"] = flow_map(secret_doc(entry.secret))
    if entry.written_status is not None:
        key["status"] = entry.written_status
    return key


def secret_doc(target: SecretTarget) -> dict[str, str]:
    """A key's ``secret:`` as its file writes it: the fields set, path last."""
    fields = {
        "backend": target.backend.value if target.backend else None,
        "repository": target.repository,
        "environment": target.environment,
        "path": target.path,
    }
    return {k: v for k, v in fields.items() if v is not None}


def workspace_file(entry: WorkspaceEntry, *, schema: str, source: str) -> str:
    ws = CommentedMap()
    ws["name"] = entry.name
    if entry.description:
        ws["description"] = live_text(entry.description)
    ws["admin"] = entry.admin
    ws["members"] = CommentedSeq(new_member(m) for m in entry.members) or flow_seq([])
    ws["api_keys"] = CommentedSeq(new_key(k) for k in entry.keys) or flow_seq([])
    if entry.rate_limits:
        ws["rate_limits"] = _rate_limits_map(entry.rate_limits)
    if entry.spend_limit_comment:
        comment = "\n".join(textwrap.wrap(entry.spend_limit_comment, WIDTH - 4))
        ws.yaml_set_comment_before_after_key("members", before=comment, indent=2)
    doc = CommentedMap()
    doc["version"] = 1
    doc["workspace"] = ws
    doc.yaml_set_comment_before_after_key("workspace", before="\n")
    lines = [
        f"Workspace {entry.name}, imported from {source} by `reconciler import`.",
        "Members are authoritative: anyone in the workspace but not listed here is removed.",
    ]
    return header(schema, lines) + dump(doc)


def update_workspace(ws: CommentedMap, entry: WorkspaceEntry) -> None:
    """Description and admin set to ``entry``'s (an empty description: removed)."""
    if entry.description:
        _set(ws, "description", live_text(entry.description), _equal)
    elif ws.get("description"):
        del ws["description"]
    _set(ws, "admin", entry.admin, _same_email)
    # live overrides: written where the file manages them, or where there are some
    if entry.rate_limits is not None and ("rate_limits" in ws or entry.rate_limits):
        _set(ws, "rate_limits", _rate_limits_map(entry.rate_limits), _same_limits)


def _rate_limits_map(limits: Mapping[str, Mapping[str, int]]) -> CommentedMap:
    """``{limit: {type: value}}``, one limit a line."""
    out = CommentedMap()
    for limit, kinds in limits.items():
        out[live_text(limit)] = flow_map(dict(kinds))
    return out if out else flow_map({})


def _same_limits(a: Any, b: Any) -> bool:
    if not isinstance(a, Mapping) or not all(isinstance(v, Mapping) for v in a.values()):
        return False
    return {k: dict(v) for k, v in a.items()} == {k: dict(v) for k, v in b.items()}


def update_member(member: CommentedMap, entry: MemberEntry, default: tuple[str, ...]) -> None:
    """The member's roles set to ``entry``'s, unless they already are (in any order; no
    roles: the provider's default)."""
    have = member.get("roles")
    wanted = list(entry.roles or default)
    if _same_items(have if isinstance(have, list) and have else list(default), wanted):
        return
    member["roles"] = flow_seq(wanted)


def update_key(key: CommentedMap, entry: KeyEntry) -> None:
    """Owner and expiry set to ``entry``'s; a stand-in owner never replaces a named one."""
    if entry.owner_comment is None or not key.get("owner"):
        _set(key, "owner", entry.owner, _same_email)
    if entry.expires is None:
        if "expires" in key:
            del key["expires"]
    else:
        _set(key, "expires", entry.expires, _equal)
    if entry.status is not None and ("status" in key or entry.written_status is not None):
        _set(key, "status", entry.status, _equal)
