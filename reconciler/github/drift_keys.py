"""The drift issue's key audit: the keys a plan's audit flags, and who changed what.

Read from the plan JSON document (:mod:`reconciler.render.json`): ``key_audit.keys`` (each
key's address, workspace, owner, flags and attribution) and each resource change's
``attribution``. Both were added within plan format 1.0, so an older document simply has
none. Every value is live text: it is scrubbed here and escaped where the issue is built.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from reconciler.errors import scrub
from reconciler.textsafe import inline_code, md_text

HEADING = "Keys the audit flags"


@dataclass(frozen=True, slots=True)
class FlaggedKey:
    address: str
    workspace: str
    owner: str
    flags: tuple[str, ...]
    attribution: str | None = None  # "created outside reconciler by ... on ..."


def attribution_note(data: Any) -> str | None:
    """An ``attribution`` object's note, scrubbed; None when absent or malformed."""
    if isinstance(data, Mapping) and isinstance(data.get("note"), str):
        return scrub(data["note"])
    return None


def flagged_keys(doc: Mapping[str, Any]) -> tuple[FlaggedKey, ...]:
    """The flagged keys of a plan document (none when it has no ``key_audit``)."""
    audit = doc.get("key_audit")
    keys = audit.get("keys") if isinstance(audit, Mapping) else None
    if not isinstance(keys, list):
        return ()
    found = []
    for key in keys:
        if not isinstance(key, Mapping) or not isinstance(key.get("address"), str):
            continue
        flags = key.get("flags")
        found.append(
            FlaggedKey(
                address=scrub(key["address"]),
                workspace=scrub(str(key.get("workspace") or "")),
                owner=scrub(str(key.get("owner") or "")),
                flags=tuple(str(f) for f in flags) if isinstance(flags, list) else (),
                attribution=attribution_note(key.get("attribution")),
            )
        )
    return tuple(k for k in found if k.flags)


def flagged_section(keys: tuple[FlaggedKey, ...], *, limit: int) -> list[str]:
    """The issue's section listing ``keys`` (at most ``limit``); nothing when none."""
    if not keys:
        return []
    lines = [f"### {HEADING} ({len(keys)})", ""]
    for key in keys[:limit]:
        who = f", {key.owner}" if key.owner else ""
        note = f"; {key.attribution}" if key.attribution else ""
        text = md_text(f"{', '.join(key.flags)} (workspace {key.workspace}{who}){note}")
        lines.append(f"- {inline_code(key.address)}: {text}")
    if len(keys) > limit:
        lines.append(f"- … and {len(keys) - limit} more (reconciler audit lists them)")
    lines += ["", "`reconciler audit` also checks each key's secret in its store.", ""]
    return lines
