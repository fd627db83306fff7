"""The apply lock in the file vault: who holds it, waiting for it, and failing to release it."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import socket
import subprocess
import sys
from contextlib import AbstractAsyncContextManager
from pathlib import Path

import pytest

from reconciler.apply.lock import LockHeld, apply_lock, legacy_lock_name, lock_name
from reconciler.errors import SecretStoreError
from reconciler.vault.base import LockHolder
from reconciler.vault.file import FileVault

NOW = dt.datetime(2026, 11, 18, 9, 30, tzinfo=dt.UTC)
TARGET = "https://api.mistral.ai/v1/admin"
IDENTITY = f"acme-prod@{TARGET}"
LOCK_NAME = lock_name(IDENTITY)


def clock() -> dt.datetime:
    return NOW


def locked(vault: FileVault, identity: str) -> AbstractAsyncContextManager[object]:
    """An apply's lock at TARGET for the organisation ``identity``."""
    return apply_lock(vault, target=TARGET, identity=identity, operation="apply", clock=clock)


def holder(pid: int, who: str = "ci-runner") -> LockHolder:
    return LockHolder(
        who=who,
        host=socket.gethostname(),
        pid=pid,
        operation="apply",
        since=NOW,
        expires=NOW + dt.timedelta(minutes=30),
    )


def test_a_held_lock_names_who_where_and_since_when(tmp_path: Path) -> None:
    vault = FileVault(tmp_path, clock=clock)
    other = holder(os.getppid())  # a live process that is not us
    assert asyncio.run(vault.acquire_lock(LOCK_NAME, other, dt.timedelta(minutes=30))) is None
    lines: list[str] = []

    async def go() -> None:
        async with apply_lock(
            vault,
            target=TARGET,
            identity=IDENTITY,
            operation="apply",
            report=lines.append,
            clock=clock,
        ):
            raise AssertionError("the lock was granted twice")

    with pytest.raises(LockHeld) as caught:
        asyncio.run(go())
    assert str(caught.value) == (
        f"Error acquiring the state lock: it is held by ci-runner on {socket.gethostname()} "
        f"(pid {os.getppid()}) for apply since 2026-11-18T09:30:00+00:00, expires "
        f"2026-11-18T10:00:00+00:00. Lock ID: {other.id}. Retry later, or wait for it with "
        "--lock-timeout SECONDS. If that apply is no longer running: reconciler force-unlock "
        f"{other.id}"  # the id force-unlock names
    )
    assert lines == ["Acquiring state lock. This may take a few moments..."]


def test_waiting_for_the_lock_says_for_whom_and_gets_it_once_released(tmp_path: Path) -> None:
    vault = FileVault(tmp_path, clock=clock)
    other = holder(os.getppid())
    asyncio.run(vault.acquire_lock(LOCK_NAME, other, dt.timedelta(minutes=30)))
    lines: list[str] = []
    released: list[asyncio.Task[None]] = []

    def report(line: str) -> None:
        lines.append(line)
        if line.startswith("The state lock is held by"):  # it found the lock taken: free it
            released.append(asyncio.ensure_future(vault.release_lock(LOCK_NAME, other)))

    async def go() -> dt.datetime:
        async with apply_lock(
            vault,
            target=TARGET,
            identity=IDENTITY,
            operation="apply",
            timeout=60,
            poll=0.01,
            report=report,
            clock=clock,
        ) as me:
            await released[0]  # the release that let it in went through
            return me.holder.since

    assert asyncio.run(go()) == NOW
    assert lines == [
        "Acquiring state lock. This may take a few moments...",
        f"The state lock is held by {other.describe()}; waiting up to 60s.",
        "Releasing state lock.",
    ]


def test_a_lock_left_by_a_killed_process_on_this_host_is_taken_over(tmp_path: Path) -> None:
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    vault = FileVault(tmp_path, clock=clock)
    asyncio.run(vault.acquire_lock(LOCK_NAME, holder(int(dead.stdout)), dt.timedelta(hours=1)))
    lines: list[str] = []

    async def go() -> None:
        async with apply_lock(
            vault,
            target=TARGET,
            identity=IDENTITY,
            operation="apply",
            report=lines.append,
            clock=clock,
        ):
            pass

    asyncio.run(go())
    assert f"Taking over a lock left by pid {dead.stdout.strip()}" in " ".join(lines)
    assert lines[-1] == "Releasing state lock."


class SealedOnRelease(FileVault):
    async def release_lock(self, name: str, holder: LockHolder) -> None:
        raise SecretStoreError(f"{self.description}: cannot release {name}: Vault is sealed")


def test_a_failed_release_never_hides_how_the_apply_ended(tmp_path: Path) -> None:
    lines: list[str] = []

    async def go() -> None:
        async with apply_lock(
            SealedOnRelease(tmp_path, clock=clock),
            target=TARGET,
            identity=IDENTITY,
            operation="apply",
            report=lines.append,
            clock=clock,
        ):
            raise SecretStoreError("could not store the new key's secret")

    with pytest.raises(SecretStoreError, match="could not store the new key's secret"):
        asyncio.run(go())
    assert lines[-1].startswith("Warning: could not release the state lock (file vault at ")
    assert "Vault is sealed" in lines[-1]
    assert lines[-1].endswith("It expires at 2026-11-18T10:00:00+00:00.")


def test_each_organisation_has_its_own_lock_in_a_shared_store(tmp_path: Path) -> None:
    """Two organisations at one target sharing one store never wait for each other; two
    applies of one organisation always do."""
    vault = FileVault(tmp_path, clock=clock)
    staging = f"acme-staging@{TARGET}"
    assert lock_name(IDENTITY) == lock_name(IDENTITY) != lock_name(staging)

    async def go() -> None:
        async with locked(vault, IDENTITY):
            async with locked(vault, staging):
                pass
            with pytest.raises(LockHeld):
                async with locked(vault, IDENTITY):
                    pass

    asyncio.run(go())


def test_a_lock_held_under_the_target_alone_still_blocks_every_organisation_there(
    tmp_path: Path,
) -> None:
    """An apply of an earlier release holds the lock named after the target only."""
    vault = FileVault(tmp_path, clock=clock)
    earlier = holder(os.getppid(), who="earlier-release")
    ttl = dt.timedelta(minutes=30)
    assert asyncio.run(vault.acquire_lock(legacy_lock_name(TARGET), earlier, ttl)) is None

    async def go(identity: str) -> None:
        async with locked(vault, identity):
            raise AssertionError("the lock was granted while the earlier one is held")

    for identity in (IDENTITY, f"acme-staging@{TARGET}"):
        with pytest.raises(LockHeld) as caught:
            asyncio.run(go(identity))
        assert caught.value.holder.id == earlier.id
    # nothing was left behind under the new name: once the earlier lock goes, it is granted
    asyncio.run(vault.release_lock(legacy_lock_name(TARGET), earlier))
    assert asyncio.run(vault.read_lock(LOCK_NAME)) is None

    async def granted() -> None:
        async with locked(vault, IDENTITY):
            assert await vault.read_lock(LOCK_NAME) is not None

    asyncio.run(granted())
