"""API keys: the secret shown once, listing pages, filters, expiry rules, /v1/models."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest

from reconciler.platform.sandbox import SandboxStore, create_app
from reconciler.platform.sandbox.generate import generate_seed, write_seed
from reconciler.platform.sandbox.seed import load_seed
from tests.contract.spec import check_error, check_validation_error
from tests.hostile import NAMES

from .conftest import ADMIN, TODAY, Clock, Demo, TestClient, all_keys, make_client


def create(client: TestClient, demo: Demo, **body: Any) -> dict[str, Any]:
    payload = {"workspace_uuid": demo.ws["dev"], "user_id": demo.user["bob.chen"], **body}
    response = client.post(f"{ADMIN}/api-keys", json=payload)
    assert response.status_code == 200, response.text
    return dict(response.json())


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def test_the_secret_is_returned_once_and_never_listed(
    store: SandboxStore, client: TestClient, demo: Demo
) -> None:
    created = create(client, demo, name="dev-bob")
    secret = created["key"]
    assert len(secret) == 32
    assert secret.isalnum()
    assert created["hidden_key"] == f"{secret[:4]}...{secret[-4:]}"
    listed = [k for k in all_keys(client) if k["key_id"] == created["key_id"]]
    assert listed[0]["key"] is None
    assert listed[0]["hidden_key"] == created["hidden_key"]
    assert secret not in json.dumps(store.snapshot(secrets=True))
    state = client.get("/_sandbox/state")
    assert state.status_code == 200
    assert secret not in state.text


def test_a_listed_key_says_who_owns_it_where_and_when_it_was_used(
    client: TestClient, demo: Demo
) -> None:
    keys = {k["name"]: k for k in all_keys(client)}
    iris = keys["iris-laptop"]
    assert iris["created_by"] == "iris.tanaka@acme.example"
    assert (iris["workspace_id"], iris["workspace_name"]) == (demo.ws["dev"], "dev")
    assert iris["last_used"] == (TODAY - dt.timedelta(days=45)).isoformat()
    assert iris["created_at"].startswith((TODAY - dt.timedelta(days=200)).isoformat())
    assert (iris["product"], iris["can_delete"], iris["expiration_date"]) == ("API", True, None)
    assert keys["dev-alice"]["last_used"] == (TODAY - dt.timedelta(days=1)).isoformat()


def test_a_new_key_has_never_been_used_until_it_calls_models(
    client: TestClient, demo: Demo, clock: Clock
) -> None:
    created = create(client, demo, name="dev-bob")
    assert all_keys(client, name="dev-bob")[0]["last_used"] is None
    clock.now += dt.timedelta(days=3)
    assert client.get("/v1/models", headers=bearer(created["key"])).status_code == 200
    used = all_keys(client, name="dev-bob")[0]["last_used"]
    assert used == (TODAY + dt.timedelta(days=3)).isoformat()


def test_models_accepts_a_sandbox_key_or_the_admin_key_and_nothing_else(
    client: TestClient, demo: Demo
) -> None:
    created = create(client, demo)
    ok = client.get("/v1/models", headers=bearer(created["key"]))
    assert ok.status_code == 200
    ids = {m["id"] for m in ok.json()["data"]}
    assert {"mistral-small-latest", "mistral-small-2506", "codestral-latest"} <= ids
    assert client.get("/v1/models").status_code == 200  # the admin key
    other = "y" if created["key"].endswith("x") else "x"  # never the key itself
    wrong = client.get("/v1/models", headers=bearer(created["key"][:-1] + other))
    check_error(wrong, 401, "authentication_error")
    missing = client.get("/v1/models", headers={"Authorization": ""})
    check_error(missing, 401, "authentication_error")


def test_a_deleted_key_stops_working(client: TestClient, demo: Demo) -> None:
    created = create(client, demo)
    response = client.delete(f"{ADMIN}/api-keys/{created['key_id']}")
    assert response.json() == {"detail": "API key deleted successfully"}
    assert created["key_id"] not in {k["key_id"] for k in all_keys(client)}
    check_error(
        client.get("/v1/models", headers=bearer(created["key"])), 401, "authentication_error"
    )
    check_error(
        client.delete(f"{ADMIN}/api-keys/{created['key_id']}"), 404, "invalid_request_error"
    )


def test_an_expired_key_is_listed_but_refused(client: TestClient, demo: Demo, clock: Clock) -> None:
    created = create(client, demo, expiration=(TODAY + dt.timedelta(days=2)).isoformat())
    clock.now += dt.timedelta(days=3)
    listed = all_keys(client, name=created["hidden_key"][-4:])
    assert [k["key_id"] for k in listed] == [created["key_id"]]
    assert listed[0]["actions"]["rotate"]["reason"] == "key_expired"
    check_error(
        client.get("/v1/models", headers=bearer(created["key"])), 401, "authentication_error"
    )


@pytest.mark.parametrize("days", [-1, -400])
def test_an_expiry_in_the_past_is_422(client: TestClient, demo: Demo, days: int) -> None:
    body = {
        "workspace_uuid": demo.ws["dev"],
        "user_id": demo.user["bob.chen"],
        "expiration": (TODAY + dt.timedelta(days=days)).isoformat(),
    }
    check_validation_error(client.post(f"{ADMIN}/api-keys", json=body), ["body", "expiration"])
    assert len(all_keys(client)) == 2


def test_an_expiry_today_is_accepted(client: TestClient, demo: Demo) -> None:
    assert (
        create(client, demo, expiration=TODAY.isoformat())["expiration_date"] == TODAY.isoformat()
    )


def test_the_organisation_expiry_policy_clamps_the_expiry(tmp_path: Path, clock: Clock) -> None:
    seed = tmp_path / "seed.yaml"
    seed.write_text(
        "organization: {max_key_expiry_days: 30}\n"
        "users: [{email: a@x.example}]\n"
        "workspaces: [{name: w, members: {a@x.example: user}}]\n"
    )
    store = SandboxStore.in_memory(seed, clock=clock)
    client = make_client(store)
    ws = client.get(f"{ADMIN}/workspaces").json()["items"][0]["uuid"]
    user = client.get(f"{ADMIN}/users").json()["members"][0]["uuid"]
    latest = (TODAY + dt.timedelta(days=30)).isoformat()
    for expiration in [None, "2030-01-01"]:
        body = {"workspace_uuid": ws, "user_id": user, "expiration": expiration}
        assert client.post(f"{ADMIN}/api-keys", json=body).json()["expiration_date"] == latest
    body = {
        "workspace_uuid": ws,
        "user_id": user,
        "expiration": (TODAY + dt.timedelta(days=5)).isoformat(),
    }
    assert (
        client.post(f"{ADMIN}/api-keys", json=body).json()["expiration_date"] == body["expiration"]
    )
    client.close()


def test_a_key_is_created_for_a_member_of_its_workspace_only(
    client: TestClient, demo: Demo
) -> None:
    body = {"workspace_uuid": demo.ws["dev"], "user_id": demo.user["dan.okafor"], "name": "x"}
    check_error(client.post(f"{ADMIN}/api-keys", json=body), 400, "invalid_request_error")
    assert all_keys(client, name="x") == []


@pytest.mark.parametrize(
    ("field", "value", "status"),
    [
        ("workspace_uuid", "00000000-0000-4000-8000-000000000000", 404),
        ("user_id", "00000000-0000-4000-8000-000000000000", 404),
        ("user_id", "bob", 422),
    ],
)
def test_unknown_or_malformed_references(
    client: TestClient, demo: Demo, field: str, value: str, status: int
) -> None:
    body = {"workspace_uuid": demo.ws["dev"], "user_id": demo.user["bob.chen"], field: value}
    response = client.post(f"{ADMIN}/api-keys", json=body)
    if status == 422:
        check_validation_error(response, ["body", field])
    else:
        check_error(response, status, "invalid_request_error")


def test_names_may_repeat_and_may_be_absent(client: TestClient, demo: Demo) -> None:
    first, second = create(client, demo, name="twin"), create(client, demo, name="twin")
    unnamed = create(client, demo)
    assert unnamed["name"] is None
    assert [k["key_id"] for k in all_keys(client, name="twin")] == [
        first["key_id"],
        second["key_id"],
    ]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("IRIS", ["iris-laptop"]),
        ("dev-", ["dev-alice"]),
        ("-", ["dev-alice", "iris-laptop"]),
        ("ìrís", ["iris-laptop"]),
        ("nothing", []),
    ],
)
def test_the_name_filter_is_a_case_and_accent_insensitive_substring(
    client: TestClient, query: str, expected: list[str]
) -> None:
    assert [k["name"] for k in all_keys(client, name=query)] == expected


def test_the_name_filter_matches_the_last_four_characters_of_the_key(
    client: TestClient, demo: Demo
) -> None:
    created = create(client, demo, name="unrelated")
    found = all_keys(client, name=created["key"][-4:])
    assert created["key_id"] in {k["key_id"] for k in found}


@pytest.mark.parametrize(
    ("params", "loc"), [({"limit": 0}, ["query", "limit"]), ({"offset": -1}, ["query", "offset"])]
)
def test_bad_paging_parameters_are_422(
    client: TestClient, params: dict[str, int], loc: list[str]
) -> None:
    check_validation_error(client.get(f"{ADMIN}/api-keys", params=params), loc)


@pytest.fixture(scope="module")
def big_seed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("seed") / "big.json"
    write_seed(generate_seed(workspaces=50, keys=1234), path)
    return path


@pytest.mark.parametrize("limit", [1, 100, 617, 1000])
def test_paging_through_many_keys_returns_each_once_and_a_short_page_ends_it(
    big_seed: Path, limit: int
) -> None:
    store = SandboxStore.in_memory(load_seed(big_seed))
    client = TestClient(create_app(store))
    seen: list[str] = []
    pages = 0
    while True:
        batch = client.get(
            f"{ADMIN}/api-keys", params={"limit": limit, "offset": len(seen)}
        ).json()["keys"]
        pages += 1
        seen += [k["key_id"] for k in batch]
        if len(batch) < limit:
            break
    client.close()
    assert len(seen) == len(set(seen)) == 1234
    assert pages == 1234 // limit + 1


def test_an_offset_past_the_end_is_an_empty_page(client: TestClient) -> None:
    assert client.get(f"{ADMIN}/api-keys", params={"offset": 2}).json() == {"keys": []}
    assert (
        len(client.get(f"{ADMIN}/api-keys", params={"limit": 1, "offset": 1}).json()["keys"]) == 1
    )


@pytest.mark.parametrize("name", [*NAMES, "é\u2028\u2029\ud7ff\U0001f511", '"quoted" \\ back'])
def test_a_listing_is_the_json_the_standard_encoder_writes(
    client: TestClient, demo: Demo, name: str
) -> None:
    """Listings are encoded by pydantic-core, not ``json.dumps``: the bytes must be the
    same for any name (escapes of control characters, quotes, non-ASCII text)."""
    create(client, demo, name=name)
    response = client.get(f"{ADMIN}/api-keys", params={"offset": 0, "limit": 100})
    body = response.json()
    assert name in [k["name"] for k in body["keys"]]
    standard = json.dumps(body, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    assert response.content == standard.encode()
