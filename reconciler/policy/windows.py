"""Budget windows: a rolling hour and day, and the calendar month in UTC.

Hourly and daily limits (USD, tokens) are **rolling**: they hold over any hour or any 24
hours, ``(now - length, now]``, so a limit of $0.05 an hour admits no more than $0.05 in
any 60 minutes, across a clock hour's boundary too. The stores keep timestamped spend
for them (:attr:`Window.rolling`, :attr:`Window.length`). The month stays the calendar
month, which is how the platform bills.

Calendar buckets (the month's counters, and labels): a window's bucket is a number that
identifies one whole period, not a position inside it: hour ``n`` is ``[n*3600,
(n+1)*3600)`` seconds since the epoch, day ``n`` likewise, and month ``n`` is
``year*12 + month - 1``. A month counter is keyed by its bucket, so a new month starts
at zero by construction and an old one is never reused: December rolls into January of
the next year, and November this year is not last November. No reset job, no
comparison of clock fields, nothing to go wrong at a boundary.

Rate limits (requests per minute) use a sliding 60-second window too, kept by the stores.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum

_UTC = dt.UTC
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=_UTC)


class Window(StrEnum):
    """A budget period."""

    HOUR = "hour"
    DAY = "day"
    MONTH = "month"

    @property
    def adjective(self) -> str:
        """``hourly``, ``daily`` or ``monthly``."""
        return {"hour": "hourly", "day": "daily", "month": "monthly"}[self.value]

    @property
    def rolling(self) -> bool:
        """True for the hour and the day (sliding windows); the month is a calendar one."""
        return self is not Window.MONTH

    @property
    def length(self) -> float:
        """Seconds a rolling window spans (3600 or 86400); the month has no fixed length."""
        if self is Window.HOUR:
            return 3600.0
        if self is Window.DAY:
            return 86400.0
        raise ValueError("the calendar month has no fixed length")

    def bucket(self, now: float) -> int:
        """The bucket containing the instant ``now`` (seconds since the epoch)."""
        if self is Window.HOUR:
            return int(now // 3600)
        if self is Window.DAY:
            return int(now // 86400)
        return month_bucket(now)

    def start(self, bucket: int) -> float:
        """First instant of a bucket, in seconds since the epoch."""
        if self is Window.HOUR:
            return bucket * 3600.0
        if self is Window.DAY:
            return bucket * 86400.0
        year, month0 = divmod(bucket, 12)
        return dt.datetime(year, month0 + 1, 1, tzinfo=_UTC).timestamp()

    def end(self, bucket: int) -> float:
        """First instant after a bucket (the next bucket's start)."""
        return self.start(bucket + 1)

    def seconds_left(self, now: float) -> float:
        """Seconds from ``now`` until the current period ends."""
        return self.end(self.bucket(now)) - now

    def label(self, bucket: int) -> str:
        """Human form of a bucket: ``2026-11-30T14:00Z``, ``2026-11-30``, ``2026-11``."""
        start = dt.datetime.fromtimestamp(self.start(bucket), _UTC)
        if self is Window.HOUR:
            return start.strftime("%Y-%m-%dT%H:00Z")
        if self is Window.DAY:
            return start.strftime("%Y-%m-%d")
        return start.strftime("%Y-%m")


_MONTH_OF_DAY: dict[int, int] = {}


def month_bucket(now: float) -> int:
    """``year*12 + month - 1`` for the UTC month containing ``now`` (memoised per day)."""
    day = int(now // 86400)
    found = _MONTH_OF_DAY.get(day)
    if found is None:
        date = _EPOCH + dt.timedelta(days=day)
        found = date.year * 12 + date.month - 1
        if len(_MONTH_OF_DAY) > 4096:
            _MONTH_OF_DAY.clear()
        _MONTH_OF_DAY[day] = found
    return found


def month_of(date: dt.date) -> int:
    """The month bucket of a calendar date."""
    return date.year * 12 + date.month - 1
