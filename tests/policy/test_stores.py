"""Usage stores: the protocol's behaviour in memory and in SQLite, and many processes."""

from __future__ import annotations

import multiprocessing
import os
import sqlite3
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from reconciler.policy import Policy, SQLiteStore, UsageStore
from reconciler.policy.sqlite import PolicyStoreError
from reconciler.policy.store import Charge, RateLimit, Refusal, Reservation
from reconciler.policy.windows import Window
from tests.policy.conftest import FakeClock, demo_state, utc

NOW = utc(2026, 11, 18, 12).timestamp()
HOUR = Window.HOUR.bucket(NOW)


def _charge(amount: int, limit: int | None = None, name: str = "s|usd|hour") -> Charge:
    return Charge(name, HOUR, Window.HOUR, amount, limit)


def test_admit_reports_the_first_failing_check(store: UsageStore) -> None:
    store.add([_charge(90, name="a"), _charge(50, name="b")])
    outcome = store.admit([_charge(5, 100, "a"), _charge(60, 100, "b"), _charge(20, 100, "a")], NOW)
    assert isinstance(outcome, Refusal)
    assert outcome.check == _charge(60, 100, "b")
    assert outcome.used == 50
    assert store.read("b", HOUR).reserved == 0  # a refusal reserves nothing anywhere
    assert store.read("a", HOUR).reserved == 0


def test_admit_reserves_every_charge_and_settle_replaces_it(store: UsageStore) -> None:
    outcome = store.admit([_charge(30, 100, "a"), _charge(7, None, "b")], NOW)
    assert isinstance(outcome, Reservation)
    assert (store.read("a", HOUR).reserved, store.read("b", HOUR).reserved) == (30, 7)
    store.settle(outcome, [25, 4])
    assert store.read("a", HOUR).spent == 25
    assert store.read("a", HOUR).reserved == 0
    assert store.read("b", HOUR).spent == 4


def test_dry_run_reserves_nothing(store: UsageStore) -> None:
    assert store.admit([_charge(30, 100), RateLimit("w", 1)], NOW, reserve=False) is None
    assert store.read("s|usd|hour", HOUR).total == 0
    assert isinstance(store.admit([RateLimit("w", 1)], NOW), Reservation)  # slot still free


def test_rate_limit_refuses_with_the_wait(store: UsageStore) -> None:
    assert isinstance(store.admit([RateLimit("w", 2)], NOW), Reservation)
    assert isinstance(store.admit([RateLimit("w", 2)], NOW + 10), Reservation)
    refused = store.admit([RateLimit("w", 2)], NOW + 20)
    assert isinstance(refused, Refusal)
    assert refused.retry_after == pytest.approx(40)
    assert isinstance(store.admit([RateLimit("w", 2)], NOW + 60.5), Reservation)
    assert isinstance(store.admit([RateLimit("w", 0)], NOW), Refusal)


def test_settling_an_expired_reservation_counts_the_spend_once(store: UsageStore) -> None:
    held = store.admit([_charge(30, 100)], NOW)
    assert isinstance(held, Reservation)
    store.sweep(NOW + 901)  # expired: the hold is released
    assert store.read("s|usd|hour", HOUR).reserved == 0
    store.settle(held, [20])  # the call did finish after all
    usage = store.read("s|usd|hour", HOUR)
    assert (usage.spent, usage.reserved) == (20, 0)


def test_sweep_forgets_old_hours_and_days_but_keeps_months(store: UsageStore) -> None:
    month = Window.MONTH.bucket(NOW)
    day = Window.DAY.bucket(NOW)
    store.add(
        [
            _charge(5),
            Charge("s|usd|day", day, Window.DAY, 6),
            Charge("s|usd|month", month, Window.MONTH, 7),
        ]
    )
    store.sweep(NOW + 3 * 86400)
    assert store.read("s|usd|hour", HOUR).spent == 0
    assert store.read("s|usd|day", day).spent == 6
    assert store.read("s|usd|month", month).spent == 7
    store.sweep(NOW + 90 * 86400)
    assert store.read("s|usd|day", day).spent == 0
    assert store.read("s|usd|month", month).spent == 7


def test_sqlite_is_in_wal_mode_and_shared_between_instances(tmp_path: Path) -> None:
    path = tmp_path / "usage.db"
    first, second = SQLiteStore(path), SQLiteStore(path)
    first.add([_charge(11)])
    assert second.read("s|usd|hour", HOUR).spent == 11
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    first.close()
    second.close()


def test_sqlite_error_is_reported_clearly(tmp_path: Path) -> None:
    with pytest.raises(PolicyStoreError, match="usage store"):
        SQLiteStore(tmp_path / "missing-dir" / "usage.db")


