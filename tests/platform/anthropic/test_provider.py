"""AnthropicProvider: the live state it reads, and writes looked up before they are resent."""

from __future__ import annotations

import datetime as dt
import io
import json
from decimal import Decimal

import httpx
import pytest
import respx

from reconciler import errors
from reconciler.model import ApiKey, Member, Workspace
from tests.platform.anthropic.wire_bodies import (
    ORG,
    api_key,
    error,
    member,
    page,
    provider,
    user,
    workspace,
)
from tests.platform.mistral_wire import run


def _organisation() -> None:
    respx.get(f"{ORG}/me").respond(json={"id": "org-uuid", "name": "Acme", "type": "organization"})
    respx.get(f"{ORG}/users").respond(
        json=page(user("user_ada", "Ada@Example.org"), user("user_ben", "ben@example.org"))
    )
    respx.get(f"{ORG}/invites").respond(
        json=page(
            {
                "id": "invite_1",
                "type": "invite",
                "email": "Dee@Example.org",
                "role": "user",
                "status": "pending",
                "invited_at": "2026-11-20T00:00:00Z",
                "expires_at": "2026-12-11T00:00:00Z",
            }
        )
    )
    respx.get(f"{ORG}/workspaces").respond(
        json=page(
            workspace("wrkspc_dev", "dev", tags={"description": "Development"}),
            workspace("wrkspc_ops", "ops"),
        )
    )
    respx.get(f"{ORG}/workspaces/wrkspc_dev/members").respond(
        json=page(
            member("wrkspc_dev", "user_ada", "workspace_admin"),
            member("wrkspc_dev", "user_ben", "workspace_developer"),
        )
    )
    respx.get(f"{ORG}/workspaces/wrkspc_ops/members").respond(json=page())
    respx.get(f"{ORG}/api_keys", params={"status": "active"}).respond(
        json=page(api_key("apikey_1", "dev-ci", "wrkspc_dev"))
    )
    respx.get(f"{ORG}/api_keys", params={"status": "inactive"}).respond(
        json=page(api_key("apikey_2", "old", "wrkspc_gone", status="inactive", by="user_x"))
    )
    respx.get(f"{ORG}/api_keys", params={"status": "expired"}).respond(
        json=page(
            api_key("apikey_3", "dev-lapsed", "wrkspc_dev", status="expired", expires_at=LAPSED_AT)
        )
    )
    respx.get(f"{ORG}/spend_limits").respond(
        json={
            "data": [
                {
                    "id": "spl_1",
                    "type": "spend_limit",
                    "amount": "50000",
                    "currency": "USD",
                    "is_enabled": True,
                    "period": "monthly",
                    "scope": {"type": "organization"},
                    "created_at": "2026-11-01T00:00:00Z",
                    "updated_at": "2026-11-01T00:00:00Z",
                }
            ],
            "next_page": None,
        }
    )
    respx.get(f"{ORG}/analytics/cost", params={"group_by[]": "api_key_id"}).respond(
        json={"data": [], "has_more": False, "next_page": None}
    )
    respx.get(f"{ORG}/workspaces/wrkspc_ops/rate_limits").respond(json=NO_OVERRIDES)
    respx.get(f"{ORG}/workspaces/wrkspc_dev/rate_limits").respond(
        json={
            "data": [
                {
                    "type": "workspace_rate_limit",
                    "workspace_id": "wrkspc_dev",
                    "rate_limit_id": "rl_01",
                    "group": {"id": "rlg_01", "type": "model_group", "display_name": "Sonnet"},
                    "models": ["claude-sonnet-4-5"],
                    "limits": [
                        {
                            "type": "requests_per_minute",
                            "value": 50,
                            "org_limit": 4000,
                            "source": {"type": "workspace"},
                        }
                    ],
                }
            ],
            "next_page": None,
        }
    )


NO_OVERRIDES: dict[str, object] = {"data": [], "next_page": None}
LAPSED_AT = "2026-11-30T10:00:00Z"  # dev-lapsed's expiry, passed: the API lists it expired


@respx.mock
def test_fetch_reports_what_it_read_for_the_progress_line() -> None:
    """The line a plan prints names what was read, as La Plateforme's does."""
    from reconciler.cli.common import Progress

    _organisation()
    progress = Progress(stream=io.StringIO(), enabled=False)
    run(provider().fetch(progress))
    assert progress.summary("https://api.anthropic.com", 12).startswith(
        "Read 2 workspaces, 2 users, 3 api keys from https://api.anthropic.com in "
    )


