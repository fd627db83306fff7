"""Requests with many checks of each kind, in every store: each check is read, refused,
reserved, settled and released on its own counter, whatever the others in its batch."""

from __future__ import annotations

import sqlite3
from decimal import Decimal
from pathlib import Path

import pytest

from reconciler.model import DesiredState
from reconciler.policy import Policy, SpendLimits, SQLiteStore, UsageStore
from reconciler.policy.store import Charge, Check, RateLimit, Refusal, Reservation, Usage
from reconciler.policy.windows import Window
from tests.policy.conftest import SMALL, FakeClock, utc

NOW = utc(2026, 11, 18, 12).timestamp()
HOUR, DAY, MONTH = Window.HOUR, Window.DAY, Window.MONTH


def _usage(store: UsageStore, at: float, **counters: Window) -> dict[str, Usage]:
    return {name: store.read(name, window, at) for name, window in counters.items()}


def test_every_charge_of_a_batch_is_reserved_and_settled_on_its_own_counter(
    store: UsageStore,
) -> None:
    checks: list[Check] = [
        Charge("tokens", DAY, 100, 1000),
        RateLimit("key", 2),
        Charge("hour", HOUR, 30, 100),
        Charge("day", DAY, 30, 200),
        RateLimit("team", 3),
        Charge("month", MONTH, 30, 500),
        Charge("org", MONTH, 40, 900),
        Charge("hour", HOUR, 5),  # the same counter again, without a limit
    ]
    held = store.admit(checks, NOW)
    assert isinstance(held, Reservation)
    counters = {"tokens": DAY, "hour": HOUR, "day": DAY, "month": MONTH, "org": MONTH}
    assert _usage(store, NOW, **counters) == {
        "tokens": Usage(0, 100),
        "hour": Usage(0, 35),
        "day": Usage(0, 30),
        "month": Usage(0, 30),
        "org": Usage(0, 40),
    }
    store.settle(held, [60, 20, 25, 10, 15, 3], NOW + 10)
    assert _usage(store, NOW + 10, **counters) == {
        "tokens": Usage(60),
        "hour": Usage(23),
        "day": Usage(25),
        "month": Usage(10),
        "org": Usage(15),
    }
    later = _usage(store, NOW + 10 + 3600, **counters)  # the hour has passed, not the day
    assert (later["hour"], later["day"], later["tokens"]) == (Usage(), Usage(25), Usage(60))
    # each rate window took one slot: "key" (2 a minute) fits once more, then refuses
    assert isinstance(store.admit(checks, NOW + 20), Reservation)
    refused = store.admit(checks, NOW + 30)
    assert isinstance(refused, Refusal)
    assert refused.check == RateLimit("key", 2)
    assert refused.retry_after == pytest.approx(30)


def test_a_refusal_by_the_second_of_three_rolling_charges_names_it_and_holds_nothing(
    store: UsageStore,
) -> None:
    store.add([Charge("second", HOUR, 10)], NOW - 600)
    store.add([Charge("second", HOUR, 50), Charge("third", HOUR, 90)], NOW - 300)
    checks: list[Check] = [
        RateLimit("key", 1),
        Charge("first", HOUR, 10, 100),
        Charge("second", HOUR, 50, 100),  # 60 spent: 10 too many
        Charge("third", HOUR, 20, 100),  # 10 too many as well, but checked later
        Charge("month", MONTH, 5, 100),
    ]
    refused = store.admit(checks, NOW)
    assert isinstance(refused, Refusal)
    assert refused.check == checks[2]
    assert refused.used == 60
    # the 10 spent at NOW - 600 must leave the hour: then 50 fit again
    assert refused.retry_after == pytest.approx(3000)
    counters = {"first": HOUR, "second": HOUR, "third": HOUR, "month": MONTH}
    assert _usage(store, NOW, **counters) == {
        "first": Usage(),
        "second": Usage(60),
        "third": Usage(90),
        "month": Usage(),
    }
    assert isinstance(store.admit([RateLimit("key", 1)], NOW + 1), Reservation)  # still free


