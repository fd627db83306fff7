"""Usage stores: the protocol's behaviour in memory and in SQLite, and many processes."""

from __future__ import annotations

import gc
import multiprocessing
import os
import socket
import sqlite3
import threading
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from reconciler.policy import Policy, SQLiteStore, UsageStore
from reconciler.policy.sqlite import PAGE_SIZE, PolicyStoreError
from reconciler.policy.store import Charge, RateLimit, Refusal, Reservation, Usage
from reconciler.policy.windows import Window
from tests.policy.conftest import FakeClock, demo_state, new_schema, utc

NOW = utc(2026, 11, 18, 12).timestamp()
HOUR = Window.HOUR


def _charge(amount: int, limit: int | None = None, name: str = "s|usd|hour") -> Charge:
    return Charge(name, HOUR, amount, limit)


def test_admit_reports_the_first_failing_check(store: UsageStore) -> None:
    store.add([_charge(90, name="a"), _charge(50, name="b")], NOW)
    outcome = store.admit([_charge(5, 100, "a"), _charge(60, 100, "b"), _charge(20, 100, "a")], NOW)
    assert isinstance(outcome, Refusal)
    assert outcome.check == _charge(60, 100, "b")
    assert outcome.used == 50
    assert store.read("b", HOUR, NOW).reserved == 0  # a refusal reserves nothing anywhere
    assert store.read("a", HOUR, NOW).reserved == 0


def test_admit_reserves_every_charge_and_settle_replaces_it(store: UsageStore) -> None:
    outcome = store.admit([_charge(30, 100, "a"), _charge(7, None, "b")], NOW)
    assert isinstance(outcome, Reservation)
    assert (store.read("a", HOUR, NOW).reserved, store.read("b", HOUR, NOW).reserved) == (30, 7)
    store.settle(outcome, [25, 4], NOW + 5)
    assert store.read("a", HOUR, NOW + 5).spent == 25
    assert store.read("a", HOUR, NOW + 5).reserved == 0
    assert store.read("b", HOUR, NOW + 5).spent == 4


def test_a_thread_that_ended_leaves_no_connection_open(store: UsageStore) -> None:
    """Threads that come and go (a pool's retired workers; anyio's, which the async
    transports ask a shared store in, end with their event loop or after ten idle
    seconds): each opens its own connection, which must not outlive it."""

    def in_a_thread() -> None:
        asked = threading.Thread(target=store.add, args=([_charge(1, name="a")], NOW))
        asked.start()
        asked.join()

    in_a_thread()  # whatever the first use opens for good (a shared lock file)
    gc.collect()
    before = len(os.listdir("/proc/self/fd"))
    for _ in range(5):
        in_a_thread()
    gc.collect()
    assert len(os.listdir("/proc/self/fd")) == before
    assert store.read("a", HOUR, NOW).spent == 6


def test_dry_run_reserves_nothing(store: UsageStore) -> None:
    assert store.admit([_charge(30, 100), RateLimit("w", 1)], NOW, reserve=False) is None
    assert store.read("s|usd|hour", HOUR, NOW).total == 0
    assert isinstance(store.admit([RateLimit("w", 1)], NOW), Reservation)  # slot still free


def test_a_refused_batch_takes_no_rate_slot_and_a_call_that_spent_nothing_holds_nothing(
    store: UsageStore,
) -> None:
    rate, month = RateLimit("w", 1), Charge("m", Window.MONTH, 5, 100)
    refused = store.admit([rate, _charge(101, 100), month], NOW)
    assert isinstance(refused, Refusal)
    assert refused.check == _charge(101, 100)
    held = store.admit([rate, _charge(30, 100), month], NOW + 1)  # the slot is still free
    assert isinstance(held, Reservation)
    assert store.read("m", Window.MONTH, NOW + 1).reserved == 5
    assert isinstance(store.admit([rate], NOW + 2), Refusal)  # and now taken
    store.settle(held, [0, 0], NOW + 3)
    assert store.read("s|usd|hour", HOUR, NOW + 3) == Usage()
    assert store.read("m", Window.MONTH, NOW + 3) == Usage()


