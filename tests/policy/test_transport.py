"""The httpx transport: deny before sending, record real usage after, platform-shaped errors."""

from __future__ import annotations

import asyncio
import json
import threading
from decimal import Decimal
from functools import partial
from typing import Any

import anyio
import anyio.to_thread
import httpx
import pytest
import respx

from reconciler.policy import (
    AsyncPolicyTransport,
    MemoryStore,
    Policy,
    PolicyDenied,
    PolicyTransport,
)
from tests.policy.conftest import FakeClock, demo_state, utc

API = "https://api.mistral.ai"
SECRET = "sk-test-6f1d2c9a8b7e4f3a2d1c0b9a8f7e6d5c"
CHAT = f"{API}/v1/chat/completions"


def _policy() -> Policy:
    return Policy(demo_state(), clock=FakeClock(utc(2026, 11, 18, 12)))


def _client(policy: Policy, caller: str, **options: object) -> httpx.Client:
    return httpx.Client(
        base_url=API,
        headers={"Authorization": f"Bearer {SECRET}"},
        transport=PolicyTransport(policy, caller, **options),  # type: ignore[arg-type]
    )


def _completion(
    prompt: int, completion: int, model: str = "mistral-small-2506"
) -> dict[str, object]:
    return {
        "id": "cmpl-1",
        "object": "chat.completion",
        "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"}}],
        "usage": {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
        },
    }


def _chat(model: str = "mistral-small-latest", **extra: object) -> dict[str, object]:
    return {"model": model, "messages": [{"role": "user", "content": "Hello there"}], **extra}


@respx.mock
def test_allowed_call_is_sent_and_its_real_usage_recorded() -> None:
    route = respx.post(CHAT).mock(return_value=httpx.Response(200, json=_completion(1200, 300)))
    policy = _policy()
    with _client(policy, "api_key.dev-bob") as client:
        response = client.post("/v1/chat/completions", json=_chat(max_tokens=500))
    assert response.status_code == 200
    assert response.json()["choices"][0]["message"]["content"] == "hi"
    assert route.call_count == 1
    assert policy.tokens_today("api_key.dev-bob") == 1500
    assert policy.guard("dev").spent() == Decimal("0.00036")  # 1200*0.15e-6 + 300*0.6e-6


@respx.mock
def test_denied_call_never_leaves_the_process() -> None:
    route = respx.post(CHAT).mock(return_value=httpx.Response(200, json=_completion(1, 1)))
    with (
        _client(_policy(), "api_key.dev-henry-notebooks") as client,
        pytest.raises(PolicyDenied) as caught,
    ):
        client.post("/v1/chat/completions", json=_chat("codestral-latest"))
    assert route.call_count == 0
    denied = caught.value
    assert isinstance(denied, httpx.HTTPStatusError)
    assert denied.response.status_code == 403
    assert denied.response.json() == {
        "object": "error",
        "message": denied.decision.message,
        "type": "invalid_request_error",
        "param": None,
        "code": "model-not-allowed",
    }
    assert "model-not-allowed" in str(denied)
    assert SECRET not in str(denied)
    assert SECRET not in denied.response.text


@respx.mock
def test_respond_mode_returns_the_platforms_429_with_retry_after() -> None:
    route = respx.post(CHAT).mock(return_value=httpx.Response(200, json=_completion(10, 1)))
    policy = _policy()
    with _client(policy, "api_key.dev-alice", on_deny="respond") as client:
        statuses = [
            client.post("/v1/chat/completions", json=_chat(max_tokens=10)).status_code
            for _ in range(61)
        ]
        last = client.post("/v1/chat/completions", json=_chat(max_tokens=10))
    assert statuses == [200] * 60 + [429]
    assert route.call_count == 60
    assert last.status_code == 429
    assert last.headers["retry-after"] == "60"
    assert last.json()["code"] == "over-rpm"
    assert last.json()["type"] == "rate_limit_error"


