"""What an allowed call is charged through each official SDK, at the edges a real app
meets: responses that report their usage badly, streams the app abandons, drops or loses
halfway, many threads or tasks sharing one client, multipart forms (transcriptions).

Each case drives an SDK's own client (see ``sdk_drivers``) over an upstream in this
process (httpx2's ``MockTransport``, respx for httpx) and checks what the app's owner
would see: what the store charged and what reached the server.
"""

from __future__ import annotations

import gc
import importlib
import json
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

import httpx
import httpx2
import pytest
import respx

from reconciler.model import ApiKey, DesiredState, Role, Workspace, WorkspacePolicy
from reconciler.policy import MemoryStore, Policy, async_http_client, http_client
from reconciler.policy.prices import default_price_table, units_to_usd
from reconciler.policy.sql import PolicyStoreError
from reconciler.policy.store import Reservation
from reconciler.policy.windows import Window
from tests.policy.conftest import FakeClock, utc
from tests.policy.sdk_drivers import (
    BASE,
    GROQ,
    MESSAGES,
    OPENAI,
    Answer,
    Driver,
    transcribe,
    workspace_limited,
)
from tests.policy.test_sdks import CALLER, SDKS, _policy

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def _openai_reply(usage: Any) -> bytes:
    body: dict[str, Any] = {
        "id": "c-1",
        "object": "chat.completion",
        "created": 1,
        "model": OPENAI.allowed,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "hi"},
                "finish_reason": "stop",
            }
        ],
    }
    if usage is not None:
        body["usage"] = usage
    return json.dumps(body).encode()


def _charged_by_openai(usage: Any) -> int:
    """Tokens charged for one OpenAI chat call whose response reports ``usage``."""
    import openai

    policy = _policy()

    def answer(request: httpx2.Request) -> httpx2.Response:
        headers = {"content-type": "application/json"}
        return httpx2.Response(200, content=_openai_reply(usage), headers=headers)

    http = http_client(policy, CALLER, provider="openai", transport=httpx2.MockTransport(answer))
    client: Any = openai.OpenAI(api_key="k", base_url=BASE, http_client=http, max_retries=0)
    client.chat.completions.create(
        model=OPENAI.allowed, messages=MESSAGES, max_completion_tokens=300
    )
    return policy.tokens_today(CALLER)


MALFORMED_USAGE = [
    pytest.param({"prompt_tokens": "25", "completion_tokens": "15"}, id="strings"),
    pytest.param({"prompt_tokens": -25, "completion_tokens": -15}, id="negative"),
    pytest.param({"prompt_tokens": 25, "completion_tokens": 10**30}, id="huge"),
    pytest.param({"prompt_tokens": True, "completion_tokens": 2.5}, id="not-whole"),
]


@pytest.mark.parametrize("usage", MALFORMED_USAGE)
def test_a_malformed_usage_is_charged_the_estimate_as_a_missing_one_is(usage: Any) -> None:
    estimate = _charged_by_openai(None)  # no usage at all: the call's estimate is charged
    assert 300 < estimate < 400  # the prompt and the 300 the call may produce
    assert _charged_by_openai(usage) == estimate


@respx.mock
def test_a_malformed_usage_over_httpx_is_charged_the_estimate() -> None:
    import groq

    reply = _openai_reply({"prompt_tokens": "many", "completion_tokens": -1})
    answer = httpx.Response(200, content=reply, headers={"content-type": "application/json"})
    route = respx.post(f"{BASE}/openai/v1/chat/completions").mock(return_value=answer)
    policy = _policy()
    http = http_client(policy, CALLER, provider="groq")
    client: Any = groq.Groq(api_key="k", base_url=BASE, http_client=http, max_retries=0)
    client.chat.completions.create(model=GROQ.allowed, messages=MESSAGES, max_tokens=300)
    assert route.call_count == 1
    assert 300 < policy.tokens_today(CALLER) < 400


