"""What a platform client tells the log of a request that waits before it is sent again.

A plan that says nothing for minutes looks hung: a wait the platform asked for (429,
``Retry-After``: it may be minutes) is logged however short, and any other wait of
:data:`NOTICED_WAIT` seconds or more; short backoffs stay quiet. Each client passes
:func:`noticed` as ``send``'s ``on_retry`` (:func:`reconciler.http.send`).
"""

from __future__ import annotations

from collections.abc import Callable

RetryHook = Callable[[int, float, str], None]  # (attempt, delay seconds, why)
# Seconds of a wait before a retry that the log tells of, whatever made it.
NOTICED_WAIT = 5.0


def noticed(service: str, method: str, path: str, then: RetryHook | None = None) -> RetryHook:
    """The ``on_retry`` of one request: logs ``platform.retry`` for a wait worth telling
    of, then calls ``then`` (a progress display's) for every retry."""

    def retried(attempt: int, delay: float, why: str) -> None:
        if why == "HTTP 429" or delay >= NOTICED_WAIT:  # never a short backoff's
            _log_wait(service, method, path, attempt, delay, why)
        if then is not None:
            then(attempt, delay, why)

    return retried


def _log_wait(service: str, method: str, path: str, attempt: int, delay: float, why: str) -> None:
    """The warning (structlog, and the terminal library it brings, loaded only then)."""
    from reconciler.logging import get_logger

    get_logger(__name__).warning(
        "platform.retry",
        service=service,
        method=method,
        path=path,
        attempt=attempt,
        delay=round(delay, 2),
        reason=why,
    )
