"""Organisation endpoints: spend limit, rate limits, usage, users and invites."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from reconciler.platform.sandbox import SandboxStore
from tests.contract.spec import check_validation_error

from .conftest import ADMIN, Clock, Demo, TestClient, make_client

# Demo usage this month: dev 60M/25M small + 20M/12M codestral; ml 100M/30M large +
# 20M/5M medium; Default Workspace 2M/0.5M small (USD per million tokens from models.json).
DEV = 60 * 0.15 + 25 * 0.6 + 20 * 0.3 + 12 * 0.9
ML = 100 * 0.5 + 30 * 1.5 + 20 * 1.5 + 5 * 7.5
DEFAULT = 2 * 0.15 + 0.5 * 0.6


def completion(client: TestClient) -> dict[str, Any]:
    return dict(client.get(f"{ADMIN}/spend-limit").json()["limits"]["completion"])


def test_the_demo_spend_limit_is_3000_with_this_months_usage(client: TestClient) -> None:
    limits = client.get(f"{ADMIN}/spend-limit").json()["limits"]
    assert limits["currency"] == "USD"
    c = limits["completion"]
    assert (c["usage_limit"], c["no_monthly_limit"], c["monthly_limit_reached"]) == (
        3000,
        False,
        False,
    )
    assert c["usage"] == pytest.approx(DEV + ML + DEFAULT)


def test_setting_the_spend_limit_is_returned_and_kept(client: TestClient) -> None:
    response = client.post(f"{ADMIN}/spend-limit", json={"amount": 5000})
    assert response.json()["limits"]["completion"]["usage_limit"] == 5000
    assert completion(client)["usage_limit"] == 5000


def test_no_monthly_limit_clears_the_limit(client: TestClient) -> None:
    client.post(f"{ADMIN}/spend-limit", json={"amount": 0, "no_monthly_limit": True})
    c = completion(client)
    assert (c["no_monthly_limit"], c["usage_limit"], c["monthly_limit_reached"]) == (
        True,
        None,
        False,
    )


def test_a_limit_below_usage_is_reached(client: TestClient) -> None:
    client.post(f"{ADMIN}/spend-limit", json={"amount": 100})
    assert completion(client)["monthly_limit_reached"] is True


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        ({}, ["body", "amount"]),
        ({"amount": "5000"}, ["body", "amount"]),
        ({"amount": 12.5}, ["body", "amount"]),
        ({"amount": -1}, ["body", "amount"]),
        ({"amount": 1, "no_monthly_limit": "yes"}, ["body", "no_monthly_limit"]),
    ],
)
def test_bad_spend_limits_are_422_and_change_nothing(
    client: TestClient, body: dict[str, Any], loc: list[str]
) -> None:
    check_validation_error(client.post(f"{ADMIN}/spend-limit", json=body), loc)
    assert completion(client)["usage_limit"] == 3000


def test_rate_limits_cover_the_current_models(client: TestClient) -> None:
    body = client.get(f"{ADMIN}/rate-limit").json()
    assert body["requests_per_second"] == 20
    assert "mistral-small-2506" in body["tokens_limits_by_model"]
    assert "pixtral-large-2411" not in body["tokens_limits_by_model"]


def cost(usage: dict[str, Any]) -> dict[str, Decimal]:
    """Spend per workspace name, priced from ``prices[]``."""
    prices = {
        (p["billing_metric"], p["billing_group"]): Decimal(p["price"]) for p in usage["prices"]
    }
    out: dict[str, Decimal] = {}
    for model, groups in usage["completion"]["models"].items():
        for group, entries in groups.items():
            for e in entries:
                amount = e["value_paid"] * prices[(model, group)]
                out[e["workspace_name"]] = out.get(e["workspace_name"], Decimal(0)) + amount
    return out


def test_usage_prices_each_workspaces_tokens_for_the_month(client: TestClient) -> None:
    spend = cost(client.get(f"{ADMIN}/usage").json())
    assert float(spend["dev"]) == pytest.approx(DEV)
    assert float(spend["ml"]) == pytest.approx(ML)
    assert float(spend["Default Workspace"]) == pytest.approx(DEFAULT)


def test_usage_filters_by_workspace_and_month(client: TestClient, demo: Demo) -> None:
    usage = client.get(f"{ADMIN}/usage", params={"workspace_id": demo.ws["ml"]}).json()
    assert set(cost(usage)) == {"ml"}
    last = client.get(f"{ADMIN}/usage", params={"month": 10, "year": 2026}).json()
    assert float(cost(last)["ml"]) == pytest.approx(180 * 0.5 + 60 * 1.5)
    assert (last["start_date"][:10], last["end_date"][:10]) == ("2026-10-01", "2026-10-31")
    assert (last["previous_month"], last["next_month"]) == ("2026-09", "2026-11")
    empty = client.get(f"{ADMIN}/usage", params={"month": 1, "year": 2026}).json()
    assert empty["completion"]["models"] == {}


def test_usage_in_another_zone_is_empty(client: TestClient) -> None:
    assert (
        client.get(f"{ADMIN}/usage", params={"api_zone": "eu"}).json()["completion"]["models"] == {}
    )


@pytest.mark.parametrize(
    ("params", "loc"),
    [
        ({"month": 13}, ["query", "month"]),
        ({"workspace_id": "dev"}, ["query", "workspace_id"]),
        ({"api_zone": "mars"}, ["query", "api_zone"]),
    ],
)
def test_bad_usage_queries_are_422(
    client: TestClient, params: dict[str, Any], loc: list[str]
) -> None:
    check_validation_error(client.get(f"{ADMIN}/usage", params=params), loc)


def test_users_carry_their_workspaces_and_organisation_role(client: TestClient, demo: Demo) -> None:
    body = client.get(f"{ADMIN}/users", params={"email": "ALICE"}).json()
    assert body["total"] == 1
    alice = body["members"][0]
    assert (alice["email"], alice["name"]) == ("alice.martin@acme.example", "Alice Martin")
    assert {w["name"] for w in alice["workspaces"]} == {"Default Workspace", "dev"}
    org_roles = {
        r["uuid"]: r["name"] for r in client.get(f"{ADMIN}/roles").json()["organization_roles"]
    }
    assert org_roles[alice["raw_role"]] == "organization_admin"


def test_users_and_invites_page_together(tmp_path: Path, clock: Clock) -> None:
    seed = tmp_path / "seed.yaml"
    seed.write_text(
        "users: [{email: a@x.example}, {email: b@x.example}, {email: c@x.example}]\n"
        "invites: [{email: d@x.example, workspaces: [w]}, {email: e@x.example, expired: true}]\n"
        "workspaces: [{name: w, members: {a@x.example: workspace_admin}}]\n"
    )
    client = make_client(SandboxStore.in_memory(seed, clock=clock))
    pages = [
        client.get(f"{ADMIN}/users", params={"page": p, "page_size": 2}).json()
        for p in (1, 2, 3, 4)
    ]
    client.close()
    assert [[m["email"][0] for m in p["members"]] for p in pages] == [["a", "b"], ["c"], [], []]
    assert [[i["email"][0] for i in p["invites"]] for p in pages] == [[], ["d"], ["e"], []]
    assert {p["total"] for p in pages} == {5}
    assert pages[2]["invites"][0]["expired"] is True
