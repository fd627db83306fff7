"""The audit log: what changes record, who made them, when, and how the log is paged."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest

from reconciler.platform.sandbox import SandboxStore, SeedError, load_seed
from reconciler.platform.sandbox.records import iso_datetime
from tests.contract.spec import check_error, check_response, check_validation_error

from .conftest import ADMIN, NOW, Clock, Demo, TestClient, all_keys, make_client

AUDIT = f"{ADMIN}/audit-logs"
SEEDED = 3  # console changes in the demo seed


def log(client: TestClient, **params: Any) -> list[dict[str, Any]]:
    """One page of the audit log, checked against the spec."""
    response = client.get(AUDIT, params=params)
    body = check_response("GET", "/v1/admin/audit-logs", response)
    assert isinstance(body, list)
    return body


def since_seed(client: TestClient) -> list[dict[str, Any]]:
    """Entries recorded after the seed's, oldest first."""
    return log(client, sort="ascending", limit=1000)[SEEDED:]


def test_the_demo_seed_starts_with_three_console_changes(client: TestClient, demo: Demo) -> None:
    entries = log(client, sort="ascending")
    assert [(e["log_id"], e["actor_type"], e["event_type"]) for e in entries] == [
        (1, "HUMAN", "workspace.member.add"),
        (2, "HUMAN", "api_key.create"),
        (3, "HUMAN", "billing.workspace_monthly_limit.updated"),
    ]
    member, key, limit = entries
    assert member["actor_metadata"]["user_email"] == "alice.martin@acme.example"
    assert member["target_metadata"]["user_uuid"] == demo.user["iris.tanaka"]
    assert member["workspace_uuid"] == demo.ws["dev"]
    iris_laptop = next(k for k in all_keys(client) if k["name"] == "iris-laptop")
    assert key["target_metadata"]["key_id"] == iris_laptop["key_id"]
    assert key["actor_metadata"]["user_uuid"] == demo.user["iris.tanaka"]
    assert key["created_at"] == iris_laptop["created_at"]
    assert limit["actor_metadata"]["user_name"] == "Dan Okafor"
    assert limit["created_at"] == iso_datetime(NOW - dt.timedelta(days=12))
    assert limit["event_metadata"] == {"previous_value": "500", "value": "800"}
    assert limit["target_metadata"] == {"workspace_uuid": demo.ws["ml"], "workspace_name": "ml"}


def test_admin_api_changes_are_recorded_in_order_as_the_admin_keys(
    client: TestClient, demo: Demo, clock: Clock
) -> None:
    ws = {"name": "prod", "admin_user_id": demo.user["grace.lee"], "description": "Production"}
    prod = client.post(f"{ADMIN}/workspaces", json=ws).json()["uuid"]
    clock.now = NOW + dt.timedelta(minutes=1)
    client.patch(f"{ADMIN}/workspaces/{prod}", json={"description": "Prod"})
    carol = {"user_uuid": demo.user["carol.diaz"], "role_names": ["user"]}
    client.post(f"{ADMIN}/workspaces/{prod}/add-users", json={"members": [carol]})
    promoted = {**carol, "role_names": ["user", "dev"]}
    client.patch(f"{ADMIN}/workspaces/{prod}/users", json={"members": [promoted]})
    key = {"workspace_uuid": prod, "user_id": demo.user["carol.diaz"], "name": "prod-carol"}
    key_id = client.post(f"{ADMIN}/api-keys", json=key).json()["key_id"]
    client.delete(f"{ADMIN}/api-keys/{key_id}")
    gone = {"members": [{"user_uuid": demo.user["carol.diaz"]}]}
    client.request("DELETE", f"{ADMIN}/workspaces/{prod}/remove-users", json=gone)
    client.post(f"{ADMIN}/spend-limit", json={"amount": 5000})
    client.delete(f"{ADMIN}/workspaces/{prod}")

    entries = since_seed(client)
    assert [e["event_type"] for e in entries] == [
        "workspace.create",
        "workspace.update",
        "workspace.member.add",
        "workspace.member.role.update",
        "api_key.create",
        "api_key.delete",
        "workspace.member.remove",
        "billing.monthly_limit.updated",
        "workspace.delete",
    ]
    assert {e["actor_type"] for e in entries} == {"API_KEY"}
    assert {e["actor_metadata"]["user_uuid"] for e in entries} == {demo.user["alice.martin"]}
    assert entries[0]["created_at"] == iso_datetime(NOW)
    assert entries[1]["created_at"] == iso_datetime(NOW + dt.timedelta(minutes=1))
    by_event = {e["event_type"]: e for e in entries}
    assert by_event["workspace.update"]["event_metadata"] == {
        "description": "Prod",
        "previous_description": "Production",
    }
    role_update = by_event["workspace.member.role.update"]
    assert role_update["event_metadata"] == {
        "role_names": "user,dev",
        "previous_role_names": "user",
    }
    assert role_update["target_metadata"]["user_email"] == "carol.diaz@acme.example"
    assert by_event["api_key.delete"]["target_metadata"] == {
        "key_id": key_id,
        "key_name": "prod-carol",
        "owner_uuid": demo.user["carol.diaz"],
        "owner_email": "carol.diaz@acme.example",
    }
    assert by_event["billing.monthly_limit.updated"]["event_metadata"] == {
        "amount": "5000",
        "previous_amount": "3000",
    }
    assert {e["workspace_uuid"] for e in entries if "billing" not in e["event_type"]} == {prod}