@respx.mock
def test_missing_max_tokens_is_clamped_to_the_roles_cap() -> None:
    route = respx.post(CHAT).mock(return_value=httpx.Response(200, json=_completion(5, 5)))
    with _client(_policy(), "api_key.dev-henry-notebooks") as client:
        client.post("/v1/chat/completions", json=_chat())
    sent = json.loads(route.calls.last.request.content)
    assert 1900 < sent["max_tokens"] < 2000  # analyst cap 2000 minus the prompt's estimate
    assert sent["messages"] == _chat()["messages"]
    assert int(route.calls.last.request.headers["content-length"]) == len(
        route.calls.last.request.content
    )


@respx.mock
def test_explicit_max_tokens_over_the_cap_is_denied() -> None:
    respx.post(CHAT).mock(return_value=httpx.Response(200, json=_completion(5, 5)))
    with (
        _client(_policy(), "api_key.dev-henry-notebooks") as client,
        pytest.raises(PolicyDenied, match="over-request-token-limit"),
    ):
        client.post("/v1/chat/completions", json=_chat(max_tokens=5000))


@respx.mock
def test_streamed_usage_comes_from_the_last_event() -> None:
    events = [
        {"model": "codestral-2508", "choices": [{"delta": {"content": "a"}}]},
        {"model": "codestral-2508", "choices": [{"delta": {"content": "b"}}]},
        {
            "model": "codestral-2508",
            "choices": [{"delta": {}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 40, "completion_tokens": 2, "total_tokens": 42},
        },
    ]
    body = "".join(f"data: {json.dumps(e)}\n\n" for e in events) + "data: [DONE]\n\n"
    respx.post(CHAT).mock(
        return_value=httpx.Response(
            200, content=body.encode(), headers={"content-type": "text/event-stream"}
        )
    )
    policy = _policy()
    with (
        _client(policy, "api_key.dev-bob") as client,
        client.stream(
            "POST", "/v1/chat/completions", json=_chat("codestral-latest", stream=True)
        ) as response,
    ):
        assert policy.tokens_today("api_key.dev-bob") > 1000  # the estimate is held
        lines = list(response.iter_lines())
    assert "data: [DONE]" in lines
    assert policy.tokens_today("api_key.dev-bob") == 42
    assert policy.guard("dev").spent() == Decimal("0.0000138")  # 40*0.3e-6 + 2*0.9e-6


@pytest.mark.parametrize("status", [400, 429, 500])
@respx.mock
def test_error_answers_release_the_reservation(status: int) -> None:
    respx.post(CHAT).mock(
        return_value=httpx.Response(status, json={"object": "error", "message": "no"})
    )
    policy = _policy()
    with _client(policy, "api_key.dev-bob") as client:
        assert client.post("/v1/chat/completions", json=_chat()).status_code == status
    assert policy.tokens_today("api_key.dev-bob") == 0
    assert policy.guard("dev").spent() == 0


@respx.mock
def test_transport_failure_releases_and_propagates() -> None:
    respx.post(CHAT).mock(side_effect=httpx.ConnectError("refused"))
    policy = _policy()
    with _client(policy, "api_key.dev-bob") as client, pytest.raises(httpx.ConnectError):
        client.post("/v1/chat/completions", json=_chat())
    assert policy.tokens_today("api_key.dev-bob") == 0


@respx.mock
def test_success_without_usage_records_the_estimate() -> None:
    respx.post(CHAT).mock(return_value=httpx.Response(200, json={"choices": []}))
    policy = _policy()
    with _client(policy, "api_key.dev-bob") as client:
        client.post("/v1/chat/completions", json=_chat(max_tokens=100))
    assert 100 < policy.tokens_today("api_key.dev-bob") < 120


@respx.mock
def test_requests_without_a_model_pass_through() -> None:
    respx.get(f"{API}/v1/models").mock(return_value=httpx.Response(200, json={"data": []}))
    files = respx.post(f"{API}/v1/files").mock(return_value=httpx.Response(200, json={}))
    policy = _policy()
    with _client(policy, "api_key.dev-henry-notebooks") as client:
        assert client.get("/v1/models").status_code == 200
        assert client.post("/v1/files", content=b"raw bytes").status_code == 200
    assert files.call_count == 1
    assert policy.tokens_today("api_key.dev-henry-notebooks") == 0


@respx.mock
def test_embeddings_are_governed_without_output_tokens() -> None:
    route = respx.post(f"{API}/v1/embeddings").mock(
        return_value=httpx.Response(
            200,
            json={"model": "mistral-embed", "usage": {"prompt_tokens": 9, "total_tokens": 9}},
        )
    )
    policy = _policy()
    with _client(policy, "api_key.ml-eval-harness") as client, pytest.raises(PolicyDenied):
        # senior may not use mistral-embed
        client.post("/v1/embeddings", json={"model": "mistral-embed", "input": ["a", "b"]})
    with _client(policy, "api_key.ml-dan") as client:
        client.post("/v1/embeddings", json={"model": "mistral-embed", "input": ["a", "b"]})
    assert "max_tokens" not in json.loads(route.calls.last.request.content)
    assert policy.tokens_today("api_key.ml-dan") == 9


def test_caller_is_required_when_the_policy_has_several_keys() -> None:
    with pytest.raises(ValueError, match="name the caller"):
        PolicyTransport(_policy())


def test_async_transport() -> None:
    policy = _policy()

    async def go() -> tuple[httpx.Response, PolicyDenied]:
        transport = AsyncPolicyTransport(policy, "api_key.dev-bob")
        async with httpx.AsyncClient(base_url=API, transport=transport) as client:
            ok = await client.post("/v1/chat/completions", json=_chat(max_tokens=50))
            with pytest.raises(PolicyDenied) as caught:
                await client.post("/v1/chat/completions", json=_chat("mistral-large-latest"))
        return ok, caught.value

    with respx.mock:
        route = respx.post(CHAT).mock(return_value=httpx.Response(200, json=_completion(20, 4)))
        ok, denied = asyncio.run(go())
    assert ok.status_code == 200
    assert route.call_count == 1
    assert denied.response.status_code == 403
    assert policy.tokens_today("api_key.dev-bob") == 24


def test_the_decision_says_what_counted_the_tokens() -> None:
    with (
        _client(_policy(), "api_key.dev-henry-notebooks") as client,
        pytest.raises(PolicyDenied) as caught,
        respx.mock,
    ):
        client.post("/v1/chat/completions", json=_chat("codestral-latest"))
    assert caught.value.decision.estimate_source == "mistral-common"
    assert caught.value.decision.to_dict()["estimate_source"] == "mistral-common"
    assert _policy().authorize("api_key.dev-bob", "mistral-large-latest", 10).estimate_source == (
        "caller"
    )


def test_the_httpx2_transport_denies_and_meters_the_same_way() -> None:
    import httpx2

    from reconciler.policy import Httpx2PolicyDenied, Httpx2PolicyTransport

    sent: list[httpx2.Request] = []

    def upstream(request: httpx2.Request) -> httpx2.Response:
        sent.append(request)
        return httpx2.Response(200, json=_completion(30, 3))

    policy = _policy()
    transport = Httpx2PolicyTransport(
        policy, "api_key.dev-bob", transport=httpx2.MockTransport(upstream)
    )
    with httpx2.Client(base_url=API, transport=transport) as client:
        assert client.get("/v1/models").status_code == 200  # not governed: passes through
        ok = client.post("/v1/chat/completions", json=_chat(max_tokens=50))
        with pytest.raises(Httpx2PolicyDenied) as caught:
            client.post("/v1/chat/completions", json=_chat("mistral-large-latest"))
    assert ok.json()["usage"]["prompt_tokens"] == 30
    assert len(sent) == 2
    assert isinstance(caught.value, httpx2.HTTPStatusError)
    assert caught.value.response.status_code == 403
    assert caught.value.response.json()["code"] == "model-not-allowed"
    assert policy.tokens_today("api_key.dev-bob") == 33


class _WaitingStore(MemoryStore):
    """A store whose every admit and settle waits for ``free``, as a shared store waits
    for another process's lock: it must not hold up the event loop meanwhile."""

    def __init__(self) -> None:
        super().__init__()
        self.free = threading.Event()
        self.waited_out = False

    def _wait(self) -> None:
        if not self.free.wait(timeout=5):  # a stalled loop never frees it
            self.waited_out = True

    def admit(self, *args: Any, **kwargs: Any) -> Any:
        self._wait()
        return super().admit(*args, **kwargs)

    def settle(self, *args: Any, **kwargs: Any) -> None:
        self._wait()
        super().settle(*args, **kwargs)


def test_an_async_transport_waits_for_a_shared_store_off_the_event_loop() -> None:
    store = _WaitingStore()
    policy = Policy(demo_state(), store=store, clock=FakeClock(utc(2026, 11, 18, 12)))

    async def free_later() -> None:
        await asyncio.sleep(0)  # runs only while the loop is free to run it
        store.free.set()

    async def go() -> httpx.Response:
        transport = AsyncPolicyTransport(policy, "api_key.dev-bob")
        async with httpx.AsyncClient(base_url=API, transport=transport) as client:
            other = asyncio.ensure_future(free_later())
            response = await client.post("/v1/chat/completions", json=_chat(max_tokens=50))
            await other
            return response

    with respx.mock:
        respx.post(CHAT).mock(return_value=httpx.Response(200, json=_completion(20, 4)))
        response = asyncio.run(go())
    assert response.status_code == 200
    assert not store.waited_out
    assert policy.tokens_today("api_key.dev-bob") == 24


class _SharedStore(MemoryStore):
    """A store the transports treat as shared: asked in a worker thread."""


class _Hanging(httpx.AsyncBaseTransport):
    """An upstream that takes the request and never answers."""

    def __init__(self) -> None:
        self.reached = anyio.Event()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.reached.set()
        await anyio.sleep_forever()
        raise AssertionError("never answered")


def test_a_call_cancelled_in_flight_releases_its_hold_on_a_shared_store() -> None:
    """A task cancelled (a cancel scope, as anyio and trio cancel) while its call is in
    flight: the call's hold is released, not kept until the store's time-to-live."""
    policy = Policy(demo_state(), store=_SharedStore(), clock=FakeClock(utc(2026, 11, 18, 12)))
    held: list[int] = []

    async def go() -> None:
        upstream = _Hanging()
        transport = AsyncPolicyTransport(policy, "api_key.dev-bob", transport=upstream)
        async with httpx.AsyncClient(base_url=API, transport=transport) as client:
            call = partial(client.post, "/v1/chat/completions", json=_chat(max_tokens=50))
            async with anyio.create_task_group() as tasks:
                tasks.start_soon(call)
                await upstream.reached.wait()
                held.append(policy.tokens_today("api_key.dev-bob"))
                tasks.cancel_scope.cancel()

    anyio.run(go)
    assert held[0] > 0  # held while in flight
    assert policy.tokens_today("api_key.dev-bob") == 0


def test_a_call_cancelled_while_its_store_answers_releases_what_it_admitted() -> None:
    """asyncio's ``Task.cancel`` (a timeout) while the store is asked in its worker
    thread: the admission the thread then makes is released, as nobody will send it."""
    store = _WaitingStore()
    entered, released = threading.Event(), threading.Event()
    admit, settle = store.admit, store.settle

    def admitting(*args: Any, **kwargs: Any) -> Any:
        entered.set()
        return admit(*args, **kwargs)

    def settling(*args: Any, **kwargs: Any) -> None:
        settle(*args, **kwargs)
        released.set()

    store.admit, store.settle = admitting, settling  # type: ignore[method-assign]
    policy = Policy(demo_state(), store=store, clock=FakeClock(utc(2026, 11, 18, 12)))

    async def go() -> None:
        transport = AsyncPolicyTransport(policy, "api_key.dev-bob", transport=_Hanging())
        async with httpx.AsyncClient(base_url=API, transport=transport) as client:
            call = asyncio.ensure_future(client.post("/v1/chat/completions", json=_chat()))
            await anyio.to_thread.run_sync(entered.wait)
            call.cancel()
            with pytest.raises(asyncio.CancelledError):
                await call
            store.free.set()
            assert await anyio.to_thread.run_sync(partial(released.wait, 5))

    asyncio.run(go())
    assert policy.tokens_today("api_key.dev-bob") == 0
