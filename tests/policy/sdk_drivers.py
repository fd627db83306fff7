"""Each official SDK driven the same way, against an upstream that counts what it gets.

An :class:`Upstream` is the mock transport underneath the policy transport (an
``httpx2.MockTransport`` or ``httpx.MockTransport``, whichever library the SDK uses): it
records every request that reached it and answers as the provider would, with a JSON
body, a server-sent event stream, a 500, or a connection failure. A :class:`Driver`
builds one SDK's client (sync or async) on a policy client and makes one call.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import httpx2

from reconciler.model import ApiKey, DesiredState, Role, Workspace, WorkspacePolicy
from reconciler.policy import Policy, async_http_client, http_client
from reconciler.policy.wire import provider_named
from tests.policy.conftest import FakeClock, utc

BASE = "https://upstream.test"
PROMPT, COMPLETION = 25, 15  # the usage every upstream reports
Answer = Literal["json", "stream", "500", "refused"]


@dataclass
class Upstream:
    """A provider's API in this process: counts requests, answers as told."""

    library: Any
    answer: Answer = "json"
    reply: Callable[[Answer], tuple[str, bytes]] = field(default=lambda _: ("", b""))
    bodies: list[dict[str, Any]] = field(default_factory=list)
    events: bool = False  # a stream sent one event at a time (sync clients only)

    def __call__(self, request: Any) -> Any:
        self.bodies.append(json.loads(request.content))
        if self.answer == "refused":
            raise self.library.ConnectError("connection refused", request=request)
        if self.answer == "500":
            body = {"message": "upstream failed"}
            return self.library.Response(500, json=body, headers={"x-should-retry": "false"})
        kind, content = self.reply(self.answer)
        if self.events:
            sent = iter([event + b"\n\n" for event in content.split(b"\n\n") if event])
            return self.library.Response(200, content=sent, headers={"content-type": kind})
        return self.library.Response(200, content=content, headers={"content-type": kind})

    def transport(self) -> Any:
        return self.library.MockTransport(self)


def _sse(events: Sequence[tuple[str | None, dict[str, Any]]], done: bool = False) -> bytes:
    out = ""
    for name, data in events:
        out += (f"event: {name}\n" if name else "") + f"data: {json.dumps(data)}\n\n"
    return (out + ("data: [DONE]\n\n" if done else "")).encode()


def _json(body: dict[str, Any]) -> tuple[str, bytes]:
    return "application/json", json.dumps(body).encode()


# --- what each provider answers -----------------------------------------------------------


def _chat_reply(answer: Answer, model: str, groq: bool = False) -> tuple[str, bytes]:
    usage = {
        "prompt_tokens": PROMPT,
        "completion_tokens": COMPLETION,
        "total_tokens": PROMPT + COMPLETION,
    }
    base = {"id": "c-1", "created": 1, "model": model}
    if answer == "json":
        choice = {
            "index": 0,
            "message": {"role": "assistant", "content": "hi"},
            "finish_reason": "stop",
        }
        return _json({**base, "object": "chat.completion", "choices": [choice], "usage": usage})
    chunk = {**base, "object": "chat.completion.chunk"}
    delta = {"index": 0, "delta": {"role": "assistant", "content": "hi"}, "finish_reason": None}
    last = {"index": 0, "delta": {}, "finish_reason": "stop"}
    final: dict[str, Any] = {**chunk, "choices": [last]}
    if groq:
        final["x_groq"] = {"id": "g-1", "usage": usage}
    else:
        final["usage"] = usage
    events = [(None, {**chunk, "choices": [delta]}), (None, final)]
    return "text/event-stream", _sse(events, done=True)


def _anthropic_reply(answer: Answer, model: str) -> tuple[str, bytes]:
    message = {"id": "m-1", "type": "message", "role": "assistant", "model": model}
    if answer == "json":
        return _json(
            {
                **message,
                "content": [{"type": "text", "text": "hi"}],
                "stop_reason": "end_turn",
                "stop_sequence": None,
                "usage": {"input_tokens": PROMPT, "output_tokens": COMPLETION},
            }
        )
    start: dict[str, Any] = {
        **message,
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": {"input_tokens": PROMPT, "output_tokens": 1},
    }
    events: list[tuple[str | None, dict[str, Any]]] = [
        ("message_start", {"type": "message_start", "message": start}),
        (
            "content_block_start",
            {
                "type": "content_block_start",
                "index": 0,
                "content_block": {"type": "text", "text": ""},
            },
        ),
        (
            "content_block_delta",
            {
                "type": "content_block_delta",
                "index": 0,
                "delta": {"type": "text_delta", "text": "hi"},
            },
        ),
        ("content_block_stop", {"type": "content_block_stop", "index": 0}),
        (
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                "usage": {"output_tokens": COMPLETION},
            },
        ),
        ("message_stop", {"type": "message_stop"}),
    ]
    return "text/event-stream", _sse(events)


