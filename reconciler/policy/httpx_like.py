"""The transport logic that ``httpx`` and ``httpx2`` share: their transport APIs are one.

``httpx2`` is a separate package and namespace (``httpx2.Response`` is not an
``httpx.Response``), so each library gets its own transport classes, built in
:mod:`~reconciler.policy.transport` and :mod:`~reconciler.policy.httpx2_transport` from
the pieces here, which take the library module and import neither. The policy itself
is in :class:`~reconciler.policy.hook.Hook`; this module only moves bytes:

- a request the hook does not govern goes to the inner transport untouched;
- a refused one is answered with the provider's error response (``on_deny="respond"``,
  what an official SDK needs to raise its usual exception) or raises the library's
  ``HTTPStatusError`` subclass (``on_deny="raise"``); nothing is sent;
- an admitted one is sent (with the hook's body, when it changed it), and its response
  body is metered on its way to the caller; closing the response records the usage (a
  response dropped unclosed, at the client's next call). A call that raises on the way
  releases its reservation and re-raises.

On the asynchronous path the store is asked in a worker thread (``anyio``'s, which both
libraries run on), so a shared store waiting for another process's lock holds up the
caller alone, not every task of its event loop; only the in-process
:class:`~reconciler.policy.memory.MemoryStore`, which never waits, is asked in place.
A task cancelled meanwhile does not leave a hold behind: releases and reports are
shielded from cancel scopes, and an admission whose caller stopped waiting for it
(asyncio's ``Task.cancel`` is not held off by a shield) is released by whichever of
the thread and the caller comes last.
"""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from functools import partial
from typing import Any, Literal, TypedDict, TypeVar, Unpack

import anyio
import anyio.to_thread

from reconciler.policy.hook import Admission, Hook, Refused, UsageMeter
from reconciler.policy.memory import MemoryStore
from reconciler.policy.policy import Policy
from reconciler.policy.tokens import TokenEstimator
from reconciler.policy.wire import Provider

OnDeny = Literal["raise", "respond"]
_T = TypeVar("_T")


class Options(TypedDict, total=False):
    """A policy transport's options.

    ``provider``: the API's wire shape (``"mistral"``, the default, ``"openai"``,
    ``"groq"``, ``"anthropic"``, ``"cohere"``); ``on_deny``: ``"raise"`` (the default) or
    ``"respond"``; ``estimator``: a :class:`~reconciler.policy.tokens.TokenEstimator`;
    ``clamp_max_tokens``: fill in the caller's output cap when a request sets none
    (default True).
    """

    provider: str | Provider
    on_deny: OnDeny
    estimator: TokenEstimator | None
    clamp_max_tokens: bool


class Reporting:
    """What both metered streams share: report the meter once, on close, or when the
    stream is dropped unclosed (a groq stream the app stops reading is never closed).
    A dropped stream's report is queued (``dropped``), never made in ``__del__``, which
    may run while the store's lock is held; its client makes it at its next call."""

    def __init__(
        self,
        inner: Any,
        meter: UsageMeter,
        done: Callable[[UsageMeter], None],
        dropped: list[Callable[[], None]],
        *,
        waits: bool = False,
    ):
        self._inner, self._meter, self._done, self._dropped = inner, meter, done, dropped
        self._finished = False
        self._waits = waits  # the report may wait for the store: off the event loop

    def _report(self) -> None:
        if not self._finished:
            self._finished = True
            self._done(self._meter)

    def __del__(self) -> None:
        if not self._finished:
            self._finished = True
            self._dropped.append(partial(self._done, self._meter))


class MeteredSync(Reporting):
    """Mixin for a library's ``SyncByteStream``: feeds a meter, reports once on close."""

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self._inner:
            self._meter.feed(chunk)
            yield chunk

    def close(self) -> None:
        try:
            self._inner.close()
        finally:
            self._report()


class MeteredAsync(Reporting):
    """Mixin for a library's ``AsyncByteStream``: feeds a meter, reports once on close."""

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self._inner:
            self._meter.feed(chunk)
            yield chunk

    async def aclose(self) -> None:
        try:
            await self._inner.aclose()
        finally:
            if self._waits and not self._finished:
                await _in_thread(self._report)
            else:
                self._report()


@dataclass(frozen=True, slots=True)
class Library:
    """One httpx-like library: its module, its metered streams, its denial exception."""

    module: Any
    sync_stream: type[MeteredSync]
    async_stream: type[MeteredAsync]
    denied: Callable[[Any, Any, Any], BaseException]  # (decision, request, response)


