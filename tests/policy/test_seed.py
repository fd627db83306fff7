"""Starting from the platform's spend: a fresh store does not grant a whole month again."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from decimal import Decimal
from pathlib import Path

import pytest
import time_machine
from typer.testing import CliRunner

from reconciler.cli import policy as policy_cli
from reconciler.cli.main import app
from reconciler.policy import Policy, Reason, SQLiteStore, UsageStore
from reconciler.policy.windows import Window
from tests.policy.conftest import CODE, FakeClock, demo_state, utc

DESIRED = Path(__file__).resolve().parents[2] / "desired-state"
runner = CliRunner()


def test_a_fresh_store_starts_the_month_at_the_platforms_spend(
    store: UsageStore, clock: FakeClock
) -> None:
    policy = Policy(demo_state(), store=store, clock=clock)
    call = {"estimated_tokens": 8000, "output_tokens": 8000}  # codestral: $0.0072
    assert policy.authorize("api_key.dev-bob", CODE, dry_run=True, **call)
    added = policy.seed_from_platform({"dev": Decimal("49.995"), "ml": Decimal(0)})
    assert added == {"dev": Decimal("49.995"), "ml": Decimal(0)}
    denied = policy.authorize("api_key.dev-bob", CODE, dry_run=True, **call)
    assert denied.reason is Reason.OVER_BUDGET
    assert "$49.9950 used this month" in denied.message
    assert policy.guard("dev").spent(Window.DAY) == 0  # the rolling windows are not seeded
    clock.set(utc(2026, 12, 1))
    assert policy.authorize("api_key.dev-bob", CODE, dry_run=True, **call)  # a new month


def test_seeding_is_idempotent_and_never_lowers_what_was_recorded(
    store: UsageStore, clock: FakeClock
) -> None:
    policy = Policy(demo_state(), store=store, clock=clock)
    guard = policy.guard("ml")
    guard.record("mistral-large-latest", 0, 10_000_000)  # this host recorded $15
    assert policy.seed_from_platform({"ml": Decimal(12)}) == {"ml": Decimal(0)}  # it lags
    assert guard.spent() == 15
    assert policy.seed_from_platform({"ml": Decimal(20)}) == {"ml": Decimal(5)}
    assert policy.seed_from_platform({"ml": Decimal(20)}) == {"ml": Decimal(0)}  # again
    assert guard.spent() == 20
    assert policy.seed_from_platform({"ml": Decimal("20.5")}) == {"ml": Decimal("0.5")}
    assert guard.spent() == Decimal("20.5")


def test_platform_names_match_ignoring_case_and_others_are_skipped(clock: FakeClock) -> None:
    policy = Policy(demo_state(), clock=clock)
    added = policy.seed_from_platform({"Prod": Decimal(3), "Default Workspace": Decimal(9)})
    assert added == {"prod": Decimal(3)}
    assert policy.guard("prod").spent() == 3


def test_seeding_from_a_provider_asks_for_this_month(clock: FakeClock) -> None:
    asked: list[dt.date] = []

    class Usage:
        async def monthly_spend(self, month: dt.date) -> dict[str, Decimal]:
            asked.append(month)
            return {"dev": Decimal(7)}

    policy = Policy(demo_state(), clock=clock)
    added = asyncio.run(policy.seed_from_provider(Usage()))  # type: ignore[arg-type]
    assert (asked, added) == ([dt.date(2026, 11, 1)], {"dev": Decimal(7)})


def test_policy_seed_from_the_command_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    spend = {"dev": Decimal("45"), "ml": Decimal("100"), "Lab\x1b[2J": Decimal("1")}
    asked: list[dt.date] = []

    class Fake:
        async def monthly_spend(self, month: dt.date) -> dict[str, Decimal]:
            asked.append(month)
            return spend

        async def aclose(self) -> None:
            pass

    monkeypatch.setattr(policy_cli, "_open_provider", lambda options: Fake())
    store = str(tmp_path / "usage.db")
    args = ["policy", "seed", "--store", store, "--desired", str(DESIRED)]
    late = dt.datetime(2026, 11, 30, 23, 59, tzinfo=dt.UTC)
    with time_machine.travel(late, tick=False):
        first = runner.invoke(app, args)
        second = runner.invoke(app, args)
    assert first.exit_code == 0, first.stderr
    assert first.stdout.splitlines() == [
        f"{store}: this month (2026-11) from the platform's spend",
        "  dev: +$45.00, to the platform's $45.00",
        "  ml: +$100.00, to the platform's $100.00",
        "  prod: no spend on the platform; the store has $0.00",
        "  Lab\\x1b[2J: $1.00, not in the desired state",  # live text, escaped
    ]
    assert "  dev: unchanged at $45.00 (the platform has no more)" in second.stdout
    assert asked == [dt.date(2026, 11, 1)] * 2
    seeded = Policy.from_directory(
        DESIRED, store=SQLiteStore(store), clock=lambda: late.timestamp()
    )
    assert seeded.guard("dev").spent() == 45


def test_policy_seed_against_the_embedded_sandbox(tmp_path: Path) -> None:
    store = tmp_path / "usage.db"
    result = runner.invoke(
        app,
        ["policy", "seed", "--sandbox", "--sandbox-state", str(tmp_path / "state.json"),
         "--store", str(store), "--desired", str(DESIRED)],
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    policy = Policy.from_directory(DESIRED, store=SQLiteStore(store))
    budget = runner.invoke(
        app,
        ["budget", str(DESIRED), "--sandbox", "--sandbox-state", str(tmp_path / "state.json"),
         "--format", "json"],
    )  # fmt: skip
    for line in json.loads(budget.stdout)["workspaces"]:
        if line["managed"]:  # the store now holds what the platform reports
            assert policy.guard(line["name"]).spent() == Decimal(line["spent_usd"])
