"""The PostgreSQL store's sweep beside a writer: it forgets only what is still old."""

from __future__ import annotations

import threading
import time
from typing import Any

from reconciler.policy.store import RateLimit, Reservation
from tests.policy.conftest import new_schema, utc

NOW = utc(2026, 11, 18, 12).timestamp()
WAITING = (
    "SELECT count(*) FROM pg_stat_activity "
    "WHERE application_name = 'sweeper' AND wait_event_type = 'Lock'"
)


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
            sweeper = threading.Thread(target=store.sweep, args=(NOW + 3700,))
            sweeper.start()
            deadline = time.monotonic() + 30
            while watcher.execute(WAITING).fetchone() == (0,):  # (on the slot rewritten)
                assert time.monotonic() < deadline, "the sweep never waited for the slot"
            admission.commit()
        sweeper.join(30)
        slots = watcher.execute(f"SELECT slot FROM {schema}.ring ORDER BY slot").fetchall()
    assert slots == [(0,)]  # the new admission's slot is kept, the old one forgotten
    store.close()
