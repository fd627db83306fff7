"""Workspaces: listing and pagination, create/rename conflicts, archive semantics."""

from __future__ import annotations

import pytest

from reconciler.platform.sandbox import SandboxStore
from tests.contract.spec import check_error, check_validation_error

from .conftest import ADMIN, Demo, TestClient, all_keys, members_of


def names(client: TestClient, **params: object) -> list[str]:
    body = client.get(f"{ADMIN}/workspaces", params={"page_size": 100, **params}).json()
    return [w["name"] for w in body["items"]]


def test_the_demo_organisation_has_default_dev_and_ml_but_no_prod(client: TestClient) -> None:
    body = client.get(f"{ADMIN}/workspaces").json()
    by_name = {w["name"]: w for w in body["items"]}
    assert sorted(by_name) == ["Default Workspace", "dev", "ml"]
    assert by_name["Default Workspace"]["is_default"] is True
    assert by_name["ml"]["spend_limit"] == {
        "value": 800.0,
        "currency": "USD",
        "no_monthly_limit": False,
    }
    assert by_name["dev"]["members_count"] == 4
    assert body["total"] == 3
    assert body["object"] == "list"


@pytest.mark.parametrize(
    ("page", "page_size", "expected", "total"),
    [
        (1, 2, ["Default Workspace", "dev"], 3),
        (2, 2, ["ml"], 3),
        (3, 2, [], 3),
        (1, 3, ["Default Workspace", "dev", "ml"], 3),
        (2, 3, [], 3),
        (9, 1, [], 3),
    ],
)
def test_pages_slice_the_listing_and_total_counts_everything(
    client: TestClient, page: int, page_size: int, expected: list[str], total: int
) -> None:
    body = client.get(f"{ADMIN}/workspaces", params={"page": page, "page_size": page_size}).json()
    assert [w["name"] for w in body["items"]] == expected
    assert (body["total"], body["page"], body["page_size"]) == (total, page, page_size)


@pytest.mark.parametrize(
    ("params", "loc"),
    [
        ({"page": 0}, ["query", "page"]),
        ({"page_size": 0}, ["query", "page_size"]),
        ({"page": "two"}, ["query", "page"]),
        ({"is_archived": "maybe"}, ["query", "is_archived"]),
    ],
)
def test_bad_query_parameters_are_422(
    client: TestClient, params: dict[str, object], loc: list[str]
) -> None:
    check_validation_error(client.get(f"{ADMIN}/workspaces", params=params), loc)


@pytest.mark.parametrize(
    ("search", "expected"), [("DEV", ["dev"]), ("work", ["Default Workspace"]), ("zzz", [])]
)
def test_search_filters_by_name_case_insensitively(
    client: TestClient, search: str, expected: list[str]
) -> None:
    assert names(client, search=search) == expected


def test_a_created_workspace_is_listed_with_its_admin(client: TestClient, demo: Demo) -> None:
    response = client.post(
        f"{ADMIN}/workspaces",
        json={"name": "prod", "admin_user_id": demo.user["grace.lee"], "description": "CI/CD"},
    )
    assert response.status_code == 200
    created = response.json()
    assert created["raw_roles"] == [demo.roles["workspace_admin"]]
    assert names(client)[-1] == "prod"
    assert members_of(client, "prod") == {"grace.lee@acme.example": [demo.roles["workspace_admin"]]}


def test_add_all_org_members_makes_everyone_a_user(client: TestClient, demo: Demo) -> None:
    client.post(
        f"{ADMIN}/workspaces",
        json={"name": "all", "admin_user_id": demo.user["grace.lee"], "add_all_org_members": True},
    )
    members = members_of(client, "all")
    assert len(members) == len(demo.user)
    assert members["bob.chen@acme.example"] == [demo.roles["user"]]
    assert members["grace.lee@acme.example"] == [demo.roles["workspace_admin"]]


@pytest.mark.parametrize("name", ["dev", "DEV", "Ml"])
def test_a_duplicate_name_is_409_and_changes_nothing(
    client: TestClient, demo: Demo, name: str
) -> None:
    response = client.post(
        f"{ADMIN}/workspaces", json={"name": name, "admin_user_id": demo.user["alice.martin"]}
    )
    check_error(response, 409, "invalid_request_error")
    assert names(client) == ["Default Workspace", "dev", "ml"]


def test_renaming_onto_another_workspace_is_409(client: TestClient, demo: Demo) -> None:
    response = client.patch(f"{ADMIN}/workspaces/{demo.ws['dev']}", json={"name": "ml"})
    check_error(response, 409, "invalid_request_error")