def _open_stream(driver: Driver, client: Any) -> Any:
    """A stream of one call, not yet read."""
    model, cap = driver.allowed, {"max_tokens": 500}
    if driver.provider == "mistral":
        return client.chat.stream(model=model, messages=MESSAGES, **cap)
    if driver.provider == "anthropic":
        return client.messages.create(model=model, messages=MESSAGES, stream=True, **cap)
    if driver.provider == "cohere":
        return client.chat_stream(model=model, messages=MESSAGES, **cap)
    return client.chat.completions.create(model=model, messages=MESSAGES, stream=True, **cap)


@SDKS
def test_a_stream_the_app_abandons_is_charged_what_was_streamed_not_its_cap(
    driver: Driver,
) -> None:
    upstream, policy = driver.upstream("stream"), _policy()
    upstream.events = True  # one event per chunk, as a server sends them
    client = driver.client(policy, CALLER, upstream, sync=True)
    stream = _open_stream(driver, client)
    first_words = {"anthropic": 2, "cohere": 1}.get(driver.provider, 0)
    for seen, _event in enumerate(stream):
        if seen == first_words:
            break  # the first words are enough: the app stops reading
    stream.close()
    charged = policy.tokens_today(CALLER)
    assert 10 < charged < 40  # the prompt and "hi", not the 500 the call might have produced


@pytest.mark.parametrize("driver", [OPENAI, GROQ], ids=["openai", "groq"])
def test_a_stream_whose_connection_breaks_halfway_is_charged_what_was_streamed(
    driver: Driver,
) -> None:
    library = httpx2 if driver.provider == "openai" else httpx
    kind, content = driver.reply("stream", driver.allowed)
    first = content.split(b"\n\n")[0] + b"\n\n"  # "hi", then the connection drops

    def broken() -> Any:
        yield first
        raise library.ReadError("connection reset by peer")

    def answer(request: Any) -> Any:
        return library.Response(200, content=broken(), headers={"content-type": kind})

    policy = _policy()
    transport = library.MockTransport(answer)
    http = http_client(policy, CALLER, provider=driver.provider, transport=transport)
    sdk: Any = importlib.import_module(driver.provider)
    made = sdk.OpenAI if driver.provider == "openai" else sdk.Groq
    api = made(api_key="k", base_url=BASE, http_client=http, max_retries=0)
    stream = api.chat.completions.create(
        model=driver.allowed, messages=MESSAGES, stream=True, max_tokens=500
    )
    broke = (driver.exception("connection_error"), library.ReadError)
    with pytest.raises(broke), stream:  # as the SDK reports it
        list(stream)
    assert 10 < policy.tokens_today(CALLER) < 40  # the prompt and "hi", not 500 more


def test_a_groq_stream_dropped_unclosed_is_charged_at_the_clients_next_call() -> None:
    upstream, policy = GROQ.upstream("stream"), _policy()
    upstream.events = True
    client = GROQ.client(policy, CALLER, upstream, sync=True)
    stream = _open_stream(GROQ, client)
    next(iter(stream))  # "hi", then the app forgets the stream: groq never closes it
    del stream
    gc.collect()
    GROQ.call(client, GROQ.allowed, stream=False, max_tokens=500)  # reports 40 tokens
    assert 50 < policy.tokens_today(CALLER) < 80  # 40, the prompt and "hi"; not 500 held


def _held_and_spent(policy: Policy) -> Decimal:
    """The workspace's month: settled spend and the estimates of the calls in flight."""
    guard = policy.guard("w")
    counter = guard.counter(Window.MONTH)
    return units_to_usd(guard.store.read(counter, Window.MONTH, policy.clock()).total)


BUDGET = Decimal("0.01")  # a few calls' estimates, far fewer than CALLS
CALLS = 12