def test_rate_limit_refuses_with_the_wait(store: UsageStore) -> None:
    assert isinstance(store.admit([RateLimit("w", 2)], NOW), Reservation)
    assert isinstance(store.admit([RateLimit("w", 2)], NOW + 10), Reservation)
    refused = store.admit([RateLimit("w", 2)], NOW + 20)
    assert isinstance(refused, Refusal)
    assert refused.retry_after == pytest.approx(40)
    assert isinstance(store.admit([RateLimit("w", 2)], NOW + 60.5), Reservation)
    assert isinstance(store.admit([RateLimit("w", 0)], NOW), Refusal)


@pytest.mark.parametrize("window", list(Window))
def test_a_charge_fits_up_to_its_limit_counting_spend_and_holds(
    store: UsageStore, window: Window
) -> None:
    store.add([Charge("c", window, 50)], NOW)
    held = store.admit([Charge("c", window, 30, 100)], NOW + 1)
    assert isinstance(held, Reservation)
    assert isinstance(store.admit([Charge("c", window, 20, 100)], NOW + 2), Reservation)  # 100
    refused = store.admit([Charge("c", window, 1, 100)], NOW + 3)
    assert isinstance(refused, Refusal)
    assert refused.used == 100  # 50 spent and 50 held
    store.settle(held, [10], NOW + 4)  # 30 held became 10 spent: 20 free again
    assert isinstance(store.admit([Charge("c", window, 20, 100)], NOW + 5), Reservation)
    assert isinstance(store.admit([Charge("c", window, 1, 100)], NOW + 6), Refusal)


@pytest.mark.parametrize("window", list(Window))
def test_two_charges_on_one_counter_in_a_batch_both_count(
    store: UsageStore, window: Window
) -> None:
    twice = [Charge("c", window, 30, 100), Charge("c", window, 40, 100)]
    held = store.admit([*twice, RateLimit("w", 5), RateLimit("w", 5)], NOW)
    assert isinstance(held, Reservation)
    assert store.read("c", window, NOW).reserved == 70
    store.settle(held, [10, 15], NOW + 1)
    usage = store.read("c", window, NOW + 1)
    assert (usage.spent, usage.reserved) == (25, 0)
    store.add(twice, NOW + 2)
    assert store.read("c", window, NOW + 2).spent == 95
    refused = store.admit([Charge("c", window, 6, 100)], NOW + 3)
    assert isinstance(refused, Refusal)
    assert refused.used == 95


def test_an_expired_reservation_is_charged_in_full_then_only_beyond_it(
    store: UsageStore,
) -> None:
    held = store.admit([_charge(30, 100)], NOW)
    assert isinstance(held, Reservation)
    store.sweep(NOW + 901)  # expired: its estimate is charged
    assert store.read("s|usd|hour", HOUR, NOW + 901) == Usage(30, 0)
    store.settle(held, [20], NOW + 902)  # the call did finish after all, for less
    assert store.read("s|usd|hour", HOUR, NOW + 902) == Usage(30, 0)
    longer = store.admit([_charge(30, 100)], NOW + 903)
    assert isinstance(longer, Reservation)
    store.sweep(NOW + 903 + 901)
    store.settle(longer, [45], NOW + 1900)  # for more than its estimate: the rest added
    assert store.read("s|usd|hour", HOUR, NOW + 1900) == Usage(75, 0)


def test_a_late_settlement_never_settles_a_newer_reservation_in_its_place(
    store: UsageStore,
) -> None:
    """A reservation charged by a sweep, then one admitted after it (SQLite gives the
    newest row the number of the one the sweep removed, when it was the last), then the
    first settles late: it adds only what passes its estimate, and the second's hold
    stays until the second settles."""
    held = store.admit([_charge(30, 100)], NOW)
    assert isinstance(held, Reservation)
    store.sweep(NOW + 901)  # its caller hung past the time-to-live: charged its 30
    after = store.admit([_charge(20, 100)], NOW + 902)
    assert isinstance(after, Reservation)
    store.settle(held, [10], NOW + 903)  # it finished after all, for less
    assert store.read("s|usd|hour", HOUR, NOW + 903) == Usage(30, 20)
    store.settle(after, [20], NOW + 904)
    assert store.read("s|usd|hour", HOUR, NOW + 904) == Usage(50, 0)


