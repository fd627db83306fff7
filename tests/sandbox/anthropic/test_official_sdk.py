"""The official ``anthropic`` SDK's admin client, pointed at the Anthropic sandbox, lists and
updates workspaces, members, keys, spend limits and workspace rate limits, and parses every
answer with its types."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx2
from anthropic import AsyncAnthropic
from anthropic.types.beta.organization.beta_api_key import BetaAPIKey
from anthropic.types.beta.organization.beta_organization_rate_limit import (
    BetaOrganizationRateLimit,
)
from anthropic.types.beta.organization.beta_spend_limit import BetaSpendLimit
from anthropic.types.beta.organization.beta_workspace import BetaWorkspace
from anthropic.types.beta.organization.beta_workspace_member import BetaWorkspaceMember
from anthropic.types.beta.organization.workspaces.beta_workspace_rate_limit import (
    BetaWorkspaceRateLimit,
)

from reconciler.platform.anthropic.sandbox.app import DEFAULT_ADMIN_KEY, create_app
from reconciler.platform.anthropic.sandbox.state import Organisation


def _sdk(state: Path) -> AsyncAnthropic:
    app = create_app(Organisation.open(state))
    return AsyncAnthropic(
        api_key=DEFAULT_ADMIN_KEY,
        base_url="http://anthropic-sandbox.local",
        http_client=httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app)),
        max_retries=0,
    )


async def _session(client: AsyncAnthropic) -> dict[str, object]:
    org = client.beta.organization
    spaces = [w async for w in org.workspaces.list(limit=1)]  # one per page: the cursor
    made = await org.workspaces.create(name="support", tags={"description": "Help desk"})
    renamed = await org.workspaces.update(made.id, name="customer-support")
    users = [u async for u in org.users.list()]
    ben = next(u for u in users if u.email == "ben@acme.example")
    added = await org.workspaces.members.add(
        made.id, user_id=ben.id, workspace_role="workspace_developer"
    )
    promoted = await org.workspaces.members.update(
        ben.id, workspace_id=made.id, workspace_role="workspace_admin"
    )
    members = [m async for m in org.workspaces.members.list(made.id)]
    keys = [k async for k in org.api_keys.list()]
    paused = await org.api_keys.update(keys[0].id, status="inactive", name="batch-paused")
    limit = await org.spend_limits.set(amount="75000", scope={"type": "organization"})
    limits = [s async for s in org.spend_limits.list()]
    archived = await org.workspaces.archive(made.id)
    after = [w async for w in org.workspaces.list()]
    return {
        "spaces": spaces,
        "renamed": renamed,
        "added": added,
        "promoted": promoted,
        "members": members,
        "keys": keys,
        "paused": paused,
        "limit": limit,
        "limits": limits,
        "archived": archived,
        "after": after,
    }


def test_the_sdk_admin_client_round_trips_on_the_sandbox(tmp_path: Path) -> None:
    seen = asyncio.run(_session(_sdk(tmp_path / "anthropic.json")))

    spaces = seen["spaces"]
    assert isinstance(spaces, list) and [w.name for w in spaces] == ["research"]
    assert all(isinstance(w, BetaWorkspace) for w in spaces)
    renamed = seen["renamed"]
    assert isinstance(renamed, BetaWorkspace)
    assert (renamed.name, renamed.tags) == ("customer-support", {"description": "Help desk"})
    assert isinstance(seen["added"], BetaWorkspaceMember)
    promoted = seen["promoted"]
    assert isinstance(promoted, BetaWorkspaceMember)
    assert promoted.workspace_role == "workspace_admin"
    members = seen["members"]
    assert isinstance(members, list) and [m.workspace_role for m in members] == ["workspace_admin"]
    keys = seen["keys"]
    assert isinstance(keys, list) and all(isinstance(k, BetaAPIKey) for k in keys)
    paused = seen["paused"]
    assert isinstance(paused, BetaAPIKey)
    assert (paused.name, paused.status) == ("batch-paused", "inactive")
    limit = seen["limit"]
    assert isinstance(limit, BetaSpendLimit) and limit.amount == "75000"
    limits = seen["limits"]
    assert isinstance(limits, list) and [s.amount for s in limits] == ["75000"]
    archived = seen["archived"]
    assert isinstance(archived, BetaWorkspace) and archived.archived_at is not None
    after = seen["after"]
    assert isinstance(after, list) and [w.name for w in after] == ["research"]
    # the state file kept it all, for the next process
    reopened = Organisation.open(tmp_path / "anthropic.json")
    assert [k["name"] for k in reopened.data["keys"]] == ["batch-paused"]


async def _rate_limits(client: AsyncAnthropic) -> dict[str, object]:
    org = client.beta.organization
    limits = [r async for r in org.rate_limits.list()]
    sonnet = next(r for r in limits if r.group.type == "model_group")
    updated = await org.workspaces.rate_limits.update(
        sonnet.id,
        workspace_id="wrkspc_01",
        limits=[{"type": "requests_per_minute", "value": 120}],
    )
    overrides = [o async for o in org.workspaces.rate_limits.list("wrkspc_01")]
    return {"limits": limits, "updated": updated, "overrides": overrides}


def test_the_sdk_reads_and_overrides_rate_limits_on_the_sandbox(tmp_path: Path) -> None:
    seen = asyncio.run(_rate_limits(_sdk(tmp_path / "anthropic.json")))

    limits = seen["limits"]
    assert isinstance(limits, list) and all(
        isinstance(r, BetaOrganizationRateLimit) for r in limits
    )
    assert [r.group.type for r in limits] == ["model_group", "batch"]
    updated = seen["updated"]
    assert isinstance(updated, BetaWorkspaceRateLimit)
    assert [(v.type, v.value, v.org_limit) for v in updated.limits] == [
        ("requests_per_minute", 120, 4000)
    ]
    overrides = seen["overrides"]
    assert isinstance(overrides, list) and [o.rate_limit_id for o in overrides] == [
        updated.rate_limit_id
    ]
