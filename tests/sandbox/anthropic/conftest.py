"""The Anthropic sandbox served on 127.0.0.1, for the tests that talk to it over a socket."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from reconciler.cli.main import app
from reconciler.platform.anthropic.sandbox.app import DEFAULT_ADMIN_KEY
from reconciler.platform.anthropic.sandbox.serve import serve


@contextmanager
def serving(state: Path) -> Iterator[str]:
    """The sandbox of ``state`` (the demo organisation when missing) served on 127.0.0.1,
    for the block's duration; yields its base URL."""
    ready = threading.Event()
    where: dict[str, object] = {}

    def heard(url: str, stop: Callable[[], None]) -> None:
        where.update(url=url, stop=stop)
        ready.set()

    thread = threading.Thread(target=serve, kwargs={"state": state, "port": 0, "ready": heard})
    thread.start()
    assert ready.wait(10)
    try:
        yield str(where["url"])
    finally:
        stop = where["stop"]
        assert callable(stop)
        stop()
        thread.join(10)


@pytest.fixture
def served(tmp_path: Path) -> Iterator[str]:
    with serving(tmp_path / "a.json") as url:
        yield url


def run_against(root: Path, served: str, *args: str) -> Result:
    """``reconciler ARGS DESIRED`` in process against the served sandbox at ``served``, as
    against the platform (a rehearsal's file vault under ``root``); never prints the
    admin key."""
    env = {"ANTHROPIC_ADMIN_API_KEY": DEFAULT_ADMIN_KEY, "ANTHROPIC_BASE_URL": served}
    where = ["--vault", f"file:{root / 'vault'}", "--allow-file-vault"]
    where += ["--state-dir", str(root / "state"), "--no-color"]
    result = CliRunner().invoke(app, [*args, str(root / "desired"), *where], env=env)
    assert DEFAULT_ADMIN_KEY not in result.output
    return result