def test_threads_sharing_a_client_never_hold_more_than_the_budget_together() -> None:
    import threading

    import openai

    policy = workspace_limited(WorkspacePolicy(monthly_budget_usd=BUDGET))
    decided = threading.Condition()
    in_flight: list[int] = []
    denied: list[int] = []
    release = threading.Event()
    upstream = OPENAI.upstream()

    def answer(request: httpx2.Request) -> httpx2.Response:
        with decided:
            in_flight.append(1)  # admitted: its estimate is held
            decided.notify()
        release.wait()
        reply: httpx2.Response = upstream(request)
        return reply

    http = http_client(policy, CALLER, provider="openai", transport=httpx2.MockTransport(answer))
    client: Any = openai.OpenAI(api_key="k", base_url=BASE, http_client=http, max_retries=0)

    def call() -> None:
        try:
            client.chat.completions.create(model=OPENAI.allowed, messages=MESSAGES)
        except openai.RateLimitError:
            with decided:
                denied.append(1)
                decided.notify()

    threads = [threading.Thread(target=call) for _ in range(CALLS)]
    for thread in threads:
        thread.start()
    with decided:  # every call admitted and in flight at once, or refused
        assert decided.wait_for(lambda: len(in_flight) + len(denied) == CALLS, timeout=30)
    held = _held_and_spent(policy)
    release.set()
    for thread in threads:
        thread.join()
    assert 0 < len(in_flight) < CALLS
    assert held <= BUDGET  # nothing settled yet: the denials are the held estimates'
    assert len(upstream.bodies) == len(in_flight)


def test_asyncio_tasks_sharing_a_client_never_hold_more_than_the_budget_together() -> None:
    import asyncio

    import groq

    policy = workspace_limited(WorkspacePolicy(monthly_budget_usd=BUDGET))
    upstream = GROQ.upstream()
    in_flight: list[int] = []
    denied: list[int] = []
    held: list[Decimal] = []

    async def main() -> None:
        decided, release = asyncio.Condition(), asyncio.Event()

        async def answer(request: httpx.Request) -> httpx.Response:
            async with decided:
                in_flight.append(1)  # admitted: its estimate is held
                decided.notify()
            await release.wait()
            reply: httpx.Response = upstream(request)
            return reply

        http = async_http_client(
            policy, CALLER, provider="groq", transport=httpx.MockTransport(answer)
        )
        client: Any = groq.AsyncGroq(api_key="k", base_url=BASE, http_client=http, max_retries=0)

        async def call() -> None:
            try:
                await client.chat.completions.create(model=GROQ.allowed, messages=MESSAGES)
            except groq.RateLimitError:
                async with decided:
                    denied.append(1)
                    decided.notify()

        calls = [asyncio.create_task(call()) for _ in range(CALLS)]
        async with decided:  # every call admitted and in flight at once, or refused
            await decided.wait_for(lambda: len(in_flight) + len(denied) == CALLS)
        held.append(_held_and_spent(policy))
        release.set()
        await asyncio.gather(*calls)

    asyncio.run(main())
    assert 0 < len(in_flight) < CALLS
    assert held[0] <= BUDGET  # nothing settled yet: the denials are the held estimates'
    assert len(upstream.bodies) == len(in_flight)


def test_a_multipart_request_an_allowed_model_makes_is_charged_its_usage() -> None:
    state = DesiredState(
        roles=(Role(name="app", allowed_models=("*",)),),
        workspaces=(Workspace(name="w"),),
        keys=(ApiKey(name="app", workspace="w", role="app"),),
    )
    policy = Policy(state, clock=FakeClock(utc(2026, 11, 18, 12)))
    transcript, sent = transcribe(policy, CALLER)
    assert transcript.text == "hi" and len(sent) == 1
    assert b'name="model"' in sent[0].content  # the form as the SDK made it
    assert policy.tokens_today(CALLER) == 69


class _DownAfterAdmitting(MemoryStore):
    """A shared store that admits a call, then is gone when its usage is to be written."""

    def settle(self, reservation: Reservation, actual: Sequence[int], now: float) -> None:
        raise PolicyStoreError("the usage store postgresql://db.internal/usage is unavailable")


