"""Per-workspace rate-limit overrides on Anthropic: read into the core model, written back.

A workspace's ``rate_limits`` (:class:`~reconciler.model.Workspace`) names each of the
organisation's rate limits as the desired state does (:attr:`wire.RateLimit.name`: a
model group's display name, else the group's type) and maps limit types to values. The
organisation's limits are read-only; a workspace may override them (``POST
/workspaces/{id}/rate_limits/{rate_limit_id}``, a value of null clearing one), and the
lower of the two holds. Writing makes the workspace's overrides exactly the desired ones.
An organisation whose plan may not write them gets a 403: that is a change for the
Console (:class:`~reconciler.errors.ConsoleOnly`), never a failure.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence

from reconciler import errors
from reconciler.platform.anthropic import wire
from reconciler.platform.anthropic.client import AnthropicClient
from reconciler.platform.anthropic.vocabulary import CONSOLE_LIMITS_URL

Overrides = dict[str, dict[str, int]]  # limit name -> limit type -> value


def _overrides(listed: Sequence[wire.WorkspaceRateLimit]) -> Overrides:
    found: Overrides = {}
    for entry in listed:
        name = entry.group.display_name or entry.group.type
        values = {limit.type: limit.value for limit in entry.limits if limit.value is not None}
        if values:
            found.setdefault(name, {}).update(values)
    return found


async def read(client: AnthropicClient, workspace_ids: Sequence[str]) -> dict[str, Overrides]:
    """Each workspace's overrides, by id; none at all when the organisation may not read
    them (a workspace then has ``rate_limits`` None: unknown, not empty)."""
    try:
        listed = await asyncio.gather(
            *(client.list_workspace_rate_limits(w) for w in workspace_ids)
        )
    except (errors.Forbidden, errors.NotFound):
        return {}
    return {w: _overrides(entries) for w, entries in zip(workspace_ids, listed, strict=True)}


async def write(
    client: AnthropicClient,
    workspace_id: str,
    workspace: str,
    wanted: Mapping[str, Mapping[str, int]],
) -> None:
    """Make ``workspace``'s overrides exactly ``wanted``: set what differs, clear (null)
    what it no longer names. Each write names its final values, so it is safe to repeat."""
    try:
        limits, current = await asyncio.gather(
            client.list_rate_limits(), client.list_workspace_rate_limits(workspace_id)
        )
        ids = {limit.name: limit.id for limit in limits}
        have = _overrides(current)
        for entry in current:  # an override of a limit the organisation no longer lists
            ids.setdefault(entry.group.display_name or entry.group.type, entry.rate_limit_id)
        for name in sorted(wanted.keys() | have.keys()):
            want, now = wanted.get(name, {}), have.get(name, {})
            change = {t: want.get(t) for t in want.keys() | now.keys() if want.get(t) != now.get(t)}
            if not change:
                continue
            if name not in ids:
                raise errors.PlanError(
                    f"workspace {workspace!r}: the organisation has no rate limit {name!r}; "
                    f"its rate limits are: {', '.join(sorted(ids)) or 'none'}"
                )
            await client.set_workspace_rate_limit(workspace_id, ids[name], change)
    except errors.Forbidden as exc:
        raise errors.ConsoleOnly(
            f"this organisation cannot set workspace rate limits through the API "
            f"({exc.server_message or 'forbidden'}); set those of workspace {workspace!r} "
            f"in the Console ({CONSOLE_LIMITS_URL}) instead"
        ) from exc
