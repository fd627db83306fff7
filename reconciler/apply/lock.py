"""The apply lock: two applies against one organisation never run at once.

The lock is an entry in the organisation's secret store (a check-and-set write in Vault,
an exclusive file in the file vault), so every machine that can apply, a laptop or a CI
runner, sees the same lock. Its name is derived from the organisation's identity (the
target and the organisation's pinned id or name: :func:`lock_name`), so organisations
sharing a store, even two at one API address, do not wait for each other. A lock held
under the name earlier releases gave it (the target's alone, :func:`legacy_lock_name`)
still blocks an apply of any organisation at that target, and ``force-unlock`` finds it by
its id; this is kept for one release, while applies of the earlier release may run. Two
applies with different stores do not see each other's lock: the engine checks names before
each create, and the session refuses a file vault against a live organisation unless
asked. The holder records who, where (host and pid), what and since when, under an id
(what ``reconciler force-unlock ID`` names). The lock expires after a TTL so a crashed
apply cannot block the next one forever; while an apply runs, a :class:`Lease` renews it
in the background (every third of the TTL), so a long apply never outlives it. If a
renewal finds the lock gone or someone else's, the lease says so and the apply stops
before its next change (:meth:`Lease.check`). A holder on this very host whose process is
gone is taken over at once. An apply that may wait (``--lock-timeout``) says once whom it
waits for. A release that fails (the store went down mid-apply) is reported as a warning
and never hides how the apply itself ended.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import getpass
import hashlib
import inspect
import os
import socket
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from reconciler.env import GITHUB_ACTOR
from reconciler.errors import ReconcilerError, SecretStoreError
from reconciler.identity import identity_slug
from reconciler.vault.base import LockHolder, LockLost, SecretStore, utcnow

DEFAULT_TTL = dt.timedelta(minutes=30)

Wait = Callable[[float], Awaitable[object]]
"""Waits the given seconds between two renewals (``asyncio.sleep``; tests drive it)."""


def lock_name(identity: str) -> str:
    """The lock of one organisation (its :func:`~reconciler.identity.organization_identity`)."""
    return "apply-" + identity_slug(identity)


def legacy_lock_name(target: str) -> str:
    """The lock's name in earlier releases: from the target alone, whatever the
    organisation (checked while acquiring, and by ``force-unlock``, for one release)."""
    return "apply-" + hashlib.sha256(target.encode()).hexdigest()[:12]


class LockHeld(ReconcilerError):
    """Another apply holds the lock."""

    def __init__(self, holder: LockHolder) -> None:
        self.holder = holder
        super().__init__(
            f"Error acquiring the state lock: it is held by {holder.describe()}. "
            f"Lock ID: {holder.id}. "
            "Retry later, or wait for it with --lock-timeout SECONDS. If that apply is no "
            f"longer running: reconciler force-unlock {holder.id}"
        )


class UnlockRefused(ReconcilerError):
    """``force-unlock`` found no lock, or one under another id."""


def _me(operation: str, ttl: dt.timedelta, now: dt.datetime) -> LockHolder:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    who = os.environ.get(GITHUB_ACTOR) or user
    return LockHolder(
        id=uuid.uuid4().hex,
        who=who,
        host=socket.gethostname(),
        pid=os.getpid(),
        operation=operation,
        since=now,
        expires=now + ttl,
    )


def _dead_here(holder: LockHolder) -> bool:
    """True if the holder ran on this host and its process is gone."""
    if holder.host != socket.gethostname() or holder.pid <= 0:
        return False
    try:
        os.kill(holder.pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def _lost(why: str, holder: LockHolder | None) -> LockLost:
    return LockLost(
        f"The state lock {why} while this apply ran; it stopped before its next change. "
        "Run plan again to see where the organisation stands.",
        holder=holder,
    )


class Lease:
    """The apply lock while this process holds it, renewed in the background.

    Every ``every`` seconds (``wait`` waits them) the holder's expiry moves to the store's
    now + ``ttl``. A renewal that finds the lock released or held by another marks the
    lease lost; one that fails (the store is down) is retried at the next turn, and the
    lease is lost if the lock expires meanwhile (``clock`` tells).
    """

    def __init__(
        self,
        store: SecretStore,
        name: str,
        holder: LockHolder,
        *,
        ttl: dt.timedelta,
        every: float,
        wait: Wait,
        clock: Callable[[], dt.datetime],
        report: Callable[[str], None],
    ) -> None:
        self.name = name
        self.holder = holder
        self.lost: LockLost | None = None
        self._store = store
        self._ttl = ttl
        self._every = every
        self._wait = wait
        self._clock = clock
        self._report = report
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._waiting = False

    @property
    def id(self) -> str:
        return self.holder.id

    def check(self) -> None:
        """Raise :class:`LockLost` if the lock is no longer ours (called before each change)."""
        if self.lost is not None:
            raise self.lost

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="apply-lock-renewal")

    async def stop(self) -> None:
        """End the renewals; a renewal under way is let finish, so a release after this
        never races it."""
        self._stopping = True
        if self._task is None:
            return
        if self._waiting:
            self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task

    async def _run(self) -> None:
        while not self._stopping and self.lost is None:
            self._waiting = True
            try:
                await self._wait(self._every)
            finally:
                self._waiting = False
            if not self._stopping:
                await self.renew()

    async def renew(self) -> None:
        """One renewal (what the background task does every ``every`` seconds)."""
        try:
            self.holder = await self._store.renew_lock(self.name, self.holder, self._ttl)
        except LockLost as exc:
            if exc.holder is None:
                why = "was released by someone else (reconciler force-unlock)"
            else:
                why = f"was taken over by {exc.holder.describe()} (lock ID {exc.holder.id})"
            self._lose(why, exc.holder)
        except ReconcilerError as exc:
            if self._clock() < self.holder.expires:
                self._report(f"Warning: could not renew the state lock ({exc}); will retry.")
            else:
                self._lose(f"expired before it could be renewed ({exc})", None)

    def _lose(self, why: str, holder: LockHolder | None) -> None:
        self.lost = _lost(why, holder)
        self._report(f"Warning: the state lock {why}; this apply stops before its next change.")


async def _acquire(
    store: SecretStore,
    target: str,
    identity: str,
    me: LockHolder,
    ttl: dt.timedelta,
    now: dt.datetime,
) -> tuple[str, LockHolder] | None:
    """Take ``identity``'s lock for ``me``; None when it is ours, else the name and holder
    of the lock in the way (ours, or the target's under its earlier name, left as it is)."""
    name = lock_name(identity)
    other = await store.acquire_lock(name, me, ttl)
    if other is not None:
        return name, other
    legacy = legacy_lock_name(target)
    old = await store.read_lock(legacy)
    if old is None or old.is_expired(now):
        return None
    await store.release_lock(name, me)
    return legacy, old


@asynccontextmanager
async def apply_lock(
    store: SecretStore,
    *,
    target: str,
    identity: str,
    operation: str,
    timeout: float = 0.0,
    ttl: dt.timedelta = DEFAULT_TTL,
    report: Callable[[str], None] = lambda _m: None,
    poll: float = 1.0,
    clock: Callable[[], dt.datetime] = utcnow,
    renew_every: float | None = None,
    wait: Wait = asyncio.sleep,
) -> AsyncIterator[Lease]:
    """Hold the apply lock of organisation ``identity`` (at ``target``) for the duration of
    the block, renewed every ``renew_every`` seconds (a third of ``ttl`` by default);
    ``clock`` stamps the holder."""
    name = lock_name(identity)
    me = _me(operation, ttl, clock())
    report("Acquiring state lock. This may take a few moments...")
    deadline = time.monotonic() + timeout
    waiting = False
    while True:
        blocked = await _acquire(store, target, identity, me, ttl, clock())
        if blocked is None:
            break
        held_as, other = blocked
        if _dead_here(other):
            report(f"Taking over a lock left by pid {other.pid}, which is no longer running.")
            await store.release_lock(held_as, other)
            continue
        if time.monotonic() >= deadline:
            raise LockHeld(other)
        if not waiting:
            waiting = True
            report(f"The state lock is held by {other.describe()}; waiting up to {timeout:g}s.")
        await asyncio.sleep(min(poll, max(0.0, deadline - time.monotonic())))
    every = renew_every if renew_every is not None else ttl.total_seconds() / 3
    lease = Lease(store, name, me, ttl=ttl, every=every, wait=wait, clock=clock, report=report)
    lease.start()
    try:
        yield lease
    finally:
        await lease.stop()
        try:
            await store.release_lock(name, lease.holder)
        except SecretStoreError as exc:
            # Never hide the apply's own outcome behind this: the lock expires on its own,
            # and an apply on this host takes over a lock whose process is gone.
            report(
                f"Warning: could not release the state lock ({exc}). It expires at "
                f"{lease.holder.expires.isoformat(timespec='seconds')}."
            )
        else:
            if lease.lost is None:
                report("Releasing state lock.")


Confirm = Callable[[LockHolder], bool | Awaitable[bool]]


async def unlock_by_id(
    store: SecretStore,
    target: str,
    identity: str,
    lock_id: str,
    *,
    confirm: Confirm | None = None,
) -> LockHolder | None:
    """Release the apply lock of organisation ``identity`` (at ``target``) held under
    ``lock_id``, whoever holds it (its apply died); or the target's under its earlier name.

    :class:`UnlockRefused` when nobody holds the lock or another id does (so a lock
    taken since the id was read is never removed). ``confirm`` is asked with the holder
    first; the holder released is returned, or None when ``confirm`` said no.
    """
    found: dict[str, LockHolder] = {}
    for name in (lock_name(identity), legacy_lock_name(target)):
        held = await store.read_lock(name)
        if held is not None:
            found[name] = held
    if not found:
        raise UnlockRefused(f"Failed to unlock: {store.description} holds no state lock.")
    name = next((n for n, h in found.items() if h.id == lock_id), "")
    if not name:
        holder = next(iter(found.values()))
        raise UnlockRefused(
            f"Failed to unlock: lock ID {lock_id!r} does not match the lock held by "
            f"{holder.describe()} (lock ID {holder.id})."
        )
    holder = found[name]
    if confirm is not None:
        answer = confirm(holder)
        if not (await answer if inspect.isawaitable(answer) else answer):
            return None
    await store.release_lock(name, holder)
    return holder
