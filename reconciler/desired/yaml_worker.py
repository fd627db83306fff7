"""Parsing a large desired state in a second process, while this one checks it.

Reading YAML is about half the time of a large ``validate`` or ``plan`` (libyaml's
events, then plain values), and Python runs it on one core. :func:`parsed` hands the
texts of many files to one worker process, which parses them the fast way
(:func:`~reconciler.desired.yaml_events.fast_data`) and sends back their plain values,
a chunk of files at a time, in order. This process checks each file as soon as its
values arrive, and parses the last chunks itself whenever it would otherwise wait, so on
a machine with two cores the two share the parsing. The values are the ones this process
would have built, so everything after the parse is unchanged.

Nothing is trusted to the worker that the careful loader must see: a file the fast way
does not take (an anchor, a tag, a syntax error ...) comes back as "not parsed", and
this process loads it with :func:`~reconciler.desired.yaml_loader.load_text`, which
reports its problems at their lines. A worker that cannot start, dies, answers nonsense
or does not answer for :data:`STALL_SECONDS` costs nothing but time: the files it did not
return are parsed here.

Parsed here, as starting a process would cost more than it saves (some 60 ms) or is not
possible: a small desired state (under :data:`WORKER_MIN_CHARS` of text; under
:data:`OVERLAPPED_MIN_CHARS` for a caller that reads it while something else runs), one
core for this process, a system whose pipes cannot be widened to :data:`PIPE_BYTES`
(Linux's can), a frozen application, the pure-Python parser. The worker is a new,
isolated interpreter (``-I``; not a fork of a process that may be running threads),
ignores Ctrl+C (this process stops it) and exits on its own when this process closes its
end of the pipe, or dies. Its memory is its own: some 40 MB beside this process's.
"""

from __future__ import annotations

import gc
import os
import signal
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from typing import TYPE_CHECKING, Any

from reconciler.desired.problems import RawProblem

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows, where the worker does not start
    fcntl = None  # type: ignore[assignment]
from reconciler.desired.yaml_events import FALLBACK, CParser, fast_data
from reconciler.desired.yaml_guard import MAX_DEPTH
from reconciler.desired.yaml_loader import Document, load_text

if TYPE_CHECKING:  # imported when a worker starts: most loads start none
    import subprocess
    from multiprocessing.connection import Connection

#: Characters of text below which files are parsed in this process.
WORKER_MIN_CHARS = 1 << 20
#: The same, for a caller that reads the desired state while something else runs (a plan
#: reads it while the organisation is fetched): below this the parse ends before the
#: fetch does, and a worker only costs CPU (0.15 s of a plan of 20,000 keys, 2 MB of
#: YAML, for no shorter run); above it, as at 100,000 keys (23 MB), it still shortens
#: the run.
OVERLAPPED_MIN_CHARS = 8 << 20
#: Characters of text sent to the worker at a time: small enough that checking starts
#: early, large enough that a message costs little beside the parse.
CHUNK_CHARS = 1 << 16
#: Seconds without an answer after which a live worker is taken as stuck (a chunk takes
#: milliseconds; the largest file a second): its files are then parsed here.
STALL_SECONDS = 30.0
#: Bytes a pipe to or from the worker holds (Linux's default limit for a pipe).
PIPE_BYTES = 1 << 20
#: Chunks sent to the worker ahead of the one this process checks next (fewer when
#: they would not fit in its pipe together).
AHEAD = 4

Text = str | RawProblem  # a file's text, or why it has none


@contextmanager
def parsed(
    texts: Sequence[Text], *, pure: bool = False, min_chars: int | None = None
) -> Iterator[Iterator[Document]]:
    """The document of each text, in order, read lazily: in a worker process when the
    texts are many (``min_chars`` of text or more; default :data:`WORKER_MIN_CHARS`),
    else here (see the module's docstring). Leaving the ``with`` block, however it is
    left, stops the worker."""
    size = sum(len(text) for text in texts if isinstance(text, str))
    least = WORKER_MIN_CHARS if min_chars is None else min_chars
    if pure or CParser is None or size < least or not _can_start():
        yield (_here(text, pure=pure) for text in texts)
        return
    started = _Worker.start()
    try:
        yield (_here(text) for text in texts) if started is None else started.documents(texts)
    finally:
        if started is not None:
            started.stop()


