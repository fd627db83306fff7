"""The official SDKs at the edges a real app meets: responses that report their usage
badly, streams the app abandons, retries, and what a denial shows.

Each case drives an SDK's own client (see ``sdk_drivers``) over an upstream in this
process (httpx2's ``MockTransport``, respx for httpx) and checks what the app's owner
would see: what the store charged, what reached the server, what the exception says.
"""

from __future__ import annotations

import gc
import importlib
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import httpx2
import pytest
import respx

from reconciler.model import ApiKey, DesiredState, Role, Workspace, WorkspacePolicy
from reconciler.policy import Policy, SQLiteStore, async_http_client, http_client
from reconciler.policy.prices import units_to_usd
from reconciler.policy.windows import Window
from tests.policy.conftest import FakeClock, utc
from tests.policy.sdk_drivers import BASE, DRIVERS, MESSAGES, Driver
from tests.policy.test_sdks import CALLER, SDKS, TIGHT, _policy

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

OPENAI = next(d for d in DRIVERS if d.provider == "openai")
GROQ = next(d for d in DRIVERS if d.provider == "groq")


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


def _refused_message(policy: Policy, model: str) -> str:
    decision = policy.authorize(CALLER, model, 10, dry_run=True)
    assert not decision
    return decision.message


def test_a_denied_model_name_is_shown_without_its_control_characters() -> None:
    forged = "gpt-4o\x1b[2K\r\nINFO allowed everything\x00"
    message = _refused_message(_policy(), forged)
    assert message.isprintable()
    assert "gpt-4o\\x1b[2K\\r\\nINFO allowed everything\\x00" in message


def test_a_denied_model_name_of_any_length_is_cut_short() -> None:
    message = _refused_message(_policy(), "m" * 100_000)
    assert len(message) < 400
    assert "mmm..." in message


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


def _cohere_waits(
    policy: Policy, caller: str, monkeypatch: pytest.MonkeyPatch, says: str = "budget"
) -> list[float]:
    """The seconds cohere's own client (default retries) waits before raising a denial."""
    import cohere

    waits: list[float] = []
    monkeypatch.setattr("time.sleep", waits.append)  # what cohere's client waits, unwaited
    driver = next(d for d in DRIVERS if d.provider == "cohere")
    upstream = driver.upstream()
    http = http_client(policy, caller, provider="cohere", transport=upstream.transport())
    client = cohere.ClientV2(api_key="k", base_url=BASE, httpx_client=http)
    with pytest.raises(cohere.errors.TooManyRequestsError) as caught:
        client.chat(model=driver.allowed, messages=MESSAGES)  # type: ignore[arg-type]
    assert says in str(caught.value.body)
    assert upstream.bodies == []
    return waits


def _workspace_limited(limits: WorkspacePolicy) -> Policy:
    allowed = tuple(d.allowed for d in DRIVERS)
    state = DesiredState(
        roles=(Role(name="app", allowed_models=allowed),),
        workspaces=(Workspace(name="w", policy=limits),),
        keys=(ApiKey(name="app", workspace="w", role="app"),),
    )
    return Policy(state, clock=FakeClock(utc(2026, 11, 18, 12)))  # twelve days to December