def test_a_rolling_window_counts_what_was_spent_in_its_length(store: UsageStore) -> None:
    day = Window.DAY
    store.add([Charge("t", day, 5)], NOW)
    store.add([Charge("t", day, 7)], NOW + 3600)
    assert store.read("t", day, NOW + 3600).spent == 12
    assert store.read("t", day, NOW + 86400 - 0.001).spent == 12
    assert store.read("t", day, NOW + 86400).spent == 7  # (now - 24h, now]: the first left
    assert store.read("t", day, NOW + 86400 + 3600).spent == 0


def test_a_refusal_says_when_enough_leaves_the_window(store: UsageStore) -> None:
    for minute in range(6):  # 10 each, a minute apart: 60 spent
        store.add([_charge(10)], NOW + 60 * minute)
    later = NOW + 600
    refused = store.admit([_charge(25, 70)], later)
    assert isinstance(refused, Refusal)
    assert refused.used == 60
    # 15 too many: the first two entries (20) must leave; the second leaves at NOW+60+1h
    assert refused.retry_after == pytest.approx(NOW + 60 + 3600 - later)
    assert isinstance(store.admit([_charge(25, 70)], NOW + 60 + 3600.001), Reservation)
    too_big = store.admit([_charge(71, 70)], later)
    assert isinstance(too_big, Refusal)
    assert too_big.retry_after is None  # it never fits


def test_a_lagging_clock_never_moves_the_ledger_backwards(store: UsageStore) -> None:
    store.add([_charge(10)], NOW)
    store.add([_charge(5)], NOW - 30)  # another process's clock, half a minute behind
    assert store.read("s|usd|hour", HOUR, NOW).spent == 15
    assert store.read("s|usd|hour", HOUR, NOW + 3600).spent == 0


def test_sweep_forgets_rolling_spend_but_keeps_months(store: UsageStore) -> None:
    month = Window.MONTH
    store.add([_charge(5), Charge("s|usd|day", Window.DAY, 6), Charge("m", month, 7)], NOW)
    store.sweep(NOW + 3 * 86400)
    assert store.read("s|usd|hour", HOUR, NOW).spent == 0  # forgotten, even looking back
    assert store.read("s|usd|day", Window.DAY, NOW).spent == 0
    assert store.read("m", month, NOW).spent == 7
    assert store.read("m", month, utc(2026, 12, 1).timestamp()).spent == 0  # a new month


def test_month_spend_lands_in_the_month_of_admission(store: UsageStore) -> None:
    end = utc(2026, 11, 30, 23, 59, 59).timestamp()
    held = store.admit([Charge("m", Window.MONTH, 30, 100), _charge(30, 100)], end)
    assert isinstance(held, Reservation)
    store.settle(held, [20, 20], end + 2)  # settled in December
    assert store.read("m", Window.MONTH, end).spent == 20
    assert store.read("m", Window.MONTH, end + 2).spent == 0
    assert store.read("s|usd|hour", HOUR, end + 2).spent == 20


def test_sqlite_is_in_wal_mode_and_shared_between_instances(tmp_path: Path) -> None:
    path = tmp_path / "usage.db"
    first, second = SQLiteStore(path), SQLiteStore(path)
    first.add([_charge(11)], NOW)
    assert second.read("s|usd|hour", HOUR, NOW).spent == 11
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        plan = " ".join(
            str(row[3])
            for row in db.execute(
                "EXPLAIN QUERY PLAN SELECT cum_before FROM ledger WHERE name = ? AND ts > ? "
                "ORDER BY ts, cum_before LIMIT 1",
                ("s|usd|hour", NOW - 3600),
            )
        )
    assert "USING PRIMARY KEY (name=? AND ts>?)" in plan  # one seek, not a scan
    first.close()
    second.close()


