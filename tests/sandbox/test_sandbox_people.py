"""People: organisation members, invitations and user groups, held to the spec extract."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tests.contract.spec import check_error, check_request, check_response, check_validation_error

from .conftest import ADMIN, Demo, TestClient, all_keys, members_of

Call = tuple[str, str, httpx.Response]
G = "/v1/admin/user-groups/{group_uuid}"


def send(client: TestClient, method: str, template: str, path: str, body: Any = None) -> Call:
    if body is not None:
        check_request(method, template, body)
    return method, template, client.request(method, path, json=body)


def group_id(client: TestClient, name: str) -> str:
    items = client.get(f"{ADMIN}/user-groups", params={"search": name}).json()["items"]
    (found,) = (g["uuid"] for g in items if g["name"] == name)
    return str(found)


def invites(client: TestClient) -> dict[str, dict[str, Any]]:
    body = client.get(f"{ADMIN}/users", params={"page_size": 100}).json()
    return {i["email"]: i for i in body["invites"]}


def user(client: TestClient, email: str) -> dict[str, Any] | None:
    body = client.get(f"{ADMIN}/users", params={"email": email}).json()
    return next((u for u in body["members"] if u["email"] == email), None)


CASES: dict[str, Callable[[TestClient, Demo], Call]] = {
    "create users": lambda c, d: send(
        c,
        "POST",
        "/v1/admin/users",
        f"{ADMIN}/users",
        [
            {
                "email": "kate@acme.example",
                "first_name": "Kate",
                "last_name": "Moreau",
                "role_names": ["billing_manager"],
                "subscription_types": ["CHAT"],
            }
        ],
    ),
    "update user": lambda c, d: send(
        c,
        "PATCH",
        "/v1/admin/users/{user_id}",
        f"{ADMIN}/users/{d.user['bob.chen']}",
        {"role_names": ["billing_manager"], "subscription_types": ["CHAT", "MISTRAL_CODE"]},
    ),
    "delete user": lambda c, d: send(
        c, "DELETE", "/v1/admin/users/{user_id}", f"{ADMIN}/users/{d.user['iris.tanaka']}"
    ),
    "invite": lambda c, d: send(
        c,
        "POST",
        "/v1/admin/users-invite",
        f"{ADMIN}/users-invite",
        {"email": "kate@acme.example", "role_names": ["member"], "workspace_uuids": [d.ws["dev"]]},
    ),
    "list invites": lambda c, d: send(c, "GET", "/v1/admin/users-invite", f"{ADMIN}/users-invite"),
    "cancel invite": lambda c, d: send(
        c,
        "DELETE",
        "/v1/admin/users-invite/{invite_uuid}",
        f"{ADMIN}/users-invite/{invites(c)['jin.park@acme.example']['uuid']}",
    ),
    "list groups": lambda c, d: send(c, "GET", "/v1/admin/user-groups", f"{ADMIN}/user-groups"),
    "create group": lambda c, d: send(
        c,
        "POST",
        "/v1/admin/user-groups",
        f"{ADMIN}/user-groups",
        {"name": "interns", "description": "Summer interns", "parent_group_ids": []},
    ),
    "get group": lambda c, d: send(c, "GET", G, f"{ADMIN}/user-groups/{group_id(c, 'analysts')}"),
    "update group": lambda c, d: send(
        c, "PATCH", G, f"{ADMIN}/user-groups/{group_id(c, 'analysts')}", {"description": "BI"}
    ),
    "delete group": lambda c, d: send(
        c, "DELETE", G, f"{ADMIN}/user-groups/{group_id(c, 'analysts')}"
    ),
    "group members": lambda c, d: send(
        c, "GET", f"{G}/members", f"{ADMIN}/user-groups/{group_id(c, 'analysts')}/members"
    ),
    "add group members": lambda c, d: send(
        c,
        "POST",
        f"{G}/members",
        f"{ADMIN}/user-groups/{group_id(c, 'analysts')}/members",
        {"user_uuids": [d.user["carol.diaz"]]},
    ),
    "remove group members": lambda c, d: send(
        c,
        "DELETE",
        f"{G}/members",
        f"{ADMIN}/user-groups/{group_id(c, 'analysts')}/members",
        {"user_uuids": [d.user["henry.novak"]]},
    ),
    "group workspaces": lambda c, d: send(
        c, "GET", f"{G}/workspaces", f"{ADMIN}/user-groups/{group_id(c, 'analysts')}/workspaces"
    ),
    "assign workspace": lambda c, d: send(
        c,
        "POST",
        f"{G}/workspaces",
        f"{ADMIN}/user-groups/{group_id(c, 'analysts')}/workspaces",
        {"workspace_uuid": d.ws["dev"], "role_names": ["user", "dev"]},
    ),
    "update assignment": lambda c, d: send(
        c,
        "PATCH",
        f"{G}/workspaces/{{workspace_uuid}}",
        f"{ADMIN}/user-groups/{group_id(c, 'analysts')}/workspaces/{d.ws['ml']}",
        {"role_names": ["observability_viewer"]},
    ),
    "remove assignment": lambda c, d: send(
        c,
        "DELETE",
        f"{G}/workspaces/{{workspace_uuid}}",
        f"{ADMIN}/user-groups/{group_id(c, 'analysts')}/workspaces/{d.ws['ml']}",
    ),
    "organization role": lambda c, d: send(
        c,
        "PATCH",
        f"{G}/organization-role",
        f"{ADMIN}/user-groups/{group_id(c, 'analysts')}/organization-role",
        {"organization_role": "B"},
    ),
    "nested": lambda c, d: send(
        c, "GET", f"{G}/nested", f"{ADMIN}/user-groups/{group_id(c, 'analysts')}/nested"
    ),
    "set nested": lambda c, d: send(
        c,
        "PATCH",
        f"{G}/nested",
        f"{ADMIN}/user-groups/{group_id(c, 'analysts')}/nested",
        {"child_group_uuids": []},
    ),
    "provision": lambda c, d: send(
        c,
        "POST",
        "/v1/admin/user-groups/provision-workspace",
        f"{ADMIN}/user-groups/provision-workspace",
        {
            "user_group_uuid": group_id(c, "analysts"),
            "workspace_uuid": d.ws["dev"],
            "workspace_role_name": "dev",
        },
    ),
}


@pytest.mark.parametrize("case", CASES, ids=list(CASES))
def test_people_responses_match_the_spec(client: TestClient, demo: Demo, case: str) -> None:
    method, template, response = CASES[case](client, demo)
    assert response.status_code < 300, response.text
    check_response(method, template, response)


# --- members ---------------------------------------------------------------------------


def test_a_created_member_is_listed_with_role_and_seats(client: TestClient, demo: Demo) -> None:
    _, _, response = CASES["create users"](client, demo)
    body = response.json()
    assert body["invalid_emails"] == []
    listed = user(client, "kate@acme.example")
    assert listed is not None
    assert body["email_to_user_id"] == {"kate@acme.example": listed["uuid"]}
    roles = {
        r["uuid"]: r["name"] for r in client.get(f"{ADMIN}/roles").json()["organization_roles"]
    }
    assert [roles[r] for r in listed["raw_roles"]] == ["billing_manager"]
    assert listed["subscription_types"] == ["CHAT"]
    again = client.post(
        f"{ADMIN}/users",
        json=[{"email": "KATE@acme.example", "first_name": "K", "last_name": "M"}],
    )
    assert again.json() == {"invalid_emails": ["KATE@acme.example"], "email_to_user_id": {}}


def test_updating_a_member_changes_role_and_seats(client: TestClient, demo: Demo) -> None:
    _, _, response = CASES["update user"](client, demo)
    assert response.json()["subscription_types"] == ["CHAT", "MISTRAL_CODE"]
    bob = user(client, "bob.chen@acme.example")
    assert bob is not None and bob["subscription_types"] == ["CHAT", "MISTRAL_CODE"]
    seats_only = client.patch(
        f"{ADMIN}/users/{demo.user['bob.chen']}", json={"subscription_types": []}
    )
    assert seats_only.json()["subscription_types"] is None
    assert seats_only.json()["raw_roles"] == bob["raw_roles"]  # role unchanged


def test_the_last_organization_admin_can_be_neither_demoted_nor_deleted(
    client: TestClient, demo: Demo
) -> None:
    alice = demo.user["alice.martin"]
    demote = client.patch(f"{ADMIN}/users/{alice}", json={"role_names": ["member"]})
    check_error(demote, 400, "invalid_request_error")
    check_error(client.delete(f"{ADMIN}/users/{alice}"), 400, "invalid_request_error")
    client.patch(f"{ADMIN}/users/{demo.user['bob.chen']}", json={"role": "A"})
    assert client.patch(f"{ADMIN}/users/{alice}", json={"role_names": ["member"]}).is_success


def test_deleting_a_member_removes_their_workspaces_groups_and_keys(
    client: TestClient, demo: Demo
) -> None:
    assert any(k["created_by"] == "iris.tanaka@acme.example" for k in all_keys(client))
    response = client.delete(f"{ADMIN}/users/{demo.user['iris.tanaka']}")
    assert response.json() == {"message": "Organization member deleted successfully"}
    assert "iris.tanaka@acme.example" not in members_of(client, "dev")
    assert not any(k["name"] == "iris-laptop" for k in all_keys(client))
    assert user(client, "iris.tanaka@acme.example") is None
    gone = client.delete(f"{ADMIN}/users/{demo.user['iris.tanaka']}")
    check_error(gone, 404, "invalid_request_error")


def test_bad_member_bodies_are_422(client: TestClient, demo: Demo) -> None:
    check_validation_error(
        client.patch(f"{ADMIN}/users/{demo.user['bob.chen']}", json={"role_names": ["owner"]}),
        ["body", "role_names", 0],
    )
    check_validation_error(
        client.post(f"{ADMIN}/users", json=[{"email": "x@acme.example"}]), ["body", 0, "first_name"]
    )


# --- invitations -----------------------------------------------------------------------


def test_an_invitation_names_its_workspaces_and_one_email_has_one(
    client: TestClient, demo: Demo
) -> None:
    _, _, response = CASES["invite"](client, demo)
    assert response.json() == {
        "invalid_emails": [],
        "already_members": [],
        "invited_members_count": 1,
    }
    first = invites(client)["kate@acme.example"]
    assert first["workspace_uuids"] == [demo.ws["dev"]]
    client.post(f"{ADMIN}/users-invite", json={"email": "Kate@acme.example, bob.chen@acme.example"})
    listed = [i for i in invites(client).values() if i["email"].lower() == "kate@acme.example"]
    assert len(listed) == 1 and listed[0]["uuid"] != first["uuid"]  # replaced, not doubled
    assert {i["email"] for i in client.get(f"{ADMIN}/users-invite").json()} == {
        "jin.park@acme.example",
        "Kate@acme.example",
    }


def test_inviting_a_member_or_into_an_unknown_workspace_invites_nobody(
    client: TestClient, demo: Demo
) -> None:
    answer = client.post(f"{ADMIN}/users-invite", json={"email": "BOB.chen@acme.example"}).json()
    assert answer == {
        "invalid_emails": [],
        "already_members": ["BOB.chen@acme.example"],
        "invited_members_count": 0,
    }
    unknown = "00000000-0000-4000-8000-000000000000"
    missing = client.post(
        f"{ADMIN}/users-invite", json={"email": "x@acme.example", "workspace_uuids": [unknown]}
    )
    check_error(missing, 404, "invalid_request_error")
    assert set(invites(client)) == {"jin.park@acme.example"}


def test_a_cancelled_invitation_is_gone(client: TestClient, demo: Demo) -> None:
    jin = invites(client)["jin.park@acme.example"]["uuid"]
    assert client.delete(f"{ADMIN}/users-invite/{jin}").is_success
    assert invites(client) == {}
    check_error(client.delete(f"{ADMIN}/users-invite/{jin}"), 404, "invalid_request_error")


def test_an_accepted_invitation_makes_a_member_of_its_workspaces(
    client: TestClient, demo: Demo
) -> None:
    jin = invites(client)["jin.park@acme.example"]["uuid"]
    joined = client.post(f"/_sandbox/invites/{jin}/accept").json()
    assert joined["email"] == "jin.park@acme.example"
    assert "jin.park@acme.example" in members_of(client, "ml")
    assert invites(client) == {}


# --- groups ----------------------------------------------------------------------------


def test_a_groups_members_reach_its_workspaces_with_its_roles(
    client: TestClient, demo: Demo
) -> None:
    ml = members_of(client, "ml")
    assert ml["henry.novak@acme.example"] == [demo.roles["user"]]  # through analysts
    analysts = group_id(client, "analysts")
    client.post(
        f"{ADMIN}/user-groups/{analysts}/members", json={"user_uuids": [demo.user["bob.chen"]]}
    )
    assert members_of(client, "ml")["bob.chen@acme.example"] == [demo.roles["user"]]
    client.patch(
        f"{ADMIN}/user-groups/{analysts}/workspaces/{demo.ws['ml']}",
        json={"role_names": ["dev"]},
    )
    assert members_of(client, "ml")["henry.novak@acme.example"] == [demo.roles["dev"]]
    client.delete(f"{ADMIN}/user-groups/{analysts}/workspaces/{demo.ws['ml']}")
    assert "henry.novak@acme.example" not in members_of(client, "ml")


def test_members_of_a_nested_group_reach_the_parents_workspaces(
    client: TestClient, demo: Demo
) -> None:
    analysts = group_id(client, "analysts")
    interns = client.post(
        f"{ADMIN}/user-groups", json={"name": "interns", "parent_group_ids": [analysts]}
    ).json()
    client.post(
        f"{ADMIN}/user-groups/{interns['uuid']}/members",
        json={"user_uuids": [demo.user["carol.diaz"]]},
    )
    assert "carol.diaz@acme.example" in members_of(client, "ml")
    nested = client.get(f"{ADMIN}/user-groups/{analysts}/nested").json()
    assert nested == {"children": [{"uuid": interns["uuid"], "name": "interns"}]}
    cycle = client.patch(
        f"{ADMIN}/user-groups/{interns['uuid']}/nested", json={"child_group_uuids": [analysts]}
    )
    check_error(cycle, 400, "invalid_request_error")
    client.patch(f"{ADMIN}/user-groups/{analysts}/nested", json={"child_group_uuids": []})
    assert "carol.diaz@acme.example" not in members_of(client, "ml")


def test_group_names_are_unique_whatever_their_case(client: TestClient) -> None:
    again = client.post(f"{ADMIN}/user-groups", json={"name": "ANALYSTS"})
    check_error(again, 409, "invalid_request_error")


def test_a_group_member_may_own_a_key_in_the_groups_workspace(
    client: TestClient, demo: Demo
) -> None:
    made = client.post(
        f"{ADMIN}/api-keys",
        json={"workspace_uuid": demo.ws["ml"], "user_id": demo.user["henry.novak"], "name": "h"},
    )
    assert made.is_success, made.text


def test_provisioning_makes_the_groups_members_direct_members(
    client: TestClient, demo: Demo
) -> None:
    CASES["provision"](client, demo)
    analysts = group_id(client, "analysts")
    client.delete(f"{ADMIN}/user-groups/{analysts}")
    assert members_of(client, "dev")["henry.novak@acme.example"] == [demo.roles["dev"]]


def test_the_organisation_role_of_a_group_is_served_as_its_uuid(
    client: TestClient, demo: Demo
) -> None:
    CASES["organization role"](client, demo)
    group = client.get(f"{ADMIN}/user-groups/{group_id(client, 'analysts')}").json()
    roles = {
        r["name"]: r["uuid"] for r in client.get(f"{ADMIN}/roles").json()["organization_roles"]
    }
    assert group["organization_role"] == roles["billing_manager"]
