"""The waits between retries (reconciler.http): the real schedule, shown through an injected
sleeper (nothing sleeps), and ``RECONCILER_RETRY_DELAY_SCALE``, which the test session
sets to 0 so that end-to-end runs retry at once while logging the real schedule."""

from __future__ import annotations

import asyncio
import random
from typing import Any

import httpx
import pytest

from reconciler import errors, http
from reconciler.env import RECONCILER_RETRY_DELAY_SCALE
from tests.platform.mistral_wire import Sleeps, run


@pytest.fixture
def widest_jitter(monkeypatch: pytest.MonkeyPatch) -> None:
    """Full jitter draws each wait from [0, cap]: here always the cap."""
    monkeypatch.setattr(random, "uniform", lambda low, high: high)


def answering(*answers: int | httpx.Response) -> httpx.AsyncClient:
    """A client whose server gives ``answers`` in turn (a bare status: with a JSON
    message), then 200."""
    queue = iter(answers)

    def handler(request: httpx.Request) -> httpx.Response:
        answer = next(queue, 200)
        if isinstance(answer, httpx.Response):
            return answer
        return httpx.Response(answer, json={"message": "busy"})

    return http.make_client("https://api.example", transport=httpx.MockTransport(handler))


def get_things(*answers: int | httpx.Response, **options: Any) -> int:
    """``GET /things`` (idempotent) sent through :func:`http.send` with ``options``, the
    server giving ``answers``; the final status."""

    async def main() -> int:
        async with answering(*answers) as client:
            response = await http.send(
                client, "GET", "/things", service="test", idempotent=True, **options
            )
            return response.status_code

    return run(main())


@pytest.mark.usefixtures("widest_jitter")
def test_the_backoff_doubles_from_half_a_second_up_to_thirty() -> None:
    policy = http.RetryPolicy()
    assert [policy.backoff(n) for n in range(1, 9)] == [0.5, 1, 2, 4, 8, 16, 30, 30]


def test_the_backoff_is_jittered_between_nothing_and_its_cap() -> None:
    policy = http.RetryPolicy()
    waits = [policy.backoff(4) for _ in range(200)]
    assert all(0 <= wait <= 4 for wait in waits)
    assert len(set(waits)) > 100


@pytest.mark.usefixtures("widest_jitter")
def test_a_request_answered_503_four_times_waits_the_schedule_then_succeeds() -> None:
    sleeps = Sleeps()
    told: list[tuple[int, float, str]] = []
    statuses = (503, 503, 503, 503)
    assert get_things(*statuses, sleep=sleeps, on_retry=lambda *retry: told.append(retry)) == 200
    assert sleeps.delays == [0.5, 1, 2, 4]
    assert told == [(n, wait, "HTTP 503") for n, wait in enumerate([0.5, 1, 2, 4], start=1)]


@pytest.mark.usefixtures("widest_jitter")
def test_the_fifth_failure_ends_the_retries_after_four_waits() -> None:
    sleeps = Sleeps()
    with pytest.raises(errors.RemoteError, match="HTTP 502"):
        get_things(*[502] * 5, sleep=sleeps)
    assert sleeps.delays == [0.5, 1, 2, 4]


@pytest.mark.parametrize(
    ("scale", "waited"),
    [(None, 3.0), ("1", 3.0), ("0", 0.0), ("0.5", 1.5), ("-1", 3.0), ("nan", 3.0), ("soon", 3.0)],
)
def test_pause_waits_the_scheduled_time_times_the_scale(
    monkeypatch: pytest.MonkeyPatch, scale: str | None, waited: float
) -> None:
    if scale is None:
        monkeypatch.delenv(RECONCILER_RETRY_DELAY_SCALE, raising=False)
    else:
        monkeypatch.setenv(RECONCILER_RETRY_DELAY_SCALE, scale)
    sleeps = Sleeps()
    monkeypatch.setattr(asyncio, "sleep", sleeps)
    run(http.pause(3.0))
    assert sleeps.delays == [waited]


def test_send_waits_through_pause_unless_given_a_sleeper(monkeypatch: pytest.MonkeyPatch) -> None:
    """A 429 asking for 100 s, the scale at 0: sent again at once, the real wait still told."""
    monkeypatch.setenv(RECONCILER_RETRY_DELAY_SCALE, "0")
    sleeps = Sleeps()
    monkeypatch.setattr(asyncio, "sleep", sleeps)
    told: list[float] = []
    refused = httpx.Response(429, headers={"Retry-After": "100"})
    assert get_things(refused, on_retry=lambda _n, wait, _why: told.append(wait)) == 200
    assert told == [100.0]
    assert sleeps.delays == [0.0]
