"""Many desired-state files parsed at once: the YAML of a large organisation, in worker
processes.

Turning libyaml's events into Python values holds the interpreter's lock, so a thread
cannot parse beside the validation; another process can. When the files to parse add up
to :data:`PARALLEL_MIN_BYTES` or more, their texts go to worker processes in chunks, and
plain values (dicts, lists, strings, numbers, dates) come back while this process parses
and validates the first files itself. Workers are spawned, never forked, so a
thread of the caller (an event loop fetching the live state) is never copied mid-work.

Only the fast path runs there (:func:`~reconciler.desired.yaml_events.fast_data`): a
file it does not read (an anchor, a tag, a syntax error, too deep...) is parsed here the
careful way, which reports the problem at its line, exactly as when nothing runs in
parallel. A small desired state, one CPU, ``RECONCILER_PARSE_PROCESSES=0``, the
pure-Python parser, or worker processes that cannot start (or die) all mean the files
are parsed here, one after another, with the same results.

A spawned worker imports the program's main module again, so workers are used only
once the program allows them (:mod:`processes`): the command line does.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any, Final

from reconciler.desired.problems import RawProblem
from reconciler.desired.processes import workers_allowed
from reconciler.desired.yaml_events import FALLBACK, fast_data
from reconciler.desired.yaml_guard import MAX_DEPTH, decode
from reconciler.desired.yaml_loader import Document, has_libyaml, load_text
from reconciler.env import RECONCILER_PARSE_PROCESSES

#: Below this many bytes of YAML in all, starting workers costs more than it saves.
PARALLEL_MIN_BYTES: Final = 1024 * 1024
#: About this many bytes of YAML to one chunk: big enough to amortise the round trip,
#: small enough that the first results come back early.
CHUNK_BYTES: Final = 256 * 1024
MAX_PROCESSES: Final = 4


class _Careful:
    """Sent back for a text the fast path does not read: parse it here, carefully."""


def parse_chunk(texts: list[str]) -> list[Any]:
    """In a worker: each text's plain values, or a :class:`_Careful` marker."""
    careful = _Careful()
    out = []
    for text in texts:
        data = fast_data(text, max_depth=MAX_DEPTH)
        out.append(careful if data is FALLBACK else data)
    return out


def processes_wanted(total_bytes: int, *, pure: bool = False) -> int:
    """How many worker processes to parse ``total_bytes`` of YAML with (0: none)."""
    if not workers_allowed() or pure or not has_libyaml() or total_bytes < PARALLEL_MIN_BYTES:
        return 0
    setting = os.environ.get(RECONCILER_PARSE_PROCESSES, "").strip()
    if setting:
        return max(0, int(setting)) if setting.isdigit() else 0
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return min(cpus or 1, MAX_PROCESSES) if (cpus or 1) > 1 else 0


def parse_many(
    items: Sequence[bytes | str], *, pure: bool = False, processes: int | None = None
) -> Iterator[Document]:
    """The document of each file's bytes, in order (a ``str`` item is why the file was not
    read: its document is that one problem, at no line). ``processes``: how many workers
    (default: :func:`processes_wanted`)."""
    texts: list[str | RawProblem] = [
        decode(item) if isinstance(item, bytes) else RawProblem((), 0, 0, item) for item in items
    ]
    total = sum(len(item) for item in items if isinstance(item, bytes))
    wanted = processes_wanted(total, pure=pure) if processes is None else processes
    chunks = _chunks(texts) if wanted > 0 else []
    if len(chunks) < 2:  # nothing to share out
        yield from (_here(text, pure=pure) for text in texts)
        return
    yield from _in_workers(texts, chunks, min(wanted, len(chunks)), pure=pure)


def _here(text: str | RawProblem, *, pure: bool) -> Document:
    if isinstance(text, RawProblem):
        return Document(problems=[text])
    return load_text(text, pure=pure)


def _chunks(texts: Sequence[str | RawProblem]) -> list[list[int]]:
    """The indexes of the texts to parse, in runs of about :data:`CHUNK_BYTES`."""
    chunks: list[list[int]] = []
    current: list[int] = []
    size = 0
    for index, text in enumerate(texts):
        if isinstance(text, RawProblem):
            continue
        current.append(index)
        size += len(text)
        if size >= CHUNK_BYTES:
            chunks.append(current)
            current, size = [], 0
    if current:
        chunks.append(current)
    return chunks


def start_workers(processes: int) -> Executor:
    """A pool of spawned worker processes (a seam for tests)."""
    import multiprocessing

    return ProcessPoolExecutor(processes, mp_context=multiprocessing.get_context("spawn"))


def _in_workers(
    texts: Sequence[str | RawProblem], chunks: list[list[int]], processes: int, *, pure: bool
) -> Iterator[Document]:
    try:
        pool = start_workers(processes)
    except (OSError, ImportError, NotImplementedError):  # no process pool on this platform
        yield from (_here(text, pure=pure) for text in texts)
        return
    try:
        # The workers take the chunks from the last one back while this process parses
        # from the first one on, as it needs them, taking over any chunk no worker has
        # started: nothing waits for the workers to start, and the two meet where they do.
        futures: dict[int, Future[list[Any]]] = {}
        try:
            for n in range(len(chunks) - 1, 0, -1):
                futures[n] = pool.submit(parse_chunk, [str(texts[i]) for i in chunks[n]])
        except (OSError, RuntimeError, BrokenProcessPool):
            pass  # the chunks sent are parsed there; the rest here
        where = {i: (n, at) for n, chunk in enumerate(chunks) for at, i in enumerate(chunk)}
        results: dict[int, list[Any] | None] = {}  # chunk -> its values (None: parse here)
        for index, text in enumerate(texts):
            n, at = where.get(index, (-1, 0))
            if n >= 0 and n not in results:
                results.pop(n - 1, None)  # chunks are used in order: the last one is done
                future = futures.get(n)
                taken_over = future is None or future.cancel()
                results[n] = None if future is None or taken_over else _result(future)
            values = results.get(n)
            data = values[at] if values is not None else None
            if isinstance(text, str) and values is not None and not isinstance(data, _Careful):
                yield Document(data=data, text=text)
            else:
                yield _here(text, pure=pure)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _result(future: Future[list[Any]]) -> list[Any] | None:
    """A chunk's values, or None when its worker died (the chunk is parsed here)."""
    try:
        return future.result()
    except (OSError, BrokenProcessPool):
        return None
