"""The drift issue's people: organisation members, invitations and user groups that differ
from ``people.yaml`` and ``groups.yaml``.

Read from the plan JSON document's changes (``person.``, ``invitation.`` and ``group.``
addresses). They are listed in a section of their own, so a reader sees at once who was
added, removed or given another role or seat outside reconciler, and, where the platform's
audit log says so, by whom and when (the change's attribution, already in its detail). A
pending invitation is not drift: it is under way and is never listed. Every value is live
text, scrubbed by the caller and escaped here.
"""

from __future__ import annotations

from collections.abc import Sequence

from reconciler.textsafe import inline_code, md_text

HEADING = "People changed outside reconciler"
_KINDS = ("person.", "invitation.", "group.")


def is_people(address: str) -> bool:
    """Whether ``address`` is a person, an invitation or a group."""
    return address.startswith(_KINDS)


def people_section(items: Sequence[tuple[str, str]], *, limit: int) -> list[str]:
    """The section listing ``items`` (address, detail), at most ``limit``; nothing when
    there are none."""
    if not items:
        return []
    lines = [f"### {HEADING} ({len(items)})", ""]
    lines.extend(
        f"- {inline_code(address)}: {md_text(detail)}" for address, detail in items[:limit]
    )
    if len(items) > limit:
        lines.append(f"- … and {len(items) - limit} more (see the workflow run)")
    lines += [
        "",
        "people.yaml and groups.yaml say who belongs; apply invites, updates and (with "
        "`prune_people`) offboards to match.",
        "",
    ]
    return lines