def test_cohere_raises_a_spent_monthly_budget_at_once_instead_of_waiting_twice(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    policy = _workspace_limited(WorkspacePolicy(monthly_budget_usd=Decimal(0)))
    assert sum(_cohere_waits(policy, CALLER, monkeypatch)) < 0.1


def test_cohere_waits_for_a_minute_of_requests_to_free_up_before_asking_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    policy = _workspace_limited(WorkspacePolicy(rpm=1))
    assert policy.authorize(CALLER, OPENAI.allowed, 10)  # the minute's one request
    waits = _cohere_waits(policy, CALLER, monkeypatch, says="requests per minute")
    assert waits == [60.0, 60.0]  # Retry-After, each time it asks again (the clock stands)


def test_cohere_raises_a_call_that_can_never_fit_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    assert sum(_cohere_waits(_policy(), TIGHT, monkeypatch)) < 0.1


def test_an_sdk_retrying_a_server_error_is_charged_nothing_and_counts_each_attempt(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import openai

    monkeypatch.setattr("time.sleep", lambda _: None)  # the SDK's backoff, unwaited
    attempts: list[httpx2.Request] = []

    def overloaded(request: httpx2.Request) -> httpx2.Response:
        attempts.append(request)
        return httpx2.Response(503, json={"error": {"message": "overloaded"}})

    policy = _workspace_limited(WorkspacePolicy(rpm=3))
    http = http_client(
        policy, CALLER, provider="openai", transport=httpx2.MockTransport(overloaded)
    )
    client: Any = openai.OpenAI(api_key="k", base_url=BASE, http_client=http)  # 2 retries
    with pytest.raises(openai.InternalServerError):
        client.chat.completions.create(model=OPENAI.allowed, messages=MESSAGES)
    assert len(attempts) == 3
    assert policy.tokens_today(CALLER) == 0
    refused = policy.authorize(CALLER, OPENAI.allowed, 10, dry_run=True)
    assert "has had 3 in the last minute" in refused.message


def test_the_api_key_reaches_neither_a_denial_nor_the_store(tmp_path: Path) -> None:
    import openai

    secret = "sk-trial-" + "5e3c1a9f" * 4
    policy = Policy(_policy().state, store=SQLiteStore(tmp_path / "usage.db"))
    upstream = OPENAI.upstream()
    http = http_client(policy, CALLER, provider="openai", transport=upstream.transport())
    client: Any = openai.OpenAI(api_key=secret, base_url=BASE, http_client=http, max_retries=0)
    client.chat.completions.create(model=OPENAI.allowed, messages=MESSAGES)
    with pytest.raises(openai.PermissionDeniedError) as denied:
        client.chat.completions.create(model=OPENAI.denied, messages=MESSAGES)
    response = denied.value.response
    shown = f"{denied.value!s} {denied.value.body} {response.text} {dict(response.headers)}"
    assert "may not use" in shown and secret not in shown
    policy.store.close()
    stored = b"".join(path.read_bytes() for path in tmp_path.iterdir())
    assert len(stored) > 0 and secret.encode() not in stored


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


def test_mistralai_retrying_429s_raises_a_spent_monthly_budget_without_sleeping_to_next_month(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import time

    from mistralai.client import Mistral
    from mistralai.client.errors import SDKError
    from mistralai.client.utils import BackoffStrategy, RetryConfig

    waited: list[float] = []
    started = time.time()
    monkeypatch.setattr("time.sleep", waited.append)  # what the SDK waits, unwaited
    monkeypatch.setattr("time.time", lambda: started + sum(waited))
    policy = _workspace_limited(WorkspacePolicy(monthly_budget_usd=Decimal(0)))
    driver = next(d for d in DRIVERS if d.provider == "mistral")
    upstream = driver.upstream()
    http = http_client(policy, CALLER, provider="mistral", transport=upstream.transport())
    retrying = RetryConfig("backoff", BackoffStrategy(500, 8000, 1.5, 10_000), False)
    client = Mistral(api_key="k", server_url=BASE, client=http, retry_config=retrying)
    with pytest.raises(SDKError) as caught:
        client.chat.complete(model=driver.allowed, messages=MESSAGES)  # type: ignore[arg-type]
    assert caught.value.status_code == 429
    assert "monthly budget" in caught.value.body
    assert upstream.bodies == []
    assert sum(waited) < 30  # the retry config's 10 s and a last backoff; not twelve days


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

    policy = _workspace_limited(WorkspacePolicy(monthly_budget_usd=BUDGET))
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

    policy = _workspace_limited(WorkspacePolicy(monthly_budget_usd=BUDGET))
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


def _transcribe(policy: Policy, caller: str) -> tuple[Any, list[httpx2.Request]]:
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


def test_a_multipart_request_naming_a_model_the_role_may_not_use_is_refused_unsent() -> None:
    from mistralai.client.errors import SDKError

    sent: list[httpx2.Request] = []
    with pytest.raises(SDKError) as caught:
        _, sent = _transcribe(_policy(), CALLER)
    assert caught.value.status_code == 403
    assert "may not use unknown model voxtral-mini-latest" in caught.value.body
    assert sent == []


def test_a_multipart_request_an_allowed_model_makes_is_charged_its_usage() -> None:
    state = DesiredState(
        roles=(Role(name="app", allowed_models=("*",)),),
        workspaces=(Workspace(name="w"),),
        keys=(ApiKey(name="app", workspace="w", role="app"),),
    )
    policy = Policy(state, clock=FakeClock(utc(2026, 11, 18, 12)))
    transcript, sent = _transcribe(policy, CALLER)
    assert transcript.text == "hi" and len(sent) == 1
    assert b'name="model"' in sent[0].content  # the form as the SDK made it
    assert policy.tokens_today(CALLER) == 69


@respx.mock
def test_a_groq_transcription_the_role_may_not_use_is_refused_unsent() -> None:
    import groq

    route = respx.post(f"{BASE}/openai/v1/audio/transcriptions").mock(
        return_value=httpx.Response(200, json={"text": "hi"})
    )
    http = http_client(_policy(), CALLER, provider="groq")
    client: Any = groq.Groq(api_key="k", base_url=BASE, http_client=http, max_retries=0)
    with pytest.raises(groq.PermissionDeniedError, match="whisper-large-v3"):
        client.audio.transcriptions.create(model="whisper-large-v3", file=("a.mp3", b"ID3"))
    assert route.call_count == 0