@respx.mock
def test_fetch_reads_workspaces_members_keys_and_the_spend_limit() -> None:
    _organisation()

    live = run(provider().fetch())

    assert live.organization.name == "Acme"
    assert str(live.organization.spend_limit and live.organization.spend_limit.amount) == "500"
    assert [(w.name, w.description, w.admin, w.id, w.rate_limits) for w in live.workspaces] == [
        (
            "dev",
            "Development",
            "ada@example.org",
            "wrkspc_dev",
            {"Sonnet": {"requests_per_minute": 50}},
        ),
        ("ops", "", None, "wrkspc_ops", {}),
    ]
    assert [(m.address, m.roles) for m in live.members] == [
        ("member.dev/ada@example.org", ("workspace_admin",)),
        ("member.dev/ben@example.org", ("workspace_developer",)),
    ]
    assert [(p.email, p.role) for p in live.people] == [
        ("ada@example.org", "developer"),
        ("ben@example.org", "developer"),
    ]
    assert [(i.email, i.role, i.id) for i in live.invitations] == [
        ("dee@example.org", "user", "invite_1")
    ]
    assert [(k.name, k.workspace, k.owner, k.status, k.expires) for k in live.keys] == [
        ("dev-ci", "dev", "ada@example.org", "active", None),
        ("old", "Default", None, "inactive", None),
        # listed with its expiry, and no status the desired state could set
        ("dev-lapsed", "dev", "ada@example.org", None, dt.date(2026, 11, 30)),
    ]
    assert {k.hidden_key for k in live.keys} == {"sk-ant-api03-R2D...IgAA"}


def _day(day: str, key: str, requests: int) -> dict[str, object]:
    """A cost report row of one key's day, as the API documents it."""
    return {
        "starting_at": f"{day}T00:00:00Z",
        "ending_at": f"{day}T23:59:59Z",
        "group": {"api_key_id": key},
        "cost": {"amount": "12.5", "list_amount": "12.5", "currency": "USD", "requests": requests},
    }


@respx.mock
def test_a_key_s_last_use_is_its_last_day_with_requests_in_the_cost_report() -> None:
    _organisation()
    now = dt.datetime(2026, 11, 20, 15, 30, tzinfo=dt.UTC)
    report = respx.get(f"{ORG}/analytics/cost", params={"group_by[]": "api_key_id"}).respond(
        json={
            "data": [
                _day("2026-11-03", "apikey_1", 4),
                _day("2026-11-17", "apikey_1", 9),
                _day("2026-11-18", "apikey_1", 0),  # a bucket without requests: no use
                _day("2026-11-12", "apikey_2", 1),
            ],
            "has_more": False,
            "next_page": None,
        }
    )

    live = run(provider(clock=lambda: now).fetch())

    assert [(k.name, k.last_used) for k in live.keys] == [
        ("dev-ci", dt.date(2026, 11, 17)),
        ("old", dt.date(2026, 11, 12)),
        ("dev-lapsed", None),
    ]
    sent = report.calls.last.request
    assert sent.url.params["time_bucket_width"] == "1d"
    assert sent.url.params["starting_at"] == "2026-10-21T00:00:00+00:00"  # 30 days, whole
    assert sent.url.params["ending_at"] == now.isoformat()
    assert sent.headers["anthropic-beta"] == "analytics-usage-cost-2026-08-24"


@respx.mock
def test_an_organisation_that_may_not_read_the_cost_report_has_keys_of_unknown_use() -> None:
    _organisation()
    respx.get(f"{ORG}/analytics/cost", params={"group_by[]": "api_key_id"}).respond(
        403, json=error("permission_error", "analytics are not enabled")
    )

    live = run(provider().fetch())

    assert [k.last_used for k in live.keys] == [None, None, None]


@respx.mock
def test_a_workspace_create_with_an_unknown_outcome_is_looked_up_not_resent() -> None:
    _organisation()
    create = respx.post(f"{ORG}/workspaces").respond(500, json=error("api_error", "oops"))
    made_it = page(workspace("wrkspc_dev", "dev"), workspace("wrkspc_new", "research"))

    async def go() -> Workspace:
        p = provider()
        await p.fetch()
        # the create reached the platform although its answer was an error
        create.side_effect = lambda request: (
            respx.get(f"{ORG}/workspaces").respond(json=made_it),
            httpx.Response(500, json=error("api_error", "oops")),
        )[1]
        return await p.create_workspace(Workspace(name="research", description="R&D"))

    made = run(go())

    assert made.id == "wrkspc_new"
    assert create.call_count == 1
    assert json.loads(create.calls.last.request.content) == {
        "name": "research",
        "tags": {"description": "R&D"},
    }


@respx.mock
def test_a_member_add_with_an_unknown_outcome_is_looked_up_not_resent() -> None:
    _organisation()
    lookup = respx.get(f"{ORG}/workspaces/wrkspc_ops/members/user_ben").mock(
        side_effect=[
            httpx.Response(404, json=error("not_found_error", "no such member")),
            httpx.Response(200, json=member("wrkspc_ops", "user_ben", "workspace_developer")),
        ]
    )
    add = respx.post(f"{ORG}/workspaces/wrkspc_ops/members").mock(
        side_effect=httpx.ConnectError("dropped")
    )

    async def go() -> None:
        p = provider()
        await p.fetch()
        await p.set_member(
            "wrkspc_ops",
            Member(workspace="ops", email="ben@example.org", roles=("workspace_developer",)),
        )

    run(go())

    assert add.call_count == 1
    assert json.loads(add.calls.last.request.content) == {
        "user_id": "user_ben",
        "workspace_role": "workspace_developer",
    }
    assert lookup.call_count == 2


