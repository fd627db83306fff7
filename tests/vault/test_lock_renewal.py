"""The apply lock renewed while an apply runs, in the file vault and in Vault (the fake).

Nothing sleeps: both stores and the lease read one fake clock, and the renewal loop's wait
is a :class:`Ticker` the test turns, one renewal per turn.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Iterator
from contextlib import AbstractAsyncContextManager
from pathlib import Path

import pytest
import respx

from reconciler.apply.lock import (
    Lease,
    UnlockRefused,
    apply_lock,
    legacy_lock_name,
    lock_name,
    unlock_by_id,
)
from reconciler.errors import SecretStoreError
from reconciler.vault.base import LockHolder, LockLost, SecretStore
from reconciler.vault.file import FileVault

from .fake_vault import FakeVault
from .helpers import TOKEN_TEXT, VAULT_ADDR, run, vault_store

T0 = dt.datetime(2030, 3, 4, 5, 6, tzinfo=dt.UTC)
TTL = dt.timedelta(minutes=30)
TARGET = "https://admin.example/v1/admin"
IDENTITY = f"acme-prod@{TARGET}"
LOCK_NAME = lock_name(IDENTITY)


class Clock:
    """The one clock of the stores and the lease; the test moves it."""

    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, minutes: int) -> None:
        self.now += dt.timedelta(minutes=minutes)


class Ticker:
    """The renewal loop's wait: it returns only when the test turns it."""

    def __init__(self) -> None:
        self.asked: list[float] = []
        self.parked = asyncio.Event()  # the loop is waiting for a turn
        self._resumed = asyncio.Event()
        self._turns: asyncio.Queue[None] = asyncio.Queue()

    async def __call__(self, seconds: float) -> None:
        self.asked.append(seconds)
        self.parked.set()
        await self._turns.get()
        self.parked.clear()
        self._resumed.set()

    async def turn(self) -> None:
        """Let one wait end; return once the renewal after it has started."""
        await self.parked.wait()
        self._resumed.clear()
        self._turns.put_nowait(None)
        await self._resumed.wait()

    async def renewal(self) -> None:
        """One whole renewal: the loop waits again after it."""
        await self.turn()
        await self.parked.wait()


@pytest.fixture(params=["file", "vault"])
def clocked(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[SecretStore, Clock]]:
    """A store on the fake clock: the file vault, or Vault through the fake."""
    clock = Clock()
    if request.param == "file":
        yield FileVault(tmp_path / "vault", clock=clock), clock
        return
    with respx.mock(assert_all_called=False) as router:
        FakeVault(VAULT_ADDR, token=TOKEN_TEXT).install(router)
        yield vault_store(clock=clock), clock


def hold(
    store: SecretStore, clock: Clock, ticker: Ticker, notices: list[str] | None = None
) -> AbstractAsyncContextManager[Lease]:
    """The apply lock on the fake clock, renewed when ``ticker`` turns."""
    report = notices.append if notices is not None else (lambda _m: None)
    return apply_lock(
        store,
        target=TARGET,
        identity=IDENTITY,
        operation="apply",
        ttl=TTL,
        clock=clock,
        wait=ticker,
        report=report,
    )


def intruder(who: str = "bob") -> LockHolder:
    return LockHolder(who=who, host="ci-7", pid=42, operation="apply", since=T0, expires=T0)


def test_a_long_apply_keeps_the_lock_past_its_ttl(clocked: tuple[SecretStore, Clock]) -> None:
    store, clock = clocked
    ticker = Ticker()
    notices: list[str] = []

    async def go() -> None:
        async with hold(store, clock, ticker, notices) as lease:
            for _ in range(3):  # 60 minutes in all: twice the TTL
                clock.advance(20)
                await ticker.renewal()
            assert await store.acquire_lock(LOCK_NAME, intruder(), TTL) == lease.holder
            held = await store.read_lock(LOCK_NAME)
            assert held is not None
            assert (held.id, held.since, held.expires) == (lease.id, T0, clock.now + TTL)
            lease.check()  # still ours
        assert await store.read_lock(LOCK_NAME) is None

    run(go())
    assert ticker.asked == [600.0] * 4  # every third of the TTL
    assert notices[-1] == "Releasing state lock."


def test_a_lock_that_is_not_renewed_is_taken_over_once_expired(
    clocked: tuple[SecretStore, Clock],
) -> None:
    store, clock = clocked
    ticker = Ticker()

    async def go() -> None:
        async with hold(store, clock, ticker):
            clock.advance(31)  # the renewal never ran (a suspended laptop)
            assert await store.acquire_lock(LOCK_NAME, intruder(), TTL) is None

    run(go())


