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
reports its problems at their lines. A worker that cannot start, or dies, costs nothing
but time: the files it did not return are parsed here.

Parsed here, as starting a process would cost more than it saves (some 60 ms) or is not
possible: a small desired state (under :data:`WORKER_MIN_CHARS` of text), a machine with
one core, a system other than POSIX, a frozen application, the pure-Python parser. The
worker is a new interpreter (not a fork of a process that may be running threads),
ignores Ctrl+C (this process stops it) and exits on its own when this process closes
its end of the pipe, or dies. Its memory is its own: some 40 MB beside this process's.
"""

from __future__ import annotations

import gc
import os
import queue
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from multiprocessing.connection import Connection
from typing import Any

from reconciler.desired.problems import RawProblem
from reconciler.desired.yaml_events import FALLBACK, CParser, fast_data
from reconciler.desired.yaml_guard import MAX_DEPTH
from reconciler.desired.yaml_loader import Document, load_text

#: Characters of text below which files are parsed in this process.
WORKER_MIN_CHARS = 1 << 20
#: Characters of text sent to the worker at a time: small enough that checking starts
#: early, large enough that a message costs little beside the parse.
CHUNK_CHARS = 1 << 18

Text = str | RawProblem  # a file's text, or why it has none


@contextmanager
def parsed(texts: Sequence[Text], *, pure: bool = False) -> Iterator[Iterator[Document]]:
    """The document of each text, in order, read lazily: in a worker process when the
    texts are many, else here (see the module's docstring). Leaving the ``with`` block,
    however it is left, stops the worker."""
    size = sum(len(text) for text in texts if isinstance(text, str))
    if pure or CParser is None or size < WORKER_MIN_CHARS or not _can_start():
        yield (_here(text, pure=pure) for text in texts)
        return
    worker = _Worker.start()
    try:
        yield (_here(text) for text in texts) if worker is None else worker.documents(texts)
    finally:
        if worker is not None:
            worker.stop()


def _can_start() -> bool:
    """Whether a worker can start and run beside this process: two cores or more, a
    POSIX system (the worker's pipes are inherited file descriptors), and an interpreter
    to start (a frozen application's executable is the application itself)."""
    frozen = getattr(sys, "frozen", False)
    return os.name == "posix" and (os.cpu_count() or 1) >= 2 and not frozen and bool(sys.executable)


def _here(text: Text, *, pure: bool = False) -> Document:
    """A text's document, parsed in this process."""
    if isinstance(text, RawProblem):
        return Document(problems=[text])
    return load_text(text, pure=pure)


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
# reconciler), then serves. ``-P``: nothing from the working directory is importable.
_BOOT = (
    "import sys\n"
    "from multiprocessing.connection import Connection\n"
    "tasks = Connection(int(sys.argv[1]), writable=False)\n"
    "sys.path[:] = tasks.recv()\n"
    "from reconciler.desired.yaml_worker import serve\n"
    "serve(tasks, Connection(int(sys.argv[2]), readable=False))\n"
)


class _Worker:
    """One worker process and the two pipes to it: texts out (sent by a thread of their
    own, so a full pipe each way never stops both sides), values back."""

    def __init__(self, process: subprocess.Popen[bytes], tasks: Connection, results: Connection):
        self._process = process
        self._tasks = tasks
        self._results = results
        self._feeder: threading.Thread | None = None
        self._requests: queue.SimpleQueue[int | None] = queue.SimpleQueue()  # to the feeder

    @classmethod
    def start(cls) -> _Worker | None:
        """A running worker, or None when one cannot start here.

        A new interpreter of its own, not ``multiprocessing``'s: that one imports the
        program's main module again, which a script calling the loader without a
        ``__main__`` guard would run a second time."""
        task_read, task_write = os.pipe()
        result_read, result_write = os.pipe()
        try:
            process = subprocess.Popen(  # noqa: S603 - this interpreter, a fixed program
                [sys.executable, "-P", "-c", _BOOT, str(task_read), str(result_write)],
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
        return cls(process, tasks, results)

    def documents(self, texts: Sequence[Text]) -> Iterator[Document]:
        """Each text's document, in order. The worker parses chunks from the first on,
        two in flight; whenever the next one it owes is not back yet, this process
        parses the last chunk nobody has taken rather than wait, so the two share the
        parsing whatever their speeds."""
        chunks = _chunks(texts)
        self._feeder = threading.Thread(
            target=self._feed, args=(texts, chunks), name="yaml-parse feeder", daemon=True
        )
        self._feeder.start()
        sent = 0  # chunks [0, sent) went to the worker
        here = len(chunks)  # chunks [here, end) were parsed in this process
        parsed_here: dict[int, list[Document]] = {}
        alive = True

        def ask() -> None:
            nonlocal sent
            if alive and sent < here:
                self._requests.put(sent)
                sent += 1

        ask()
        ask()
        for number, chunk in enumerate(chunks):
            if number in parsed_here:
                yield from parsed_here.pop(number)
                continue
            if not alive or number >= sent:  # the worker is gone: parse the rest here
                yield from (_here(texts[index]) for index in chunk)
                continue
            while here - 1 >= sent and not self._results.poll():
                here -= 1
                parsed_here[here] = [_here(texts[index]) for index in chunks[here]]
            try:
                values = self._results.recv()
                if len(values) != len(chunk):
                    raise ValueError("a broken message")
            except (EOFError, OSError, ValueError):  # gone, or not speaking sense
                alive = False
                yield from (_here(texts[index]) for index in chunk)
                continue
            ask()
            for index, (done, data) in zip(chunk, values, strict=True):
                text = texts[index]
                if done and isinstance(text, str):
                    yield Document(data=data, text=text)
                else:
                    yield _here(text)

    def _feed(self, texts: Sequence[Text], chunks: list[range]) -> None:
        """Send the worker this process's module path, then each chunk asked for."""
        with suppress(OSError, ValueError):  # the worker is gone: its files are parsed here
            self._tasks.send(sys.path)
            while (number := self._requests.get()) is not None:
                chunk = [texts[index] for index in chunks[number]]
                self._tasks.send([text if isinstance(text, str) else None for text in chunk])
            self._tasks.send(None)

    def stop(self) -> None:
        """Stop the worker (at once, if it is still parsing) and release its pipes."""
        self._requests.put(None)
        if self._process.poll() is None:
            self._process.terminate()
        self._process.wait()
        if self._feeder is not None:
            self._feeder.join()  # a send to the stopped worker fails: nobody reads the pipe
        self._tasks.close()
        self._results.close()


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
