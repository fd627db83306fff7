"""The SQLite store's write lock: writers queue on it, and nothing leaves it held."""

from __future__ import annotations

import fcntl
import multiprocessing
import os
import shutil
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from reconciler.policy import SQLiteStore
from reconciler.policy.sqlite import CHECKPOINT_EVERY, PolicyStoreError
from reconciler.policy.statements import RING_FORGET
from reconciler.policy.store import Charge
from reconciler.policy.windows import Window
from tests.policy.conftest import utc

NOW = utc(2026, 11, 18, 12).timestamp()
MONTH = Window.MONTH


def _context() -> Any:
    return multiprocessing.get_context("fork" if hasattr(os, "fork") else "spawn")


def _spent(path: Path, name: str = "m") -> int:
    store = SQLiteStore(path)
    try:
        return store.read(name, MONTH, NOW).spent
    finally:
        store.close()


def _lock_is_free(path: Path) -> bool:
    """Could another writer take the store's lock right now?"""
    probe = os.open(f"{path}-lock", os.O_RDONLY)
    try:
        fcntl.flock(probe, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    finally:
        os.close(probe)  # (releases it again)
    return True


def _add_once_let_go(path: str, waiting: Any) -> None:
    store = SQLiteStore(path)
    real = fcntl.flock

    def flock(fd: Any, operation: int) -> None:
        if operation == fcntl.LOCK_EX:
            waiting.set()  # about to queue for the lock
        real(fd, operation)

    fcntl.flock = flock  # this child's own copy of the module
    store.add([Charge("m", MONTH, 1)], NOW)
    store.close()


def test_a_writer_waits_for_the_holder_and_proceeds_when_it_lets_go(tmp_path: Path) -> None:
    path = tmp_path / "usage.db"
    SQLiteStore(path).close()
    holder = os.open(f"{path}-lock", os.O_RDONLY)
    fcntl.flock(holder, fcntl.LOCK_EX)  # another process in the middle of a transaction
    ctx = _context()
    waiting = ctx.Event()
    writer = ctx.Process(target=_add_once_let_go, args=(str(path), waiting))
    writer.start()
    try:
        assert waiting.wait(30)
        assert writer.is_alive()
        assert _spent(path) == 0  # readers are not held up; the write has not happened
    finally:
        fcntl.flock(holder, fcntl.LOCK_UN)  # lets go (the writer has a copy of this handle)
        os.close(holder)
    writer.join(30)
    assert writer.exitcode == 0
    assert _spent(path) == 1


def test_a_failed_transaction_writes_nothing_and_lets_go_of_the_lock(tmp_path: Path) -> None:
    path = tmp_path / "usage.db"
    store = SQLiteStore(path)
    broken = Charge("n", MONTH, None)  # type: ignore[arg-type]  # NOT NULL refuses it
    with pytest.raises(PolicyStoreError, match="cannot write the usage store"):
        store.add([Charge("m", MONTH, 5), broken], NOW)
    assert _lock_is_free(path)
    assert _spent(path) == 0  # the batch is all or nothing
    store.add([Charge("m", MONTH, 2)], NOW)  # the same connection goes on working
    assert _spent(path) == 2
    store.close()


def test_a_program_writing_without_the_lock_delays_a_call_at_most_busy_timeout(
    tmp_path: Path,
) -> None:
    path = tmp_path / "usage.db"
    store = SQLiteStore(path, busy_timeout=0.05)
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # the sqlite3 shell, say, in a transaction
    with pytest.raises(PolicyStoreError, match="is unavailable"):
        store.add([Charge("m", MONTH, 1)], NOW)
    assert _lock_is_free(path)
    other.execute("COMMIT")
    other.close()
    store.add([Charge("m", MONTH, 1)], NOW)
    assert _spent(path) == 1
    store.close()


def _die_holding_the_lock_after_forking(path: Path, read_end: int) -> None:
    """The parent of a child that outlives it: it dies in the middle of a transaction,
    once the child runs (past the fork's hooks, which close its copy of the lock)."""
    store = SQLiteStore(path)
    running, started = os.pipe()
    with store._transaction([]):
        if os.fork() == 0:
            os.write(started, b"!")
            os.read(read_end, 1)  # until the test closes the pipe
            os._exit(0)
        os.read(running, 1)
        os._exit(0)


def test_a_child_does_not_keep_a_dead_parents_lock(tmp_path: Path) -> None:
    path = tmp_path / "usage.db"
    SQLiteStore(path).close()
    read_end, write_end = os.pipe()
    try:
        parent = os.fork()
        if parent == 0:
            try:
                os.close(write_end)
                _die_holding_the_lock_after_forking(path, read_end)
            finally:
                os._exit(1)
        assert os.waitstatus_to_exitcode(os.waitpid(parent, 0)[1]) == 0
        assert _lock_is_free(path)
        store = SQLiteStore(path)
        store.add([Charge("m", MONTH, 1)], NOW)
        store.close()
    finally:
        os.close(write_end)  # the child ends
        os.close(read_end)
    assert _spent(path) == 1


def test_a_store_used_before_a_fork_goes_on_working_in_parent_and_child(
    tmp_path: Path,
) -> None:
    path = tmp_path / "usage.db"
    store = SQLiteStore(path)
    store.add([Charge("m", MONTH, 1)], NOW)  # the parent's link is open
    child = os.fork()
    if child == 0:
        code = 1
        try:  # on links of its own: closing them leaves the parent's alone
            store.add([Charge("m", MONTH, 2)], NOW)
            store.close()
            code = 0
        finally:
            os._exit(code)
    assert os.waitstatus_to_exitcode(os.waitpid(child, 0)[1]) == 0
    store.add([Charge("m", MONTH, 4)], NOW)
    store.close()
    assert _spent(path) == 7


def test_the_sweep_walks_a_rate_ring_from_its_oldest_slot_not_every_ring(
    tmp_path: Path,
) -> None:
    path = tmp_path / "usage.db"
    SQLiteStore(path).close()
    with sqlite3.connect(path) as db:
        steps = db.execute(f"EXPLAIN QUERY PLAN {RING_FORGET}", ("w", NOW, "w", NOW, 0)).fetchall()
    plan = [step[-1] for step in steps]
    assert plan[0] == "SEARCH ring USING PRIMARY KEY (scope=? AND slot<?)", plan
    assert not [step for step in plan if step.startswith("SCAN")], plan


def _in_the_database_file(path: Path, tmp_path: Path) -> int:
    """The month's spend the database file holds, without its log."""
    alone = tmp_path / "alone.db"
    shutil.copyfile(path, alone)
    return _spent(alone)


def test_the_log_is_copied_into_the_database_after_so_many_commits(tmp_path: Path) -> None:
    path = tmp_path / "usage.db"
    store = SQLiteStore(path)
    reader = sqlite3.connect(path)  # open throughout, so closing the store copies nothing
    reader.execute("SELECT 1 FROM counters").fetchall()
    for _ in range(CHECKPOINT_EVERY - 1):
        store.add([Charge("m", MONTH, 1)], NOW)
    assert _in_the_database_file(path, tmp_path) == 0  # all in the log so far
    store.add([Charge("m", MONTH, 1)], NOW)
    store.close()  # (waits for the checkpoint that commit asked for)
    assert _in_the_database_file(path, tmp_path) == CHECKPOINT_EVERY
    reader.close()
