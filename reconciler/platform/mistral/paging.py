"""Reading a whole Admin API listing, page by page, never returning part of one.

- :func:`numbered_pages` (workspaces, users): page 1 gives ``total``, the other pages are
  fetched concurrently and returned in page order. Without a ``total`` it reads ahead like
  the key listing.
- :func:`speculative_pages` (API keys, which have no total): page 0 alone, then, once a
  page is full, a window of ``concurrency`` pages in flight; the first short page ends the
  listing.
- :func:`cursor_pages` (the audit log, newest first): one page at a time, each asking for
  entries before the oldest one seen; a short page ends it, and so does a cap on entries.

Pages are asked for large (fewer requests), and a server may serve fewer items than asked
(a cap the spec does not state). A page as long as the server's cap is not a last page:
ending a listing there would make a plan create keys that exist. So a first page shorter
than asked but at least ``least`` long (the listing's default page size in the spec: a
server caps at no less) is taken as the server's page size, not as the end, unless the
total says so; a shorter one is the whole listing, at no extra request.

A page that fails (after its retries) fails the whole listing, its error naming the listing
and the page (not when the first page failed: then the request's own error says it all);
a partial listing is never returned as complete. :func:`unique` drops the
repeats a listing that shifted between pages can hold.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Awaitable, Callable, Coroutine, Mapping, Sequence
from typing import Any, TypeVar

from reconciler import errors

__all__ = [
    "SPEC_KEY_LIMIT",
    "SPEC_PAGE_SIZE",
    "PageProgress",
    "cursor_pages",
    "numbered_pages",
    "speculative_pages",
    "unique",
]

PageProgress = Callable[[int, int | None], None]  # (items so far, total items or None)

T = TypeVar("T")
C = TypeVar("C")

# The default page sizes in the spec: a server that caps pages serves at least these many
# items a page (see the module docstring).
SPEC_PAGE_SIZE = 25  # every numbered listing (workspaces, users, user groups): page_size
SPEC_KEY_LIMIT = 100  # GET /api-keys: limit


async def numbered_pages(
    what: str,
    fetch: Callable[[int], Awaitable[tuple[list[T], int | None, int | None]]],
    progress: PageProgress | None,
    *,
    page_size: int,
    least: int = SPEC_PAGE_SIZE,
    concurrency: int,
) -> list[T]:
    """Page 1, then (``total`` known) every other page concurrently, in page order.

    ``fetch(number)`` returns ``(items, total or None, the page size served or None)``.
    """
    first, total, served_size = await fetch(1)
    done = len(first)
    if progress is not None:
        progress(done, total)
    size = served_size or page_size
    if total is not None and 0 < len(first) < min(size, total):
        size = len(first)  # the server caps pages below what was asked, without saying so
    if total is None:  # no total: read ahead until a short page, like the key listing
        if len(first) < min(least, size):
            return first  # shorter than any page but the last
        rest = await speculative_pages(
            what,
            lambda i, _: _items(fetch(i + 2)),
            min(size, len(first)),
            _offset_progress(progress, done),
            lambda i, _: f"page {i + 2}",
            least=least,
            concurrency=concurrency,
        )
        return [*first, *rest]
    pages = max(1, math.ceil(total / size))
    if pages == 1:
        return first

    async def numbered(number: int) -> list[T]:
        nonlocal done
        items, _, _ = await fetch(number)
        done += len(items)
        if progress is not None:
            progress(done, total)
        return items

    coros = {n: numbered(n) for n in range(2, pages + 1)}
    results = await _all_or_first_error(coros, what, lambda n: f"page {n} of {pages}")
    return [*first, *(item for n in range(2, pages + 1) for item in results[n])]


async def speculative_pages(
    what: str,
    fetch: Callable[[int, int], Coroutine[Any, Any, list[T]]],
    size: int,
    progress: PageProgress | None,
    describe: Callable[[int, int], str | None],
    *,
    least: int,
    concurrency: int,
) -> list[T]:
    """Pages 0, 1, 2 ... of ``size`` items asked; the first short page ends the listing.

    ``fetch(index, size)`` reads page ``index`` of pages of ``size`` items, ``describe(index,
    size)`` names it in an error (None: the listing's first page, left unnamed). Page 0 is
    fetched alone. When it holds fewer items than asked but at least ``least``, the server
    may cap pages at that length: that becomes the page size and page 1 is fetched alone
    too (one request more, never a key missed). Once a page is full, ``concurrency`` pages
    are kept in flight.

    A failed page fails the listing unless an earlier page turns out to be the last.
    """
    tasks: dict[int, asyncio.Task[list[T]]] = {}
    results: dict[int, list[T]] = {}
    failures: dict[int, BaseException] = {}
    end: int | None = None  # index of the first short page seen
    full = False  # a page as long as the page size was seen: read ahead
    following = 0
    done = 0
    try:
        while True:
            bounds = [b for b in (end, min(failures, default=None)) if b is not None]
            bound = min(bounds) if bounds else None
            if bound is None:
                # One page at a time (most listings fit in one) until one is full.
                window = concurrency if full else 1
                while len(tasks) < window:
                    tasks[following] = asyncio.ensure_future(fetch(following, size))
                    following += 1
            else:
                for index in [i for i in tasks if i > bound]:
                    tasks.pop(index).cancel()
                if not tasks:
                    break
            finished, _ = await asyncio.wait(tasks.values(), return_when=asyncio.FIRST_COMPLETED)
            for index, task in list(tasks.items()):
                if task not in finished:
                    continue
                del tasks[index]
                error = task.exception()
                if error is not None:
                    failures[index] = error
                    continue
                page = task.result()
                results[index] = page
                done += len(page)
                if progress is not None:
                    progress(done, None)
                if index == 0 and min(least, size) <= len(page) < size:
                    size = len(page)  # perhaps the server's cap: not the end
                elif len(page) < size:
                    end = index if end is None else min(end, index)
                else:
                    full = True
    finally:
        for task in tasks.values():
            task.cancel()
        await asyncio.gather(*tasks.values(), return_exceptions=True)
    first_failure = min(failures, default=None)
    if end is None or (first_failure is not None and first_failure < end):
        assert first_failure is not None
        raise _annotated(failures[first_failure], what, describe(first_failure, size))
    return [item for index in range(end + 1) for item in results[index]]


async def cursor_pages(
    what: str,
    fetch: Callable[[C | None], Awaitable[list[T]]],
    cursor: Callable[[T], C],
    ident: Callable[[T], str],
    progress: PageProgress | None,
    *,
    size: int,
    limit: int,
) -> list[T]:
    """Pages fetched one after the other, ``fetch(None)`` first, then ``fetch(cursor)``
    with the cursor of the last item seen, until a short page (or ``limit`` items).

    The cursor is inclusive of ties: a page may repeat items of the previous one (several
    entries with one timestamp), which are dropped by ``ident``; a full page that brings
    nothing new cannot move on, and is an error rather than a loop or a silent gap.
    """
    items: list[T] = []
    seen: set[str] = set()
    after: C | None = None
    number = 0
    while len(items) < limit:
        number += 1
        try:
            page = await fetch(after)
        except errors.RemoteError as exc:
            _annotated(exc, what, f"page {number}" if number > 1 else None)
            raise
        fresh = [item for item in page if ident(item) not in seen]
        seen.update(ident(item) for item in fresh)
        items.extend(fresh)
        if progress is not None:
            progress(len(items), None)
        if len(page) < size:
            break
        if not fresh:
            raise errors.RemoteError(
                f"listing {what} failed at page {number} (nothing returned): a full page of "
                "entries already seen (more entries share one time than a page holds)"
            )
        after = cursor(page[-1])
    return items[:limit]


def unique(items: Sequence[T], ident: Callable[[T], str]) -> list[T]:
    """Drop repeats (a listing that shifted between pages), keeping the first seen."""
    idents = list(map(ident, items))
    if len(set(idents)) == len(idents):  # no repeats (nearly every listing): as it is
        return list(items)
    seen: set[str] = set()
    out: list[T] = []
    for item, key in zip(items, idents, strict=True):
        if key not in seen:
            seen.add(key)
            out.append(item)
    return out


async def _items(page: Awaitable[tuple[list[T], int | None, int | None]]) -> list[T]:
    return (await page)[0]


def _offset_progress(progress: PageProgress | None, offset: int) -> PageProgress | None:
    if progress is None:
        return None
    return lambda done, total: progress(offset + done, total)


async def _all_or_first_error(
    coros: Mapping[int, Coroutine[Any, Any, T]], what: str, describe: Callable[[int], str]
) -> dict[int, T]:
    """Run every coroutine; on the first failure cancel the rest and raise it, annotated."""
    tasks = {key: asyncio.ensure_future(coro) for key, coro in coros.items()}
    try:
        pending: set[asyncio.Task[T]] = set(tasks.values())
        while pending:
            finished, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_EXCEPTION)
            failed = sorted(k for k, t in tasks.items() if t in finished and t.exception())
            if failed:
                error = tasks[failed[0]].exception()
                assert error is not None
                raise _annotated(error, what, describe(failed[0]))
        return {key: task.result() for key, task in tasks.items()}
    finally:
        for task in tasks.values():
            task.cancel()
        await asyncio.gather(*tasks.values(), return_exceptions=True)


def _annotated(error: BaseException, what: str, where: str | None) -> BaseException:
    """Say which listing and which page failed, keeping the error's class (in place); not
    for the first page (``where`` None), whose failure returned nothing of the listing."""
    if where is not None and isinstance(error, errors.RemoteError) and error.args:
        error.args = (
            f"listing {what} failed at {where} (nothing returned): {error.args[0]}",
            *error.args[1:],
        )
    return error