def test_a_new_sqlite_file_has_small_pages_and_an_old_one_keeps_its_own(tmp_path: Path) -> None:
    old = tmp_path / "old.db"
    with sqlite3.connect(old) as db:
        db.execute("PRAGMA page_size=4096")
        db.execute("CREATE TABLE before (x)")  # an existing file: its page size is set
    for path, size in ((tmp_path / "new.db", PAGE_SIZE), (old, 4096)):
        store = SQLiteStore(path)
        store.add([_charge(3)], NOW)
        assert store.read("s|usd|hour", HOUR, NOW).spent == 3
        store.close()
        with sqlite3.connect(path) as db:
            assert db.execute("PRAGMA page_size").fetchone()[0] == size


def test_sqlite_error_is_reported_clearly(tmp_path: Path) -> None:
    with pytest.raises(PolicyStoreError, match="usage store"):
        SQLiteStore(tmp_path / "missing-dir" / "usage.db")


def test_postgres_hosts_share_one_schema_and_others_are_apart(postgres: Any) -> None:
    from reconciler.policy.postgres import PostgresStore

    schema = new_schema()
    first, second = (
        PostgresStore(postgres.conninfo, schema=schema),
        PostgresStore(postgres.conninfo, schema=schema),
    )
    first.add([_charge(11)], NOW)
    assert second.read("s|usd|hour", HOUR, NOW).spent == 11
    apart = PostgresStore(postgres.conninfo, schema=new_schema())
    assert apart.read("s|usd|hour", HOUR, NOW).spent == 0
    for store in (first, second, apart):
        store.close()


def test_a_postgres_store_reconnects_after_losing_its_connection(postgres: Any) -> None:
    import psycopg

    from reconciler.policy.postgres import PostgresStore

    store = PostgresStore(f"{postgres.conninfo}?application_name=victim", schema=new_schema())
    store.add([_charge(5)], NOW)
    with psycopg.connect(postgres.conninfo, autocommit=True) as admin:  # a restart, say
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE application_name = 'victim'"
        )
    with pytest.raises(PolicyStoreError, match="is unavailable"):
        store.read("s|usd|hour", HOUR, NOW)
    assert store.read("s|usd|hour", HOUR, NOW).spent == 5  # a new connection
    store.close()


def test_postgres_errors_name_the_database_never_its_password() -> None:
    from reconciler.policy.postgres import PostgresStore
    from reconciler.policy.shared import describe_store, open_store

    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"postgresql://app:s3cret-pw@127.0.0.1:{port}/usage"
    with pytest.raises(PolicyStoreError) as caught:
        open_store(url)
    assert f"postgresql://127.0.0.1:{port}/usage" in str(caught.value)
    assert "s3cret-pw" not in str(caught.value)
    assert describe_store(url) == f"postgresql://127.0.0.1:{port}/usage"
    assert isinstance(open_store(":memory:"), SQLiteStore)
    with pytest.raises(ValueError, match="schema"):
        PostgresStore(url, schema="x; DROP TABLE ledger")


# --- several processes: one SQLite file on a host, or one PostgreSQL database --------------

CALLS = 60  # per process: eight processes interleave hundreds of check-and-record calls
Shared = tuple[str, str, str]  # ("sqlite", path, "") or ("postgres", conninfo, schema)


def _open(shared: Shared) -> UsageStore:
    kind, where, schema = shared
    if kind == "sqlite":
        return SQLiteStore(where)
    from reconciler.policy.postgres import PostgresStore

    return PostgresStore(where, schema=schema)


@pytest.fixture(params=["sqlite", "postgres"])
def shared(request: pytest.FixtureRequest, tmp_path: Path) -> Shared:
    """A new shared store's location (made, so the processes find its tables)."""
    if request.param == "sqlite":
        found: Shared = ("sqlite", str(tmp_path / "usage.db"), "")
    else:
        server = request.getfixturevalue("postgres")
        found = ("postgres", server.conninfo, new_schema())
    _open(found).close()
    return found


