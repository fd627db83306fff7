"""Key creates a platform cannot do through its API, as manual actions.

Some platforms make API keys only in their console (Anthropic: the Admin API lists,
renames and archives keys, never creates one). For such a provider
(``ProviderSpec.can_create_keys`` false), :func:`console_only_keys` turns each key
change that would create a key into a ``manual`` change telling the operator what to
create and where; the next plan finds the key by its name and adopts it, and
``reconciler secret put ADDRESS`` stores its secret. Deletes stay as they are (the
platform archives). Pure, like the rest of the diff.
"""

from __future__ import annotations

from collections.abc import Iterable

from reconciler.diff.changes import Action, Change, Kind


def _instructions(change: Change, console: str) -> str:
    after = change.after or {}
    where = f" ({console})" if console else ""
    owner = f", as {after['owner']}" if after.get("owner") else ""
    step = (
        f"In the console{where}, create an API key named '{change.name}' in workspace "
        f"'{after.get('workspace', '?')}'{owner}"
    )
    if change.live_id:
        step += f", then archive the key it replaces ({change.live_id})"
    return (
        f"{step}. The next plan adopts it; store its secret with "
        f"`reconciler secret put {change.address}` (read from standard input)."
    )


def console_only_keys(changes: Iterable[Change], *, console: str = "") -> list[Change]:
    """``changes`` with every key create or replacement made a manual action."""
    result: list[Change] = []
    for change in changes:
        if change.kind is not Kind.API_KEY or Action.CREATE not in change.actions:
            result.append(change)
            continue
        why = "the platform's API cannot create keys"
        result.append(
            Change(
                address=change.address,
                kind=change.kind,
                name=change.name,
                actions=(Action.MANUAL,),
                reason=f"{change.reason}; {why}" if change.reason else why,
                before=change.before,
                after=change.after,
                fields=change.fields,
                unchanged=change.unchanged,
                message=_instructions(change, console),
                live_id=change.live_id,
                extra_ids=change.extra_ids,
            )
        )
    return result