@respx.mock
def test_a_role_change_is_a_post_to_the_membership() -> None:
    _organisation()
    respx.get(f"{ORG}/workspaces/wrkspc_dev/members/user_ben").respond(
        json=member("wrkspc_dev", "user_ben", "workspace_developer")
    )
    update = respx.post(f"{ORG}/workspaces/wrkspc_dev/members/user_ben").respond(
        json=member("wrkspc_dev", "user_ben", "workspace_admin")
    )

    async def go() -> None:
        p = provider()
        await p.fetch()
        await p.set_member(
            "wrkspc_dev",
            Member(workspace="dev", email="ben@example.org", roles=("workspace_admin",)),
        )

    run(go())

    assert json.loads(update.calls.last.request.content) == {"workspace_role": "workspace_admin"}


@respx.mock
def test_deleting_a_key_archives_it_and_creating_one_names_the_console() -> None:
    archive = respx.post(f"{ORG}/api_keys/apikey_1").respond(
        json=api_key("apikey_1", "dev-ci", "wrkspc_dev", status="archived")
    )
    p = provider()

    run(p.delete_key("apikey_1"))

    assert json.loads(archive.calls.last.request.content) == {"status": "archived"}
    with pytest.raises(errors.PlanError, match="create 'ci' in workspace 'dev' in the Console"):
        run(p.create_key(ApiKey(name="ci", workspace="dev"), "wrkspc_dev"))


@respx.mock
def test_monthly_spend_comes_from_the_cost_report_in_dollars_per_workspace() -> None:
    _organisation()
    report = respx.get(f"{ORG}/analytics/cost").respond(
        json={
            "data": [
                {"group": {"workspace_id": "wrkspc_dev"}, "cost": {"amount": "1234.5"}},
                {"group": {"workspace_id": "wrkspc_dev"}, "cost": {"amount": "100"}},
                {"group": {"workspace_id": None}, "cost": {"amount": "50"}},
            ],
            "has_more": False,
            "next_page": None,
        }
    )
    p = provider(clock=lambda: dt.datetime(2026, 11, 20, 12, tzinfo=dt.UTC))

    spend = run(p.monthly_spend(dt.date(2026, 11, 5)))

    assert spend == {"dev": Decimal("13.345"), "Default": Decimal("0.5")}
    sent = report.calls.last.request
    assert sent.headers["anthropic-beta"] == "analytics-usage-cost-2026-08-24"
    assert dict(sent.url.params) == {
        "starting_at": "2026-11-01T00:00:00+00:00",
        "ending_at": "2026-11-20T12:00:00+00:00",
        "group_by[]": "workspace_id",
    }


@respx.mock
def test_a_spend_limit_the_plan_cannot_write_says_to_set_it_in_the_console() -> None:
    from reconciler.model import SpendLimit

    written = respx.post(f"{ORG}/spend_limits").mock(
        side_effect=[
            httpx.Response(200, json={"id": "spl_1", "type": "spend_limit", "amount": "150000"}),
            httpx.Response(
                403, json=error("permission_error", "spend_limits_admin_api_writes_not_enabled")
            ),
        ]
    )
    p = provider()

    run(p.set_organization_spend_limit(SpendLimit(amount=Decimal("1500"))))
    assert json.loads(written.calls.last.request.content) == {
        "amount": "150000",
        "scope": {"type": "organization"},
        "period": "monthly",
    }
    with pytest.raises(errors.ConsoleOnly, match="set the monthly limit to 1500 USD/month in the"):
        run(p.set_organization_spend_limit(SpendLimit(amount=Decimal("1500"))))


@respx.mock
def test_an_invite_with_an_unknown_outcome_is_looked_up_not_resent() -> None:
    from reconciler.model import Invitation

    sent = {
        "id": "invite_9",
        "type": "invite",
        "email": "eve@example.org",
        "role": "developer",
        "status": "pending",
        "invited_at": "2026-11-20T00:00:00Z",
    }
    listing = respx.get(f"{ORG}/invites").mock(
        side_effect=[httpx.Response(200, json=page()), httpx.Response(200, json=page(sent))]
    )
    create = respx.post(f"{ORG}/invites").respond(502, json=error("api_error", "bad gateway"))

    made = run(provider().invite(Invitation(email="Eve@Example.org", role="developer")))

    assert made.id == "invite_9"
    assert create.call_count == 1 and listing.call_count == 2
    assert json.loads(create.calls.last.request.content) == {
        "email": "eve@example.org",
        "role": "developer",
    }
    assert dict(listing.calls.last.request.url.params)["statuses[]"] == "pending"
