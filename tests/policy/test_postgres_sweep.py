"""The PostgreSQL store's sweep beside a writer: it forgets only what is still old, and
takes the rate windows in the order admissions do."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from reconciler.policy.store import RateLimit, Reservation
from tests.policy.conftest import new_schema, utc

NOW = utc(2026, 11, 18, 12).timestamp()
WAITING = (
    "SELECT count(*) FROM pg_stat_activity "
    "WHERE application_name = 'sweeper' AND wait_event_type = 'Lock'"
)


def _sweep_until_it_waits(store: Any, watcher: Any, at: float) -> threading.Thread:
    """Start ``store.sweep(at)`` on a thread; return once it waits for a row lock."""
    sweeper = threading.Thread(target=store.sweep, args=(at,))
    sweeper.start()
    deadline = time.monotonic() + 30
    while watcher.execute(WAITING).fetchone() == (0,):
        assert time.monotonic() < deadline, "the sweep never waited for the row"
    return sweeper


def test_a_sweep_keeps_a_ring_slot_an_admission_rewrote_while_it_waited(postgres: Any) -> None:
    import psycopg

    from reconciler.policy.postgres import PostgresStore

    schema = new_schema()
    store = PostgresStore(f"{postgres.conninfo}?application_name=sweeper", schema=schema)
    rate = RateLimit("w", 2)
    for at in (NOW, NOW + 1):  # slots 0 and 1, an hour old by NOW + 3700
        assert isinstance(store.admit([rate], at), Reservation)
    with psycopg.connect(postgres.conninfo, autocommit=True) as watcher:
        with psycopg.connect(postgres.conninfo) as admission:  # the third, in its transaction
            admission.execute(f"UPDATE {schema}.ring SET ts = %s WHERE slot = 0", (NOW + 3700,))
            sweeper = _sweep_until_it_waits(store, watcher, NOW + 3700)
            admission.commit()
        sweeper.join(30)
        slots = watcher.execute(f"SELECT slot FROM {schema}.ring ORDER BY slot").fetchall()
    assert slots == [(0,)]  # the new admission's slot is kept, the old one forgotten
    store.close()


def test_a_sweep_takes_the_rate_windows_in_name_order(postgres: Any) -> None:
    import psycopg

    from reconciler.policy.postgres import PostgresStore

    schema = new_schema()
    store = PostgresStore(f"{postgres.conninfo}?application_name=sweeper", schema=schema)
    for scope in ("b", "a"):  # b's row first
        assert isinstance(store.admit([RateLimit(scope, 5)], NOW), Reservation)
    lock = f"SELECT 1 FROM {schema}.ring WHERE scope LIKE %s FOR UPDATE"
    with psycopg.connect(postgres.conninfo, autocommit=True) as watcher:
        with psycopg.connect(postgres.conninfo) as admission:  # one on b, in its transaction
            admission.execute(lock, ("b|%",))
            sweeper = _sweep_until_it_waits(store, watcher, NOW + 3700)
            # the sweep waits for b holding a's old slot: an admission on a and b, which
            # takes a first too, waits for the sweep rather than holding b against it
            with pytest.raises(psycopg.errors.LockNotAvailable):
                watcher.execute(f"{lock} NOWAIT", ("a|%",))
            admission.commit()
        sweeper.join(30)
        left = watcher.execute(f"SELECT count(*) FROM {schema}.ring").fetchone()
    assert left == (0,)
    store.close()