def test_patch_changes_only_the_fields_sent(client: TestClient, demo: Demo) -> None:
    response = client.patch(
        f"{ADMIN}/workspaces/{demo.ws['dev']}", json={"description": "Developers"}
    )
    assert response.json()["description"] == "Developers"
    assert response.json()["name"] == "dev"
    renamed = client.patch(f"{ADMIN}/workspaces/{demo.ws['dev']}", json={"name": "developers"})
    assert renamed.json()["description"] == "Developers"
    assert names(client) == ["Default Workspace", "developers", "ml"]


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        ({"name": "x" * 256}, ["body", "name"]),
        ({"description": "x" * 256}, ["body", "description"]),
        ({"icon": "abc"}, ["body", "icon"]),
    ],
)
def test_patch_limits_are_422(
    client: TestClient, demo: Demo, body: dict[str, str], loc: list[str]
) -> None:
    check_validation_error(client.patch(f"{ADMIN}/workspaces/{demo.ws['dev']}", json=body), loc)


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        ({"name": "x"}, ["body", "admin_user_id"]),
        ({"admin_user_id": "3bc2ae5f-6067-56e6-8808-a955b2b4ccd3"}, ["body", "name"]),
        ({"name": "x", "admin_user_id": "not-a-uuid"}, ["body", "admin_user_id"]),
        ({"name": "", "admin_user_id": "3bc2ae5f-6067-56e6-8808-a955b2b4ccd3"}, ["body", "name"]),
    ],
)
def test_create_validation_is_422(client: TestClient, body: dict[str, str], loc: list[str]) -> None:
    check_validation_error(client.post(f"{ADMIN}/workspaces", json=body), loc)


def test_a_body_that_is_not_json_is_422(client: TestClient, demo: Demo) -> None:
    response = client.post(
        f"{ADMIN}/workspaces", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"][0] == "body"


def test_an_unknown_admin_user_is_404(client: TestClient) -> None:
    response = client.post(
        f"{ADMIN}/workspaces",
        json={"name": "x", "admin_user_id": "00000000-0000-4000-8000-000000000000"},
    )
    check_error(response, 404, "invalid_request_error")


def test_archiving_hides_the_workspace_its_memberships_and_its_keys(
    client: TestClient, demo: Demo
) -> None:
    assert {k["name"] for k in all_keys(client)} == {"dev-alice", "iris-laptop"}
    response = client.delete(f"{ADMIN}/workspaces/{demo.ws['dev']}")
    assert response.status_code == 204
    assert response.content == b""
    assert names(client) == ["Default Workspace", "ml"]
    assert names(client, is_archived="true") == ["Default Workspace", "dev", "ml"]
    assert members_of(client, "dev") == {}
    assert all_keys(client) == []


def test_an_archived_workspace_is_404_for_every_change(client: TestClient, demo: Demo) -> None:
    ws = demo.ws["ml"]
    client.delete(f"{ADMIN}/workspaces/{ws}")
    member = {"members": [{"user_uuid": demo.user["bob.chen"]}]}
    for method, path, body in [
        ("DELETE", f"{ADMIN}/workspaces/{ws}", None),
        ("PATCH", f"{ADMIN}/workspaces/{ws}", {"description": "x"}),
        ("POST", f"{ADMIN}/workspaces/{ws}/add-users", member),
        ("PATCH", f"{ADMIN}/workspaces/{ws}/users", member),
        ("DELETE", f"{ADMIN}/workspaces/{ws}/remove-users", member),
        ("POST", f"{ADMIN}/api-keys", {"workspace_uuid": ws, "user_id": demo.user["dan.okafor"]}),
    ]:
        check_error(client.request(method, path, json=body), 404, "invalid_request_error")


def test_an_archived_name_can_be_used_again(client: TestClient, demo: Demo) -> None:
    client.delete(f"{ADMIN}/workspaces/{demo.ws['ml']}")
    response = client.post(
        f"{ADMIN}/workspaces", json={"name": "ml", "admin_user_id": demo.user["dan.okafor"]}
    )
    assert response.status_code == 200
    assert response.json()["uuid"] != demo.ws["ml"]


def test_keys_of_an_archived_workspace_cannot_be_deleted_or_used(
    store: SandboxStore, client: TestClient, demo: Demo
) -> None:
    created = client.post(
        f"{ADMIN}/api-keys",
        json={"workspace_uuid": demo.ws["ml"], "user_id": demo.user["dan.okafor"]},
    ).json()
    assert (
        client.get("/v1/models", headers={"Authorization": f"Bearer {created['key']}"}).status_code
        == 200
    )
    client.delete(f"{ADMIN}/workspaces/{demo.ws['ml']}")
    models = client.get("/v1/models", headers={"Authorization": f"Bearer {created['key']}"})
    check_error(models, 401, "authentication_error")
    check_error(
        client.delete(f"{ADMIN}/api-keys/{created['key_id']}"), 404, "invalid_request_error"
    )


def test_the_default_workspace_cannot_be_archived(client: TestClient, demo: Demo) -> None:
    response = client.delete(f"{ADMIN}/workspaces/{demo.ws['Default Workspace']}")
    check_error(response, 400, "invalid_request_error")
    assert "Default Workspace" in names(client)


@pytest.mark.parametrize("method", ["PATCH", "DELETE"])
def test_unknown_and_malformed_workspace_ids(client: TestClient, method: str) -> None:
    body = {"description": "x"} if method == "PATCH" else None
    unknown = client.request(
        method, f"{ADMIN}/workspaces/00000000-0000-4000-8000-000000000000", json=body
    )
    check_error(unknown, 404, "invalid_request_error")
    malformed = client.request(method, f"{ADMIN}/workspaces/nope", json=body)
    check_validation_error(malformed, ["path", "workspace_uuid"])
