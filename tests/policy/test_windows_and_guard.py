"""Budget windows (rolling hour and day, calendar month) and the spending guard, on an
injected clock."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from reconciler.model import ApiKey, DesiredState, Role, Workspace
from reconciler.policy import (
    Policy,
    PriceTable,
    Reason,
    SpendingGuard,
    SpendLimits,
    TokenEstimate,
    UsageStore,
    Window,
)
from reconciler.policy.prices import ModelPrice
from reconciler.policy.windows import month_of
from tests.policy.conftest import FakeClock, utc

SMALL = "mistral-small-latest"
CENT = PriceTable([ModelPrice("cent", (), Decimal(10_000), Decimal(10_000))])  # $0.01 a token


def _one_key() -> DesiredState:
    return DesiredState(
        roles=(Role(name="r"),),
        workspaces=(Workspace(name="w"),),
        keys=(ApiKey(name="k", workspace="w", role="r"),),
    )


@pytest.mark.parametrize(
    ("window", "before", "after"),
    [
        (Window.HOUR, utc(2026, 11, 18, 14, 59, 59, 999999), utc(2026, 11, 18, 15)),
        (Window.DAY, utc(2026, 11, 18, 23, 59, 59, 999999), utc(2026, 11, 19)),
        (Window.MONTH, utc(2026, 11, 30, 23, 59, 59, 999999), utc(2026, 12, 1)),
        (Window.MONTH, utc(2026, 12, 31, 23, 59, 59, 999999), utc(2027, 1, 1)),
        (Window.MONTH, utc(2028, 2, 29, 23, 59, 59), utc(2028, 3, 1)),
        (Window.DAY, utc(2028, 2, 28, 23, 59, 59), utc(2028, 2, 29)),
    ],
)
def test_boundary_starts_a_new_bucket(
    window: Window, before: dt.datetime, after: dt.datetime
) -> None:
    old, new = window.bucket(before.timestamp()), window.bucket(after.timestamp())
    assert new == old + 1
    assert window.start(new) == after.timestamp()
    assert window.end(old) == after.timestamp()


@pytest.mark.parametrize(
    ("window", "when", "label"),
    [
        (Window.HOUR, utc(2026, 11, 18, 14, 30), "2026-11-18T14:00Z"),
        (Window.DAY, utc(2026, 11, 18, 14, 30), "2026-11-18"),
        (Window.MONTH, utc(2026, 12, 31, 23), "2026-12"),
    ],
)
def test_labels(window: Window, when: dt.datetime, label: str) -> None:
    assert window.label(window.bucket(when.timestamp())) == label


def test_same_clock_hour_on_another_day_is_another_bucket() -> None:
    today = Window.HOUR.bucket(utc(2026, 11, 18, 14, 10).timestamp())
    yesterday = Window.HOUR.bucket(utc(2026, 11, 17, 14, 10).timestamp())
    assert today != yesterday
    # and the same month number in another year is another month
    assert Window.MONTH.bucket(utc(2027, 11, 1).timestamp()) == month_of(dt.date(2027, 11, 5))
    assert Window.MONTH.bucket(utc(2026, 11, 1).timestamp()) != month_of(dt.date(2027, 11, 5))


def test_seconds_left() -> None:
    now = utc(2026, 11, 30, 23, 0).timestamp()
    assert Window.HOUR.seconds_left(now) == 3600
    assert Window.DAY.seconds_left(now) == 3600
    assert Window.MONTH.seconds_left(now) == 3600


def _guard(store: UsageStore, clock: FakeClock, **limits: Decimal) -> SpendingGuard:
    return SpendingGuard(SpendLimits(**limits), scope="workspace.t", store=store, clock=clock)


def test_the_hourly_limit_holds_over_any_60_minutes_across_the_clock_hour(
    store: UsageStore, clock: FakeClock
) -> None:
    # $0.05 an hour; calls of $0.01: five at 10:59 fill the hour, and five more at
    # 11:00:01 are refused (a clock-hour counter would have let them through)
    policy = Policy(
        _one_key(),
        store=store,
        clock=clock,
        prices=CENT,
        spend_limits={"w": SpendLimits(hourly_usd=Decimal("0.05"))},
    )
    clock.set(utc(2026, 11, 18, 10, 59))
    for _ in range(5):
        decision = policy.authorize("api_key.k", "cent", TokenEstimate(1))
        assert decision
        policy.record(decision, 1, 0)
    clock.set(utc(2026, 11, 18, 11, 0, 1))
    refused = [policy.authorize("api_key.k", "cent", TokenEstimate(1)) for _ in range(5)]
    assert [d.reason for d in refused] == [Reason.OVER_BUDGET] * 5
    assert "hourly budget of $0.05" in refused[0].message
    assert "used in the last hour" in refused[0].message
    assert refused[0].retry_after == pytest.approx(3600 - 61)  # 11:59:00, when 10:59 leaves
    assert policy.guard("w").spent(Window.HOUR) == Decimal("0.05")
    clock.set(utc(2026, 11, 18, 11, 59, 0, 1))  # an hour after the first batch
    assert policy.authorize("api_key.k", "cent", TokenEstimate(1))


def test_the_daily_limit_is_any_24_hours_and_the_month_is_the_calendar_month(
    store: UsageStore, clock: FakeClock
) -> None:
    clock.set(utc(2026, 11, 30, 23, 0))
    guard = _guard(store, clock, daily_usd=Decimal(1), monthly_usd=Decimal(10))
    guard.record(SMALL, 0, 1_600_000)  # $0.96
    check = guard.can_spend(Decimal("0.05"))
    assert not check
    assert check.window is Window.DAY
    assert check.retry_after == pytest.approx(86400)
    clock.set(utc(2026, 12, 1, 0, 0, 1))  # a new day and a new month
    assert guard.spent(Window.MONTH) == 0  # the month starts at zero
    assert guard.spent(Window.DAY) == Decimal("0.96")  # the last 24 hours still hold it
    assert not guard.can_spend(Decimal("0.05"))
    clock.set(utc(2026, 12, 1, 23, 0))
    assert guard.spent(Window.DAY) == 0
    assert guard.can_spend(Decimal("0.05"))


def test_month_rolls_from_december_into_january(store: UsageStore, clock: FakeClock) -> None:
    clock.set(utc(2026, 12, 31, 23, 59, 59))
    guard = _guard(store, clock, monthly_usd=Decimal(1))
    guard.record(SMALL, 0, 1_500_000)  # $0.90
    assert not guard.can_spend(Decimal("0.2"))
    clock.set(utc(2027, 1, 1, 0, 0, 0))
    assert guard.spent() == 0
    assert guard.can_spend(Decimal("0.2"))
    clock.set(utc(2027, 12, 15))  # December of the next year is not last December
    assert guard.spent() == 0


def test_daily_limit(store: UsageStore, clock: FakeClock) -> None:
    guard = _guard(store, clock, daily_usd=Decimal("0.5"))
    guard.record("codestral-latest", 1_000_000, 0)  # $0.30
    assert guard.can_spend(Decimal("0.2"))
    refused = guard.can_spend(Decimal("0.21"))
    assert refused.window is Window.DAY
    assert "daily budget exceeded" in refused.message
    assert guard.remaining(Window.DAY) == Decimal("0.2")
    assert guard.remaining(Window.HOUR) is None


def test_reserve_holds_until_recorded_or_released(store: UsageStore, clock: FakeClock) -> None:
    guard = _guard(store, clock, monthly_usd=Decimal(1))
    first = guard.reserve(Decimal("0.6"))
    assert first
    assert first.reservation is not None
    assert not guard.reserve(Decimal("0.6"))  # the hold counts
    guard.release(first.reservation)
    second = guard.reserve(Decimal("0.6"))
    assert second.reservation is not None
    cost = guard.record(SMALL, 0, 500_000, reservation=second.reservation)  # $0.30
    assert cost == Decimal("0.3")
    assert guard.spent() == Decimal("0.3")
    assert guard.remaining() == Decimal("0.7")


def test_an_unsettled_reservation_is_charged_once_it_expires(
    store: UsageStore, clock: FakeClock
) -> None:
    guard = _guard(store, clock, monthly_usd=Decimal(1))
    held = guard.reserve(Decimal("0.9"))  # the caller then hangs, or crashes
    assert held.reservation is not None
    assert not guard.can_spend(Decimal("0.5"))
    clock.advance(901)  # past the time-to-live: its call is presumed billed
    store.sweep(clock())
    assert guard.spent() == Decimal("0.9")
    assert not guard.can_spend(Decimal("0.5")) and guard.can_spend(Decimal("0.1"))
    guard.release(held.reservation)  # too late to take it back
    assert guard.spent() == Decimal("0.9") and guard.remaining() == Decimal("0.1")


@pytest.mark.parametrize("bad", ["abc", "-1", float("nan"), Decimal("Infinity"), -0.5])
def test_can_spend_rejects_nonsense(store: UsageStore, clock: FakeClock, bad: object) -> None:
    guard = _guard(store, clock, monthly_usd=Decimal(1))
    with pytest.raises(ValueError, match="finite amount"):
        guard.can_spend(bad)  # type: ignore[arg-type]


def test_estimate_uses_the_price_table(store: UsageStore, clock: FakeClock) -> None:
    guard = _guard(store, clock)
    assert guard.estimate("mistral-medium-latest", 1_000_000, 1_000_000) == Decimal("9.0")
    assert guard.estimate("mistral-medium-2508", 1000, 0) == Decimal("0.0015")
