"""Shared values for the GitHub tests: a token to grep for, a fast client, a fake clock."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Coroutine
from typing import Any, TypeVar

from pydantic import SecretStr

from reconciler import http
from reconciler.github.client import GitHubClient

T = TypeVar("T")

API = "https://api.github.test"
REPO = "acme/access"
# Shaped like a real installation token, so only exact-match redaction or scrub() hides it.
TOKEN_TEXT = "ghs_" + secrets.token_hex(18)
NOW = 1_750_000_000.0
FAST = http.RetryPolicy(attempts=3, base_delay=0.0, max_delay=0.0)


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


class Sleeps:
    """An async ``sleep`` that records the delays instead of waiting."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)


def client(sleeps: Sleeps | None = None, **kw: Any) -> GitHubClient:
    return GitHubClient(
        token=SecretStr(TOKEN_TEXT),
        api_url=kw.pop("api_url", API),
        policy=kw.pop("policy", FAST),
        sleep=sleeps or Sleeps(),
        clock=lambda: NOW,
        **kw,
    )


def assert_no_token(*texts: object) -> None:
    for text in texts:
        assert TOKEN_TEXT not in str(text), f"token leaked into: {str(text)[:200]}"
