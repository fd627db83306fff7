"""``reconciler force-unlock LOCK_ID``, as after an apply that died on a CI runner.

The lock is put in a file vault by hand, as another machine's apply leaves it; no
platform credential is set (force-unlock opens only the store that holds the lock).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import pty
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from reconciler.apply.lock import LOCK_NAME
from reconciler.vault.base import LockHolder
from reconciler.vault.file import FileVault

REPO = Path(__file__).resolve().parents[2]
TIMEOUT = 60
TTL = dt.timedelta(minutes=30)


def ci_holder() -> LockHolder:
    now = dt.datetime.now(dt.UTC)
    return LockHolder(
        who="ci-bot",
        host="runner-9",  # another machine: never taken over as a dead process of this one
        pid=4242,
        operation="apply",
        since=now,
        expires=now + TTL,
    )


@pytest.fixture
def held(tmp_path: Path) -> LockHolder:
    """A copy of the desired state in ``tmp_path``, and a lock in ``tmp_path/vault``."""
    shutil.copytree(REPO / "desired-state", tmp_path / "desired-state")
    vault = FileVault(tmp_path / "vault")
    assert asyncio.run(vault.acquire_lock(LOCK_NAME, ci_holder(), TTL)) is None
    stored = lock_in(tmp_path)  # as the store stamped it
    assert stored is not None
    return stored


def lock_in(tmp_path: Path) -> LockHolder | None:
    return asyncio.run(FileVault(tmp_path / "vault").read_lock(LOCK_NAME))


def env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(("MISTRAL_", "VAULT_"))}


def unlock(cwd: Path, *args: str, answer: str | None = None) -> subprocess.CompletedProcess[str]:
    """``force-unlock ARGS --vault file:vault``; with ``answer``, typed at a terminal."""
    command = [sys.executable, "-m", "reconciler", "force-unlock", *args, "--vault", "file:vault"]
    if answer is None:
        return subprocess.run(
            command,
            cwd=cwd,
            env=env(),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
            check=False,
        )
    leader, follower = pty.openpty()
    proc = subprocess.Popen(
        command,
        cwd=cwd,
        env=env(),
        stdin=follower,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    os.close(follower)
    try:
        os.write(leader, (answer + "\n").encode())
        out, err = proc.communicate(timeout=TIMEOUT)
    finally:
        os.close(leader)
    return subprocess.CompletedProcess(command, proc.returncode, out, err)


def test_the_holder_is_named_and_the_lock_released_after_yes(
    tmp_path: Path, held: LockHolder
) -> None:
    result = unlock(tmp_path, held.id, answer="yes")
    assert result.returncode == 0, result.stderr
    assert f"Lock ID {held.id} is held by ci-bot on runner-9 (pid 4242) for apply since " in (
        result.stdout
    )
    assert "Do you really want to force-unlock?" in result.stdout
    assert "Released the state lock held by ci-bot on runner-9 (pid 4242)" in result.stdout
    assert result.stdout.rstrip().endswith("reconciler state has been successfully unlocked!")
    assert lock_in(tmp_path) is None


@pytest.mark.parametrize("answer", ["no", "", "y"])
def test_anything_but_yes_keeps_the_lock(tmp_path: Path, held: LockHolder, answer: str) -> None:
    result = unlock(tmp_path, held.id, answer=answer)
    assert result.returncode == 1
    assert "Force-unlock cancelled." in result.stderr
    assert "Released" not in result.stdout
    assert lock_in(tmp_path) == held


def test_force_skips_the_question(tmp_path: Path, held: LockHolder) -> None:
    result = unlock(tmp_path, held.id, "-force")
    assert result.returncode == 0, result.stderr
    assert "Do you really want" not in result.stdout
    assert "Released the state lock held by ci-bot on runner-9" in result.stdout
    assert lock_in(tmp_path) is None


def test_an_id_that_is_not_the_holders_is_refused(tmp_path: Path, held: LockHolder) -> None:
    result = unlock(tmp_path, "0123abcd", "-force")
    assert result.returncode == 1
    assert result.stderr.startswith(
        "Error: Failed to unlock: lock ID '0123abcd' does not match the lock held by ci-bot "
        "on runner-9 (pid 4242) for apply since "
    )
    assert f"(lock ID {held.id})." in result.stderr
    assert lock_in(tmp_path) == held


def test_without_a_terminal_it_asks_for_force(tmp_path: Path, held: LockHolder) -> None:
    result = unlock(tmp_path, held.id)
    assert result.returncode == 1
    assert result.stderr == (
        "Error: force-unlock needs confirmation: run it in a terminal, or pass -force\n"
    )
    assert lock_in(tmp_path) == held


def test_no_lock_to_release(tmp_path: Path) -> None:
    shutil.copytree(REPO / "desired-state", tmp_path / "desired-state")
    result = unlock(tmp_path, "0123abcd", "-force")
    assert result.returncode == 1
    assert result.stderr == (
        "Error: Failed to unlock: file vault at vault holds no state lock.\n"
    )
