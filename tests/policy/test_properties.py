"""Property tests: the guard's overshoot bounds and the exactness of rate limits.

- one call at a time, each costing up to twice its estimate: recorded spend in a window
  never exceeds its limit by more than one request's estimate (and never at all when no
  call costs more than its estimate);
- overlapping calls (reservations held meanwhile): never by more than what the calls
  cost beyond their estimates, together.

Prices here are one dollar per token (a synthetic model), so estimates and costs are
whole dollars and every bound is exact.
"""

from __future__ import annotations

import tempfile
import threading
from collections import defaultdict
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reconciler.model import ApiKey, DesiredState, Role, Workspace, WorkspacePolicy
from reconciler.policy import (
    MemoryStore,
    Policy,
    SpendingGuard,
    SpendLimits,
    SQLiteStore,
    UsageStore,
)
from reconciler.policy.prices import ModelPrice, PriceTable
from reconciler.policy.store import DEFAULT_RESERVATION_TTL
from reconciler.policy.windows import Window
from tests.policy.conftest import FakeClock, utc

DOLLAR = PriceTable([ModelPrice("unit", (), Decimal(1_000_000), Decimal(1_000_000))])
LIMITS = SpendLimits(hourly_usd=Decimal(40), daily_usd=Decimal(150), monthly_usd=Decimal(400))

# One step: wait some seconds; start a call (reserve its estimate, or only check it); or
# finish the oldest call still running, at what it really cost (0 to 2x its estimate).
# With these steps calls overlap, so reservations held by running calls matter.
_step = st.one_of(
    st.tuples(st.just("wait"), st.integers(0, 3 * 3600)),
    st.tuples(st.just("start"), st.integers(0, 30), st.booleans()),
    st.tuples(st.just("finish"), st.floats(0, 2)),
)

# One call at a time: each start is followed at once by its finish.
_sequential = st.lists(
    st.one_of(
        st.tuples(st.just("wait"), st.integers(0, 3 * 3600)).map(lambda w: [w]),
        st.tuples(st.integers(0, 30), st.floats(0, 2), st.booleans()).map(
            lambda c: [("start", c[0], c[2]), ("finish", c[1])]
        ),
    ),
    max_size=60,
).map(lambda groups: [step for group in groups for step in group])


def _run(
    steps: list[tuple[object, ...]], guard: SpendingGuard, clock: FakeClock
) -> dict[tuple[Window, int], tuple[int, int, int]]:
    """Play the steps; per (window, bucket): (total, largest estimate, sum of overruns)."""
    seen: dict[tuple[Window, int], list[int]] = defaultdict(lambda: [0, 0, 0])
    running: list[tuple[int, float, object]] = []  # (estimate, started at, reservation)

    def finish(factor: float) -> None:
        estimate, started, reservation = running.pop(0)
        actual = int(estimate * factor)
        if reservation is None:  # checked, not reserved: lands in the current windows
            guard.record("unit", actual, 0)
            when = clock.now
        else:  # lands where its estimate was held
            guard.record("unit", actual, 0, reservation=reservation)  # type: ignore[arg-type]
            when = started
        for window in Window:
            entry = seen[(window, window.bucket(when))]
            entry[0] += actual
            entry[1] = max(entry[1], estimate)
            entry[2] += max(0, actual - estimate)

    for step in steps:
        if step[0] == "wait":
            wait = float(step[1])  # type: ignore[arg-type]
            # a call outlives its reservation's time-to-live only when its process died
            while running and running[0][1] + DEFAULT_RESERVATION_TTL <= clock.now + wait:
                finish(1.0)
            clock.advance(wait)
        elif step[0] == "start":
            estimate, reserve = step[1], step[2]
            assert isinstance(estimate, int)
            unreserved_running = any(r[2] is None for r in running)
            if reserve and not unreserved_running:
                check = guard.reserve(estimate)
                if check:
                    running.append((estimate, clock.now, check.reservation))
            elif not running and guard.can_spend(estimate):
                # check-then-record is for one caller at a time: only when nothing runs
                running.append((estimate, clock.now, None))
        elif running:
            factor = step[1]
            assert isinstance(factor, float)
            finish(factor)
    while running:
        finish(1.0)
    return {k: (v[0], v[1], v[2]) for k, v in seen.items()}


