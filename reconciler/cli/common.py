"""Helpers shared by the commands: options, error reporting, colour, progress, asyncio."""

from __future__ import annotations

import gc
import os
import sys
import time
from collections.abc import Callable, Coroutine, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TextIO, TypeVar

from reconciler.env import NO_COLOR, TERM
from reconciler.errors import DesiredStateError, ReconcilerError
from reconciler.textsafe import for_terminal

T = TypeVar("T")


def dumb_terminal() -> bool:
    """``TERM=dumb``: a terminal that shows neither colour nor cursor movement."""
    return os.environ.get(TERM) == "dumb"


def use_color(stream: TextIO, no_color: bool = False) -> bool:
    """Colour only on a terminal that shows it, and never when NO_COLOR is set
    (https://no-color.org)."""
    if no_color or os.environ.get(NO_COLOR) or dumb_terminal():
        return False
    return stream.isatty()


def version_line() -> str:
    from reconciler import __version__

    return f"reconciler {__version__}"


def plural(count: int, word: str) -> str:
    """``1 key``, ``2 keys``."""
    return f"{count} {word}{'' if count == 1 else 's'}"


def err(message: str) -> None:
    """Print to stderr; control characters in ``message`` (live names) come out escaped."""
    print(for_terminal(message, keep_newlines=True), file=sys.stderr)


def report_error(exc: BaseException) -> int:
    """Print an error the way a user should see it; return the exit code (1)."""
    if isinstance(exc, DesiredStateError):
        for problem in exc.problems:  # as validate shows them: with error or warning
            render = getattr(problem, "render", None)
            err(for_terminal(render() if callable(render) else str(problem)))
        err(f"Error: {exc}")
    else:
        err(f"Error: {exc}")
    return 1


def run_async(coro: Coroutine[Any, Any, T]) -> T:
    import asyncio  # only the commands that talk to something need it

    return asyncio.run(coro)


def guarded(fn: Callable[[], int]) -> int:
    """Run a command body; turn our errors into a message and exit code 1."""
    try:
        return fn()
    except BrokenPipeError:
        raise  # the reader went away (`| head`): not an error; main.run() ends quietly
    except ReconcilerError as exc:
        return report_error(exc)
    except OSError as exc:  # a path that cannot be created, read or written
        where = f"{exc.filename}: " if exc.filename else ""
        err(f"Error: {where}{exc.strerror or exc}")
        return 1
    except KeyboardInterrupt:
        err("Interrupted.")
        return 130


@contextmanager
def few_collections() -> Iterator[None]:
    """No garbage collection while a command builds a large, long-lived object graph.

    Loading, fetching and diffing an organisation allocate hundreds of thousands of
    objects that live until the command ends and hold almost no reference cycles; each
    collection only scans them again (with the default thresholds about 1,700 times per
    plan of 20,000 keys, a third of its CPU; with rarer ones, still a tenth). What is
    alive already (the imported modules) is frozen out of the collector's sight, and the
    collector is paused until the command ends. Then all of it joins the oldest
    generation unscanned (the command's last steps need not scan it), and the few cycles
    made meanwhile (an exception's traceback, a finished task) go at the next full
    collection. Restored on exit.
    """
    enabled = gc.isenabled()
    gc.freeze()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()  # with what the command made,
        gc.unfreeze()  # into the oldest generation
        if enabled:
            gc.enable()


class Progress:
    """Progress of a fetch on stderr: a live bar on a terminal, one summary line otherwise."""

    def __init__(self, stream: TextIO | None = None, enabled: bool = True) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = enabled
        self.started = time.monotonic()
        self.counts: dict[str, tuple[int, int | None]] = {}
        self._bar: Any = None
        self._tasks: dict[str, Any] = {}

    def __call__(self, what: str, done: int, total: int | None) -> None:
        self.counts[what] = (done, total)
        if self._bar is not None:
            task = self._tasks.get(what)
            if task is None:
                task = self._bar.add_task(what, total=total)
                self._tasks[what] = task
            self._bar.update(task, completed=done, total=total)

    @contextmanager
    def running(self, title: str) -> Iterator[Progress]:
        if self.enabled and self.stream.isatty() and not dumb_terminal():
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, TextColumn
            from rich.progress import Progress as RichProgress

            self._bar = RichProgress(
                TextColumn(f"{title} [bold]{{task.description}}"),
                BarColumn(),
                MofNCompleteColumn(),
                console=Console(file=self.stream),
                transient=True,
            )
            with self._bar:
                yield self
            self._bar = None
        else:
            yield self

    def summary(self, target: str, requests: int) -> str:
        shown = ("workspaces", "users", "api keys")
        parts = [f"{self.counts[w][0]} {w}" for w in shown if w in self.counts]
        took = time.monotonic() - self.started
        listed = ", ".join(parts) if parts else "live state"
        return f"Read {listed} from {target} in {took:.1f}s ({requests} requests)."


def desired_dir(value: Path | None) -> Path:
    return value if value is not None else Path("desired-state")
