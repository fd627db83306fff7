"""The apply lock: two applies against one organisation never run at once.

The lock is an entry in the organisation's secret store (a check-and-set write in Vault,
an exclusive file in the file vault), so every machine that can apply, a laptop or a CI
runner, sees the same lock. Its name is derived from the target (:func:`lock_name`), so
organisations sharing a store do not wait for each other. Two applies with different
stores do not see each other's lock: the engine checks names before each create, and the
session refuses a file vault against a live organisation unless asked. The holder
records who, where (host and pid), what and since when; the lock expires after a TTL so
a crashed apply cannot block the next one forever, and a holder on this very host whose
process is gone is taken over at once. An apply that may wait (``--lock-timeout``) says
once whom it waits for. A release that fails (the store went down mid-apply) is reported
as a warning and never hides how the apply itself ended.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import getpass
import hashlib
import os
import socket
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from reconciler.env import GITHUB_ACTOR
from reconciler.errors import ReconcilerError, SecretStoreError
from reconciler.vault.base import LockHolder, SecretStore, utcnow

DEFAULT_TTL = dt.timedelta(minutes=30)


def lock_name(target: str) -> str:
    """The lock of one organisation (its target: an API base URL, or the sandbox's file)."""
    return "apply-" + hashlib.sha256(target.encode()).hexdigest()[:12]


class LockHeld(ReconcilerError):
    """Another apply holds the lock."""

    def __init__(self, holder: LockHolder) -> None:
        self.holder = holder
        super().__init__(
            f"Error acquiring the state lock: it is held by {holder.describe()}. "
            "Retry later, or wait for it with --lock-timeout SECONDS."
        )


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


@asynccontextmanager
async def apply_lock(
    store: SecretStore,
    *,
    target: str,
    operation: str,
    timeout: float = 0.0,
    ttl: dt.timedelta = DEFAULT_TTL,
    report: Callable[[str], None] = lambda _m: None,
    poll: float = 1.0,
    clock: Callable[[], dt.datetime] = utcnow,
) -> AsyncIterator[LockHolder]:
    """Hold ``target``'s apply lock for the duration of the block (``clock`` stamps the
    holder)."""
    name = lock_name(target)
    me = _me(operation, ttl, clock())
    report("Acquiring state lock. This may take a few moments...")
    deadline = time.monotonic() + timeout
    waiting = False
    while True:
        other = await store.acquire_lock(name, me, ttl)
        if other is None:
            break
        if _dead_here(other):
            report(f"Taking over a lock left by pid {other.pid}, which is no longer running.")
            await store.release_lock(name, other)
            continue
        if time.monotonic() >= deadline:
            raise LockHeld(other)
        if not waiting:
            waiting = True
            report(f"The state lock is held by {other.describe()}; waiting up to {timeout:g}s.")
        await asyncio.sleep(min(poll, max(0.0, deadline - time.monotonic())))
    try:
        yield me
    finally:
        try:
            await store.release_lock(name, me)
        except SecretStoreError as exc:
            # Never hide the apply's own outcome behind this: the lock expires on its own,
            # and an apply on this host takes over a lock whose process is gone.
            report(
                f"Warning: could not release the state lock ({exc}). It expires at "
                f"{me.expires.isoformat(timespec='seconds')}."
            )
        else:
            report("Releasing state lock.")