def test_changes_that_change_nothing_or_fail_are_not_recorded(
    client: TestClient, demo: Demo
) -> None:
    dev = demo.ws["dev"]
    client.patch(f"{ADMIN}/workspaces/{dev}", json={"description": "Developer sandbox"})
    bob = {"user_uuid": demo.user["bob.chen"], "role_names": ["user"]}
    client.patch(f"{ADMIN}/workspaces/{dev}/users", json={"members": [bob]})
    assert (
        client.post(f"{ADMIN}/workspaces/{dev}/add-users", json={"members": [bob]}).status_code
        == 409
    )
    client.post(f"{ADMIN}/spend-limit", json={"amount": 3000})
    client.delete(f"{ADMIN}/workspaces/{demo.ws['Default Workspace']}")  # 400: the default
    assert since_seed(client) == []


def test_a_console_change_names_the_person(client: TestClient, demo: Demo) -> None:
    path = f"/_sandbox/workspaces/{demo.ws['dev']}/spend-limit"
    client.post(path, json={"value": 80, "actor": "Grace.Lee@acme.example"})
    client.post(path, json={"value": None})
    grace, default = since_seed(client)
    assert (grace["actor_type"], grace["actor_metadata"]["user_email"]) == (
        "HUMAN",
        "grace.lee@acme.example",
    )
    assert grace["event_metadata"] == {"value": "80", "previous_value": "50"}
    assert default["actor_metadata"]["user_email"] == "alice.martin@acme.example"
    assert default["event_metadata"] == {"value": "none", "previous_value": "80"}
    unknown = client.post(path, json={"value": 1, "actor": "nobody@acme.example"})
    assert check_error(unknown, 400, "invalid_request_error")["param"] == "actor"


def test_inference_is_not_audited(client: TestClient, demo: Demo) -> None:
    key = {"workspace_uuid": demo.ws["dev"], "user_id": demo.user["bob.chen"], "name": "app"}
    secret = client.post(f"{ADMIN}/api-keys", json=key).json()["key"]
    chat = {"model": "mistral-small-latest", "messages": [{"role": "user", "content": "hi"}]}
    headers = {"Authorization": f"Bearer {secret}"}
    assert client.post("/v1/chat/completions", json=chat, headers=headers).status_code == 200
    assert [e["event_type"] for e in since_seed(client)] == ["api_key.create"]