def _cohere_reply(answer: Answer, model: str) -> tuple[str, bytes]:
    usage = {
        "billed_units": {"input_tokens": PROMPT, "output_tokens": COMPLETION},
        "tokens": {"input_tokens": PROMPT + 200, "output_tokens": COMPLETION + 1},  # not billed
    }
    if answer == "json":
        return _json(
            {
                "id": "co-1",
                "finish_reason": "COMPLETE",
                "message": {"role": "assistant", "content": [{"type": "text", "text": "hi"}]},
                "usage": usage,
            }
        )
    events: list[tuple[str | None, dict[str, Any]]] = [
        (
            "message-start",
            {"type": "message-start", "id": "co-1", "delta": {"message": {"role": "assistant"}}},
        ),
        (
            "content-delta",
            {
                "type": "content-delta",
                "index": 0,
                "delta": {"message": {"content": {"text": "hi"}}},
            },
        ),
        (
            "message-end",
            {"type": "message-end", "delta": {"finish_reason": "COMPLETE", "usage": usage}},
        ),
    ]
    return "text/event-stream", _sse(events)


# --- the SDKs ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Driver:
    """One SDK: its models, its client, one call, and the exceptions it raises."""

    provider: str
    allowed: str
    denied: str
    reply: Callable[[Answer, str], tuple[str, bytes]]
    forbidden: str  # "module:Class" of the exception for a 403
    rate_limited: str  # for a 429
    server_error: str  # for a 500
    connection_error: str  # for a failed connection

    def exception(self, which: str) -> type[BaseException]:
        module, name = getattr(self, which).split(":")
        found: type[BaseException] = getattr(importlib.import_module(module), name)
        return found

    def upstream(self, answer: Answer = "json") -> Upstream:
        library = importlib.import_module(provider_named(self.provider).library)
        return Upstream(library, answer, lambda a: self.reply(a, self.allowed))

    def client(self, policy: Policy, caller: str, upstream: Upstream, *, sync: bool) -> Any:
        make = http_client if sync else async_http_client
        http = make(policy, caller, provider=self.provider, transport=upstream.transport())
        return _CLIENTS[self.provider](http, sync)

    def call(self, client: Any, model: str, *, stream: bool, max_tokens: int | None) -> Any:
        """Make one call (a coroutine for an async client); a stream is read to its end."""
        return _CALLS[self.provider](client, model, stream, max_tokens)


def _mistral_client(http: Any, sync: bool) -> Any:
    from mistralai.client import Mistral

    if sync:
        return Mistral(api_key="k", server_url=BASE, client=http)
    return Mistral(api_key="k", server_url=BASE, async_client=http)


def _stainless_client(module: str, sync_name: str) -> Callable[[Any, bool], Any]:
    def make(http: Any, sync: bool) -> Any:
        sdk = importlib.import_module(module)
        cls = getattr(sdk, sync_name if sync else f"Async{sync_name}")
        return cls(api_key="k", base_url=BASE, http_client=http, max_retries=0)

    return make


def _cohere_client(http: Any, sync: bool) -> Any:
    import cohere

    cls = cohere.ClientV2 if sync else cohere.AsyncClientV2
    return cls(api_key="k", base_url=BASE, httpx_client=http)


_CLIENTS: dict[str, Callable[[Any, bool], Any]] = {
    "mistral": _mistral_client,
    "anthropic": _stainless_client("anthropic", "Anthropic"),
    "openai": _stainless_client("openai", "OpenAI"),
    "groq": _stainless_client("groq", "Groq"),
    "cohere": _cohere_client,
}

MESSAGES = [{"role": "user", "content": "Say hi to the policy, please."}]


def _capped(max_tokens: int | None, field: str = "max_tokens") -> dict[str, Any]:
    return {} if max_tokens is None else {field: max_tokens}


def _run(client: Any, stream: bool, call: Callable[[], Any]) -> Any:
    """Make the call, reading a stream to its end; a coroutine for an async client."""
    if type(client).__name__.startswith("Async"):

        async def run() -> Any:
            result = await call()
            return [event async for event in result] if stream else result

        return run()
    result = call()
    return list(result) if stream else result


def _mistral_call(client: Any, model: str, stream: bool, max_tokens: int | None) -> Any:
    kwargs = {"model": model, "messages": MESSAGES, **_capped(max_tokens)}
    chat = client.chat
    if client.sdk_configuration.async_client_supplied:

        async def run() -> Any:
            if not stream:
                return await chat.complete_async(**kwargs)
            return [event async for event in await chat.stream_async(**kwargs)]

        return run()
    return list(chat.stream(**kwargs)) if stream else chat.complete(**kwargs)


