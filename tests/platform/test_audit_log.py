"""The audit log: read page by page over a bounded window, and turned into attributions.

The wire-level paging is served by hand (each body held to the spec extract); what the
entries mean is checked against the sandbox, the record of the Admin API, whose demo
seed holds three console changes: Alice adding Iris to dev (210 days ago), Iris creating
``iris-laptop`` (200 days ago) and Dan raising ml's spend limit (12 days ago).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import httpx
import pytest
from starlette.testclient import TestClient

from reconciler import errors
from reconciler.env import (
    MISTRAL_ADMIN_API_KEY,
    MISTRAL_ADMIN_API_KEY_NAME,
    MISTRAL_ADMIN_BASE_URL,
    MISTRAL_API_BASE_URL,
)
from reconciler.model import Attribution, Member
from reconciler.platform.mistral.provider import MistralProvider
from reconciler.platform.sandbox import (
    DEFAULT_ADMIN_KEY,
    DEMO_SEED,
    EMBEDDED_ADMIN_BASE_URL,
    EMBEDDED_API_BASE_URL,
    SandboxStore,
    create_app,
)
from reconciler.platform.sandbox.seed import build_state, load_seed
from tests.contract.transport import SpecCheckedTransport
from tests.demo_seed import demo_seed
from tests.platform.mistral_wire import Sleeps, client, run, sandbox_provider

NOW = dt.datetime(2026, 6, 1, 12, 0, tzinfo=dt.UTC)
T0 = dt.datetime(2026, 5, 20, 8, 0, tzinfo=dt.UTC)


def demo() -> SandboxStore:
    return SandboxStore.in_memory(demo_seed(), clock=lambda: NOW)


def attributions(provider: MistralProvider, days: int) -> list[Attribution]:
    async def main() -> list[Attribution]:
        async with provider:
            return await provider.attributions(NOW - dt.timedelta(days=days))

    return run(main())


def summary(found: list[Attribution]) -> list[tuple[str, str, str, bool, int]]:
    return [
        (a.address, a.actor, a.event, a.outside, (NOW.date() - a.at.date()).days) for a in found
    ]


# --- what the entries mean (the sandbox) ----------------------------------------------------


def test_the_seeded_console_changes_are_attributed_to_their_people() -> None:
    found = attributions(sandbox_provider(demo(), page_size=2), days=365)
    assert summary(found) == [  # newest first
        (
            "workspace_spend_limit.ml",
            "dan.okafor@acme.example",
            "billing.workspace_monthly_limit.updated",
            True,
            12,
        ),
        ("api_key.iris-laptop", "iris.tanaka@acme.example", "api_key.create", True, 200),
        (
            "member.dev/iris.tanaka@acme.example",
            "alice.martin@acme.example",
            "workspace.member.add",
            True,
            210,
        ),
    ]
    assert found[0].describe() == (
        f"changed outside reconciler by dan.okafor@acme.example on "
        f"{(NOW - dt.timedelta(days=12)).date().isoformat()}"
    )


def test_only_the_window_is_read() -> None:
    found = attributions(sandbox_provider(demo()), days=30)
    assert [a.address for a in found] == ["workspace_spend_limit.ml"]


def test_changes_made_with_the_admin_key_are_reconcilers_own() -> None:
    store = demo()

    async def main() -> list[Attribution]:
        async with sandbox_provider(store) as p:
            live = await p.fetch()
            dev = next(w for w in live.workspaces if w.name == "dev")
            carol = Member(workspace="dev", email="carol.diaz@acme.example", roles=("user",))
            await p.set_member(dev.id or "", carol)
            iris = next(k for k in live.keys if k.name == "iris-laptop")
            await p.delete_key(iris.id or "")
            return await p.attributions(NOW - dt.timedelta(days=1))

    found = run(main())
    assert summary(found) == [
        (
            "api_key.iris-laptop",
            "admin API key 'Sandbox admin key' of alice.martin@acme.example",
            "api_key.delete",
            False,
            0,
        ),
        (
            "member.dev/carol.diaz@acme.example",
            "admin API key 'Sandbox admin key' of alice.martin@acme.example",
            "workspace.member.add",
            False,
            0,
        ),
    ]


def test_people_changed_in_the_console_are_attributed_to_whoever_changed_them() -> None:
    """A person's role changed in the console, and an invitation accepted: ``person.``
    addresses, outside reconciler; a removal through the admin key is reconciler's own."""
    store = demo()
    bob = next(u for u in store.list_users(None)[0] if u.email == "bob.chen@acme.example")
    jin = next(i for i in store.list_users(None)[1] if i.email == "jin.park@acme.example")
    app = create_app(store)
    with TestClient(app) as http:
        headers = {"Authorization": f"Bearer {DEFAULT_ADMIN_KEY}"}
        changed = {"role": "billing_manager", "actor": "dan.okafor@acme.example"}
        assert http.post(f"/_sandbox/users/{bob.uuid}", json=changed, headers=headers).is_success
        assert http.post(f"/_sandbox/invites/{jin.uuid}/accept", headers=headers).is_success

    async def main() -> list[Attribution]:
        async with sandbox_provider(store) as p:
            live = await p.fetch()
            iris = next(m for m in live.people if m.email == "iris.tanaka@acme.example")
            await p.remove_org_member(iris)
            return await p.attributions(NOW - dt.timedelta(days=1))

    assert summary(run(main())) == [
        (
            "person.iris.tanaka@acme.example",
            "admin API key 'Sandbox admin key' of alice.martin@acme.example",
            "user.delete",
            False,
            0,
        ),
        (
            "person.jin.park@acme.example",
            "jin.park@acme.example",
            "organization.invite.accepted",
            True,
            0,
        ),
        (
            "person.bob.chen@acme.example",
            "dan.okafor@acme.example",
            "user.organization.role.update",
            True,
            0,
        ),
    ]