def create_keys(client: TestClient, demo: Demo, count: int) -> None:
    """``count`` key creations, all at the same frozen moment."""
    for i in range(count):
        key = {"workspace_uuid": demo.ws["dev"], "user_id": demo.user["bob.chen"], "name": f"k{i}"}
        assert client.post(f"{ADMIN}/api-keys", json=key).status_code == 200


def test_entries_made_at_one_moment_get_distinct_increasing_times(
    client: TestClient, demo: Demo
) -> None:
    create_keys(client, demo, 3)
    times = [dt.datetime.fromisoformat(e["created_at"]) for e in since_seed(client)]
    assert times == [NOW + dt.timedelta(milliseconds=i) for i in range(3)]


@pytest.mark.parametrize(("sort", "cursor"), [("descending", "before"), ("ascending", "after")])
def test_paging_by_time_visits_every_entry_once(
    client: TestClient, demo: Demo, sort: str, cursor: str
) -> None:
    create_keys(client, demo, 6)
    everything = log(client, sort=sort, limit=1000)
    assert len(everything) == SEEDED + 6
    seen: list[dict[str, Any]] = []
    params: dict[str, Any] = {"sort": sort, "limit": 2}
    while page := log(client, **params):
        assert len(page) <= 2
        seen += page
        params[cursor] = page[-1]["created_at"]
    assert seen == everything
    ids = [e["log_id"] for e in seen]
    assert ids == sorted(ids, reverse=sort == "descending")


def test_the_default_page_is_the_newest_twenty(client: TestClient, demo: Demo) -> None:
    create_keys(client, demo, 25)
    page = log(client)
    assert [e["log_id"] for e in page] == list(range(SEEDED + 25, SEEDED + 5, -1))


def test_after_and_before_are_exclusive_and_take_any_zone(client: TestClient) -> None:
    seeded = log(client, sort="ascending")
    middle = dt.datetime.fromisoformat(seeded[1]["created_at"])
    paris = middle.astimezone(dt.timezone(dt.timedelta(hours=1))).isoformat()
    assert [e["log_id"] for e in log(client, before=paris)] == [1]
    assert [e["log_id"] for e in log(client, after=paris)] == [3]
    naive = middle.replace(tzinfo=None).isoformat()  # taken as UTC
    assert [e["log_id"] for e in log(client, after=naive, before=naive)] == []


@pytest.mark.parametrize(
    ("params", "ids"),
    [
        ({"actor_type": "HUMAN"}, [3, 2, 1]),
        ({"actor_type": ["API_KEY", "OTHER"]}, [4]),
        ({"event_type": ["api_key.create", "workspace.member.add"]}, [4, 2, 1]),
        ({"target_type": "WORKSPACE_MONTHLY_LIMIT"}, [3]),
    ],
)
def test_filters_keep_matching_entries(
    client: TestClient, demo: Demo, params: dict[str, Any], ids: list[int]
) -> None:
    create_keys(client, demo, 1)
    assert [e["log_id"] for e in log(client, **params)] == ids


def test_actor_user_uuid_finds_a_persons_changes_and_the_admin_keys(
    client: TestClient, demo: Demo
) -> None:
    create_keys(client, demo, 1)
    assert [e["log_id"] for e in log(client, actor_user_uuid=demo.user["iris.tanaka"])] == [2]
    assert [e["log_id"] for e in log(client, actor_user_uuid=demo.user["alice.martin"])] == [4, 1]


@pytest.mark.parametrize(
    ("params", "loc"),
    [
        ({"limit": 0}, ["query", "limit"]),
        ({"sort": "newest"}, ["query", "sort"]),
        ({"after": "yesterday"}, ["query", "after"]),
        ({"actor_type": "ROBOT"}, ["query", "actor_type", 0]),
    ],
)
def test_bad_parameters_are_422(client: TestClient, params: dict[str, Any], loc: list[Any]) -> None:
    check_validation_error(client.get(AUDIT, params=params), loc)


