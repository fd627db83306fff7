"""The official ``mistralai`` SDK, pointed at the sandbox, parses every inference answer.

The Admin API spec extract does not cover inference, so the SDK's response models are the
record of its shapes here: a body they could not parse raises ``ResponseValidationError``.
The SDK runs on ``httpx2``, whose ASGI transport serves the app in-process.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

import httpx2
import pytest
from mistralai.client import Mistral
from mistralai.client.errors import SDKError
from mistralai.client.models import UserMessage

from reconciler.platform.sandbox import SandboxStore, create_app

from .conftest import ADMIN, Demo, TestClient

T = TypeVar("T")
HELLO = "Hello there, how are you doing today?"


@pytest.fixture
def secret(client: TestClient, demo: Demo) -> str:
    key = {"workspace_uuid": demo.ws["dev"], "user_id": demo.user["bob.chen"], "name": "sdk"}
    return str(client.post(f"{ADMIN}/api-keys", json=key).json()["key"])


def with_sdk(store: SandboxStore, secret: str, call: Callable[[Mistral], Awaitable[T]]) -> T:
    """Run ``call`` with an SDK client whose requests the sandbox app answers."""

    async def go() -> T:
        transport = httpx2.ASGITransport(app=create_app(store))
        async with httpx2.AsyncClient(transport=transport) as http:
            sdk = Mistral(api_key=secret, server_url="http://sandbox.test", async_client=http)
            return await call(sdk)

    return asyncio.run(go())


def test_the_sdk_parses_a_chat_completion(store: SandboxStore, secret: str) -> None:
    response = with_sdk(
        store,
        secret,
        lambda sdk: sdk.chat.complete_async(
            model="mistral-small-latest", messages=[UserMessage(content=HELLO)]
        ),
    )
    assert response.model == "mistral-small-latest"
    choice = response.choices[0]
    assert choice.finish_reason == "stop"
    assert choice.message is not None
    assert isinstance(choice.message.content, str)
    assert HELLO in choice.message.content
    assert response.usage.prompt_tokens == 13
    assert response.usage.total_tokens == 13 + (response.usage.completion_tokens or 0)


def test_the_sdk_reads_a_stream_to_its_usage(store: SandboxStore, secret: str) -> None:
    async def stream(sdk: Mistral) -> tuple[str, list[str | None], int | None]:
        events = await sdk.chat.stream_async(
            model="mistral-small-latest",
            messages=[UserMessage(content=HELLO)],
            max_tokens=9,
        )
        text, reasons, completion = "", [], None
        async for event in events:
            choice = event.data.choices[0]
            content = choice.delta.content
            text += content if isinstance(content, str) else ""
            reasons.append(choice.finish_reason)
            if event.data.usage is not None:
                completion = event.data.usage.completion_tokens
        return text, reasons, completion

    text, reasons, completion = with_sdk(store, secret, stream)
    assert text.startswith("This is mistral-small-latest")
    assert reasons[-1] == "length"
    assert set(reasons[:-1]) == {None}
    assert completion == 9


def test_the_sdk_parses_embeddings_and_fim(store: SandboxStore, secret: str) -> None:
    embeddings = with_sdk(
        store,
        secret,
        lambda sdk: sdk.embeddings.create_async(model="codestral-embed", inputs=["a", "b"]),
    )
    assert [d.index for d in embeddings.data] == [0, 1]
    assert [len(d.embedding or ()) for d in embeddings.data] == [1536, 1536]
    assert embeddings.usage.prompt_tokens == 2
    fim = with_sdk(
        store,
        secret,
        lambda sdk: sdk.fim.complete_async(model="codestral-latest", prompt="def f():"),
    )
    assert fim.choices[0].finish_reason == "stop"
    assert fim.usage.prompt_tokens == 1 + 3 + 5  # def| f|(|)|:


def test_the_sdk_reports_a_refused_key_with_its_status(store: SandboxStore) -> None:
    with pytest.raises(SDKError) as caught:
        with_sdk(
            store,
            "not-a-key",
            lambda sdk: sdk.chat.complete_async(
                model="mistral-small-latest", messages=[UserMessage(content="hi")]
            ),
        )
    assert caught.value.status_code == 401