class Enforcing:
    """What a policy transport does around its inner transport, sync or async."""

    def __init__(
        self, policy: Policy, caller: str | None, library: Library, **options: Unpack[Options]
    ) -> None:
        on_deny = options.get("on_deny", "raise")
        if on_deny not in ("raise", "respond"):
            raise ValueError(f"on_deny must be 'raise' or 'respond', got {on_deny!r}")
        self.hook = Hook(
            policy,
            caller,
            provider=options.get("provider", "mistral"),
            estimator=options.get("estimator"),
            clamp=options.get("clamp_max_tokens", True),
        )
        self.library, self.on_deny = library, on_deny
        self.dropped: list[Callable[[], None]] = []  # reports of streams dropped unclosed
        self.waits = type(policy.store) is not MemoryStore  # its calls may block

    def report_dropped(self) -> None:
        """Make the reports of the streams dropped unclosed since the last call."""
        while self.dropped:
            try:
                report = self.dropped.pop()
            except IndexError:  # another thread took the last one
                return
            report()

    def admit(self, request: Any, content: bytes) -> Admission | Refused | None:
        return self.hook.admit(
            request.method, request.url.path, request.headers.get("content-type"), content
        )

    def refuse(self, refused: Refused, request: Any) -> Any:
        """The provider's error response, or raise it (``on_deny="raise"``)."""
        headers = {**refused.denial.headers, "content-type": "application/json"}
        response = self.library.module.Response(
            refused.denial.status, headers=headers, content=refused.content(), request=request
        )
        if self.on_deny == "raise":
            raise self.library.denied(refused.decision, request, response)
        return response

    def outgoing(self, request: Any, admission: Admission) -> Any:
        if admission.body is None:
            return request
        headers = [
            (k, v) for k, v in request.headers.multi_items() if k.lower() != "content-length"
        ]
        return self.library.module.Request(
            request.method,
            request.url,
            headers=headers,
            content=admission.body,
            extensions=request.extensions,
        )

    def metered(self, response: Any, admission: Admission, *, sync: bool) -> Any:
        meter = self.hook.meter(response.headers.get("content-type"))
        hook, status = self.hook, response.status_code

        def done(used: UsageMeter) -> None:
            hook.finish(admission, status, used)

        if sync:
            stream: Reporting = self.library.sync_stream(response.stream, meter, done, self.dropped)
        else:
            stream = self.library.async_stream(
                response.stream, meter, done, self.dropped, waits=self.waits
            )
        return self.library.module.Response(
            status,
            headers=response.headers,
            stream=stream,
            extensions=response.extensions,
            request=_request_of(response),
        )

    def handle(self, inner: Any, request: Any) -> Any:
        """``handle_request`` of a synchronous policy transport."""
        self.report_dropped()
        outcome = self.admit(request, request.read()) if request.method == "POST" else None
        if outcome is None:
            return inner.handle_request(request)
        if isinstance(outcome, Refused):
            return self.refuse(outcome, request)
        try:
            response = inner.handle_request(self.outgoing(request, outcome))
        except BaseException:
            self.hook.fail(outcome)
            raise
        return self.metered(response, outcome, sync=True)

    async def handle_async(self, inner: Any, request: Any) -> Any:
        """``handle_async_request`` of an asynchronous policy transport."""
        if self.dropped:
            await self._asked(self.report_dropped)
        outcome = None
        if request.method == "POST":
            content = await request.aread()
            if self.waits:
                outcome = await _Admitting(self, request, content).run()
            else:
                outcome = self.admit(request, content)
        if outcome is None:
            return await inner.handle_async_request(request)
        if isinstance(outcome, Refused):
            return self.refuse(outcome, request)
        try:
            response = await inner.handle_async_request(self.outgoing(request, outcome))
        except BaseException:
            await self._asked(partial(self.hook.fail, outcome))
            raise
        return self.metered(response, outcome, sync=False)

    async def _asked(self, call: Callable[[], _T]) -> _T:
        """``call()``, which asks the store: in a worker thread when the store may wait."""
        return await _in_thread(call) if self.waits else call()


async def _in_thread(call: Callable[[], _T]) -> _T:
    """``call()`` in a worker thread, made even in a cancelled scope (a release or a
    report that a cancelled task skipped would hold the call's estimate until the
    store's time-to-live, then charge it)."""
    with anyio.CancelScope(shield=True):
        answer = await anyio.to_thread.run_sync(call)
    return answer


class _Admitting:
    """One admission asked in a worker thread. Its caller may stop waiting for the
    answer (asyncio's ``Task.cancel`` is not held off by a shield): a hold nobody will
    send is then released, by the thread if it answers later, else by the caller."""

    def __init__(self, enforcing: Enforcing, request: Any, content: bytes) -> None:
        self._enforcing, self._request, self._content = enforcing, request, content
        self._lock = threading.Lock()
        self._left = False  # the caller stopped waiting
        self._answer: Admission | Refused | None = None

    async def run(self) -> Admission | Refused | None:
        try:
            return await _in_thread(self._ask)
        except BaseException:
            with self._lock:
                self._left = True
                answer, self._answer = self._answer, None
            if isinstance(answer, Admission):  # answered just as its caller left
                self._enforcing.hook.fail(answer)
            raise

    def _ask(self) -> Admission | Refused | None:
        answer = self._enforcing.admit(self._request, self._content)
        with self._lock:
            left = self._left
            if not left:
                self._answer = answer
        if left and isinstance(answer, Admission):
            self._enforcing.hook.fail(answer)
        return answer


def _request_of(response: Any) -> Any:
    try:
        return response.request
    except RuntimeError:  # a response built without one
        return None
