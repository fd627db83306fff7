"""Shared fixtures: the demo organisation's policy built from model objects, a fake clock."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from decimal import Decimal

import pytest

from reconciler.model import (
    ApiKey,
    DesiredState,
    Organization,
    Role,
    SpendLimit,
    Workspace,
    WorkspacePolicy,
)
from reconciler.policy import MemoryStore, Policy, SQLiteStore, UsageStore
from tests.policy import postgres_server

SMALL = "mistral-small-latest"
CODE = "codestral-latest"
MEDIUM = "mistral-medium-latest"
LARGE = "mistral-large-latest"


class FakeClock:
    """A clock tests move by hand."""

    def __init__(self, when: dt.datetime) -> None:
        self.now = when.timestamp()

    def __call__(self) -> float:
        return self.now

    def set(self, when: dt.datetime) -> None:
        self.now = when.timestamp()

    def advance(self, seconds: float) -> None:
        self.now += seconds


def utc(
    year: int,
    month: int,
    day: int,
    hour: int = 0,
    minute: int = 0,
    second: int = 0,
    microsecond: int = 0,
) -> dt.datetime:
    return dt.datetime(year, month, day, hour, minute, second, microsecond, tzinfo=dt.UTC)


def demo_state() -> DesiredState:
    """The example organisation's roles, workspaces and keys (see notes on the demo org)."""
    roles = (
        Role(
            name="analyst",
            allowed_models=(SMALL,),
            max_tokens_per_request=2000,
            daily_token_budget=200_000,
        ),
        Role(
            name="developer",
            allowed_models=(SMALL, CODE),
            max_tokens_per_request=8000,
            daily_token_budget=1_000_000,
        ),
        Role(
            name="senior",
            allowed_models=(SMALL, MEDIUM, LARGE, CODE),
            max_tokens_per_request=32_000,
            daily_token_budget=5_000_000,
        ),
        Role(name="admin", allowed_models=("*",), max_tokens_per_request=128_000),
    )
    workspaces = (
        Workspace(
            name="dev",
            policy=WorkspacePolicy(
                allowed_models=(SMALL, CODE), rpm=60, monthly_budget_usd=Decimal(50)
            ),
        ),
        Workspace(
            name="ml",
            policy=WorkspacePolicy(allowed_models=("*",), rpm=200, monthly_budget_usd=Decimal(500)),
        ),
        Workspace(
            name="prod",
            policy=WorkspacePolicy(
                allowed_models=(SMALL, MEDIUM, LARGE, CODE),
                rpm=500,
                monthly_budget_usd=Decimal(2000),
            ),
        ),
    )
    keys = (
        ApiKey(name="dev-alice", workspace="dev", role="developer"),
        ApiKey(name="dev-bob", workspace="dev", role="developer"),
        ApiKey(name="dev-henry-notebooks", workspace="dev", role="analyst"),
        ApiKey(name="ml-dan", workspace="ml", role="admin"),
        ApiKey(name="ml-eval-harness", workspace="ml", role="senior"),
        ApiKey(name="prod-search-indexer", workspace="prod", role="analyst"),
    )
    return DesiredState(
        organization=Organization(
            name="Acme Analytics", spend_limit=SpendLimit(amount=Decimal(5000))
        ),
        roles=roles,
        workspaces=workspaces,
        keys=keys,
    )


@pytest.fixture
def state() -> DesiredState:
    return demo_state()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(utc(2026, 11, 18, 14, 30))


@pytest.fixture(scope="session")
def postgres() -> Iterator[postgres_server.Server]:
    """One PostgreSQL server for the session (each test uses a schema of its own)."""
    reason = postgres_server.missing()
    if reason is not None:
        pytest.skip(f"no PostgreSQL server for the shared-store tests: {reason}")
    server = postgres_server.start()
    yield server
    server.stop()


def new_schema() -> str:
    """A schema no other test uses, on the shared server."""
    return f"t_{uuid.uuid4().hex[:16]}"


@pytest.fixture(params=["memory", "sqlite", "postgres"])
def store(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[UsageStore]:
    made: UsageStore
    if request.param == "memory":
        made = MemoryStore()
    elif request.param == "sqlite":
        made = SQLiteStore(tmp_path_factory.mktemp("usage") / "usage.db")
    else:
        from reconciler.policy.postgres import PostgresStore

        server = request.getfixturevalue("postgres")
        made = PostgresStore(server.conninfo, schema=new_schema())
    yield made
    made.close()


@pytest.fixture
def policy(state: DesiredState, clock: FakeClock, store: UsageStore) -> Policy:
    return Policy(state, store=store, clock=clock)
