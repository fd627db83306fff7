"""Inference for the sandbox's keys: chat, FIM and embeddings, their usage and their refusals."""

from __future__ import annotations

import datetime as dt
import json
import math
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from reconciler.platform.sandbox import SandboxStore
from tests.contract.spec import check_error, check_validation_error

from .conftest import ADMIN, NOW, TODAY, Clock, Demo, TestClient, make_client

CHAT = "/v1/chat/completions"
FIM = "/v1/fim/completions"
EMBEDDINGS = "/v1/embeddings"
HELLO = [{"role": "user", "content": "Hello there, how are you doing today?"}]
# 1 to begin, 3 around the message, 9 pieces: Hello| there|,| how| are| you| doing| today|?
HELLO_TOKENS = 13


OWNERS = {"dev": "bob.chen", "ml": "erin.kowalski"}


def new_key(client: TestClient, demo: Demo, workspace: str = "dev", name: str = "app") -> str:
    """The secret of a new key in ``workspace`` (dev: bob's, ml: erin's)."""
    owner = demo.user[OWNERS[workspace]]
    response = client.post(
        f"{ADMIN}/api-keys",
        json={"workspace_uuid": demo.ws[workspace], "user_id": owner, "name": name},
    )
    assert response.status_code == 200, response.text
    return str(response.json()["key"])


def as_key(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


@pytest.fixture
def secret(client: TestClient, demo: Demo) -> str:
    return new_key(client, demo)


def chat(client: TestClient, secret: str, **body: Any) -> Any:
    payload = {"model": "mistral-small-latest", "messages": HELLO, **body}
    return client.post(CHAT, json=payload, headers=as_key(secret))


def listed_key(client: TestClient, name: str) -> dict[str, Any]:
    keys = client.get(f"{ADMIN}/api-keys", params={"name": name}).json()["keys"]
    return dict(next(k for k in keys if k["name"] == name))


def usage_entry(client: TestClient, model_id: str, group: str, workspace: str) -> dict[str, Any]:
    models = client.get(f"{ADMIN}/usage").json()["completion"]["models"]
    entries = [
        e for e in models.get(model_id, {}).get(group, []) if e["workspace_name"] == workspace
    ]
    return dict(entries[0]) if entries else {"value": 0}


# --- chat -------------------------------------------------------------------------------


def test_chat_answers_in_the_platforms_shape_with_usage(client: TestClient, secret: str) -> None:
    response = chat(client, secret)
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"id", "object", "created", "model", "choices", "usage"}
    assert (body["object"], body["model"], body["created"]) == (
        "chat.completion",
        "mistral-small-latest",
        int(NOW.timestamp()),
    )
    [choice] = body["choices"]
    assert (choice["index"], choice["finish_reason"]) == (0, "stop")
    assert choice["message"]["role"] == "assistant"
    assert "Hello there, how are you doing today?" in choice["message"]["content"]
    usage = body["usage"]
    assert usage["prompt_tokens"] == HELLO_TOKENS
    assert usage["completion_tokens"] > 10
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]


def test_the_same_request_gets_the_same_answer(client: TestClient, secret: str) -> None:
    first, second = chat(client, secret).json(), chat(client, secret).json()
    assert first["choices"] == second["choices"]
    assert first["usage"] == second["usage"]
    assert first["id"] != second["id"]


def test_every_message_counts_towards_the_prompt(client: TestClient, secret: str) -> None:
    messages = [{"role": "system", "content": "Be brief."}, *HELLO]
    # a text chunk counts like plain text
    chunked = [{"role": "user", "content": [{"type": "text", "text": HELLO[0]["content"]}]}]
    assert chat(client, secret, messages=messages).json()["usage"]["prompt_tokens"] == (
        HELLO_TOKENS + 3 + 3  # Be| brief|.
    )
    assert chat(client, secret, messages=chunked).json()["usage"]["prompt_tokens"] == HELLO_TOKENS


