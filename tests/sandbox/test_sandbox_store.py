"""Persistence: the state file survives restarts; secrets never reach the disk."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from reconciler.platform.sandbox import (
    DEFAULT_ADMIN_KEY,
    EMBEDDED_ADMIN_BASE_URL,
    EMBEDDED_API_BASE_URL,
    SandboxStore,
    embedded_transport,
)
from reconciler.platform.sandbox import journaled as store_module
from reconciler.platform.sandbox.persist import StateFileError

from .conftest import ADMIN, AUTH, Clock, Demo, TestClient, all_keys, make_client


def embedded(
    state: Path, calls: list[tuple[str, str, dict[str, Any] | None]], **kw: Any
) -> list[httpx.Response]:
    """Run calls through a fresh embedded transport (like a new CLI process)."""

    async def go() -> list[httpx.Response]:
        transport = embedded_transport(state, **kw)
        out = []
        async with httpx.AsyncClient(transport=transport, headers=AUTH) as client:
            for method, url, body in calls:
                out.append(await client.request(method, url, json=body))
        return out

    return asyncio.run(go())


def test_a_new_state_file_is_created_from_the_demo_seed(tmp_path: Path) -> None:
    state = tmp_path / "sandbox" / "state.json"
    [response] = embedded(state, [("GET", f"{EMBEDDED_ADMIN_BASE_URL}/workspaces", None)])
    assert [w["name"] for w in response.json()["items"]] == ["Default Workspace", "dev", "ml"]
    assert json.loads(state.read_text())["organization"]["name"] == "Acme Analytics"


def test_changes_survive_a_restart_and_the_secret_is_not_on_disk(tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    [ws, users] = embedded(
        state,
        [
            ("GET", f"{EMBEDDED_ADMIN_BASE_URL}/workspaces?search=dev", None),
            ("GET", f"{EMBEDDED_ADMIN_BASE_URL}/users?email=bob.chen", None),
        ],
    )
    body = {
        "workspace_uuid": ws.json()["items"][0]["uuid"],
        "user_id": users.json()["members"][0]["uuid"],
        "name": "dev-bob",
    }
    [created, _] = embedded(
        state,
        [
            ("POST", f"{EMBEDDED_ADMIN_BASE_URL}/api-keys", body),
            ("POST", f"{EMBEDDED_ADMIN_BASE_URL}/spend-limit", {"amount": 5000}),
        ],
    )
    secret = created.json()["key"]
    [keys, limits, models] = embedded(
        state,
        [
            ("GET", f"{EMBEDDED_ADMIN_BASE_URL}/api-keys?name=dev-bob", None),
            ("GET", f"{EMBEDDED_ADMIN_BASE_URL}/spend-limit", None),
            ("GET", f"{EMBEDDED_API_BASE_URL}/models", None),
        ],
    )
    assert [k["key_id"] for k in keys.json()["keys"]] == [created.json()["key_id"]]
    assert limits.json()["limits"]["completion"]["usage_limit"] == 5000
    assert models.status_code == 200
    on_disk = "".join(p.read_text() for p in tmp_path.iterdir() if p.is_file())
    assert secret not in on_disk
    assert DEFAULT_ADMIN_KEY not in on_disk


def test_a_key_created_in_one_process_authenticates_in_the_next(tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    store = SandboxStore.open(state)
    client = make_client(store)
    demo = Demo(client)
    secret = client.post(
        f"{ADMIN}/api-keys",
        json={"workspace_uuid": demo.ws["ml"], "user_id": demo.user["dan.okafor"]},
    ).json()["key"]
    client.close()
    [response] = embedded(state, [("GET", f"{EMBEDDED_API_BASE_URL}/models", None)])
    assert response.status_code == 200

    async def with_key() -> int:
        async with httpx.AsyncClient(transport=embedded_transport(state)) as c:
            return (
                await c.get(
                    f"{EMBEDDED_API_BASE_URL}/models", headers={"Authorization": f"Bearer {secret}"}
                )
            ).status_code

    assert asyncio.run(with_key()) == 200


def test_the_journal_folds_into_the_snapshot(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(store_module, "_COMPACT_MIN_ENTRIES", 5)
    state = tmp_path / "state.json"
    store = SandboxStore.open(state)
    client = make_client(store)
    demo = Demo(client)
    for i in range(12):
        client.patch(f"{ADMIN}/workspaces/{demo.ws['dev']}", json={"description": f"v{i}"})
    client.close()
    journal = state.with_name("state.json.journal")
    assert not journal.exists() or len(journal.read_text().splitlines()) <= 5
    reopened = make_client(SandboxStore.open(state))
    listed = reopened.get(f"{ADMIN}/workspaces", params={"search": "dev"}).json()["items"][0]
    reopened.close()
    assert listed["description"] == "v11"


def test_close_compacts_and_leaves_no_temporary_files(tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    store = SandboxStore.open(state)
    store.set_spend_limit(4200, False)
    assert state.with_name("state.json.journal").exists()
    store.close()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["state.json"]
    assert json.loads(state.read_text())["organization"]["spend_limit"] == 4200


def test_the_state_and_its_journal_are_readable_by_their_owner_only(tmp_path: Path) -> None:
    # they hold the sandbox keys' hashes and hints: as private as the secrets' vault
    state = tmp_path / "state.json"
    store = SandboxStore.open(state)
    store.set_spend_limit(4200, False)
    journal = state.with_name("state.json.journal")
    assert (state.stat().st_mode & 0o777, journal.stat().st_mode & 0o777) == (0o600, 0o600)
    store.close()


def test_a_torn_last_journal_line_is_ignored(tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    store = SandboxStore.open(state)
    store.set_spend_limit(4200, False)
    with state.with_name("state.json.journal").open("a") as handle:
        handle.write('{"op": "put", "kind": "organiz')
    assert SandboxStore.open(state).organization.spend_limit == 4200


def test_a_torn_last_journal_line_is_dropped_before_the_next_write(tmp_path: Path) -> None:
    """The next mutation's line went right after the torn one, which then sat in the
    middle of the journal: every later open failed with "corrupt entry"."""
    state = tmp_path / "state.json"
    SandboxStore.open(state).set_spend_limit(4200, False)
    journal = state.with_name("state.json.journal")
    with journal.open("a") as handle:
        handle.write('{"op": "put", "table": "ke')
    SandboxStore.open(state).set_spend_limit(4300, False)
    assert SandboxStore.open(state).organization.spend_limit == 4300
    assert journal.read_text().endswith("\n") and '"ke\n' not in journal.read_text()


def test_a_last_journal_line_without_its_line_feed_is_kept_whole(tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    SandboxStore.open(state).set_spend_limit(4200, False)
    journal = state.with_name("state.json.journal")
    journal.write_text(journal.read_text().rstrip("\n"))  # cut just before its line feed
    store = SandboxStore.open(state)
    assert store.organization.spend_limit == 4200
    store.set_spend_limit(4300, False)
    assert SandboxStore.open(state).organization.spend_limit == 4300


def test_a_corrupt_state_file_is_a_clear_error(tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    state.write_text("{not json")
    with pytest.raises(StateFileError, match=r"state\.json"):
        SandboxStore.open(state)
    state.write_text('{"format": "something-else"}')
    with pytest.raises(StateFileError, match="not a sandbox state file"):
        SandboxStore.open(state)


def test_a_corrupt_journal_line_in_the_middle_is_an_error(tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    store = SandboxStore.open(state)
    store.set_spend_limit(1, False)
    journal = state.with_name("state.json.journal")
    journal.write_text("garbage\n" + journal.read_text())
    with pytest.raises(StateFileError, match="journal:1"):
        SandboxStore.open(state)


def test_reset_discards_changes_and_persists(tmp_path: Path, clock: Clock) -> None:
    state = tmp_path / "state.json"
    store = SandboxStore.open(state, clock=clock)
    store.set_spend_limit(1, False)
    store.reset()
    assert SandboxStore.open(state).organization.spend_limit == 3000


def test_a_seed_is_used_only_when_the_state_file_is_missing(tmp_path: Path) -> None:
    seed = tmp_path / "seed.yaml"
    seed.write_text("organization: {name: Tiny}\nusers: [{email: a@x.example}]\n")
    state = tmp_path / "state.json"
    assert SandboxStore.open(state, seed=seed).organization.name == "Tiny"
    assert SandboxStore.open(state).organization.name == "Tiny"
    fresh = SandboxStore.open(tmp_path / "other.json")
    assert fresh.organization.name == "Acme Analytics"


def test_many_mutations_append_to_the_journal_instead_of_rewriting(tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    store = SandboxStore.open(state)
    client = make_client(store)
    demo = Demo(client)
    snapshot_before = state.stat().st_mtime_ns, state.read_bytes()
    for i in range(20):
        client.post(
            f"{ADMIN}/api-keys",
            json={
                "workspace_uuid": demo.ws["dev"],
                "user_id": demo.user["bob.chen"],
                "name": f"k{i}",
            },
        )
    client.close()
    assert state.read_bytes() == snapshot_before[1]
    journal = state.with_name("state.json.journal").read_text().splitlines()
    assert [json.loads(line)["kind"] for line in journal] == ["key", "audit"] * 20
    assert len(all_keys(make_client(SandboxStore.open(state)), name="k")) == 20


def test_the_demo_organisation_matches_the_example_org(client: TestClient, demo: Demo) -> None:
    assert set(demo.user) == {
        "alice.martin",
        "bob.chen",
        "carol.diaz",
        "dan.okafor",
        "erin.kowalski",
        "farid.haddad",
        "grace.lee",
        "ci-bot",
        "henry.novak",
        "iris.tanaka",
    }
    assert "prod" not in demo.ws
    assert client.get(f"{ADMIN}/spend-limit").json()["limits"]["completion"]["usage_limit"] == 3000
