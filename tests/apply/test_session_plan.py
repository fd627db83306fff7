"""Session.plan: the desired state is read while the live state is fetched."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import pytest

import reconciler.session.core as session_module
from reconciler.errors import DesiredStateError
from reconciler.model import DesiredState, LiveState
from reconciler.provider import ProgressCallback
from reconciler.session import Session, TargetOptions
from tests.apply.fakes import ORG_USERS, FakeProvider, desired_org, live_org

WAIT = 30.0  # seconds; only reached when the two never overlap (the test then fails)


class SlowProvider(FakeProvider):
    """A fetch that says when it starts and then waits for a signal before answering."""

    def __init__(self) -> None:
        super().__init__(live_org(), users=ORG_USERS)
        self.started = threading.Event()
        self.proceed = asyncio.Event()
        self.cancelled = False

    async def fetch(self, progress: ProgressCallback | None = None) -> LiveState:
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


def test_the_yaml_is_read_while_the_fetch_is_in_flight(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    provider = SlowProvider()
    monkeypatch.setattr(session_module, "open_provider", lambda options: provider)

    async def go() -> None:
        loop = asyncio.get_running_loop()

        def load(directory: Path, *, worker_min_chars: int | None = None) -> DesiredState:
            # Runs only once the fetch has started, and lets the fetch finish: read one
            # after the other, the two would wait for each other and fail
            assert provider.started.wait(WAIT), "the fetch had not started"
            loop.call_soon_threadsafe(provider.proceed.set)
            return desired_org()

        monkeypatch.setattr(session_module, "load_desired_state", load)
        async with Session(tmp_path, options(tmp_path)) as session:
            ctx = await session.plan()
        assert ctx.desired == desired_org()
        assert ctx.live.target == provider.target
        assert ctx.plan.summary.has_changes

    asyncio.run(go())


def test_a_broken_desired_state_is_reported_and_the_fetch_cancelled(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    provider = SlowProvider()
    monkeypatch.setattr(session_module, "open_provider", lambda options: provider)

    def load(directory: Path, *, worker_min_chars: int | None = None) -> DesiredState:
        assert provider.started.wait(WAIT), "the fetch had not started"
        raise DesiredStateError(["workspaces/dev.yaml:3:5: error: name: bad"])

    monkeypatch.setattr(session_module, "load_desired_state", load)

    async def go() -> None:
        async with Session(tmp_path, options(tmp_path)) as session:
            await session.plan()

    with pytest.raises(DesiredStateError, match="1 problem"):
        asyncio.run(go())
    assert provider.cancelled
