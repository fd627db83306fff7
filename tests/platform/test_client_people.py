"""The people endpoints on the wire (respx): the bodies sent and the answers read.

Every body sent and served passes the spec extract (``SpecCheckedTransport``).
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
import respx

from reconciler import errors
from reconciler.platform.sandbox.roles import ORGANIZATION_ROLE_UUID, WORKSPACE_ROLE_UUID
from tests.platform.mistral_wire import ADMIN, client, run, uid


def sent(route: respx.Route) -> Any:
    return json.loads(route.calls.last.request.content)


def test_an_invitation_names_role_seats_and_workspaces_and_is_sent_once() -> None:
    async def main() -> tuple[Any, int]:
        with respx.mock(base_url=ADMIN) as mock:
            route = mock.post("/users-invite").respond(
                json={"invalid_emails": [], "already_members": [], "invited_members_count": 1}
            )
            async with client() as c:
                await c.invite_users(
                    ["kate@acme.example"],
                    role="member",
                    seats=["chat"],
                    workspace_ids=[uid(1, "a")],
                )
                body = sent(route)
                route.respond(503)
                with pytest.raises(errors.AmbiguousCreate):
                    await c.invite_users(["kate@acme.example"])
            return body, route.call_count - 1

    body, attempts = run(main())
    assert body == {
        "email": "kate@acme.example",
        "role_names": ["member"],
        "subscription_types": ["CHAT"],
        "workspace_uuids": [uid(1, "a")],
    }
    assert attempts == 1  # never resent: the person would be mailed twice


def test_updating_a_member_sends_role_names_and_upper_case_seats() -> None:
    member = {
        "uuid": uid(7),
        "oid_id": None,
        "name": "Bob",
        "email": "bob@acme.example",
        "raw_roles": [ORGANIZATION_ROLE_UUID["billing_manager"]],
        "raw_role": ORGANIZATION_ROLE_UUID["billing_manager"],
        "subscription_types": ["MISTRAL_CODE"],
        "created_at": "2026-01-01T00:00:00Z",
    }

    async def main() -> tuple[Any, list[str] | None, str]:
        with respx.mock(base_url=ADMIN) as mock:
            route = mock.patch(f"/users/{uid(7)}").respond(json=member)
            gone = mock.delete(f"/users/{uid(7)}").respond(json={"message": "deleted"})
            async with client() as c:
                out = await c.update_user(uid(7), role="billing_manager", seats=["mistral_code"])
                await c.delete_user(uid(7))
            return sent(route), out.subscription_types, gone.calls.last.request.method

    body, seats, method = run(main())
    assert body == {"role_names": ["billing_manager"], "subscription_types": ["MISTRAL_CODE"]}
    assert seats == ["MISTRAL_CODE"]
    assert method == "DELETE"


def test_a_group_is_read_with_members_nested_groups_and_grants() -> None:
    group: dict[str, Any] = {
        "uuid": uid(1, "b"),
        "name": "analysts",
        "description": None,
        "organization_role": ORGANIZATION_ROLE_UUID["member"],
        "parent_group_ids": [],
    }

    async def main() -> list[Any]:
        with respx.mock(base_url=ADMIN) as mock:
            mock.get("/user-groups").respond(
                json={"total": 1, "items": [group], "page": 1, "page_size": 100}
            )
            g = f"/user-groups/{uid(1, 'b')}"
            mock.get(f"{g}/members").respond(
                json={
                    "total": 1,
                    "members": [{"user_uuid": uid(7), "name": "H", "email": "H@acme.example"}],
                    "page": 1,
                    "page_size": 100,
                }
            )
            mock.get(f"{g}/nested").respond(json={"children": [{"uuid": uid(2, "b"), "name": "x"}]})
            mock.get(f"{g}/workspaces").respond(
                json={
                    "total": 1,
                    "items": [
                        {
                            "roles": [{"name": "user", "uuid": WORKSPACE_ROLE_UUID["user"]}],
                            "workspace_uuid": uid(1, "a"),
                            "workspace_name": "ml",
                            "created": "2026-01-01T00:00:00Z",
                        }
                    ],
                    "page": 1,
                    "page_size": 100,
                }
            )
            async with client() as c:
                groups = await c.list_groups()
                members = await c.group_members(groups[0].uuid)
                grants = await c.group_workspaces(groups[0].uuid)
                nested = await c.nested_groups(groups[0].uuid)
            return [
                groups[0].name,
                [m.email for m in members],
                [a.workspace_uuid for a in grants],
                [n.name for n in nested.children],
            ]

    assert run(main()) == ["analysts", ["H@acme.example"], [uid(1, "a")], ["x"]]


def test_group_changes_send_the_spec_bodies() -> None:
    g = f"/user-groups/{uid(1, 'b')}"

    async def main() -> dict[str, Any]:
        with respx.mock(base_url=ADMIN) as mock:
            routes = {
                "members": mock.post(f"{g}/members").respond(204),
                "nested": mock.patch(f"{g}/nested").respond(204),
                "role": mock.patch(f"{g}/organization-role").respond(204),
                "assign": mock.post(f"{g}/workspaces").respond(201),
                "regrant": mock.patch(f"{g}/workspaces/{uid(1, 'a')}").respond(204),
            }
            async with client() as c:
                await c.add_group_members(uid(1, "b"), [uid(7)])
                await c.set_nested_groups(uid(1, "b"), [uid(2, "b")])
                await c.set_group_organization_role(uid(1, "b"), ORGANIZATION_ROLE_UUID["member"])
                await c.assign_group_workspace(uid(1, "b"), uid(1, "a"), ["user", "dev"])
                await c.update_group_workspace(uid(1, "b"), uid(1, "a"), ["user"])
            return {name: sent(route) for name, route in routes.items()}

    assert run(main()) == {
        "members": {"user_uuids": [uid(7)]},
        "nested": {"child_group_uuids": [uid(2, "b")]},
        "role": {"organization_role": ORGANIZATION_ROLE_UUID["member"]},
        "assign": {"workspace_uuid": uid(1, "a"), "role_names": ["dev", "user"]},
        "regrant": {"role_names": ["user"]},
    }


def test_a_cancelled_invitation_already_gone_is_not_an_error_for_the_provider() -> None:
    from reconciler.platform.mistral.provider import MistralProvider

    async def main() -> httpx.Request:
        with respx.mock(base_url=ADMIN) as mock:
            route = mock.delete(f"/users-invite/{uid(3)}").respond(404, json={"detail": "gone"})
            provider = MistralProvider(client())
            await provider.cancel_invite(uid(3))
            await provider.aclose()
            return route.calls.last.request

    assert run(main()).url.path.endswith(uid(3))