# --- several processes -------------------------------------------------------------------

CALLS = 150


def _record_many(path: str, worker: int) -> None:
    clock = FakeClock(utc(2026, 11, 18, 12))
    policy = Policy(demo_state(), store=SQLiteStore(path), clock=clock)
    for i in range(CALLS):
        decision = policy.authorize("api_key.ml-dan", "mistral-large-latest", 100, dry_run=True)
        assert decision
        policy.record_usage("api_key.ml-dan", "mistral-large-latest", 100 + worker, i % 7)
    policy.store.close()


def _admit_many(path: str, results: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    clock = FakeClock(utc(2026, 11, 18, 12))
    policy = Policy(demo_state(), store=SQLiteStore(path), clock=clock)
    admitted = 0
    for _ in range(60):
        # each call: 100,000 output tokens of mistral-large = $0.15
        decision = policy.authorize(
            "api_key.ml-dan", "mistral-large-latest", 100_000, output_tokens=100_000
        )
        if decision:
            admitted += 1
            policy.record(decision, 0, 100_000)
    results.put(admitted)


def _reserve_and_die(path: str) -> None:
    clock = FakeClock(utc(2026, 11, 18, 12))
    policy = Policy(demo_state(), store=SQLiteStore(path), clock=clock)
    assert policy.authorize("api_key.ml-dan", "mistral-large-latest", 100_000)
    os._exit(0)  # crash without settling


def _context() -> Any:
    return multiprocessing.get_context("fork" if hasattr(os, "fork") else "spawn")


def test_eight_processes_recording_keep_exact_totals(tmp_path: Path) -> None:
    path = str(tmp_path / "usage.db")
    SQLiteStore(path).close()
    ctx = _context()
    procs = [ctx.Process(target=_record_many, args=(path, w)) for w in range(8)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    policy = Policy(demo_state(), store=SQLiteStore(path), clock=FakeClock(utc(2026, 11, 18, 12)))
    tokens_in = sum((100 + w) * CALLS for w in range(8))
    tokens_out = 8 * sum(i % 7 for i in range(CALLS))
    assert policy.tokens_today("api_key.ml-dan") == tokens_in + tokens_out
    expected = (Decimal(tokens_in) * Decimal("0.5") + Decimal(tokens_out) * Decimal("1.5")) / (
        10**6
    )
    assert policy.guard("ml").spent() == expected


def test_eight_processes_admitting_share_one_budget(tmp_path: Path) -> None:
    # ml has $500 a month; the processes race for the last $2 in calls of $0.15
    path = str(tmp_path / "usage.db")
    store = SQLiteStore(path)
    Policy(demo_state(), store=store).guard("ml").record("mistral-large-latest", 0, 332_000_000)
    store.close()  # $498 spent: room for 13 calls of $0.15
    ctx = _context()
    results = ctx.Queue()
    procs = [ctx.Process(target=_admit_many, args=(path, results)) for _ in range(8)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    admitted = sum(results.get(timeout=5) for _ in procs)
    assert admitted == 13
    policy = Policy(demo_state(), store=SQLiteStore(path), clock=FakeClock(utc(2026, 11, 18, 12)))
    assert policy.guard("ml").spent() == Decimal("498") + Decimal("0.15") * 13
    assert policy.guard("ml").spent() <= Decimal(500)


def test_a_crashed_process_does_not_hold_its_reservation_for_ever(tmp_path: Path) -> None:
    path = str(tmp_path / "usage.db")
    SQLiteStore(path).close()
    proc = _context().Process(target=_reserve_and_die, args=(path,))
    proc.start()
    proc.join(60)
    clock = FakeClock(utc(2026, 11, 18, 12))
    policy = Policy(demo_state(), store=SQLiteStore(path), clock=clock)
    assert policy.tokens_today("api_key.ml-dan") == 100_000  # still held
    clock.advance(901)
    policy.store.sweep(clock())
    assert policy.tokens_today("api_key.ml-dan") == 0


def _open_and_add(path: str, barrier: object) -> None:
    barrier.wait()  # type: ignore[attr-defined]
    store = SQLiteStore(path)
    store.add([Charge("opened", HOUR, Window.HOUR, 1)])
    store.close()


def test_many_processes_creating_the_same_new_store(tmp_path: Path) -> None:
    ctx = _context()
    for trial in range(3):
        path = str(tmp_path / f"fresh-{trial}.db")
        barrier = ctx.Barrier(8)
        procs = [ctx.Process(target=_open_and_add, args=(path, barrier)) for _ in range(8)]
        for p in procs:
            p.start()
        for p in procs:
            p.join(60)
        assert [p.exitcode for p in procs] == [0] * 8
        assert SQLiteStore(path).read("opened", HOUR).spent == 8