def _ring_slots(shared: Shared, scope: str) -> list[int]:
    """The ring slots a shared store holds for rate scope ``scope`` (any limit)."""
    kind, where, schema = shared
    query = "SELECT slot FROM ring WHERE scope LIKE ? ORDER BY slot"
    if kind == "sqlite":
        with sqlite3.connect(where) as db:
            return [slot for (slot,) in db.execute(query, (f"{scope}|%",))]
    import psycopg

    with psycopg.connect(where, autocommit=True) as pg:
        rows = pg.execute(
            query.replace("ring", f"{schema}.ring").replace("?", "%s"), (f"{scope}|%",)
        )
        return [slot for (slot,) in rows]


def test_sweep_forgets_rate_admissions_past_the_longest_period(shared: Shared) -> None:
    store = _open(shared)
    # a ring that never wraps, and one that does
    wide, narrow = RateLimit("w", 10**9), RateLimit("n", 3)
    for i in range(40):  # an admission every 100 s (each admission sweeps first)
        assert isinstance(store.admit([wide, narrow], NOW + 100 * i), Reservation)
    assert isinstance(store.admit([RateLimit("old", 5)], NOW), Reservation)  # a stale window
    store.sweep(NOW + 3900)  # an hour after NOW + 300: admissions 0 to 3 have left
    assert _ring_slots(shared, "w") == list(range(4, 40))
    assert _ring_slots(shared, "n") == [0, 1, 2]  # the limit's worth, all it ever holds
    assert _ring_slots(shared, "old") == []
    for later in (3950, 3955):  # with the one at 3900, three in a minute
        assert isinstance(store.admit([narrow], NOW + later), Reservation)
    assert isinstance(store.admit([narrow], NOW + 3959), Refusal)
    store.close()


def _policy(shared: Shared) -> Policy:
    return Policy(demo_state(), store=_open(shared), clock=FakeClock(utc(2026, 11, 18, 12)))


def _record_many(shared: Shared, numbers: Any) -> None:
    with numbers.get_lock():  # this worker's number: 0 to 7
        worker = numbers.value
        numbers.value += 1
    policy = _policy(shared)
    for i in range(CALLS):
        decision = policy.authorize("api_key.ml-dan", "mistral-large-latest", 100, dry_run=True)
        assert decision
        policy.record_usage("api_key.ml-dan", "mistral-large-latest", 100 + worker, i % 7)
    policy.store.close()