def _anthropic_call(client: Any, model: str, stream: bool, max_tokens: int | None) -> Any:
    kwargs = {"model": model, "messages": MESSAGES, "max_tokens": max_tokens or 1000}
    return _run(client, stream, lambda: client.messages.create(stream=stream, **kwargs))


def _chat_completions(field: str) -> Callable[[Any, str, bool, int | None], Any]:
    def call(client: Any, model: str, stream: bool, max_tokens: int | None) -> Any:
        kwargs = {"model": model, "messages": MESSAGES, **_capped(max_tokens, field)}
        return _run(client, stream, lambda: client.chat.completions.create(stream=stream, **kwargs))

    return call


def _cohere_call(client: Any, model: str, stream: bool, max_tokens: int | None) -> Any:
    kwargs = {
        "model": model,
        "messages": MESSAGES,
        "request_options": {"max_retries": 0},
        **_capped(max_tokens),
    }
    method = client.chat_stream if stream else client.chat
    if type(client).__name__.startswith("Async"):

        async def run() -> Any:
            if stream:
                return [event async for event in method(**kwargs)]
            return await method(**kwargs)

        return run()
    return list(method(**kwargs)) if stream else method(**kwargs)


_CALLS: dict[str, Callable[[Any, str, bool, int | None], Any]] = {
    "mistral": _mistral_call,
    "anthropic": _anthropic_call,
    "openai": _chat_completions("max_completion_tokens"),
    "groq": _chat_completions("max_tokens"),
    "cohere": _cohere_call,
}

DRIVERS = [
    Driver(
        "mistral",
        "mistral-small-latest",
        "mistral-large-latest",
        _chat_reply,
        "mistralai.client.errors:SDKError",
        "mistralai.client.errors:SDKError",
        "mistralai.client.errors:SDKError",
        "httpx2:ConnectError",
    ),
    Driver(
        "anthropic",
        "claude-sonnet-4-5",
        "claude-opus-4-1",
        _anthropic_reply,
        "anthropic:PermissionDeniedError",
        "anthropic:RateLimitError",
        "anthropic:InternalServerError",
        "anthropic:APIConnectionError",
    ),
    Driver(
        "openai",
        "gpt-4o-mini",
        "gpt-4o",
        _chat_reply,
        "openai:PermissionDeniedError",
        "openai:RateLimitError",
        "openai:InternalServerError",
        "openai:APIConnectionError",
    ),
    Driver(
        "groq",
        "llama-3.3-70b-versatile",
        "llama-3.1-8b-instant",
        lambda answer, model: _chat_reply(answer, model, groq=True),
        "groq:PermissionDeniedError",
        "groq:RateLimitError",
        "groq:InternalServerError",
        "groq:APIConnectionError",
    ),
    Driver(
        "cohere",
        "command-a-03-2025",
        "command-r-plus",
        _cohere_reply,
        "cohere.errors:ForbiddenError",
        "cohere.errors:TooManyRequestsError",
        "cohere.errors:InternalServerError",
        "httpx:ConnectError",
    ),
]


OPENAI = next(d for d in DRIVERS if d.provider == "openai")
GROQ = next(d for d in DRIVERS if d.provider == "groq")


# --- policies and calls beyond the drivers' --------------------------------------------


def workspace_limited(limits: WorkspacePolicy) -> Policy:
    """A policy whose one key, ``api_key.app``, may use every driver's allowed model, in
    a workspace with these limits."""
    allowed = tuple(d.allowed for d in DRIVERS)
    state = DesiredState(
        roles=(Role(name="app", allowed_models=allowed),),
        workspaces=(Workspace(name="w", policy=limits),),
        keys=(ApiKey(name="app", workspace="w", role="app"),),
    )
    return Policy(state, clock=FakeClock(utc(2026, 11, 18, 12)))  # twelve days to December


def transcribe(policy: Policy, caller: str) -> tuple[Any, list[httpx2.Request]]:
    """mistralai's audio transcription, a multipart form naming its model."""
    from mistralai.client import Mistral

    sent: list[httpx2.Request] = []

    def answer(request: httpx2.Request) -> httpx2.Response:
        sent.append(request)
        usage = {"prompt_audio_seconds": 3, "prompt_tokens": 60, "completion_tokens": 9}
        body = {"model": "voxtral-mini-2507", "text": "hi", "language": "en", "usage": usage}
        return httpx2.Response(200, json={**body, "segments": []})

    transport = httpx2.MockTransport(answer)
    http = http_client(policy, caller, provider="mistral", transport=transport)
    client: Any = Mistral(api_key="k", server_url=BASE, client=http)
    audio = {"file_name": "hello.mp3", "content": b"ID3" + bytes(range(256)) * 64}
    return client.audio.transcriptions.complete(model="voxtral-mini-latest", file=audio), sent
