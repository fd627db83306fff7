"""The Anthropic sandbox served on 127.0.0.1, for the tests that talk to it over a socket."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from reconciler.platform.anthropic.sandbox.serve import serve


@pytest.fixture
def served(tmp_path: Path) -> Iterator[str]:
    ready = threading.Event()
    where: dict[str, object] = {}

    def heard(url: str, stop: Callable[[], None]) -> None:
        where.update(url=url, stop=stop)
        ready.set()

    thread = threading.Thread(
        target=serve, kwargs={"state": tmp_path / "a.json", "port": 0, "ready": heard}
    )
    thread.start()
    assert ready.wait(10)
    try:
        yield str(where["url"])
    finally:
        stop = where["stop"]
        assert callable(stop)
        stop()
        thread.join(10)