def _can_start() -> bool:
    """Whether a worker can start and run beside this process: two cores or more for
    this process (its CPU affinity, where the system has one), a POSIX system (the
    worker's pipes are inherited file descriptors), and an interpreter to start (a
    frozen application's executable is the application itself)."""
    frozen = getattr(sys, "frozen", False)
    if os.name != "posix" or frozen or not sys.executable:
        return False
    affinity = getattr(os, "sched_getaffinity", None)
    cores = len(affinity(0)) if affinity is not None else os.cpu_count() or 1
    return cores >= 2


def _here(text: Text, *, pure: bool = False) -> Document:
    """A text's document, parsed in this process."""
    if isinstance(text, RawProblem):
        return Document(problems=[text])
    return load_text(text, pure=pure)


def _sendable(text: Text) -> str | None:
    """A text as the worker takes it (None: a file with no text, whose problem is here)."""
    return text if isinstance(text, str) else None


def _chunks(texts: Sequence[Text]) -> list[range]:
    """The texts, in order, grouped into messages of about :data:`CHUNK_CHARS`
    characters."""
    chunks: list[range] = []
    first = size = 0
    for index, text in enumerate(texts):
        size += len(text) if isinstance(text, str) else 0
        if size >= CHUNK_CHARS:
            chunks.append(range(first, index + 1))
            first, size = index + 1, 0
    if first < len(texts):
        chunks.append(range(first, len(texts)))
    return chunks


# The worker's program: it takes this process's module path first (so it imports the same
# reconciler), then serves. ``-I``: nothing from the working directory, the user's site or
# PYTHON* variables (PYTHONPATH, PYTHONWARNINGS ...) reaches it, even before that path is set.
_BOOT = (
    "import sys\n"
    "from multiprocessing.connection import Connection\n"
    "tasks = Connection(int(sys.argv[1]), writable=False)\n"
    "sys.path[:] = tasks.recv()\n"
    "from reconciler.desired.yaml_worker import serve\n"
    "serve(tasks, Connection(int(sys.argv[2]), readable=False))\n"
)


def _widen(fd: int) -> bool:
    """Make a pipe hold :data:`PIPE_BYTES` (Linux): whether it does. The chunks sent
    ahead then never fill the pipe to the worker, so this process never waits to send
    while the worker waits to send it values; and the worker goes on parsing while this
    process checks files, instead of waiting for it to read."""
    if fcntl is None or not hasattr(fcntl, "F_SETPIPE_SZ"):
        return False
    try:
        return int(fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, PIPE_BYTES)) >= PIPE_BYTES
    except OSError:  # over the system's limit for a pipe
        return False


