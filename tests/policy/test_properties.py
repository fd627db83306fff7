"""Property tests: the guard's overshoot bounds and the exactness of rate limits.

For every rolling hour and 24 hours (windows ending at each recorded call) and every
calendar month:

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
from collections.abc import Iterator
from dataclasses import dataclass
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


@dataclass(frozen=True)
class _Call:
    admitted: float
    recorded: float
    estimate: int
    actual: int
    reserved: bool

    @property
    def month(self) -> int:
        """A reserved call's spend lands in the month of its admission, another's when
        it is recorded."""
        return Window.MONTH.bucket(self.admitted if self.reserved else self.recorded)

    @property
    def overrun(self) -> int:
        return max(0, self.actual - self.estimate)


def _run(steps: list[tuple[object, ...]], guard: SpendingGuard, clock: FakeClock) -> list[_Call]:
    """Play the steps; every call that was admitted and recorded."""
    calls: list[_Call] = []
    running: list[tuple[int, float, object]] = []  # (estimate, started at, reservation)

    def finish(factor: float) -> None:
        estimate, started, reservation = running.pop(0)
        actual = int(estimate * factor)
        if reservation is None:  # checked, not reserved
            guard.record("unit", actual, 0)
        else:
            guard.record("unit", actual, 0, reservation=reservation)  # type: ignore[arg-type]
        calls.append(_Call(started, clock.now, estimate, actual, reservation is not None))

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
    return calls


def _windows(calls: list[_Call]) -> Iterator[tuple[Window, float, list[_Call]]]:
    """Every window that matters, with the calls whose spend it holds.

    A rolling window's spend peaks in a window that ends when some call is recorded, so
    those are the ones to look at; the month holds the calls that landed in it.
    """
    for window in (Window.HOUR, Window.DAY):
        for end in sorted({c.recorded for c in calls}):
            inside = [c for c in calls if end - window.length < c.recorded <= end]
            yield window, end, inside
    months: dict[int, list[_Call]] = defaultdict(list)
    for call in calls:
        months[call.month].append(call)
    for bucket, inside in months.items():
        yield Window.MONTH, Window.MONTH.start(bucket), inside


def _books_agree(guard: SpendingGuard, clock: FakeClock, calls: list[_Call]) -> None:
    for window, at, inside in _windows(calls):
        if not window.rolling or at >= clock.now - 3600:  # older spend may be forgotten
            assert guard.spent(window, at=at) == sum(c.actual for c in inside), (window, at)


def _guard(clock: FakeClock, store: UsageStore | None = None) -> SpendingGuard:
    return SpendingGuard(LIMITS, store=store or MemoryStore(), prices=DOLLAR, clock=clock)


@settings(max_examples=200, deadline=None)
@given(steps=_sequential)
def test_one_at_a_time_spend_never_exceeds_a_limit_by_more_than_one_estimate(
    steps: list[tuple[object, ...]],
) -> None:
    clock = FakeClock(utc(2026, 11, 30, 20, 0))  # crosses day and month boundaries
    guard = _guard(clock)
    calls = _run(steps, guard, clock)
    for window, at, inside in _windows(calls):
        limit = int(LIMITS.for_window(window) or 0)
        total = sum(c.actual for c in inside)
        assert total <= limit + max((c.estimate for c in inside), default=0), (window, at)
        if not any(c.overrun for c in inside):  # no call cost more than its estimate
            assert total <= limit, (window, at)
    _books_agree(guard, clock, calls)


@settings(max_examples=200, deadline=None)
@given(steps=st.lists(_step, max_size=80))
def test_overlapping_calls_overshoot_only_by_what_they_cost_beyond_estimates(
    steps: list[tuple[object, ...]],
) -> None:
    clock = FakeClock(utc(2026, 11, 30, 20, 0))
    guard = _guard(clock)
    calls = _run(steps, guard, clock)
    for window, at, inside in _windows(calls):
        total = sum(c.actual for c in inside)
        overrun = sum(c.overrun for c in inside)
        assert total <= int(LIMITS.for_window(window) or 0) + overrun, (window, at)
    _books_agree(guard, clock, calls)


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(steps=st.lists(_step, max_size=40))
def test_same_bound_with_the_sqlite_store(steps: list[tuple[object, ...]]) -> None:
    clock = FakeClock(utc(2026, 12, 31, 22, 0))
    with tempfile.TemporaryDirectory() as tmp:
        store = SQLiteStore(Path(tmp) / "usage.db")
        guard = _guard(clock, store)
        calls = _run(steps, guard, clock)
        for window, _at, inside in _windows(calls):
            total = sum(c.actual for c in inside)
            overrun = sum(c.overrun for c in inside)
            assert total <= int(LIMITS.for_window(window) or 0) + overrun
        _books_agree(guard, clock, calls)
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
