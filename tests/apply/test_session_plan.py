"""Session.plan: the desired state is read while the live state is fetched, in the
event loop's thread, a slice at a time, the fetch going on between slices."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Generator
from pathlib import Path

import pytest

import reconciler.session.core as session_module
import reconciler.session.planning as planning_module
from reconciler.errors import DesiredStateError
from reconciler.model import DesiredState, LiveState
from reconciler.provider import ProgressCallback
from reconciler.session import Session, TargetOptions
from tests.apply.fakes import ORG_USERS, FakeProvider, desired_org, live_org

WAIT = 30.0  # seconds; only reached when the two never overlap (the test then fails)
STEPS = 10_000_000  # steps of a fake load at most: reached only if the fetch never runs


class SlowProvider(FakeProvider):
    """A fetch that says when it starts and then waits for a signal before answering."""

    def __init__(self) -> None:
        super().__init__(live_org(), users=ORG_USERS)
        self.started = threading.Event()
        self.proceed = asyncio.Event()
        self.cancelled = False
        self.thread: int | None = None

    async def fetch(self, progress: ProgressCallback | None = None) -> LiveState:
        self.thread = threading.get_ident()
        self.started.set()
        try:
            await asyncio.wait_for(self.proceed.wait(), WAIT)
        except asyncio.CancelledError:
            self.cancelled = True
            raise
        return await super().fetch(progress)


def options(tmp_path: Path) -> TargetOptions:
    return TargetOptions(
        vault=f"file:{tmp_path / 'vault'}", state_dir=tmp_path / "state", allow_file_vault=True
    )


@pytest.fixture(autouse=True)
def every_step_a_turn(monkeypatch: pytest.MonkeyPatch) -> None:
    """The loop gets a turn after every step of the load (not every 2 ms): the tests
    count steps, never time."""
    monkeypatch.setattr(planning_module, "READ_SLICE_SECONDS", 0.0)


def until(done: threading.Event | asyncio.Event) -> Generator[None, None, None]:
    """Steps of a load until ``done`` is set (by the fetch, between them)."""
    for _ in range(STEPS):
        if done.is_set():
            return
        yield
    raise AssertionError("the fetch never ran between the steps of the load")


def test_the_yaml_is_read_while_the_fetch_is_in_flight_in_the_same_thread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    provider = SlowProvider()
    monkeypatch.setattr(session_module, "open_provider", lambda options: provider)
    threads: set[int] = set()

    def load(
        directory: Path, *, worker_min_chars: int | None = None
    ) -> Generator[None, None, DesiredState]:
        # The fetch starts between two steps, and finishes between two later ones: read
        # one after the other, or in a thread blocking the loop, the two would never meet
        threads.add(threading.get_ident())
        yield from until(provider.started)
        provider.proceed.set()
        yield
        threads.add(threading.get_ident())
        return desired_org()

    monkeypatch.setattr(session_module, "loading_steps", load)

    async def go() -> None:
        async with Session(tmp_path, options(tmp_path)) as session:
            ctx = await session.plan()
        assert ctx.desired == desired_org()
        assert ctx.live.target == provider.target
        assert ctx.plan.summary.has_changes

    asyncio.run(go())
    assert threads == {provider.thread}  # no second thread contends with the loop's


def test_a_broken_desired_state_is_reported_and_the_fetch_cancelled(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    provider = SlowProvider()
    monkeypatch.setattr(session_module, "open_provider", lambda options: provider)

    def load(
        directory: Path, *, worker_min_chars: int | None = None
    ) -> Generator[None, None, DesiredState]:
        yield from until(provider.started)
        raise DesiredStateError(["workspaces/dev.yaml:3:5: error: name: bad"])

    monkeypatch.setattr(session_module, "loading_steps", load)

    async def go() -> None:
        async with Session(tmp_path, options(tmp_path)) as session:
            await session.plan()

    with pytest.raises(DesiredStateError, match="1 problem"):
        asyncio.run(go())
    assert provider.cancelled


def test_a_plan_cancelled_while_it_reads_stops_the_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Cancelled between two steps (Ctrl-C), the read is closed there: a parsing process it
    started is stopped by the same ``finally``."""
    provider = SlowProvider()
    monkeypatch.setattr(session_module, "open_provider", lambda options: provider)
    closed = []

    def load(
        directory: Path, *, worker_min_chars: int | None = None
    ) -> Generator[None, None, DesiredState]:
        try:
            yield from until(asyncio.Event())  # never done: only the cancel ends it
        finally:
            closed.append(True)
        return desired_org()

    monkeypatch.setattr(session_module, "loading_steps", load)

    async def go() -> None:
        async with Session(tmp_path, options(tmp_path)) as session:
            planning = asyncio.ensure_future(session.plan())
            await asyncio.to_thread(provider.started.wait, WAIT)
            planning.cancel()
            with pytest.raises(asyncio.CancelledError):
                await planning

    asyncio.run(go())
    assert closed == [True]
    assert provider.cancelled


def test_a_large_desired_state_is_read_in_a_thread_of_its_own(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Large enough for a second process to parse it, it is read in a thread: a wait on
    that process (30 s for a stuck one) never holds up the requests in flight."""
    provider = SlowProvider()
    monkeypatch.setattr(session_module, "open_provider", lambda options: provider)
    monkeypatch.setattr(session_module, "OVERLAPPED_MIN_CHARS", 1000)
    (tmp_path / "organization.yaml").write_text("#" * 1000)  # its size alone is looked at
    threads: set[int] = set()
    loops: list[asyncio.AbstractEventLoop] = []

    def load(
        directory: Path, *, worker_min_chars: int | None = None
    ) -> Generator[None, None, DesiredState]:
        threads.add(threading.get_ident())
        # the fetch finishes while this thread waits (as on a worker process), never here
        assert provider.started.wait(WAIT), "the fetch had not started"
        loops[0].call_soon_threadsafe(provider.proceed.set)
        assert finished.wait(WAIT), "the fetch could not finish while the read waited"
        yield
        return desired_org()

    finished = threading.Event()
    original = provider.fetch

    async def fetch(progress: ProgressCallback | None = None) -> LiveState:
        try:
            return await original(progress)
        finally:
            finished.set()

    monkeypatch.setattr(provider, "fetch", fetch)
    monkeypatch.setattr(session_module, "loading_steps", load)

    async def go() -> None:
        loops.append(asyncio.get_running_loop())
        async with Session(tmp_path, options(tmp_path)) as session:
            ctx = await session.plan()
        assert ctx.desired == desired_org()

    asyncio.run(go())
    assert provider.thread is not None and threads and provider.thread not in threads