@pytest.mark.parametrize("max_tokens", [0, 1, 5])
def test_max_tokens_cuts_the_reply(client: TestClient, secret: str, max_tokens: int) -> None:
    full = chat(client, secret).json()["choices"][0]["message"]["content"]
    body = chat(client, secret, max_tokens=max_tokens).json()
    assert body["usage"]["completion_tokens"] == max_tokens
    assert body["choices"][0]["finish_reason"] == "length"
    content = body["choices"][0]["message"]["content"]
    assert full.startswith(content)
    assert len(content) < len(full)


def test_a_generous_max_tokens_changes_nothing(client: TestClient, secret: str) -> None:
    capped = chat(client, secret, max_tokens=1000).json()
    assert capped["choices"] == chat(client, secret).json()["choices"]


def sse(text: str) -> list[str]:
    """The ``data:`` payloads of a server-sent event stream."""
    events = [block for block in text.split("\n\n") if block]
    assert all(e.startswith("data: ") for e in events), events
    return [e.removeprefix("data: ") for e in events]


@pytest.mark.parametrize("max_tokens", [None, 7])
def test_a_stream_carries_the_same_reply_and_ends_with_usage(
    client: TestClient, secret: str, max_tokens: int | None
) -> None:
    whole = chat(client, secret, max_tokens=max_tokens).json()
    response = chat(client, secret, max_tokens=max_tokens, stream=True)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    *payloads, done = sse(response.text)
    assert done == "[DONE]"
    chunks = [json.loads(p) for p in payloads]
    assert {c["object"] for c in chunks} == {"chat.completion.chunk"}
    assert len({c["id"] for c in chunks}) == 1
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks)
    assert text == whole["choices"][0]["message"]["content"]
    assert [c["choices"][0]["finish_reason"] for c in chunks[:-1]] == [None] * (len(chunks) - 1)
    assert chunks[-1]["choices"][0]["finish_reason"] == whole["choices"][0]["finish_reason"]
    assert chunks[-1]["usage"] == whole["usage"]
    assert all("usage" not in c for c in chunks[:-1])


# --- FIM and embeddings -----------------------------------------------------------------


def test_fim_completes_code_with_a_code_model(client: TestClient, secret: str) -> None:
    body = {"model": "codestral-latest", "prompt": "def add(a, b):", "suffix": "    return c"}
    response = client.post(FIM, json=body, headers=as_key(secret))
    assert response.status_code == 200, response.text
    out = response.json()
    assert (out["object"], out["model"]) == ("chat.completion", "codestral-latest")
    assert out["choices"][0]["message"]["content"].startswith("#")
    # 1 to begin, then 3 + 8 (def| add|(|a|,| b|)|:) and 3 + 2 (return| c)
    assert out["usage"]["prompt_tokens"] == 1 + 3 + 8 + 3 + 2
    wrong = client.post(FIM, json={**body, "model": "mistral-small-latest"}, headers=as_key(secret))
    assert check_error(wrong, 400, "invalid_request_error")["code"] == "invalid_model"


def embed(client: TestClient, secret: str, **body: Any) -> Any:
    return client.post(EMBEDDINGS, json={"model": "mistral-embed", **body}, headers=as_key(secret))


def test_embeddings_answer_one_unit_vector_per_input(client: TestClient, secret: str) -> None:
    response = embed(client, secret, input=["first text", "second, longer text"])
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["object"], body["model"]) == ("list", "mistral-embed")
    assert [(d["object"], d["index"]) for d in body["data"]] == [("embedding", 0), ("embedding", 1)]
    first, second = (d["embedding"] for d in body["data"])
    assert len(first) == len(second) == 1024
    assert math.fsum(v * v for v in first) == pytest.approx(1.0, abs=1e-4)
    assert first != second
    # first| text, second|,| longer| text
    assert body["usage"] == {"prompt_tokens": 6, "completion_tokens": 0, "total_tokens": 6}
    again = embed(client, secret, input="first text").json()
    assert again["data"][0]["embedding"] == first