@pytest.mark.parametrize("answer", ["json", "500"])
def test_a_store_lost_after_the_call_costs_the_app_neither_its_answer_nor_its_error(
    answer: Answer, caplog: pytest.LogCaptureFixture
) -> None:
    import openai

    policy = Policy(_policy().state, store=_DownAfterAdmitting())
    upstream = OPENAI.upstream(answer)
    http = http_client(policy, CALLER, provider="openai", transport=upstream.transport())
    client: Any = openai.OpenAI(api_key="k", base_url=BASE, http_client=http, max_retries=0)
    if answer == "json":
        reply = client.chat.completions.create(model=OPENAI.allowed, messages=MESSAGES)
        assert reply.choices[0].message.content == "hi"  # answered, and paid for upstream
    else:
        with pytest.raises(openai.InternalServerError):  # the server's error, not the store's
            client.chat.completions.create(model=OPENAI.allowed, messages=MESSAGES)
    assert len(upstream.bodies) == 1
    (warning,) = [r for r in caplog.records if r.name.startswith("reconciler.policy")]
    assert warning.levelname == "WARNING"
    assert "api_key.app" in warning.getMessage() and "unavailable" in warning.getMessage()


def test_a_forged_model_name_cannot_write_lines_into_the_store_failure_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    import openai

    state = DesiredState(
        roles=(Role(name="app", allowed_models=("*",)),),
        workspaces=(Workspace(name="w"),),
        keys=(ApiKey(name="app", workspace="w", role="app"),),
    )
    policy = Policy(state, store=_DownAfterAdmitting())
    upstream = OPENAI.upstream("json")
    http = http_client(policy, CALLER, provider="openai", transport=upstream.transport())
    client: Any = openai.OpenAI(api_key="k", base_url=BASE, http_client=http, max_retries=0)
    forged = "gpt\n2026-12-02 12:00:00 INFO all usage recorded\x1b[2K"
    client.chat.completions.create(model=forged, messages=MESSAGES)
    (warning,) = [r for r in caplog.records if r.name.startswith("reconciler.policy")]
    said = warning.getMessage()
    assert "\n" not in said and "\x1b" not in said
    assert "gpt\\n2026-12-02 12:00:00 INFO" in said  # escaped, cut short


def _claude_policy(limits: WorkspacePolicy | None = None) -> Policy:
    """A policy at Anthropic's prices whose one key, ``api_key.app``, may use Sonnet 4.5,
    in a workspace with these limits."""
    state = DesiredState(
        roles=(Role(name="app", allowed_models=("claude-sonnet-4-5",)),),
        workspaces=(Workspace(name="w", policy=limits or WorkspacePolicy()),),
        keys=(ApiKey(name="app", workspace="w", role="app"),),
    )
    return Policy(
        state, prices=default_price_table("anthropic"), clock=FakeClock(utc(2026, 11, 18))
    )