def test_a_named_admin_key_makes_the_other_admin_keys_outside() -> None:
    store = demo()
    app = create_app(store, None, admin_key=DEFAULT_ADMIN_KEY)

    def provider(name: str) -> MistralProvider:
        return MistralProvider.from_env(
            {
                MISTRAL_ADMIN_API_KEY: DEFAULT_ADMIN_KEY,
                MISTRAL_ADMIN_BASE_URL: EMBEDDED_ADMIN_BASE_URL,
                MISTRAL_API_BASE_URL: EMBEDDED_API_BASE_URL,
                MISTRAL_ADMIN_API_KEY_NAME: name,
            },
            transport=SpecCheckedTransport(httpx.ASGITransport(app=app)),
            sleep=Sleeps(),
        )

    async def main() -> None:
        async with provider("Sandbox admin key") as p:
            live = await p.fetch()
            iris = next(k for k in live.keys if k.name == "iris-laptop")
            await p.delete_key(iris.id or "")

    run(main())
    ours = attributions(provider("Sandbox admin key"), days=1)
    theirs = attributions(provider("reconciler-ci"), days=1)
    assert [(a.address, a.outside) for a in ours] == [("api_key.iris-laptop", False)]
    assert [(a.address, a.outside) for a in theirs] == [("api_key.iris-laptop", True)]


def test_the_organisation_is_known_by_its_default_workspace_across_resets() -> None:
    async def org_id(store: SandboxStore) -> str | None:
        async with sandbox_provider(store) as p:
            return (await p.fetch()).organization.id

    first = run(org_id(demo()))
    later = run(org_id(SandboxStore.in_memory(clock=lambda: NOW + dt.timedelta(days=40))))
    state = build_state(load_seed(DEMO_SEED), NOW)
    default = next(w for w in state.workspaces.values() if w.is_default)
    assert first == later == default.uuid


def test_another_seeded_organisation_has_another_id_and_says_so_in_its_log() -> None:
    seed = load_seed(DEMO_SEED)
    other = seed.model_copy(
        update={"organization": seed.organization.model_copy(update={"name": "Other Corp"})}
    )
    acme, corp = build_state(seed, NOW), build_state(other, NOW)
    defaults = [next(w.uuid for w in s.workspaces.values() if w.is_default) for s in (acme, corp)]
    assert defaults[0] != defaults[1]
    assert acme.organization.uuid != corp.organization.uuid

    async def logged(store: SandboxStore) -> set[str | None]:
        async with sandbox_provider(store) as p:
            entries = await p.client.list_audit_logs(after=NOW - dt.timedelta(days=365))
        return {e.organization_uuid for e in entries}

    assert run(logged(demo())) == {acme.organization.uuid}


