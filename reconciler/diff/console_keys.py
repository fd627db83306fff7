"""Changes a platform cannot make through its API, as manual actions.

Some platforms make API keys only in their console (Anthropic: the Admin API lists,
renames and archives keys, never creates one). For such a provider
(``ProviderSpec.can_create_keys`` false), :func:`console_only_keys` turns each key
change that would create a key into a ``manual`` change telling the operator what to
create and where; the next plan finds the key by its name and adopts it, and
``reconciler secret put ADDRESS`` stores its secret. Deletes stay as they are (the
platform archives).

:func:`refused_as_manual` does the same for the changes the platform refused for this
organisation at an earlier apply (a 403: its plan lacks that access, e.g. Anthropic's
spend-limit writes), with the message the refusal gave. Pure, like the rest of the diff.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

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
        result.append(_manual(change, why, _instructions(change, console)))
    return result


def refused_as_manual(changes: Iterable[Change], refused: Mapping[str, str]) -> list[Change]:
    """``changes`` with each one the platform refused for this organisation (address ->
    the refusal's message) made a manual action."""
    why = "the API refused it for this organisation's plan"
    return [
        _manual(c, why, refused[c.address]) if c.address in refused and c.is_actionable else c
        for c in changes
    ]


def _manual(change: Change, why: str, message: str) -> Change:
    return Change(
        address=change.address,
        kind=change.kind,
        name=change.name,
        actions=(Action.MANUAL,),
        reason=f"{change.reason}; {why}" if change.reason else why,
        before=change.before,
        after=change.after,
        fields=change.fields,
        unchanged=change.unchanged,
        message=message,
        live_id=change.live_id,
        extra_ids=change.extra_ids,
    )