def _guard(clock: FakeClock, store: UsageStore | None = None) -> SpendingGuard:
    return SpendingGuard(LIMITS, store=store or MemoryStore(), prices=DOLLAR, clock=clock)


@settings(max_examples=200, deadline=None)
@given(steps=_sequential)
def test_one_at_a_time_spend_never_exceeds_a_limit_by_more_than_one_estimate(
    steps: list[tuple[object, ...]],
) -> None:
    clock = FakeClock(utc(2026, 11, 30, 20, 0))  # crosses day and month boundaries
    guard = _guard(clock)
    for (window, bucket), (total, largest, overrun) in _run(steps, guard, clock).items():
        limit = int(LIMITS.for_window(window) or 0)
        assert total <= limit + largest, (window, bucket)
        if overrun == 0:  # no call cost more than its estimate: never over at all
            assert total <= limit, (window, bucket)
        assert guard.spent(window, at=window.start(bucket)) == total  # the books agree


@settings(max_examples=200, deadline=None)
@given(steps=st.lists(_step, max_size=80))
def test_overlapping_calls_overshoot_only_by_what_they_cost_beyond_estimates(
    steps: list[tuple[object, ...]],
) -> None:
    clock = FakeClock(utc(2026, 11, 30, 20, 0))
    guard = _guard(clock)
    for (window, bucket), (total, _, overrun) in _run(steps, guard, clock).items():
        assert total <= int(LIMITS.for_window(window) or 0) + overrun, (window, bucket)
        assert guard.spent(window, at=window.start(bucket)) == total


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(steps=st.lists(_step, max_size=40))
def test_same_bound_with_the_sqlite_store(steps: list[tuple[object, ...]]) -> None:
    clock = FakeClock(utc(2026, 12, 31, 22, 0))
    with tempfile.TemporaryDirectory() as tmp:
        store = SQLiteStore(Path(tmp) / "usage.db")
        guard = _guard(clock, store)
        for (window, _bucket), (total, _, overrun) in _run(steps, guard, clock).items():
            assert total <= int(LIMITS.for_window(window) or 0) + overrun
        store.close()


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
def test_concurrent_threads_never_overshoot_together(kind: str, tmp_path: Path) -> None:
    store = MemoryStore() if kind == "memory" else SQLiteStore(tmp_path / "usage.db")
    clock = FakeClock(utc(2026, 11, 18, 12))
    guard = SpendingGuard(
        SpendLimits(monthly_usd=Decimal(500)), store=store, prices=DOLLAR, clock=clock
    )
    admitted: list[int] = []

    def worker() -> None:
        for _ in range(60):
            check = guard.reserve(7)
            if check:
                guard.record("unit", 7, 0, reservation=check.reservation)
                admitted.append(7)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert guard.spent() == sum(admitted) == 497  # 71 calls of $7 fit under $500
    store.close()


def _rpm_policy(limit: int) -> DesiredState:
    return DesiredState(
        roles=(Role(name="r"),),
        workspaces=(Workspace(name="w", policy=WorkspacePolicy(rpm=limit)),),
        keys=(ApiKey(name="k", workspace="w", role="r"),),
    )


@settings(max_examples=150, deadline=None)
@given(limit=st.integers(1, 6), gaps=st.lists(st.floats(0, 40), min_size=1, max_size=60))
def test_rpm_is_exact_over_any_sliding_minute(limit: int, gaps: list[float]) -> None:
    clock = FakeClock(utc(2026, 11, 18, 12))
    policy = Policy(_rpm_policy(limit), clock=clock, prices=DOLLAR)
    admitted: list[float] = []
    for gap in gaps:
        clock.advance(gap)
        decision = policy.authorize("api_key.k", "unit", 0)
        if decision:
            admitted.append(clock.now)
        else:
            # a refusal is right only when the minute is really full
            recent = [t for t in admitted if t > clock.now - 60]
            assert len(recent) >= limit
            assert decision.retry_after is not None
            assert 0 < decision.retry_after <= 60
    for i, start in enumerate(admitted):
        assert len([t for t in admitted[i:] if t < start + 60]) <= limit