class _Worker:
    """One worker process and the two pipes to it: texts out (never more than the pipe
    holds, so this process never waits to send while the worker waits to answer), values
    back."""

    def __init__(self, process: subprocess.Popen[bytes], tasks: Connection, results: Connection):
        self._process = process
        self._tasks = tasks
        self._results = results

    @classmethod
    def start(cls) -> _Worker | None:
        """A running worker, or None when one cannot start here.

        A new interpreter of its own, not ``multiprocessing``'s: that one imports the
        program's main module again, which a script calling the loader without a
        ``__main__`` guard would run a second time."""
        import pickle  # only a worker needs these three
        import subprocess
        from multiprocessing.connection import Connection

        task_read, task_write = os.pipe()
        result_read, result_write = os.pipe()
        if not all(_widen(fd) for fd in (task_write, result_write)):
            for fd in (task_read, task_write, result_read, result_write):
                os.close(fd)
            return None  # texts sent could fill the pipe while the worker waits to answer
        try:
            process = subprocess.Popen(  # noqa: S603 - this interpreter, a fixed program
                [sys.executable, "-I", "-c", _BOOT, str(task_read), str(result_write)],
                pass_fds=(task_read, result_write),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,  # a worker that fails costs time, not a message
            )
        except (OSError, ValueError):  # no interpreter to start, no resources: parse here
            for fd in (task_read, task_write, result_read, result_write):
                os.close(fd)
            return None
        # the worker's ends, closed here: its death is then an end of file on ``results``
        os.close(task_read)
        os.close(result_write)
        tasks = Connection(task_write, readable=False)
        results = Connection(result_read, writable=False)
        worker = cls(process, tasks, results)
        if worker._send(pickle.dumps(sys.path)):
            return worker
        worker.stop()  # gone before it began
        return None

    def documents(self, texts: Sequence[Text]) -> Iterator[Document]:
        """Each text's document, in order. The worker parses chunks from the first on,
        up to :data:`AHEAD` of them sent at a time; whenever the next one is not back
        yet, this process parses the last chunk not sent rather than wait, so the two
        share the parsing whatever their speeds, and neither parses a chunk twice."""
        import pickle  # imported already, by start()

        chunks = _chunks(texts)
        sent = 0  # chunks [0, sent) went to the worker (or were parsed here if too big)
        here = len(chunks)  # chunks [here, end) were parsed in this process
        parsed_here: dict[int, list[Document]] = {}
        in_pipe: dict[int, int] = {}  # chunks sent and not answered yet: their bytes
        alive = True
        for number, chunk in enumerate(chunks):
            while alive and sent < min(here, number + AHEAD):
                message = pickle.dumps([_sendable(texts[index]) for index in chunks[sent]])
                if len(message) + sum(in_pipe.values()) > PIPE_BYTES:
                    if in_pipe:
                        break  # after an answer, so that the pipe never fills
                    parsed_here[sent] = [_here(texts[index]) for index in chunks[sent]]
                else:
                    alive = self._send(message)
                    in_pipe[sent] = len(message)
                sent += 1
            if number in parsed_here:
                yield from parsed_here.pop(number)
                continue
            if not alive or number not in in_pipe:  # the worker is gone: parse the rest here
                yield from (_here(texts[index]) for index in chunk)
                continue
            while here - 1 >= sent and not self._results.poll():
                here -= 1
                parsed_here[here] = [_here(texts[index]) for index in chunks[here]]
            del in_pipe[number]
            try:
                if not self._results.poll(STALL_SECONDS):
                    raise TimeoutError("no answer")  # alive, but stuck: parse the rest here
                values = self._results.recv()
                if not _answers(values, len(chunk)):
                    raise ValueError("a broken message")
            except Exception:  # gone, or not speaking sense (what unpickling raised, whatever)
                alive = False
                yield from (_here(texts[index]) for index in chunk)
                continue
            for index, (done, data) in zip(chunk, values, strict=True):
                text = texts[index]
                if done and isinstance(text, str):
                    yield Document(data=data, text=text)
                else:
                    yield _here(text)

    def _send(self, message: bytes) -> bool:
        """Send the worker a pickled message; False when it is gone. Never waits: what
        is in the pipe and not answered stays under :data:`PIPE_BYTES`, which the pipe
        holds (see :func:`_widen`), even while the worker waits to send its values."""
        try:
            self._tasks.send_bytes(message)
        except (OSError, ValueError):
            return False
        return True

    def stop(self) -> None:
        """Stop the worker (at once, if it is still parsing) and release its pipes."""
        if self._process.poll() is None:
            self._process.terminate()
        self._process.wait()
        self._tasks.close()
        self._results.close()


def _answers(values: object, count: int) -> bool:
    """Whether ``values`` is what :func:`serve` sends for ``count`` texts."""
    return (
        isinstance(values, list)
        and len(values) == count
        and all(isinstance(value, tuple) and len(value) == 2 for value in values)
    )


def serve(tasks: Connection, results: Connection) -> None:
    """The worker: parse each chunk of texts received and send back, for each text,
    ``(True, values)`` or ``(False, None)`` where the careful loader must read it."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl+C is for the process that started it
    gc.disable()  # plain values make no cycles: the collector would only walk them
    with suppress(EOFError, OSError):
        while (chunk := tasks.recv()) is not None:
            results.send([_parse(text) for text in chunk])


def _parse(text: str | None) -> tuple[bool, Any]:
    if text is None:  # a file with no text: this process has its problem
        return False, None
    try:
        data = fast_data(text, max_depth=MAX_DEPTH)
    except Exception:  # whatever it is, the careful loader meets it again and reports it
        return False, None
    return (False, None) if data is FALLBACK else (True, data)
