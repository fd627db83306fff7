"""Workspace members: add, add-or-update, remove; roles served as UUIDs through /users."""

from __future__ import annotations

from typing import Any

import pytest

from reconciler.platform.sandbox.roles import WORKSPACE_ROLES
from tests.contract.spec import check_error, check_validation_error

from .conftest import ADMIN, Demo, TestClient, members_of

UNKNOWN = "00000000-0000-4000-8000-000000000000"


def role_names(demo: Demo, uuids: list[str]) -> list[str]:
    return [demo.role_names[u] for u in uuids]


def test_the_demo_dev_workspace_has_a_stray_member_and_misses_carol(
    client: TestClient, demo: Demo
) -> None:
    members = {e: role_names(demo, r) for e, r in members_of(client, "dev").items()}
    assert members == {
        "alice.martin@acme.example": ["workspace_admin"],
        "bob.chen@acme.example": ["user"],
        "henry.novak@acme.example": ["user"],
        "iris.tanaka@acme.example": ["user"],
    }


def test_roles_lists_every_workspace_role_name_with_a_distinct_uuid(client: TestClient) -> None:
    body = client.get(f"{ADMIN}/roles").json()
    names = [r["name"] for r in body["workspace_roles"]]
    assert names == [r.name for r in WORKSPACE_ROLES]
    assert len({r["uuid"] for r in body["workspace_roles"]}) == len(names)
    assert {r["name"] for r in body["organization_roles"]} == {
        "member",
        "billing_manager",
        "organization_admin",
    }


def member(demo: Demo, who: str, **roles: Any) -> dict[str, Any]:
    return {"members": [{"user_uuid": demo.user[who], **roles}]}


@pytest.mark.parametrize(
    ("roles", "expected"),
    [
        ({}, ["user"]),
        ({"role_names": ["dev", "billing"]}, ["dev", "billing"]),
        ({"role_names": ["dev", "dev"]}, ["dev"]),
        ({"roles": ["731eb2be-a74f-4070-b797-35bf7009e553"]}, ["workspace_admin"]),
        ({"roles": ["A"]}, ["workspace_admin"]),
        ({"role_name": "contributor"}, ["contributor"]),
        ({"role": "M"}, ["user"]),
    ],
)
def test_add_users_accepts_every_way_of_naming_roles(
    client: TestClient, demo: Demo, roles: dict[str, Any], expected: list[str]
) -> None:
    response = client.post(
        f"{ADMIN}/workspaces/{demo.ws['dev']}/add-users", json=member(demo, "carol.diaz", **roles)
    )
    assert response.json() == {"added_members_count": 1}
    assert role_names(demo, members_of(client, "dev")["carol.diaz@acme.example"]) == expected


@pytest.mark.parametrize(
    ("roles", "loc"),
    [
        ({"role_names": ["owner"]}, ["body", "members", 0, "role_names", 0]),
        ({"role_names": []}, ["body", "members", 0, "role_names"]),
        ({"roles": ["workspace_admin"]}, ["body", "members", 0]),
        ({"role_names": ["user"], "roles": ["A"]}, ["body", "members", 0]),
    ],
)
def test_bad_roles_are_422(
    client: TestClient, demo: Demo, roles: dict[str, Any], loc: list[str | int]
) -> None:
    response = client.post(
        f"{ADMIN}/workspaces/{demo.ws['dev']}/add-users", json=member(demo, "carol.diaz", **roles)
    )
    check_validation_error(response, loc)
    assert "carol.diaz@acme.example" not in members_of(client, "dev")


def test_add_users_refuses_an_existing_member_and_changes_nothing(
    client: TestClient, demo: Demo
) -> None:
    body = {
        "members": [
            {"user_uuid": demo.user["carol.diaz"], "role_names": ["user"]},
            {"user_uuid": demo.user["bob.chen"], "role_names": ["workspace_admin"]},
        ]
    }
    response = client.post(f"{ADMIN}/workspaces/{demo.ws['dev']}/add-users", json=body)
    check_error(response, 409, "invalid_request_error")
    members = members_of(client, "dev")
    assert "carol.diaz@acme.example" not in members
    assert role_names(demo, members["bob.chen@acme.example"]) == ["user"]


def test_patch_users_adds_and_updates_and_is_idempotent(client: TestClient, demo: Demo) -> None:
    body = {
        "members": [
            {"user_uuid": demo.user["carol.diaz"], "role_names": ["user"]},
            {"user_uuid": demo.user["bob.chen"], "role_names": ["user", "dev"]},
            {"user_uuid": demo.user["henry.novak"], "role_names": ["user"]},
        ]
    }
    path = f"{ADMIN}/workspaces/{demo.ws['dev']}/users"
    assert client.patch(path, json=body).json() == {
        "added_members_count": 1,
        "updated_members_count": 1,
    }
    assert client.patch(path, json=body).json() == {
        "added_members_count": 0,
        "updated_members_count": 0,
    }
    members = members_of(client, "dev")
    assert role_names(demo, members["bob.chen@acme.example"]) == ["user", "dev"]
    assert role_names(demo, members["carol.diaz@acme.example"]) == ["user"]


def test_remove_users_takes_a_json_body_and_reports_non_members(
    client: TestClient, demo: Demo
) -> None:
    body = {
        "members": [{"user_uuid": demo.user["iris.tanaka"]}, {"user_uuid": demo.user["dan.okafor"]}]
    }
    response = client.request(
        "DELETE", f"{ADMIN}/workspaces/{demo.ws['dev']}/remove-users", json=body
    )
    assert response.json() == {
        "deleted_members_count": 1,
        "not_deleted_members": [demo.user["dan.okafor"]],
    }
    assert "iris.tanaka@acme.example" not in members_of(client, "dev")


def test_removing_everyone_listed_reports_no_leftovers(client: TestClient, demo: Demo) -> None:
    body = {"members": [{"user_uuid": demo.user["iris.tanaka"]}]}
    response = client.request(
        "DELETE", f"{ADMIN}/workspaces/{demo.ws['dev']}/remove-users", json=body
    )
    assert response.json() == {"deleted_members_count": 1, "not_deleted_members": None}


@pytest.mark.parametrize("path", ["add-users", "users"])
def test_an_unknown_user_is_404_and_nothing_changes(
    client: TestClient, demo: Demo, path: str
) -> None:
    body = {
        "members": [
            {"user_uuid": demo.user["carol.diaz"]},
            {"user_uuid": UNKNOWN},
        ]
    }
    method = "POST" if path == "add-users" else "PATCH"
    response = client.request(method, f"{ADMIN}/workspaces/{demo.ws['dev']}/{path}", json=body)
    check_error(response, 404, "invalid_request_error")
    assert "carol.diaz@acme.example" not in members_of(client, "dev")


def test_a_member_leaving_keeps_the_keys_they_own(client: TestClient, demo: Demo) -> None:
    body = {"members": [{"user_uuid": demo.user["iris.tanaka"]}]}
    client.request("DELETE", f"{ADMIN}/workspaces/{demo.ws['dev']}/remove-users", json=body)
    keys = client.get(f"{ADMIN}/api-keys", params={"name": "iris"}).json()["keys"]
    assert [k["created_by"] for k in keys] == ["iris.tanaka@acme.example"]