def test_the_log_survives_a_restart_and_a_reset_starts_it_over(
    tmp_path: Path, clock: Clock
) -> None:
    state = tmp_path / "state.json"
    client = make_client(SandboxStore.open(state, clock=clock))
    create_keys(client, Demo(client), 2)
    before = log(client, limit=100)
    client.close()
    again = make_client(SandboxStore.open(state, clock=clock))
    assert log(again, limit=100) == before
    create_keys(again, Demo(again), 1)
    assert log(again, limit=1)[0]["log_id"] == SEEDED + 3
    assert again.post("/_sandbox/reset").status_code == 200
    assert len(log(again, limit=100)) == SEEDED
    again.close()


SEED = """\
version: 1
users:
  - {email: a@x.example}
workspaces:
  - name: w
    members: {a@x.example: workspace_admin}
keys:
  - {name: k, workspace: w, owner: a@x.example}
audit:
  - {days_ago: 3, actor: a@x.example, event: api_key.create, workspace: w, key: k}
"""


def test_a_seeded_audit_entry_must_name_what_its_event_is_about(tmp_path: Path) -> None:
    path = tmp_path / "seed.yaml"
    path.write_text(SEED)
    assert len(load_seed(path).audit) == 1
    path.write_text(
        SEED.replace("key: k}", "key: nope}")
        + "  - {days_ago: 1, actor: z@x.example, event: workspace.member.add, workspace: w}\n"
        + "  - {days_ago: 1, actor: a@x.example, event: billing.monthly_limit.updated,"
        + " workspace: w}\n"
    )
    with pytest.raises(SeedError) as caught:
        load_seed(path)
    text = str(caught.value)
    assert f"{path}:10: audit.0.key: no key 'nope' in 'w'" in text
    assert f"{path}:11: audit.1.actor: 'z@x.example' is not a user" in text
    assert f"{path}:11: audit.1: workspace.member.add needs a member" in text
    assert (
        f"{path}:12: audit.2.workspace: billing.monthly_limit.updated is not about a workspace"
        in text
    )


def test_people_changes_are_recorded(client: TestClient, demo: Demo) -> None:
    """Members created, changed (through the API and in the console) and removed, and
    invitations sent, revoked and accepted: one entry each, naming the person."""
    new = {"email": "kate@acme.example", "first_name": "Kate", "last_name": "M"}
    client.post(f"{ADMIN}/users", json=[{**new, "subscription_types": ["CHAT"]}])
    bob = f"{ADMIN}/users/{demo.user['bob.chen']}"
    client.patch(bob, json={"role_names": ["billing_manager"], "subscription_types": ["CHAT"]})
    console = {"role": "member", "actor": "dan.okafor@acme.example"}
    assert client.post(f"/_sandbox/users/{demo.user['bob.chen']}", json=console).is_success
    client.delete(f"{ADMIN}/users/{demo.user['iris.tanaka']}")
    client.post(f"{ADMIN}/users-invite", json={"email": "lea@acme.example"})
    invites = {i["email"]: i["invite_uuid"] for i in client.get(f"{ADMIN}/users-invite").json()}
    client.delete(f"{ADMIN}/users-invite/{invites['lea@acme.example']}")
    assert client.post(f"/_sandbox/invites/{invites['jin.park@acme.example']}/accept").is_success
    seen = [
        (
            e["actor_type"],
            e["event_type"],
            e["target_type"],
            e["target_metadata"]["user_email"],
            e["event_metadata"],
        )
        for e in since_seed(client)
    ]
    assert seen == [
        (
            "API_KEY",
            "user.create",
            "USER",
            "kate@acme.example",
            {"role": "member", "subscription_types": "CHAT"},
        ),
        (
            "API_KEY",
            "user.organization.role.update",
            "USER",
            "bob.chen@acme.example",
            {"role": "billing_manager", "previous_role": "member"},
        ),
        (
            "API_KEY",
            "user.info.update",
            "USER",
            "bob.chen@acme.example",
            {"subscription_types": "CHAT", "previous_subscription_types": "MISTRAL_CODE"},
        ),
        (
            "HUMAN",
            "user.organization.role.update",
            "USER",
            "bob.chen@acme.example",
            {"role": "member", "previous_role": "billing_manager"},
        ),
        ("API_KEY", "user.delete", "USER", "iris.tanaka@acme.example", {}),
        ("API_KEY", "organization.invite.send", "USER", "lea@acme.example", {"role": "member"}),
        ("API_KEY", "organization.invite.revoked", "USER", "lea@acme.example", {}),
        ("HUMAN", "organization.invite.accepted", "USER", "jin.park@acme.example", {}),
    ]
    console_entry = since_seed(client)[3]
    assert console_entry["actor_metadata"]["user_email"] == "dan.okafor@acme.example"


