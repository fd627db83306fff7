"""Shared values for the secret-store tests: a secret to grep for, metadata, fast stores."""

from __future__ import annotations

import asyncio
import datetime as dt
import secrets
from collections.abc import Coroutine
from decimal import Decimal
from typing import Any, TypeVar

from pydantic import SecretStr

from reconciler import http
from reconciler.vault.base import SecretMetadata
from reconciler.vault.hashicorp import HashiCorpVault
from reconciler.vault.hashicorp_auth import TokenAuth

NOW = dt.datetime(2026, 11, 18, 9, 30, tzinfo=dt.UTC)  # the stores' clock in the contract tests

T = TypeVar("T")

# Dashes keep it from looking like one long opaque token, so only the denylist could mask it.
SECRET_TEXT = "sk-" + "-".join(secrets.token_hex(4) for _ in range(6))
SECRET = SecretStr(SECRET_TEXT)
OTHER_TEXT = "sk-" + "-".join(secrets.token_hex(4) for _ in range(6))
TOKEN_TEXT = "hvs." + "-".join(secrets.token_hex(4) for _ in range(4))
VAULT_ADDR = "https://vault.test:8200"
FAST = http.RetryPolicy(attempts=3, base_delay=0.0, max_delay=0.0)


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


def assert_no_secret(*texts: object) -> None:
    """None of ``texts`` (messages, reprs, logs, files) holds a secret or the token."""
    for text in texts:
        for secret in (SECRET_TEXT, OTHER_TEXT, TOKEN_TEXT):
            assert secret not in str(text), f"secret leaked into: {str(text)[:200]}"


def make_metadata(**overrides: Any) -> SecretMetadata:
    values: dict[str, Any] = {
        "key_id": "0b9f5a1e-2c1d-4c41-9a4b-7d7a1e2f3a4b",
        "key_name": "dev-alice",
        "workspace": "dev",
        "owner": "alice.martin@acme.example",
        "created": dt.datetime(2025, 1, 2, 3, 4, 5, tzinfo=dt.UTC),
        "expires": dt.date(2025, 4, 2),
        "role": "developer",
        "allowed_models": ("codestral-latest", "mistral-small-latest"),
        "max_tokens_per_request": 8000,
        "daily_token_budget": 1_000_000,
        "rpm": 60,
        "monthly_budget_usd": Decimal("50"),
    }
    values.update(overrides)
    return SecretMetadata(**values)


class Sleeps:
    """An async ``sleep`` that records the delays instead of waiting."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)


def vault_store(**overrides: Any) -> HashiCorpVault:
    options: dict[str, Any] = {
        "address": VAULT_ADDR,
        "auth": TokenAuth(SecretStr(TOKEN_TEXT), "VAULT_TOKEN"),
        "mount": "secret",
        "prefix": "mistral/acme",
        "policy": FAST,
        "sleep": Sleeps(),
    }
    options.update(overrides)
    return HashiCorpVault(**options)
