"""Directory fsyncs shared by the renames of several threads (the file vault's writes)."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from reconciler.vault.dirsync import DirectorySync


def test_renames_made_during_an_fsync_share_the_next_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sync = DirectorySync()
    first_running, let_go = threading.Event(), threading.Event()
    fsyncs: list[int] = []
    real = os.fsync

    def held_fsync(fd: int) -> None:
        fsyncs.append(fd)
        if len(fsyncs) == 1:  # the first fsync waits until the test lets it go
            first_running.set()
            let_go.wait(10)
        real(fd)

    monkeypatch.setattr(os, "fsync", held_fsync)
    first = threading.Thread(target=sync.sync, args=(tmp_path, sync.renamed(tmp_path)))
    first.start()
    assert first_running.wait(10)
    # two renames while the first fsync runs: it began before them, so it covers neither
    later = [sync.renamed(tmp_path), sync.renamed(tmp_path)]
    seen: list[int] = []

    def wait_for(number: int) -> None:
        sync.sync(tmp_path, number)
        seen.append(len(fsyncs))  # fsyncs begun by the time this rename counted as durable

    others = [threading.Thread(target=wait_for, args=(n,)) for n in later]
    for thread in others:
        thread.start()
    let_go.set()
    for thread in [first, *others]:
        thread.join(10)
    assert seen == [2, 2]  # neither returned on the first fsync, and they shared one
    assert len(fsyncs) == 2


def test_a_directory_fsync_that_fails_is_raised(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def failing(fd: int) -> None:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(os, "fsync", failing)
    sync = DirectorySync()
    with pytest.raises(OSError, match="Input/output error"):
        sync.sync(tmp_path, sync.renamed(tmp_path))