# --- the wire: cursor pages over a window --------------------------------------------------


def entry(log_id: int, at: dt.datetime, **fields: Any) -> dict[str, Any]:
    return {
        "log_id": log_id,
        "created_at": at.isoformat().replace("+00:00", "Z"),
        "actor_type": "HUMAN",
        "actor_metadata": {"user_email": "dan@acme.example"},
        "event_type": "workspace.update",
        "event_metadata": {},
        "target_type": "WORKSPACE",
        "target_metadata": {"workspace_uuid": "00000000-0000-4000-8000-000000000001"},
        "organization_uuid": None,
        "workspace_uuid": "00000000-0000-4000-8000-000000000001",
        **fields,
    }


class LogServer:
    """Serves entries newest first, honouring ``after``, ``before`` and ``limit``."""

    def __init__(self, entries: list[dict[str, Any]], fail_from: int | None = None) -> None:
        self.entries = sorted(entries, key=lambda e: e["created_at"], reverse=True)
        self.asked: list[httpx.QueryParams] = []
        self.fail_from = fail_from  # this request and every later one answer 500

    def handle(self, request: httpx.Request) -> httpx.Response:
        params = request.url.params
        self.asked.append(params)
        if self.fail_from is not None and len(self.asked) >= self.fail_from:
            return httpx.Response(500, json={"message": "log shard down"})
        after = dt.datetime.fromisoformat(params["after"])
        before = dt.datetime.fromisoformat(params["before"]) if "before" in params else None
        chosen = [
            e
            for e in self.entries
            if dt.datetime.fromisoformat(e["created_at"]) > after
            and (before is None or dt.datetime.fromisoformat(e["created_at"]) < before)
        ]
        return httpx.Response(200, json=chosen[: int(params["limit"])])


def read_log(server: LogServer, *, limit: int = 10_000, page_size: int = 2) -> list[int]:
    async def main() -> list[int]:
        transport = httpx.MockTransport(server.handle)
        async with client(transport=transport, page_size=page_size) as c:
            found = await c.list_audit_logs(
                after=T0 - dt.timedelta(days=30),
                event_types=("workspace.update", "api_key.create"),
                limit=limit,
            )
        return [e.log_id for e in found]

    return run(main())


def test_pages_follow_the_oldest_entry_seen_and_keep_entries_sharing_its_time() -> None:
    # Entries 2 and 3 share one time, and a page of three ends between them: 2 is not lost.
    tie = T0 + dt.timedelta(minutes=1)
    at = [T0, tie, tie, T0 + dt.timedelta(hours=2), T0 + dt.timedelta(hours=3)]
    server = LogServer([entry(i + 1, t) for i, t in enumerate(at)])
    assert read_log(server, page_size=3) == [5, 4, 2, 3, 1]
    first = server.asked[0]
    assert first["after"] == (T0 - dt.timedelta(days=30)).isoformat()
    assert first.get_list("event_type") == ["workspace.update", "api_key.create"]
    assert (first["sort"], first["limit"], "before" in first) == ("descending", "3", False)
    # the next page ends a microsecond after the oldest entry of the last one
    assert server.asked[1]["before"] == (tie + dt.timedelta(microseconds=1)).isoformat()
    assert len(server.asked) == 3  # the third page is short: the end


def test_the_newest_entries_up_to_the_limit() -> None:
    server = LogServer([entry(i, T0 + dt.timedelta(hours=i)) for i in range(1, 8)])
    assert read_log(server, limit=3) == [7, 6, 5]
    assert len(server.asked) == 2


def test_a_failed_page_fails_the_listing_and_says_which() -> None:
    server = LogServer([entry(i, T0 + dt.timedelta(hours=i)) for i in range(1, 6)], fail_from=2)
    with pytest.raises(errors.ServerError, match=r"listing audit log failed at page 2"):
        read_log(server)


def test_a_full_page_of_entries_already_seen_is_an_error_not_a_loop() -> None:
    same = [entry(i, T0) for i in range(1, 4)]  # three entries, one time, pages of two
    with pytest.raises(errors.RemoteError, match="more entries share one time than a page"):
        read_log(LogServer(same))
