"""The shipped example ``desired-state/`` validates and converts as documented."""

from __future__ import annotations

import datetime as dt
import shutil
from decimal import Decimal
from pathlib import Path

import pytest

from reconciler.desired import check_desired_state, load_desired_state
from reconciler.model import DesiredState, SecretBackend, SpendLimit

EXAMPLE = Path(__file__).resolve().parents[2] / "desired-state"
TODAY = dt.date(2026, 11, 27)


@pytest.fixture(scope="module")
def state() -> DesiredState:
    return load_desired_state(EXAMPLE, today=TODAY)


def test_example_is_valid_without_warnings() -> None:
    result = check_desired_state(EXAMPLE, today=TODAY)
    assert result.ok
    assert list(result.problems) == []


def test_example_counts(state: DesiredState) -> None:
    assert sorted(w.name for w in state.workspaces) == ["dev", "ml", "prod"]
    assert len(state.members) == 10  # kate joins ml once invited
    assert len(state.keys) == 10
    assert [r.name for r in state.roles] == ["analyst", "developer", "senior", "admin"]


def test_organization(state: DesiredState) -> None:
    org = state.organization
    assert org.name == "Acme Analytics"
    assert org.spend_limit == SpendLimit(amount=Decimal(5000), currency="USD")
    assert (org.key_max_age_days, org.key_unused_after_days, org.rotation_period_days) == (
        90,
        30,
        90,
    )
    assert (org.vault.backend, org.vault.mount, org.vault.path_prefix) == (
        SecretBackend.VAULT,
        "secret",
        "mistral/acme",
    )


def test_admin_becomes_a_workspace_admin_member(state: DesiredState) -> None:
    members = {(m.workspace, m.email): m.roles for m in state.members}
    assert members[("dev", "alice.martin@acme.example")] == ("workspace_admin",)
    assert members[("prod", "grace.lee@acme.example")] == ("workspace_admin",)
    assert members[("prod", "ci-bot@acme.example")] == ("user",)
    assert {e for (w, e) in members if w == "dev"} == {
        "alice.martin@acme.example",
        "bob.chen@acme.example",
        "carol.diaz@acme.example",
        "henry.novak@acme.example",
    }


def test_workspace_spend_limit_is_the_monthly_budget(state: DesiredState) -> None:
    limits = {w.name: w.spend_limit for w in state.workspaces}
    assert limits == {
        "dev": SpendLimit(amount=Decimal(50)),
        "ml": SpendLimit(amount=Decimal(500)),
        "prod": SpendLimit(amount=Decimal(2000)),
    }
    prod = state.workspace("prod")
    assert prod is not None
    assert (prod.protected, prod.policy.rpm) == (True, 500)


def test_key_defaults_come_from_the_organisation(state: DesiredState) -> None:
    keys = {k.name: k for k in state.keys}
    bob = keys["dev-bob"]
    assert bob.secret is not None
    assert (bob.secret.backend, bob.secret.path) == (SecretBackend.VAULT, "dev/dev-bob")
    assert bob.rotation_period_days == 90
    assert keys["dev-henry-notebooks"].rotation_period_days == 60
    assert keys["dev-alice"].expires == dt.date(2039, 6, 30)
    indexer = keys["prod-search-indexer"].secret
    assert indexer is not None
    assert (indexer.backend, indexer.repository, indexer.environment, indexer.path) == (
        SecretBackend.GITHUB,
        "acme/search-indexer",
        "production",
        "MISTRAL_API_KEY",
    )


def test_every_example_expiry_is_in_the_future(state: DesiredState) -> None:
    assert all(k.expires is None or k.expires > TODAY for k in state.keys)


def test_roles_match_the_documented_organisation(state: DesiredState) -> None:
    analyst, developer, senior, admin = state.roles
    assert analyst.allowed_models == ("mistral-small-latest",)
    assert (analyst.max_tokens_per_request, analyst.daily_token_budget) == (2000, 200_000)
    assert developer.allowed_models == ("mistral-small-latest", "codestral-latest")
    assert len(senior.allowed_models) == 4
    assert admin.allows_any_model()
    assert admin.daily_token_budget is None


def test_an_unknown_role_and_seat_are_named_in_plain_english(tmp_path: Path) -> None:
    copy = tmp_path / "desired-state"
    shutil.copytree(EXAMPLE, copy)
    people = copy / "people.yaml"
    people.write_text(
        people.read_text().replace(
            "role: organization_admin, seats: [chat,", "role: overlord, seats: [chess,", 1
        )
    )
    messages = [p.message for p in check_desired_state(copy, today=TODAY).problems]
    assert any("'overlord' is not an organisation role of " in m for m in messages)
    assert any("'chess' is not a product seat of " in m for m in messages)
