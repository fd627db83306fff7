"""Whether this program lets the desired-state reader start worker processes.

A spawned worker imports the program's main module again, so :mod:`parse_pool` uses
workers only once the program has said that its main module runs nothing on import
(:func:`allow_workers`): the command line says so; a program that loads desired state as
a library gets no worker unless it says so too. Kept apart from :mod:`parse_pool` so the
command line can say it without importing the YAML reader.
"""

from __future__ import annotations

_allowed = False


def allow_workers(allowed: bool = True) -> None:
    """Let large desired states be parsed in worker processes from now on in this
    process: only for a program whose main module runs nothing when imported."""
    global _allowed
    _allowed = allowed


def workers_allowed() -> bool:
    return _allowed
