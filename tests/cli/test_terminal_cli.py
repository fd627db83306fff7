"""Where the output goes: a reader that goes away (``| head``) ends the run quietly with
exit 0, and a dumb terminal (``TERM=dumb``) gets no colour."""

from __future__ import annotations

import errno
import os
import pty
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from tests.e2e.conftest import clean_env, run_cli
from tests.example_dates import copy_example

COMMANDS = [["catalog", "list"], ["schema"], ["--help"], ["policy", "check", "--help"]]


@pytest.mark.parametrize("unbuffered", ["1", ""], ids=["unbuffered", "buffered"])
@pytest.mark.parametrize("args", COMMANDS, ids=" ".join)
def test_a_reader_that_went_away_ends_the_run_quietly(
    tmp_path: Path, args: list[str], unbuffered: str
) -> None:
    reader, writer = os.pipe()
    os.close(reader)  # as `head` does once it has its lines: every write now fails (EPIPE)
    try:
        done = subprocess.run(
            [sys.executable, "-m", "reconciler", *args],
            cwd=tmp_path,
            env=clean_env({"PYTHONUNBUFFERED": unbuffered}),
            stdout=writer,
            stderr=subprocess.PIPE,
            text=True,
            timeout=60,
            check=False,
        )
    finally:
        os.close(writer)
    assert done.stderr == ""  # no "Error: Broken pipe", no traceback, no "Exception ignored"
    assert done.returncode == 0


def plan_on_a_terminal(tmp_path: Path, term: str) -> str:
    """``reconciler plan --sandbox`` with a terminal as standard output; what it showed."""
    copy_example(tmp_path / "desired-state")
    leader, follower = pty.openpty()
    shown: list[bytes] = []
    reader = threading.Thread(target=read_to_the_end, args=(leader, shown))
    reader.start()  # read while the run writes: a full terminal would hold it up
    try:
        done = run_cli(
            ["plan", "--sandbox"], cwd=tmp_path, env={"TERM": term}, stdout=os.ttyname(follower)
        )
    finally:
        os.close(follower)  # the last writer gone, the reader meets the end
        reader.join(timeout=60)
        os.close(leader)
    assert done.returncode == 0, done.stderr
    return b"".join(shown).decode()


def read_to_the_end(leader: int, into: list[bytes]) -> None:
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError as exc:  # EIO: no one holds the terminal open any more
            if exc.errno != errno.EIO:
                raise
            return
        if not chunk:
            return
        into.append(chunk)


def test_a_dumb_terminal_gets_no_colour(tmp_path: Path) -> None:
    shown = plan_on_a_terminal(tmp_path / "dumb", "dumb")
    assert "Plan:" in shown
    assert "\x1b[" not in shown
    coloured = plan_on_a_terminal(tmp_path / "xterm", "xterm-256color")
    assert "\x1b[" in coloured  # the same plan on a terminal that shows colour has it
