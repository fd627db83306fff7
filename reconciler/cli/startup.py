"""The command's own process while it starts: no garbage collection until a command runs.

Starting ``reconciler`` imports typer, pydantic and the modules a command needs, which
build their classes and pydantic's validators: some hundreds of thousands of objects
that live as long as the process and make almost no garbage. Meanwhile the collector
runs some 60 times, scanning them again each time (about a twentieth of a ``validate``)
and finding next to nothing. The ``reconciler`` command calls :func:`pause` first, before
it imports anything else; every command's class
(:class:`reconciler.cli.main.Command`) calls :func:`resume` when the command itself
starts, so what it runs (``sandbox serve`` for hours) is collected as usual. A program
that imports reconciler never pauses, and its collector is left as it was.
"""

from __future__ import annotations

import gc

_paused = False


def pause() -> None:
    """No collection until :func:`resume` (when the collector is on at all)."""
    global _paused
    if gc.isenabled():
        gc.disable()
        _paused = True


def resume() -> None:
    """The collector back on, if :func:`pause` turned it off."""
    global _paused
    if _paused:
        _paused = False
        gc.freeze()  # what starting made lives as long as the process: never scanned again
        gc.enable()
