"""Every sandbox response (and every body we send) validates against the spec extract."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest
from starlette.routing import Route

from reconciler.platform.sandbox import SandboxStore, create_app
from reconciler.platform.sandbox.inference import INFERENCE_PATHS
from tests.contract.spec import SHARED_SPEC, VENDORED_SPEC, check_request, check_response, spec

from .conftest import ADMIN, Demo, TestClient

Call = tuple[str, str, httpx.Response]


def _send(client: TestClient, method: str, template: str, path: str, body: Any = None) -> Call:
    if body is not None:
        check_request(method, template, body)
    response = client.request(method, path, json=body)
    return method, template, response


W = "/v1/admin/workspaces/{workspace_uuid}"

CASES: dict[str, Callable[[TestClient, Demo], Call]] = {
    "list workspaces": lambda c, d: _send(c, "GET", "/v1/admin/workspaces", f"{ADMIN}/workspaces"),
    "list archived": lambda c, d: _send(
        c, "GET", "/v1/admin/workspaces", f"{ADMIN}/workspaces?is_archived=true&search=DEV"
    ),
    "create workspace": lambda c, d: _send(
        c,
        "POST",
        "/v1/admin/workspaces",
        f"{ADMIN}/workspaces",
        {"name": "prod", "admin_user_id": d.user["grace.lee"], "description": "CI/CD", "icon": "★"},
    ),
    "update workspace": lambda c, d: _send(
        c, "PATCH", W, f"{ADMIN}/workspaces/{d.ws['dev']}", {"description": "Developers"}
    ),
    "archive workspace": lambda c, d: _send(c, "DELETE", W, f"{ADMIN}/workspaces/{d.ws['ml']}"),
    "add users": lambda c, d: _send(
        c,
        "POST",
        f"{W}/add-users",
        f"{ADMIN}/workspaces/{d.ws['dev']}/add-users",
        {"members": [{"user_uuid": d.user["carol.diaz"], "role_names": ["user", "dev"]}]},
    ),
    "add or update users": lambda c, d: _send(
        c,
        "PATCH",
        f"{W}/users",
        f"{ADMIN}/workspaces/{d.ws['dev']}/users",
        {"members": [{"user_uuid": d.user["bob.chen"], "role_names": ["workspace_admin"]}]},
    ),
    "remove users": lambda c, d: _send(
        c,
        "DELETE",
        f"{W}/remove-users",
        f"{ADMIN}/workspaces/{d.ws['dev']}/remove-users",
        {"members": [{"user_uuid": d.user["iris.tanaka"]}, {"user_uuid": d.user["dan.okafor"]}]},
    ),
    "list users": lambda c, d: _send(c, "GET", "/v1/admin/users", f"{ADMIN}/users?page_size=4"),
    "get user": lambda c, d: _send(
        c, "GET", "/v1/admin/users/{user_id}", f"{ADMIN}/users/{d.user['alice.martin']}"
    ),
    "roles": lambda c, d: _send(c, "GET", "/v1/admin/roles", f"{ADMIN}/roles"),
    "list keys": lambda c, d: _send(c, "GET", "/v1/admin/api-keys", f"{ADMIN}/api-keys"),
    "create key": lambda c, d: _send(
        c,
        "POST",
        "/v1/admin/api-keys",
        f"{ADMIN}/api-keys",
        {
            "workspace_uuid": d.ws["dev"],
            "user_id": d.user["bob.chen"],
            "name": "dev-bob",
            "expiration": "2027-02-01",
        },
    ),
    "get spend limit": lambda c, d: _send(
        c, "GET", "/v1/admin/spend-limit", f"{ADMIN}/spend-limit"
    ),
    "set spend limit": lambda c, d: _send(
        c, "POST", "/v1/admin/spend-limit", f"{ADMIN}/spend-limit", {"amount": 5000}
    ),
    "rate limit": lambda c, d: _send(c, "GET", "/v1/admin/rate-limit", f"{ADMIN}/rate-limit"),
    "usage": lambda c, d: _send(c, "GET", "/v1/admin/usage", f"{ADMIN}/usage"),
    "usage of a workspace": lambda c, d: _send(
        c, "GET", "/v1/admin/usage", f"{ADMIN}/usage?workspace_id={d.ws['ml']}&month=10&year=2026"
    ),
    "models": lambda c, d: _send(c, "GET", "/v1/models", "/v1/models"),
    "audit logs": lambda c, d: _send(c, "GET", "/v1/admin/audit-logs", f"{ADMIN}/audit-logs"),
    "audit logs, filtered": lambda c, d: _send(
        c,
        "GET",
        "/v1/admin/audit-logs",
        f"{ADMIN}/audit-logs?actor_type=HUMAN&event_type=api_key.create&sort=ascending&limit=1",
    ),
}


@pytest.mark.parametrize("case", CASES, ids=list(CASES))
def test_responses_match_the_spec(client: TestClient, demo: Demo, case: str) -> None:
    method, template, response = CASES[case](client, demo)
    assert response.status_code < 300, response.text
    check_response(method, template, response)


def test_deleting_a_key_answers_delete_api_key_out(client: TestClient) -> None:
    key = client.get(f"{ADMIN}/api-keys").json()["keys"][0]
    response = client.delete(f"{ADMIN}/api-keys/{key['key_id']}")
    body = check_response("DELETE", "/v1/admin/api-keys/{key_id}", response)
    assert body == {"detail": "API key deleted successfully"}


def test_a_listed_key_has_every_documented_field(client: TestClient) -> None:
    body = check_response("GET", "/v1/admin/api-keys", client.get(f"{ADMIN}/api-keys"))
    required = spec()["components"]["schemas"]["APIKeyExtendedOUT"]["required"]
    for key in body["keys"]:
        assert set(required) <= set(key)


def test_every_sandbox_route_under_v1_is_an_operation_of_the_spec(store: SandboxStore) -> None:
    """Inference is the one exception: the Admin API extract does not cover it."""
    paths = spec()["paths"]
    served = [
        (route.path, method)
        for route in create_app(store).routes
        if isinstance(route, Route) and route.path.startswith("/v1")
        for method in route.methods or ()
        if method != "HEAD"
    ]
    assert {p for p, _ in served} >= {"/v1/admin/audit-logs", *INFERENCE_PATHS}
    for path, method in served:
        if path in INFERENCE_PATHS:
            assert path not in paths
            continue
        assert method.lower() in paths.get(path, {}), f"{method} {path} is not in the spec"


def test_the_vendored_spec_is_the_shared_reference() -> None:
    if not SHARED_SPEC.exists():
        pytest.skip(f"no shared reference at {SHARED_SPEC}")
    assert VENDORED_SPEC.read_bytes() == SHARED_SPEC.read_bytes()
