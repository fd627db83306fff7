"""Authentication: the admin key as Bearer or x-api-key; everything else is 401."""

from __future__ import annotations

import pytest

from reconciler.platform.sandbox import DEFAULT_ADMIN_KEY, SandboxStore
from tests.contract.spec import check_error

from .conftest import ADMIN, TestClient, make_client

ENDPOINTS = [
    ("GET", f"{ADMIN}/workspaces"),
    ("POST", f"{ADMIN}/workspaces"),
    ("PATCH", f"{ADMIN}/workspaces/00000000-0000-4000-8000-000000000000"),
    ("DELETE", f"{ADMIN}/workspaces/00000000-0000-4000-8000-000000000000"),
    ("GET", f"{ADMIN}/users"),
    ("GET", f"{ADMIN}/roles"),
    ("GET", f"{ADMIN}/api-keys"),
    ("POST", f"{ADMIN}/api-keys"),
    ("GET", f"{ADMIN}/spend-limit"),
    ("POST", f"{ADMIN}/spend-limit"),
    ("GET", f"{ADMIN}/rate-limit"),
    ("GET", f"{ADMIN}/usage"),
    ("GET", f"{ADMIN}/audit-logs"),
    ("GET", "/_sandbox/state"),
    ("POST", "/_sandbox/reset"),
]

BAD_HEADERS = {
    "none": {},
    "wrong bearer": {"Authorization": "Bearer not-the-key"},
    "wrong x-api-key": {"x-api-key": "not-the-key"},
    "basic scheme": {"Authorization": f"Basic {DEFAULT_ADMIN_KEY}"},
}


@pytest.mark.parametrize(("method", "path"), ENDPOINTS)
@pytest.mark.parametrize("headers", BAD_HEADERS, ids=list(BAD_HEADERS))
def test_without_the_admin_key_every_admin_call_is_401(
    store: SandboxStore, method: str, path: str, headers: str
) -> None:
    before = store.snapshot()
    client = make_client(store, headers=BAD_HEADERS[headers])
    response = client.request(method, path, json={"amount": 1, "name": "x"})
    client.close()
    body = check_error(response, 401, "authentication_error")
    assert body["param"] is None
    assert "not-the-key" not in response.text
    assert store.snapshot() == before


@pytest.mark.parametrize(
    "headers",
    [
        {"Authorization": f"Bearer {DEFAULT_ADMIN_KEY}"},
        {"x-api-key": DEFAULT_ADMIN_KEY},
        {"authorization": f"bearer {DEFAULT_ADMIN_KEY}"},
    ],
)
def test_the_admin_key_works_as_bearer_or_x_api_key(
    store: SandboxStore, headers: dict[str, str]
) -> None:
    client = make_client(store, headers=headers)
    assert client.get(f"{ADMIN}/workspaces").status_code == 200
    client.close()


def test_an_inference_key_is_not_an_admin_key(client: TestClient) -> None:
    ws = client.get(f"{ADMIN}/workspaces", params={"search": "dev"}).json()["items"][0]["uuid"]
    users = client.get(f"{ADMIN}/users", params={"email": "bob.chen"}).json()["members"]
    secret = client.post(
        f"{ADMIN}/api-keys", json={"workspace_uuid": ws, "user_id": users[0]["uuid"]}
    ).json()["key"]
    response = client.get(f"{ADMIN}/workspaces", headers={"Authorization": f"Bearer {secret}"})
    check_error(response, 401, "authentication_error")
    assert secret not in response.text


def test_the_admin_key_is_configurable(store: SandboxStore) -> None:
    custom = make_client(
        store, headers={"Authorization": "Bearer my-own-key"}, admin_key="my-own-key"
    )
    default = make_client(store, admin_key="my-own-key")
    assert custom.get(f"{ADMIN}/workspaces").status_code == 200
    check_error(default.get(f"{ADMIN}/workspaces"), 401, "authentication_error")
    custom.close()
    default.close()


def test_unknown_paths_and_methods_answer_with_the_error_object(client: TestClient) -> None:
    check_error(client.get(f"{ADMIN}/no-such-thing"), 404, "invalid_request_error")
    check_error(client.request("PUT", f"{ADMIN}/workspaces"), 405, "invalid_request_error")
