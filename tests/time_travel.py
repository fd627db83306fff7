"""The test session at another date, to show that no test depends on the day it runs.

``RECONCILER_TEST_DATE=2028-02-29 pytest ...`` (an ISO date, or a date and time, UTC):
``tests/conftest.py`` moves this process's wall clock there for the whole session with
time-machine (from noon of that day, ticking on), and puts ``tests/travel`` on the
``PYTHONPATH`` of every subprocess, whose ``sitecustomize`` does the same at start-up,
so the CLI and the served sandbox of the end-to-end tests live on that date too.
Monotonic clocks (timeouts, durations) are left alone. Unset, nothing moves.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import MutableMapping
from pathlib import Path

import time_machine

ENV = "RECONCILER_TEST_DATE"
HOOK_DIR = Path(__file__).resolve().with_name("travel")


def destination(value: str) -> dt.datetime:
    """Where ``RECONCILER_TEST_DATE`` sends the clock: a date means its noon, UTC."""
    text = value.strip()
    try:
        if len(text) == 10:
            return dt.datetime.combine(dt.date.fromisoformat(text), dt.time(12), dt.UTC)
        when = dt.datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{ENV} must be an ISO date such as 2028-02-29, not {value!r}") from None
    return when if when.tzinfo is not None else when.replace(tzinfo=dt.UTC)


def start(environ: MutableMapping[str, str] = os.environ) -> dt.datetime | None:
    """Travel to ``environ[ENV]`` for the rest of the process and let subprocesses follow
    (``PYTHONPATH`` in ``environ`` gains the start-up hook); None when it is not set."""
    value = environ.get(ENV)
    if not value:
        return None
    when = destination(value)
    time_machine.travel(when, tick=True).start()
    environ["PYTHONPATH"] = with_hook(environ.get("PYTHONPATH"))
    return when


def with_hook(pythonpath: str | None) -> str:
    """``pythonpath`` with the start-up hook's folder first (once)."""
    parts = [p for p in (pythonpath or "").split(os.pathsep) if p and p != str(HOOK_DIR)]
    return os.pathsep.join([str(HOOK_DIR), *parts])
