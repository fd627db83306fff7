"""``reconciler force-unlock LOCK_ID``, as after an apply that died on a CI runner.

The lock is put in a file vault by hand, as another machine's apply leaves it; no
platform credential is set (force-unlock opens only the store that holds the lock).
The CLI runs as the other CLI tests run it (:func:`tests.e2e.conftest.run_cli`).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import pty
import subprocess
from pathlib import Path

import pytest

from reconciler.apply.lock import lock_name
from reconciler.desired.load import load_organization
from reconciler.identity import organization_identity
from reconciler.platform.mistral.settings import DEFAULT_ADMIN_BASE_URL
from reconciler.vault.base import LockHolder
from reconciler.vault.file import FileVault
from tests.e2e.conftest import run_cli
from tests.example_dates import copy_example

REPO = Path(__file__).resolve().parents[2]
TTL = dt.timedelta(minutes=30)
# no MISTRAL_ADMIN_BASE_URL in the test's environment: the lock of La Plateforme itself
LOCK_NAME = lock_name(
    organization_identity(DEFAULT_ADMIN_BASE_URL, load_organization(REPO / "desired-state"))
)


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
    copy_example(tmp_path / "desired-state")
    vault = FileVault(tmp_path / "vault")
    assert asyncio.run(vault.acquire_lock(LOCK_NAME, ci_holder(), TTL)) is None
    stored = lock_in(tmp_path)  # as the store stamped it
    assert stored is not None
    return stored


def lock_in(tmp_path: Path) -> LockHolder | None:
    return asyncio.run(FileVault(tmp_path / "vault").read_lock(LOCK_NAME))


def unlock(cwd: Path, *args: str, answer: str | None = None) -> subprocess.CompletedProcess[str]:
    """``force-unlock ARGS --vault file:vault``; with ``answer``, typed at a terminal."""
    command = ["force-unlock", *args, "--vault", "file:vault"]
    if answer is None:
        return run_cli(command, cwd=cwd)
    leader, follower = pty.openpty()
    try:
        os.write(leader, (answer + "\n").encode())  # waits in the terminal until read
        return run_cli(command, cwd=cwd, stdin=os.ttyname(follower))
    finally:
        os.close(follower)
        os.close(leader)


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


@pytest.mark.parametrize("force", [["-force"], []], ids=["force", "no-terminal"])
def test_no_lock_to_release(tmp_path: Path, force: list[str]) -> None:
    """Said first, even where the question could not be asked: there is nothing to
    confirm."""
    copy_example(tmp_path / "desired-state")
    result = unlock(tmp_path, "0123abcd", *force)
    assert result.returncode == 1
    assert result.stderr == ("Error: Failed to unlock: file vault at vault holds no state lock.\n")


def test_without_a_terminal_an_id_that_is_not_the_holders_is_refused_as_such(
    tmp_path: Path, held: LockHolder
) -> None:
    result = unlock(tmp_path, "0123abcd")
    assert result.returncode == 1
    assert "does not match the lock held by ci-bot" in result.stderr
    assert lock_in(tmp_path) == held


def test_a_desired_state_that_does_not_validate_does_not_keep_the_lock(
    tmp_path: Path, held: LockHolder
) -> None:
    broken = tmp_path / "desired-state" / "workspaces" / "dev.yaml"
    broken.write_text("version: 1\nworkspace: [\n")
    result = unlock(tmp_path, held.id, "-force")
    assert result.returncode == 0, result.stderr  # only organization.yaml is read
    assert lock_in(tmp_path) is None
    (tmp_path / "desired-state" / "organization.yaml").write_text("version: 1\norganization: 7\n")
    again = unlock(tmp_path, held.id, "-force")
    assert again.returncode == 1
    assert again.stderr.startswith("desired-state/organization.yaml:2:")