@pytest.mark.parametrize(
    ("model", "dimension", "size"),
    [
        ("codestral-embed", None, 1536),
        ("codestral-embed", 256, 256),
        ("mistral-embed-2312", None, 1024),
    ],
)
def test_an_embedding_has_the_models_dimension(
    client: TestClient, secret: str, model: str, dimension: int | None, size: int
) -> None:
    body = embed(client, secret, model=model, input="x", output_dimension=dimension).json()
    assert len(body["data"][0]["embedding"]) == size


def test_a_chat_model_does_not_embed_and_an_embedding_model_does_not_chat(
    client: TestClient, secret: str
) -> None:
    no_embed = embed(client, secret, model="mistral-small-latest", input="x")
    assert check_error(no_embed, 400, "invalid_request_error")["code"] == "invalid_model"
    no_chat = chat(client, secret, model="mistral-embed")
    assert check_error(no_chat, 400, "invalid_request_error")["param"] == "model"


# --- models, keys and limits ------------------------------------------------------------


@pytest.mark.parametrize("model", ["mistral-small-latest", "mistral-small-2506"])
def test_a_model_is_named_by_id_or_alias_and_answered_under_that_name(
    client: TestClient, secret: str, model: str
) -> None:
    assert chat(client, secret, model=model).json()["model"] == model


def test_an_unknown_model_is_400(client: TestClient, secret: str) -> None:
    body = check_error(chat(client, secret, model="gpt-4o"), 400, "invalid_request_error")
    assert (body["message"], body["code"]) == ("Invalid model: gpt-4o", "invalid_model")


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        ({"model": "mistral-small-latest"}, ["body", "messages"]),
        ({"model": "mistral-small-latest", "messages": []}, ["body", "messages"]),
        ({"messages": HELLO}, ["body", "model"]),
        (
            {"model": "mistral-small-latest", "messages": HELLO, "max_tokens": -1},
            ["body", "max_tokens"],
        ),
    ],
)
def test_a_malformed_request_is_422(
    client: TestClient, secret: str, body: dict[str, Any], loc: list[str]
) -> None:
    check_validation_error(client.post(CHAT, json=body, headers=as_key(secret)), loc)


@pytest.mark.parametrize("path", [CHAT, FIM, EMBEDDINGS])
@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer not-a-key"}, {"Authorization": "Bearer sandbox-admin-key"}],
    ids=["none", "unknown", "admin key"],
)
def test_without_an_inference_key_it_is_401(
    store: SandboxStore, path: str, headers: dict[str, str]
) -> None:
    client = make_client(store, headers=headers)
    response = client.post(path, json={"model": "mistral-small-latest", "messages": HELLO})
    client.close()
    body = check_error(response, 401, "authentication_error")
    assert "not-a-key" not in response.text
    assert body["code"] == "invalid_api_key"


def test_a_deleted_key_is_401(client: TestClient, demo: Demo, secret: str) -> None:
    assert chat(client, secret).status_code == 200
    client.delete(f"{ADMIN}/api-keys/{listed_key(client, 'app')['key_id']}")
    check_error(chat(client, secret), 401, "authentication_error")


def test_a_key_of_an_archived_workspace_is_401(client: TestClient, demo: Demo) -> None:
    secret = new_key(client, demo, "ml")
    client.delete(f"{ADMIN}/workspaces/{demo.ws['ml']}")
    check_error(chat(client, secret), 401, "authentication_error")


def test_a_call_marks_the_key_used_today(client: TestClient, clock: Clock, secret: str) -> None:
    assert listed_key(client, "app")["last_used"] is None
    chat(client, secret)
    assert listed_key(client, "app")["last_used"] == TODAY.isoformat()
    clock.now = NOW + dt.timedelta(days=3)
    embed(client, secret, input="x")
    assert listed_key(client, "app")["last_used"] == (TODAY + dt.timedelta(days=3)).isoformat()


