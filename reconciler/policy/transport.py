"""httpx integration: a transport that enforces a policy around every inference call.

Wrap the transport of any ``httpx.Client`` or ``httpx.AsyncClient`` that talks to the
Mistral API::

    import httpx
    from reconciler.policy import Policy, PolicyTransport

    policy = Policy.from_directory("desired-state")
    client = httpx.Client(
        base_url="https://api.mistral.ai",
        transport=PolicyTransport(policy, "api_key.dev-bob"),
    )

The official ``mistralai`` SDK accepts such clients: ``Mistral(api_key=...,
client=client)`` for the synchronous client and ``async_client=httpx.AsyncClient(
transport=AsyncPolicyTransport(...))`` for the asynchronous one.

For each request whose JSON body names a ``model`` (chat, FIM, agents, embeddings,
moderations, classifications), the transport

1. estimates its tokens from the body (:mod:`reconciler.policy.tokens`); when the caller
   has a per-request token cap and the body sets no ``max_tokens``, it sets
   ``max_tokens`` to what the cap leaves after the prompt (``clamp_max_tokens``), so the
   cap holds for the output too;
2. asks the policy; a denial never reaches the network. By default it raises
   :class:`PolicyDenied`, an ``httpx.HTTPStatusError`` whose ``.response`` is the 403 or
   429 the platform itself would send (its JSON error body, ``Retry-After`` when the
   limit resets) and whose ``.decision`` says why. With ``on_deny="respond"`` that
   response is returned instead of raised, for clients that map HTTP errors themselves
   (note that an SDK retrying 429s will then retry a denial after ``Retry-After``);
3. records the real usage from the response's ``usage`` (the last server-sent event's,
   for a stream) when the body has been read and the response is closed; releases the
   reservation when the platform answered with an error or the call failed to send; and
   records the estimate when a successful response carried no usage.

Requests without a JSON ``model`` (listing models, files, ...) pass through untouched.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from typing import Any, Literal

import httpx

from reconciler.policy.decision import Decision
from reconciler.policy.policy import Policy
from reconciler.policy.tokens import DEFAULT_ESTIMATOR, TokenEstimate, TokenEstimator

OnDeny = Literal["raise", "respond"]
MAX_BUFFERED = 32 * 1024 * 1024  # bytes of a non-streamed body kept to read its usage


class PolicyDenied(httpx.HTTPStatusError):
    """A request the policy refused; it was never sent.

    ``.decision`` is the :class:`~reconciler.policy.decision.Decision`; ``.response`` is
    the synthetic 403/429 with the platform's error body.
    """

    def __init__(self, decision: Decision, request: httpx.Request) -> None:
        self.decision = decision
        super().__init__(
            f"{decision.status_code} {decision.reason.value}: {decision.message}",
            request=request,
            response=denial_response(decision, request),
        )


def denial_response(decision: Decision, request: httpx.Request) -> httpx.Response:
    """The HTTP response the platform would give for this denial."""
    headers = {"x-policy-reason": decision.reason.value}
    retry_after = decision.retry_after_header()
    if retry_after is not None:
        headers["retry-after"] = retry_after
    return httpx.Response(
        decision.status_code, json=decision.error_body(), headers=headers, request=request
    )


@dataclass(frozen=True, slots=True)
class _Admitted:
    request: httpx.Request
    decision: Decision
    estimate: TokenEstimate


class _Enforcer:
    """The logic both transports share: admit before, record after."""

    def __init__(
        self,
        policy: Policy,
        caller: str | None,
        *,
        on_deny: OnDeny,
        estimator: TokenEstimator | None,
        clamp_max_tokens: bool,
    ) -> None:
        who = caller or policy.single_key
        if who is None:
            raise ValueError("name the caller (a role or key) for a policy with several keys")
        if on_deny not in ("raise", "respond"):
            raise ValueError(f"on_deny must be 'raise' or 'respond', got {on_deny!r}")
        self.policy = policy
        self.caller = who
        self.on_deny = on_deny
        self.estimator = estimator or DEFAULT_ESTIMATOR
        self.clamp = clamp_max_tokens

    def admit(self, request: httpx.Request, content: bytes) -> _Admitted | httpx.Response | None:
        """None: not governed. A response: denied (when not raising). Else admitted."""
        body = _json_object(request, content)
        if body is None:
            return None
        model = body.get("model")
        if not isinstance(model, str):
            return None
        path = request.url.path
        estimate = self.estimator.request(path, body)
        cap = self.policy.max_tokens_per_request(self.caller)
        if self.clamp and cap is not None and estimate.output_tokens and not _has_max_tokens(body):
            room = max(1, cap - estimate.input_tokens)
            body = {**body, "max_tokens": room}
            estimate = self.estimator.request(path, body)
            request = _with_body(request, body)
        decision = self.policy.authorize(self.caller, model, estimate)
        if not decision:
            if self.on_deny == "raise":
                raise PolicyDenied(decision, request)
            return denial_response(decision, request)
        return _Admitted(request, decision, estimate)

    def finish(self, admitted: _Admitted, status: int, usage: dict[str, Any] | None) -> None:
        decision = admitted.decision
        if status >= 400:
            self.policy.release(decision)
            return
        if usage is None:
            estimate = admitted.estimate
            self.policy.record(decision, estimate.input_tokens, estimate.output_tokens)
            return
        model = usage.get("_model")
        self.policy.record(
            decision,
            _int(usage.get("prompt_tokens")),
            _int(usage.get("completion_tokens")),
            model=model if isinstance(model, str) else None,
        )


class PolicyTransport(httpx.BaseTransport):
    """Enforces ``policy`` for ``caller`` around a synchronous httpx transport."""

    def __init__(
        self,
        policy: Policy,
        caller: str | None = None,
        *,
        transport: httpx.BaseTransport | None = None,
        on_deny: OnDeny = "raise",
        estimator: TokenEstimator | None = None,
        clamp_max_tokens: bool = True,
    ) -> None:
        self._enforcer = _Enforcer(
            policy, caller, on_deny=on_deny, estimator=estimator, clamp_max_tokens=clamp_max_tokens
        )
        self._inner = transport if transport is not None else httpx.HTTPTransport()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.method != "POST":
            return self._inner.handle_request(request)
        admitted = self._enforcer.admit(request, request.read())
        if admitted is None:
            return self._inner.handle_request(request)
        if isinstance(admitted, httpx.Response):
            return admitted
        try:
            response = self._inner.handle_request(admitted.request)
        except BaseException:
            self._enforcer.policy.release(admitted.decision)
            raise
        meter = _UsageMeter(response)
        stream = response.stream
        assert isinstance(stream, httpx.SyncByteStream)
        return _rewrap(
            response,
            _SyncMeteredStream(stream, meter, self._finisher(admitted, response.status_code)),
        )

    def _finisher(self, admitted: _Admitted, status: int) -> Callable[[_UsageMeter], None]:
        return lambda meter: self._enforcer.finish(admitted, status, meter.usage())

    def close(self) -> None:
        self._inner.close()


class AsyncPolicyTransport(httpx.AsyncBaseTransport):
    """Enforces ``policy`` for ``caller`` around an asynchronous httpx transport."""

    def __init__(
        self,
        policy: Policy,
        caller: str | None = None,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        on_deny: OnDeny = "raise",
        estimator: TokenEstimator | None = None,
        clamp_max_tokens: bool = True,
    ) -> None:
        self._enforcer = _Enforcer(
            policy, caller, on_deny=on_deny, estimator=estimator, clamp_max_tokens=clamp_max_tokens
        )
        self._inner = transport if transport is not None else httpx.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.method != "POST":
            return await self._inner.handle_async_request(request)
        admitted = self._enforcer.admit(request, await request.aread())
        if admitted is None:
            return await self._inner.handle_async_request(request)
        if isinstance(admitted, httpx.Response):
            return admitted
        try:
            response = await self._inner.handle_async_request(admitted.request)
        except BaseException:
            self._enforcer.policy.release(admitted.decision)
            raise
        meter = _UsageMeter(response)
        stream = response.stream
        assert isinstance(stream, httpx.AsyncByteStream)
        enforcer, status = self._enforcer, response.status_code
        return _rewrap(
            response,
            _AsyncMeteredStream(
                stream, meter, lambda m: enforcer.finish(admitted, status, m.usage())
            ),
        )

    async def aclose(self) -> None:
        await self._inner.aclose()


# --- reading usage from the response ---------------------------------------------------


class _UsageMeter:
    """Watches a response body go by and keeps what is needed to find its ``usage``."""

    def __init__(self, response: httpx.Response) -> None:
        kind = response.headers.get("content-type", "")
        self.sse = kind.startswith("text/event-stream")
        self.buffer = bytearray()
        self.overflow = False
        self.partial = b""
        self.found: dict[str, Any] | None = None

    def feed(self, chunk: bytes) -> None:
        if not self.sse:
            if not self.overflow:
                self.buffer += chunk
                if len(self.buffer) > MAX_BUFFERED:
                    self.overflow = True
                    self.buffer = bytearray()
            return
        lines = (self.partial + chunk).split(b"\n")
        self.partial = lines.pop()
        for line in lines:
            self._event_line(line)

    def _event_line(self, line: bytes) -> None:
        line = line.strip()
        if not line.startswith(b"data:") or b'"usage"' not in line:
            return
        found = _usage_of(_loads(line[5:]))
        if found is not None:
            self.found = found

    def usage(self) -> dict[str, Any] | None:
        if self.sse:
            if self.partial:
                self._event_line(self.partial)
                self.partial = b""
            return self.found
        if self.overflow or not self.buffer:
            return None
        return _usage_of(_loads(bytes(self.buffer)))


class _SyncMeteredStream(httpx.SyncByteStream):
    def __init__(
        self, inner: httpx.SyncByteStream, meter: _UsageMeter, done: Callable[[_UsageMeter], None]
    ) -> None:
        self._inner, self._meter, self._done = inner, meter, done
        self._finished = False

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self._inner:
            self._meter.feed(chunk)
            yield chunk

    def close(self) -> None:
        try:
            self._inner.close()
        finally:
            if not self._finished:
                self._finished = True
                self._done(self._meter)


class _AsyncMeteredStream(httpx.AsyncByteStream):
    def __init__(
        self, inner: httpx.AsyncByteStream, meter: _UsageMeter, done: Callable[[_UsageMeter], None]
    ) -> None:
        self._inner, self._meter, self._done = inner, meter, done
        self._finished = False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self._inner:
            self._meter.feed(chunk)
            yield chunk

    async def aclose(self) -> None:
        try:
            await self._inner.aclose()
        finally:
            if not self._finished:
                self._finished = True
                self._done(self._meter)


# --- helpers ---------------------------------------------------------------------------


def _rewrap(
    response: httpx.Response, stream: httpx.SyncByteStream | httpx.AsyncByteStream
) -> httpx.Response:
    return httpx.Response(
        response.status_code,
        headers=response.headers,
        stream=stream,
        extensions=response.extensions,
        request=response.request if _has_request(response) else None,
    )


def _has_request(response: httpx.Response) -> bool:
    try:
        response.request  # noqa: B018 - raises RuntimeError when unset
    except RuntimeError:
        return False
    return True


def _json_object(request: httpx.Request, content: bytes) -> dict[str, Any] | None:
    if not content or content[:1] not in (b"{", b" ", b"\n", b"\t", b"\r"):
        return None
    kind = request.headers.get("content-type", "application/json")
    if "json" not in kind:
        return None
    body = _loads(content)
    return body if isinstance(body, dict) else None


def _loads(data: bytes) -> Any:
    try:
        return json.loads(data)
    except ValueError:
        return None


def _usage_of(body: Any) -> dict[str, Any] | None:
    if not isinstance(body, dict) or not isinstance(body.get("usage"), dict):
        return None
    usage = dict(body["usage"])
    usage["_model"] = body.get("model")
    return usage


def _has_max_tokens(body: dict[str, Any]) -> bool:
    value = body.get("max_tokens")
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def _with_body(request: httpx.Request, body: dict[str, Any]) -> httpx.Request:
    headers = [(k, v) for k, v in request.headers.multi_items() if k.lower() != "content-length"]
    return httpx.Request(
        request.method,
        request.url,
        headers=headers,
        content=json.dumps(body, separators=(",", ":")).encode(),
        extensions=request.extensions,
    )


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0
