"""The SQL the shared usage stores run, in text both SQLite and PostgreSQL take.

:mod:`reconciler.policy.sql` runs these over the tables it describes. Most are written
once; those that take one row per counter (every reservation of a request in one
upsert, its whole admission check in one read) are built for a number of rows by a
function that caches the text, so each shape is one string and the driver's statement
cache keeps hitting. A multi-row upsert never names a row twice (PostgreSQL refuses a
second update of one row in a statement): the callers add up what a batch puts on one
counter first, and list rows in name order, the order PostgreSQL locks them in.

Statements are written with ``?`` placeholders (SQLite's); :func:`for_format_params`
rewrites one for a driver that takes ``%s`` (psycopg).
"""

from __future__ import annotations

from functools import cache

# calendar months
MONTH_READ = "SELECT spent, reserved FROM counters WHERE name = ? AND bucket = ?"
# the same, up to an instant that may lie before the latest entries
ROLLING_READ_UNTIL = (
    "SELECT r.total, r.reserved, (SELECT l.cum_before FROM ledger l WHERE l.name = r.name "
    "AND l.ts > ? ORDER BY l.ts, l.cum_before LIMIT 1), (SELECT l.cum_before FROM ledger l "
    "WHERE l.name = r.name AND l.ts > ? ORDER BY l.ts, l.cum_before LIMIT 1) "
    "FROM rolling r WHERE r.name = ?"
)
# the entry whose leaving the window brings the spend down by the excess (a refusal
# only: it walks the entries that must leave, usually a few)
LEDGER_LEAVING = (
    "SELECT ts FROM ledger WHERE name = ? AND ts > ? AND cum_after >= ? "
    "ORDER BY ts, cum_before LIMIT 1"
)
HOLD_PUT = "INSERT INTO holds (created, charges) VALUES (?, ?) RETURNING id"
# by its creation time too: SQLite numbers a new row after the highest one left, so a
# hold admitted after the sweep removed the last one takes that one's number
HOLD_DROP = "DELETE FROM holds WHERE id = ? AND created = ?"
HOLDS_EXPIRED = "SELECT id, created, charges FROM holds WHERE created <= ?"
# in the order admissions write ring slots in, so that in PostgreSQL a sweep and an
# admission never wait on each other's ring rows in a circle
RATE_SCOPES = "SELECT scope FROM rates ORDER BY scope"
# a rate window's ring slots up to the first one still inside the longest period (all of
# them when none is): a ring fills its slots in order until it wraps, so this walks only
# the slots it forgets, however long the ring, where ``ts <= ?`` alone would read every
# slot of every ring under the write lock (a ring that wrapped keeps its limit's worth of
# slots, which is all it ever holds). ``ts <= ?`` as well: PostgreSQL checks it again on
# a slot that an admission rewrote while the sweep waited for it, and keeps that slot
RING_FORGET = (
    "DELETE FROM ring WHERE scope = ? AND ts <= ? AND slot < COALESCE((SELECT g.slot "
    "FROM ring g WHERE g.scope = ? AND g.ts > ? ORDER BY g.slot LIMIT 1), ?)"
)
ROLLING_NAMES = "SELECT name FROM rolling"
LEDGER_FORGET = "DELETE FROM ledger WHERE name = ? AND ts <= ?"


def for_format_params(sql: str) -> str:
    """A statement for a driver whose placeholders are ``%s`` (``%`` itself doubled)."""
    return sql.replace("%", "%%").replace("?", "%s")


def _values(width: int, rows: int) -> str:
    """``rows`` rows of ``width`` placeholders, for a ``VALUES`` list."""
    row = f"({', '.join('?' * width)})"
    return ", ".join([row] * rows)


# --- multi-row writes: one statement per table a batch writes ---------------------------