def test_a_batch_the_sweep_charged_before_it_settled_adds_only_what_passes_it(
    store: UsageStore,
) -> None:
    checks: list[Check] = [
        Charge("tokens", DAY, 100, 1000),
        Charge("hour", HOUR, 40, 100),
        Charge("hour", HOUR, 10, 100),
        Charge("month", MONTH, 50, 500),
        RateLimit("key", 5),
    ]
    held = store.admit(checks, NOW)
    assert isinstance(held, Reservation)
    store.sweep(NOW + 901)  # past the time-to-live: its caller died, say
    counters = {"tokens": DAY, "hour": HOUR, "month": MONTH}
    assert _usage(store, NOW + 901, **counters) == {
        "tokens": Usage(100),
        "hour": Usage(50),
        "month": Usage(50),
    }
    store.sweep(NOW + 901.5)  # once
    store.settle(held, [120, 45, 5, 60], NOW + 902)  # it finished after all
    assert _usage(store, NOW + 902, **counters) == {
        "tokens": Usage(120),
        "hour": Usage(55),  # 5 past its first charge, nothing past its second
        "month": Usage(60),
    }
    assert isinstance(store.admit([Charge("hour", HOUR, 46, 100)], NOW + 903), Refusal)
    assert isinstance(store.admit([Charge("hour", HOUR, 45, 100)], NOW + 903), Reservation)
    assert store.read("hour", HOUR, NOW + 902 + 3600).spent == 0


def test_requests_charged_to_every_window_count_once_each_also_when_swept_first(
    state: DesiredState, clock: FakeClock, store: UsageStore
) -> None:
    limits = {"dev": SpendLimits(hourly_usd=Decimal(1), daily_usd=Decimal(2))}
    policy = Policy(state, store=store, clock=clock, spend_limits=limits)
    # each: the key's daily tokens, the workspace's rpm, hour, day and month
    guard = policy.guard("dev")

    def held() -> Decimal:
        return Decimal(1) - (guard.remaining(HOUR) or 0)

    bob = policy.authorize("api_key.dev-bob", SMALL, 5000, output_tokens=4000)
    bob_estimate = held()
    alice = policy.authorize("api_key.dev-alice", SMALL, 3000, output_tokens=2000)
    assert bob and alice
    assert policy.tokens_today("api_key.dev-bob") == 5000
    estimates = held()
    alice_estimate = estimates - bob_estimate
    assert bob_estimate > 0 and alice_estimate > 0 and guard.spent(HOUR) == 0
    clock.advance(901)
    store.sweep(clock())  # both charged their estimates: their callers died, say
    assert [guard.spent(w) for w in (HOUR, DAY, MONTH)] == [estimates] * 3
    assert policy.tokens_today("api_key.dev-bob") == 5000
    policy.record(bob, 300, 200)  # it finished after all, under its estimate: no more
    policy.record(alice, 3000, 20_000)  # far beyond it: the rest is added
    beyond = policy.prices.cost(SMALL, 3000, 20_000) - alice_estimate
    assert beyond > 0
    assert [policy.tokens_today(k) for k in ("api_key.dev-bob", "api_key.dev-alice")] == [
        5000,
        23_000,
    ]
    cost = estimates + beyond
    assert [guard.spent(w) for w in (HOUR, DAY, MONTH)] == [cost] * 3
    assert guard.remaining(HOUR) == Decimal(1) - cost
    clock.advance(3600)
    assert [guard.spent(w) for w in (HOUR, DAY, MONTH)] == [0, cost, cost]


def test_a_batch_leaves_the_rows_every_version_of_the_store_reads(tmp_path: Path) -> None:
    # old and new processes share one file during a rolling deploy: the rows keep their
    # meaning (two spends on one counter at one instant may be one ledger entry or two)
    path = tmp_path / "usage.db"
    store = SQLiteStore(path)
    checks: list[Check] = [
        Charge("h", HOUR, 40, 100),
        RateLimit("r", 5),
        Charge("h", HOUR, 10),
        Charge("m", MONTH, 30, 100),
    ]
    held = store.admit(checks, NOW)
    assert isinstance(held, Reservation)
    store.settle(held, [25, 5, 20], NOW + 1)
    store.close()
    with sqlite3.connect(path) as db:
        rows = {
            table: db.execute(f"SELECT * FROM {table} ORDER BY 1, 2").fetchall()
            for table in ("rolling", "ledger", "counters", "rates", "ring", "holds")
        }
    ledger = rows.pop("ledger")  # entries at NOW + 1 whose running totals chain 0 to 30
    assert {(name, ts) for name, ts, _, _ in ledger} == {("h", NOW + 1)}
    chain = [total for _, _, before, after in ledger for total in (before, after)]
    assert chain[0] == 0 and chain[-1] == 30 and chain[1:-1:2] == chain[2:-1:2]
    assert rows == {
        "rolling": [("h", 30, 0, NOW + 1)],
        "counters": [("m", MONTH.bucket(NOW), "month", 20, 0)],
        "rates": [("r|5/60", 1)],
        "ring": [("r|5/60", 0, NOW)],
        "holds": [],
    }
