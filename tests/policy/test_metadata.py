"""Policy.from_key_metadata: a key's vault entry carries its policy."""

from __future__ import annotations

import asyncio
import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest
from pydantic import SecretStr

from reconciler.errors import ConfigError
from reconciler.policy import Policy, Reason
from reconciler.vault.base import SecretMetadata
from reconciler.vault.file import FileVault
from tests.policy.conftest import FakeClock, utc

HENRY = {
    "key_id": "0b6f6c1e-0000-4000-8000-000000000001",
    "key_name": "dev-henry-notebooks",
    "workspace": "dev",
    "role": "analyst",
    "allowed_models": "mistral-small-latest",
    "max_tokens_per_request": "2000",
    "daily_token_budget": "200000",
    "rpm": "60",
    "monthly_budget_usd": "50",
    "managed_by": "reconciler",
}


def test_metadata_policy_enforces_every_field() -> None:
    clock = FakeClock(utc(2026, 11, 18, 12))
    policy = Policy.from_key_metadata(HENRY, clock=clock)
    assert policy.single_key == "api_key.dev-henry-notebooks"
    assert policy.authorize("dev-henry-notebooks", "mistral-small-2506", 2000)
    assert policy.authorize("dev-henry-notebooks", "codestral-latest", 1).reason is (
        Reason.MODEL_NOT_ALLOWED
    )
    assert policy.authorize("dev-henry-notebooks", "mistral-small-latest", 2001).reason is (
        Reason.OVER_REQUEST_TOKEN_LIMIT
    )
    for _ in range(59):
        assert policy.authorize("api_key.dev-henry-notebooks", "mistral-small-latest", 1)
    assert policy.authorize("api_key.dev-henry-notebooks", "mistral-small-latest", 1).reason is (
        Reason.OVER_RPM
    )
    assert policy.guard("dev").limits.monthly_usd == Decimal(50)


def test_metadata_written_by_the_vault_layer_round_trips() -> None:
    stored = SecretMetadata(
        key_id="0b6f6c1e-0000-4000-8000-000000000001",
        key_name="prod-search-indexer",
        workspace="prod",
        created=dt.datetime(2026, 11, 1, tzinfo=dt.UTC),
        role="analyst",
        allowed_models=("mistral-small-latest", "codestral-latest"),
        max_tokens_per_request=2000,
        rpm=500,
    )
    for source in (stored, stored.as_strings()):
        policy = Policy.from_key_metadata(source)
        assert policy.authorize("prod-search-indexer", "codestral-2508", 100)
        assert not policy.authorize("prod-search-indexer", "mistral-large-latest", 100)
        assert policy.authorize("prod-search-indexer", "codestral-2508", 5000).reason is (
            Reason.OVER_REQUEST_TOKEN_LIMIT
        )


def test_policy_from_an_entry_read_back_from_a_file_vault(tmp_path: Path) -> None:
    metadata = SecretMetadata(
        key_id="0b6f6c1e-0000-4000-8000-000000000002",
        key_name="dev-bob",
        workspace="dev",
        created=dt.datetime(2026, 11, 1, tzinfo=dt.UTC),
        role="developer",
        allowed_models=("codestral-latest", "mistral-small-latest"),
        max_tokens_per_request=8000,
    )
    vault = FileVault(tmp_path / "vault")
    asyncio.run(vault.put("dev/dev-bob", SecretStr("sk-not-a-real-key"), metadata))
    entry = asyncio.run(vault.read_metadata("dev/dev-bob"))
    policy = Policy.from_key_metadata(entry)
    assert policy.subjects() == ["api_key.dev-bob", "role.developer"]
    assert policy.authorize("api_key.dev-bob", "codestral-latest", 8000)
    assert policy.authorize("api_key.dev-bob", "mistral-large-latest", 10).reason is (
        Reason.MODEL_NOT_ALLOWED
    )


@pytest.mark.parametrize(
    ("changes", "allowed"),
    [
        ({"allowed_models": '["mistral-small-latest", "codestral-latest"]'}, True),
        ({"allowed_models": "mistral-small-latest, codestral-latest"}, True),
        ({"allowed_models": "*"}, True),
        ({"allowed_models": ""}, False),  # present but empty: no model at all
        ({"allowed_models": None}, True),  # absent: any model
    ],
)
def test_allowed_models_forms(changes: dict[str, str | None], allowed: bool) -> None:
    metadata = {k: v for k, v in {**HENRY, **changes}.items() if v is not None}
    decision = Policy.from_key_metadata(metadata).authorize(
        "dev-henry-notebooks", "codestral-latest", 10
    )
    assert bool(decision) is allowed


def test_empty_numbers_mean_no_limit() -> None:
    metadata = {**HENRY, "max_tokens_per_request": "", "rpm": "none", "monthly_budget_usd": ""}
    policy = Policy.from_key_metadata(metadata)
    assert policy.authorize("dev-henry-notebooks", "mistral-small-latest", 100_000)
    assert policy.guard("dev").limits.monthly_usd is None


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("rpm", "sixty", "'rpm': expected a whole number"),
        ("daily_token_budget", "-5", "'daily_token_budget': expected a whole number"),
        ("monthly_budget_usd", "lots", "'monthly_budget_usd': expected an amount"),
        ("monthly_budget_usd", "NaN", "'monthly_budget_usd': expected an amount"),
        ("allowed_models", "[1, 2]", "'allowed_models'"),
        ("key_name", "", "'key_name' is missing"),
    ],
)
def test_malformed_metadata_names_the_field(field: str, value: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        Policy.from_key_metadata({**HENRY, field: value})


def test_not_a_mapping() -> None:
    with pytest.raises(ConfigError, match="string map"):
        Policy.from_key_metadata(["key_name"])