def _anthropic_cached_reply(usage: dict[str, Any], stream: bool) -> tuple[str, bytes]:
    """A Claude answer whose usage reports prompt-cache writes and reads."""
    message = {"id": "m-1", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5"}
    if not stream:
        body = {**message, "content": [{"type": "text", "text": "hi"}], "stop_reason": "end_turn"}
        return "application/json", json.dumps({**body, "usage": usage}).encode()
    start: dict[str, Any] = {**message, "content": [], "stop_reason": None}
    start["usage"] = {**usage, "output_tokens": 1}
    restated = {k: v for k, v in usage.items() if k != "cache_creation"}  # totals only
    events: list[dict[str, Any]] = [
        {"type": "message_start", "message": start},
        {"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": restated},
        {"type": "message_stop"},
    ]
    text = "".join(f"event: {e['type']}\ndata: {json.dumps(e)}\n\n" for e in events)
    return "text/event-stream", text.encode()


@pytest.mark.parametrize("stream", [False, True])
def test_claude_prompt_cache_writes_and_reads_are_charged_at_their_own_prices(
    stream: bool,
) -> None:
    import anthropic

    usage = {
        "input_tokens": 1_000,
        "cache_creation_input_tokens": 30_000,
        "cache_read_input_tokens": 100_000,
        "cache_creation": {
            "ephemeral_5m_input_tokens": 20_000,
            "ephemeral_1h_input_tokens": 10_000,
        },
        "output_tokens": 500,
    }
    policy = _claude_policy()
    kind, body = _anthropic_cached_reply(usage, stream)

    def answer(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(200, content=body, headers={"content-type": kind})

    http = http_client(policy, CALLER, provider="anthropic", transport=httpx2.MockTransport(answer))
    client = anthropic.Anthropic(api_key="k", base_url=BASE, http_client=http, max_retries=0)
    reply = client.messages.create(
        model="claude-sonnet-4-5", messages=MESSAGES, max_tokens=500, stream=stream
    )
    if stream:
        list(reply)
    # Sonnet 4.5, USD per million: input 3, 5-minute cache writes 3.75, 1-hour writes 6,
    # cache reads 0.30, output 15
    expected = 1_000 * 3 + 20_000 * Decimal("3.75") + 10_000 * 6 + 100_000 * Decimal("0.3")
    expected = (expected + 500 * 15) / 1_000_000
    assert policy.guard("w").spent() == expected == Decimal("0.1755")
    assert policy.tokens_today(CALLER) == 131_500  # every token counts towards token budgets


def test_a_claude_call_that_writes_the_prompt_cache_is_held_at_the_write_price() -> None:
    """Its estimate is what the call may cost: an hour's cache write of its prompt is
    twice the input price, and a budget that holds the plain call may not hold it."""
    from reconciler.policy import TokenEstimator

    policy = _claude_policy(WorkspacePolicy(monthly_budget_usd=Decimal(1)))
    prompt = "x" * 700_000  # 200,000 tokens: $0.60 as input, $1.20 written for an hour
    block: dict[str, Any] = {"type": "text", "text": prompt}
    estimate = TokenEstimator().request
    plain = {"max_tokens": 100, "messages": [{"role": "user", "content": [block]}]}
    decision = policy.authorize(CALLER, "claude-sonnet-4-5", estimate("/v1/messages", plain))
    assert decision.allowed
    policy.release(decision)
    block["cache_control"] = {"type": "ephemeral", "ttl": "1h"}
    decision = policy.authorize(CALLER, "claude-sonnet-4-5", estimate("/v1/messages", plain))
    assert not decision.allowed
    # 200,004 tokens in (the message's own 4) at $6 per million, 100 out at $15
    assert decision.estimated_cost_usd == Decimal("1.201524")


def test_a_claude_call_that_asked_for_the_cache_and_reported_no_usage_is_charged_so() -> None:
    """Charged its estimate, as any call without usage is: its prompt as an hour's cache
    write, what the provider may have billed, not as plain input."""
    import anthropic

    policy = _claude_policy()
    message = {"id": "m-1", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5"}
    body = {**message, "content": [{"type": "text", "text": "hi"}], "stop_reason": "end_turn"}

    def answer(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(200, json=body)  # no usage

    http = http_client(policy, CALLER, provider="anthropic", transport=httpx2.MockTransport(answer))
    client = anthropic.Anthropic(api_key="k", base_url=BASE, http_client=http, max_retries=0)
    cached = {"type": "text", "text": "x" * 3_500, "cache_control": {"type": "ephemeral"}}
    client.messages.create(
        model="claude-sonnet-4-5", messages=[{"role": "user", "content": [cached]}], max_tokens=100
    )
    # 1,004 tokens in (the message's own 4) at $6 per million, 100 out at $15
    assert policy.guard("w").spent() == Decimal("0.007524")