def test_a_lock_taken_over_stops_the_apply_before_its_next_change(
    clocked: tuple[SecretStore, Clock],
) -> None:
    store, clock = clocked
    ticker = Ticker()
    notices: list[str] = []
    bob = intruder()

    async def go() -> None:
        async with hold(store, clock, ticker, notices) as lease:
            clock.advance(31)
            assert await store.acquire_lock(LOCK_NAME, bob, TTL) is None
            await ticker.turn()
            await lease.stop()  # the renewal under way finishes first
            with pytest.raises(LockLost) as caught:
                lease.check()
            assert caught.value.holder is not None and caught.value.holder.id == bob.id
            assert str(caught.value).startswith(
                "The state lock was taken over by bob on ci-7 (pid 42) for apply since "
            )
            assert f"(lock ID {bob.id}) while this apply ran; it stopped before its next " in (
                str(caught.value)
            )
        still = await store.read_lock(LOCK_NAME)
        assert still is not None and still.id == bob.id  # never released by the loser

    run(go())
    assert notices[-1].startswith("Warning: the state lock was taken over by bob on ci-7")
    assert "Releasing state lock." not in notices


def test_a_force_unlocked_lock_stops_the_apply(clocked: tuple[SecretStore, Clock]) -> None:
    store, clock = clocked
    ticker = Ticker()

    async def go() -> None:
        async with hold(store, clock, ticker) as lease:
            released = await unlock_by_id(store, TARGET, IDENTITY, lease.id)
            assert released == lease.holder
            await ticker.turn()
            await lease.stop()
            with pytest.raises(LockLost, match="was released by someone else"):
                lease.check()

    run(go())


class SealedOnRenewal(FileVault):
    async def renew_lock(self, name: str, holder: LockHolder, ttl: dt.timedelta) -> LockHolder:
        raise SecretStoreError(f"{self.description}: cannot renew {name}: Vault is sealed")


def test_a_failed_renewal_is_retried_until_the_lock_expires(tmp_path: Path) -> None:
    clock = Clock()
    store = SealedOnRenewal(tmp_path, clock=clock)
    ticker = Ticker()
    notices: list[str] = []

    async def go() -> None:
        async with hold(store, clock, ticker, notices) as lease:
            clock.advance(10)
            await ticker.renewal()
            lease.check()  # the lock has 20 minutes left: the next turn retries
            assert notices[-1].startswith("Warning: could not renew the state lock (")
            clock.advance(20)
            await ticker.turn()
            await lease.stop()
            with pytest.raises(LockLost, match="expired before it could be renewed"):
                lease.check()

    run(go())


def test_force_unlock_refuses_another_id_and_names_the_holder(
    clocked: tuple[SecretStore, Clock],
) -> None:
    store, _ = clocked
    bob = intruder()

    async def go() -> None:
        with pytest.raises(UnlockRefused, match="holds no state lock"):
            await unlock_by_id(store, TARGET, IDENTITY, bob.id)
        assert await store.acquire_lock(LOCK_NAME, bob, TTL) is None
        with pytest.raises(UnlockRefused) as caught:
            await unlock_by_id(store, TARGET, IDENTITY, "0123abcd")
        assert str(caught.value) == (
            "Failed to unlock: lock ID '0123abcd' does not match the lock held by bob on ci-7 "
            "(pid 42) for apply since 2030-03-04T05:06:00+00:00, expires "
            f"2030-03-04T05:36:00+00:00 (lock ID {bob.id})."
        )
        asked: list[LockHolder] = []

        def decline(holder: LockHolder) -> bool:
            asked.append(holder)
            return False

        assert await unlock_by_id(store, TARGET, IDENTITY, bob.id, confirm=decline) is None
        assert [h.id for h in asked] == [bob.id]
        assert await store.read_lock(LOCK_NAME) is not None  # declined: still held
        released = await unlock_by_id(store, TARGET, IDENTITY, bob.id)
        assert released is not None and released.who == "bob"
        assert await store.read_lock(LOCK_NAME) is None

    run(go())


def test_force_unlock_finds_a_lock_held_under_the_target_alone(
    clocked: tuple[SecretStore, Clock],
) -> None:
    """A lock an earlier release's apply left (named after the target only) is found by id."""
    store, _ = clocked
    bob = intruder()

    async def go() -> None:
        assert await store.acquire_lock(legacy_lock_name(TARGET), bob, TTL) is None
        released = await unlock_by_id(store, TARGET, IDENTITY, bob.id)
        assert released is not None and released.who == "bob"
        assert await store.read_lock(legacy_lock_name(TARGET)) is None

    run(go())