def test_user_group_changes_are_recorded(client: TestClient, demo: Demo) -> None:
    """A group created, changed, its members and workspace grants changed, and deleted:
    the spec's ``user_group.*`` events, each naming the group (and the person or the
    workspace concerned)."""
    groups = client.get(f"{ADMIN}/user-groups").json()["items"]
    analysts = f"{ADMIN}/user-groups/{next(g['uuid'] for g in groups if g['name'] == 'analysts')}"
    made = client.post(f"{ADMIN}/user-groups", json={"name": "interns"}).json()
    client.patch(analysts, json={"description": "BI"})
    client.patch(analysts, json={"description": "BI"})  # no change: not recorded
    client.post(f"{analysts}/members", json={"user_uuids": [demo.user["carol.diaz"]]})
    client.request("DELETE", f"{analysts}/members", json={"user_uuids": [demo.user["henry.novak"]]})
    client.post(
        f"{analysts}/workspaces", json={"workspace_uuid": demo.ws["dev"], "role_names": ["user"]}
    )
    client.patch(f"{analysts}/workspaces/{demo.ws['ml']}", json={"role_names": ["dev"]})
    client.delete(f"{analysts}/workspaces/{demo.ws['dev']}")
    client.patch(f"{analysts}/nested", json={"child_group_uuids": [made["uuid"]]})
    client.delete(f"{ADMIN}/user-groups/{made['uuid']}")
    entries = since_seed(client)
    assert {e["target_type"] for e in entries} == {"USER_GROUP"}
    seen = [
        (e["event_type"], e["target_metadata"]["user_group_name"], without_ids(e["event_metadata"]))
        for e in entries
    ]
    assert seen == [
        ("user_group.create", "interns", {"name": "interns", "description": ""}),
        (
            "user_group.update",
            "analysts",
            {"description": "BI", "previous_description": "Data analysts"},
        ),
        ("user_group.member.add", "analysts", {"user_email": "carol.diaz@acme.example"}),
        ("user_group.member.remove", "analysts", {"user_email": "henry.novak@acme.example"}),
        (
            "user_group.workspace.provision",
            "analysts",
            {"workspace_name": "dev", "role_names": "user", "previous_role_names": ""},
        ),
        (
            "user_group.workspace.update",
            "analysts",
            {"workspace_name": "ml", "role_names": "dev", "previous_role_names": "user"},
        ),
        (
            "user_group.workspace.deprovision",
            "analysts",
            {"workspace_name": "dev", "role_names": "", "previous_role_names": "user"},
        ),
        (
            "user_group.update",
            "analysts",
            {"child_group_names": "interns", "previous_child_group_names": ""},
        ),
        ("user_group.delete", "interns", {}),
    ]
    assert entries[4]["workspace_uuid"] == demo.ws["dev"]
    assert entries[2]["event_metadata"]["user_uuid"] == demo.user["carol.diaz"]
    assert entries[0]["actor_metadata"]["api_key_type"] == "admin"


def without_ids(metadata: dict[str, str]) -> dict[str, str]:
    """An entry's metadata less a person's uuid and display name."""
    return {k: v for k, v in metadata.items() if k not in ("user_uuid", "user_name")}