def _admit_many(shared: Shared, results: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    policy = _policy(shared)
    admitted = 0
    for _ in range(60):
        # each call: 100,000 output tokens of mistral-large = $0.15
        decision = policy.authorize(
            "api_key.ml-dan", "mistral-large-latest", 100_000, output_tokens=100_000
        )
        if decision:
            admitted += 1
            policy.record(decision, 0, 100_000)
    policy.store.close()
    results.put(admitted)


def _reserve_and_die(shared: Shared) -> None:
    policy = _policy(shared)
    assert policy.authorize("api_key.ml-dan", "mistral-large-latest", 100_000)
    os._exit(0)  # crash without settling


def _seed(shared: Shared, barrier: Any) -> None:
    policy = _policy(shared)
    barrier.wait()  # every host starts at once, each seeding the platform's figure
    policy.seed_from_platform({"ml": Decimal("123.45")})
    policy.store.close()


def _context() -> Any:
    return multiprocessing.get_context("fork" if hasattr(os, "fork") else "spawn")


def _run_all(target: Callable[..., None], *args: Any, count: int = 8) -> None:
    """``count`` processes running ``target(*args)`` at once; each must end well."""
    procs = [_context().Process(target=target, args=args) for _ in range(count)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    assert [p.exitcode for p in procs] == [0] * count


@pytest.mark.slow
def test_eight_processes_recording_keep_exact_totals(shared: Shared) -> None:
    _run_all(_record_many, shared, _context().Value("i", 0))
    policy = _policy(shared)
    tokens_in = sum((100 + w) * CALLS for w in range(8))
    tokens_out = 8 * sum(i % 7 for i in range(CALLS))
    assert policy.tokens_today("api_key.ml-dan") == tokens_in + tokens_out
    expected = (Decimal(tokens_in) * Decimal("0.5") + Decimal(tokens_out) * Decimal("1.5")) / (
        10**6
    )
    assert policy.guard("ml").spent() == expected
    policy.store.close()


@pytest.mark.slow
def test_eight_processes_admitting_share_one_budget(shared: Shared) -> None:
    # ml has $500 a month; the processes race for the last $2 in calls of $0.15
    policy = _policy(shared)
    policy.guard("ml").record("mistral-large-latest", 0, 332_000_000)
    policy.store.close()  # $498 spent this month: room for 13 calls of $0.15
    results = _context().Queue()
    _run_all(_admit_many, shared, results)
    admitted = sum(results.get(timeout=5) for _ in range(8))
    assert admitted == 13
    policy = _policy(shared)
    assert policy.guard("ml").spent() == Decimal("498") + Decimal("0.15") * 13
    assert policy.guard("ml").spent() <= Decimal(500)
    policy.store.close()


def test_eight_hosts_seeding_at_once_count_the_platforms_spend_once(shared: Shared) -> None:
    _run_all(_seed, shared, _context().Barrier(8))
    policy = _policy(shared)
    assert policy.guard("ml").spent() == Decimal("123.45")
    policy.store.close()


def test_a_crashed_process_s_reservation_is_charged_in_full_past_its_time(
    shared: Shared,
) -> None:
    """A process that dies between admission and settlement most likely died with its
    call out (a deploy, an out-of-memory kill): the provider bills it, so the budget
    counts its estimate, held until the time-to-live and then spent, never nothing."""
    proc = _context().Process(target=_reserve_and_die, args=(shared,))
    proc.start()
    proc.join(60)
    policy = _policy(shared)
    clock = policy.clock
    assert isinstance(clock, FakeClock)
    guard = policy.guard("ml")
    assert policy.tokens_today("api_key.ml-dan") == 100_000  # still held
    held = guard.remaining()
    assert guard.spent() == 0 and held is not None
    clock.advance(901)
    policy.store.sweep(clock())
    policy.store.sweep(clock())  # charged once
    assert policy.tokens_today("api_key.ml-dan") == 100_000
    assert guard.remaining() == held  # what was held is spent
    assert guard.spent() >= policy.prices.cost("mistral-large-latest", 100_000, 0) > 0
    policy.store.close()


def _open_and_add(path: str, barrier: object) -> None:
    barrier.wait()  # type: ignore[attr-defined]
    store = SQLiteStore(path)
    store.add([Charge("opened", Window.MONTH, 1)], NOW)
    store.close()


def test_many_processes_creating_the_same_new_store(tmp_path: Path) -> None:
    ctx = _context()
    for trial in range(3):
        path = str(tmp_path / f"fresh-{trial}.db")
        _run_all(_open_and_add, path, ctx.Barrier(8))
        assert SQLiteStore(path).read("opened", Window.MONTH, NOW).spent == 8


def test_a_file_that_is_no_sqlite_database_gets_no_lock_file_beside_it(tmp_path: Path) -> None:
    """``policy check ... --store /etc/passwd`` made ``/etc/passwd-lock`` before SQLite
    refused the file."""
    foreign = tmp_path / "passwd"
    foreign.write_text("root:x:0:0:root:/root:/bin/bash\n")
    with pytest.raises(PolicyStoreError, match="is not an SQLite database"):
        SQLiteStore(foreign)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["passwd"]


def test_a_fifo_named_as_the_store_is_refused_without_waiting_on_it(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    with pytest.raises(PolicyStoreError, match="is not a plain file"):
        SQLiteStore(fifo)