def test_a_call_adds_its_tokens_to_the_workspaces_usage_at_catalog_prices(
    client: TestClient, secret: str
) -> None:
    model_id = "ministral-8b-2512"  # no seeded usage: what shows is the calls'
    before = usage_entry(client, model_id, "input", "dev")["value"]
    usage = chat(client, secret, model="ministral-8b-latest").json()["usage"]
    chat(client, secret, model="ministral-8b-latest")
    inputs = usage_entry(client, model_id, "input", "dev")
    outputs = usage_entry(client, model_id, "output", "dev")
    assert before == 0
    assert inputs["value"] == 2 * usage["prompt_tokens"]
    assert outputs["value"] == 2 * usage["completion_tokens"]
    assert Decimal(inputs["price"]) == Decimal("0.15") / 1_000_000


def test_embeddings_add_input_tokens_only(client: TestClient, secret: str) -> None:
    before = usage_entry(client, "mistral-embed-2312", "input", "dev")["value"]
    tokens = embed(client, secret, input="some words to embed").json()["usage"]["prompt_tokens"]
    after = usage_entry(client, "mistral-embed-2312", "input", "dev")["value"]
    assert after - before == tokens == 4
    assert usage_entry(client, "mistral-embed-2312", "output", "dev")["value"] == 0


def test_usage_lands_in_the_month_of_the_call(
    client: TestClient, clock: Clock, secret: str
) -> None:
    clock.now = dt.datetime(2026, 12, 1, 0, 0, tzinfo=dt.UTC)
    tokens = chat(client, secret, model="ministral-8b-latest").json()["usage"]["prompt_tokens"]
    december = client.get(f"{ADMIN}/usage", params={"year": 2026, "month": 12}).json()
    entries = december["completion"]["models"]["ministral-8b-2512"]["input"]
    assert [e["value"] for e in entries] == [tokens]
    november = client.get(f"{ADMIN}/usage", params={"year": 2026, "month": 11}).json()
    assert "ministral-8b-2512" not in november["completion"]["models"]


def console_limit(client: TestClient, workspace_uuid: str, value: float | None) -> None:
    path = f"/_sandbox/workspaces/{workspace_uuid}/spend-limit"
    assert client.post(path, json={"value": value}).status_code == 200


def test_a_workspace_over_its_spend_limit_gets_429_until_next_month(
    client: TestClient, demo: Demo, clock: Clock, secret: str
) -> None:
    console_limit(client, demo.ws["dev"], 10)  # dev has spent about 40.80 this month
    before = client.get(f"{ADMIN}/usage").json()
    response = chat(client, secret)
    body = check_error(response, 429, "rate_limit_error")
    assert "'dev'" in body["message"]
    # NOW is 2026-11-15 12:00 UTC: 15.5 days to December
    assert response.headers["retry-after"] == str(int(15.5 * 86400))
    assert check_error(embed(client, secret, input="x"), 429, "rate_limit_error")
    assert client.get(f"{ADMIN}/usage").json() == before
    other = new_key(client, demo, "ml", name="ml-app")
    assert chat(client, other).status_code == 200
    clock.now = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
    assert chat(client, secret).status_code == 200


def test_an_organisation_over_its_spend_limit_gets_429_everywhere(
    client: TestClient, demo: Demo, secret: str
) -> None:
    client.post(f"{ADMIN}/spend-limit", json={"amount": 100})  # about 204 spent
    other = new_key(client, demo, "ml", name="ml-app")
    for key in (secret, other):
        body = check_error(chat(client, key), 429, "rate_limit_error")
        assert body["message"].startswith("The organization")


def test_usage_and_last_use_survive_a_restart(tmp_path: Path, clock: Clock) -> None:
    state = tmp_path / "state.json"
    client = make_client(SandboxStore.open(state, clock=clock))
    secret = new_key(client, Demo(client))
    usage = chat(client, secret, model="ministral-8b-latest").json()["usage"]
    client.close()
    again = make_client(SandboxStore.open(state, clock=clock))
    assert listed_key(again, "app")["last_used"] == TODAY.isoformat()
    outputs = usage_entry(again, "ministral-8b-2512", "output", "dev")
    assert outputs["value"] == usage["completion_tokens"]
    assert chat(again, secret).status_code == 200
    again.close()