_MONTH_ADDS = (
    "INSERT INTO counters (name, bucket, spent, reserved) VALUES {} "
    "ON CONFLICT (name, bucket) DO UPDATE SET spent = counters.spent + excluded.spent, "
    "reserved = counters.reserved + excluded.reserved"
)
_ROLLING_HOLDS = (
    "INSERT INTO rolling (name, reserved) VALUES {} "
    "ON CONFLICT (name) DO UPDATE SET reserved = rolling.reserved + excluded.reserved"
)
_ROLLING_SPENDS = (
    "INSERT INTO rolling (name, total, reserved, last_ts) VALUES {} "
    "ON CONFLICT (name) DO UPDATE SET total = rolling.total + excluded.total, "
    "reserved = rolling.reserved + excluded.reserved, last_ts = CASE WHEN "
    "excluded.last_ts > rolling.last_ts THEN excluded.last_ts ELSE rolling.last_ts END"
)
# (amount, name): a spend's entry, from its counter's running total and latest timestamp
# just after the spend (so read in its transaction, after the spend's statement)
_LEDGER_ENTRY = "SELECT name, last_ts, total - ?, total FROM rolling WHERE name = ?"
_RATE_BUMPS = (
    "INSERT INTO rates (scope, n) VALUES {} "
    "ON CONFLICT (scope) DO UPDATE SET n = rates.n + excluded.n"
)
_RING_PUTS = (
    "INSERT INTO ring (scope, slot, ts) VALUES {} "
    "ON CONFLICT (scope, slot) DO UPDATE SET ts = excluded.ts"
)


@cache
def month_adds(rows: int) -> str:
    """Add (name, bucket, spent, reserved) to month counters."""
    return _MONTH_ADDS.format(_values(4, rows))


@cache
def rolling_holds(rows: int) -> str:
    """Add (name, reserved) to rolling counters' reservations."""
    return _ROLLING_HOLDS.format(_values(2, rows))


@cache
def rolling_spends(rows: int) -> str:
    """Add (name, total, reserved, last_ts) to rolling counters (``last_ts`` never goes
    back)."""
    return _ROLLING_SPENDS.format(_values(4, rows))


@cache
def ledger_entries(rows: int) -> str:
    """Log the (amount, name) spends just made by :func:`rolling_spends` in the ledger,
    each with the running total before and after it, at its counter's ``last_ts``."""
    selects = " UNION ALL ".join([_LEDGER_ENTRY] * rows)
    return f"INSERT INTO ledger (name, ts, cum_before, cum_after) {selects}"


@cache
def rate_bumps(rows: int) -> str:
    """Count (scope, n) more admissions of rate windows."""
    return _RATE_BUMPS.format(_values(2, rows))


@cache
def ring_puts(rows: int) -> str:
    """Stamp (scope, slot, ts) ring slots of rate windows."""
    return _RING_PUTS.format(_values(3, rows))


# --- an admission's checks, read in one statement ---------------------------------------

# (check, since, name): a rolling counter's running total, reservations and the running
# total before its first entry after ``since``
_ROLLING_READ = (
    "SELECT ?, r.total, r.reserved, (SELECT l.cum_before FROM ledger l WHERE l.name = r.name "
    "AND l.ts > ? ORDER BY l.ts, l.cum_before LIMIT 1), CAST(NULL AS DOUBLE PRECISION) "
    "FROM rolling r WHERE r.name = ?"
)
# (check, name, bucket): a month counter's spend and reservations
_MONTH_READ = (
    "SELECT ?, spent, reserved, CAST(NULL AS BIGINT), CAST(NULL AS DOUBLE PRECISION) "
    "FROM counters WHERE name = ? AND bucket = ?"
)
# (check, limit, scope): a rate window's admissions so far and the time in the ring slot
# the next one would take
_RATE_READ = (
    "SELECT ?, r.n, CAST(NULL AS BIGINT), CAST(NULL AS BIGINT), g.ts FROM rates r "
    "LEFT JOIN ring g ON g.scope = r.scope AND g.slot = r.n % ? WHERE r.scope = ?"
)


@cache
def admission_read(rolling: int, months: int, rates: int) -> str:
    """One read of every check an admission makes, each a row of parameters (rolling
    ones, then months, then rates, as their statements above take them): a row ``(check,
    a, b, c, ts)`` for each whose counter exists: ``total, reserved, cum_before`` of a
    rolling counter, ``spent, reserved`` of a month, ``n`` of a rate window and the ``ts``
    in its next slot (NULL: free). Each is an index seek of its own (a ``VALUES`` list
    joined to the tables would cost SQLite a temporary table per kind).

    The NULLs are typed, since PostgreSQL resolves a union's column types pair by pair.
    """
    parts = [_ROLLING_READ] * rolling + [_MONTH_READ] * months + [_RATE_READ] * rates
    return " UNION ALL ".join(parts)
