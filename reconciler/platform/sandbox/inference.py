"""Inference for the sandbox's keys: chat, FIM and embeddings in La Plateforme's shapes.

Routes: ``POST /v1/chat/completions``, ``POST /v1/fim/completions`` and
``POST /v1/embeddings``, each with an inference key of the sandbox as
``Authorization: Bearer`` (or ``x-api-key``). The answers come from :mod:`.completions`
(deterministic, no model runs); each call is checked in this order:

1. the key: unknown, deleted, expired, of an archived workspace, or the admin key → 401
   (the platform's error object); a known key gets ``last_used`` = today;
2. the body: malformed → 422 (``{"detail": [...]}``);
3. the model: not in the catalog (by id or alias) → 400 ``invalid_model``; one that cannot
   do the call (chat on an embedding model, FIM without ``completion_fim``) → 400;
4. the spend: the key's workspace at or over its monthly spend limit, or the
   organisation over its own → 429 ``rate_limit_error`` with ``Retry-After`` (seconds to
   the start of next month, UTC);
5. the answer, whose tokens are added to this month's usage of the key's workspace on the
   model's id (what ``GET /v1/admin/usage`` reports, priced from the catalog).

``"stream": true`` answers as server-sent events: ``data: {chunk}`` lines of
``chat.completion.chunk`` objects, the last carrying ``finish_reason`` and ``usage``,
then ``data: [DONE]``. The response's ``model`` is the name the request used.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Callable, Iterator
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from reconciler.platform.sandbox.catalog import Catalog, CatalogModel
from reconciler.platform.sandbox.completions import (
    Reply,
    count,
    embedding,
    pieces,
    prompt_tokens,
    reply,
)
from reconciler.platform.sandbox.errors import ApiError, BadRequest, Unauthorized, error_response
from reconciler.platform.sandbox.inputs import Handler, bearer, body
from reconciler.platform.sandbox.records import KeyRecord
from reconciler.platform.sandbox.store import SandboxStore
from reconciler.platform.sandbox.usage import month_cost

CHAT_PATH = "/v1/chat/completions"
FIM_PATH = "/v1/fim/completions"
EMBEDDINGS_PATH = "/v1/embeddings"
INFERENCE_PATHS = (CHAT_PATH, FIM_PATH, EMBEDDINGS_PATH)
STREAM_TOKENS_PER_CHUNK = 4


class InvalidModel(BadRequest):
    """400: the model is not in the catalog, or cannot answer this kind of call."""

    code = "invalid_model"


class SpendLimitReached(ApiError):
    """429: the workspace (or the organisation) has spent its monthly limit."""

    status = 429
    code = "spend_limit_reached"

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after

    def response(self) -> JSONResponse:
        headers = {"Retry-After": str(self.retry_after)}
        return error_response(self.status, self.message, code=self.code, headers=headers)


# --- requests -----------------------------------------------------------------------------


class _In(BaseModel):
    # The SDKs send many optional fields (temperature, tools, ...): accepted, not used.
    model_config = ConfigDict(extra="allow", frozen=True, defer_build=True)


class MessageIn(_In):
    role: Literal["system", "user", "assistant", "tool"]
    content: str | list[dict[str, Any]] | None = None

    def text(self) -> str:
        if isinstance(self.content, str):
            return self.content
        chunks = self.content or []
        return "".join(str(c.get("text", "")) for c in chunks if c.get("type") == "text")


class ChatIn(_In):
    model: str = Field(min_length=1)
    messages: list[MessageIn] = Field(min_length=1)
    max_tokens: int | None = Field(default=None, ge=0)
    stream: bool = False


class FimIn(_In):
    model: str = Field(min_length=1)
    prompt: str
    suffix: str | None = None
    max_tokens: int | None = Field(default=None, ge=0)
    stream: bool = False


class EmbeddingsIn(_In):
    model: str = Field(min_length=1)
    input: str | list[str]
    output_dimension: int | None = Field(default=None, ge=1, le=4096)


# --- responses ----------------------------------------------------------------------------


def usage_out(prompt: int, completion: int) -> dict[str, int]:
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }


def completion_out(
    name: str, created: int, answer: Reply, prompt: int, *, object_: str = "chat.completion"
) -> dict[str, Any]:
    return {
        "id": uuid.uuid4().hex,
        "object": object_,
        "created": created,
        "model": name,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": answer.text, "tool_calls": None},
                "finish_reason": answer.finish_reason,
            }
        ],
        "usage": usage_out(prompt, answer.tokens),
    }


def stream_events(name: str, created: int, answer: Reply, prompt: int) -> Iterator[str]:
    """The server-sent events of a streamed completion."""
    call_id = uuid.uuid4().hex
    tokens = pieces(answer.text)
    parts = [
        "".join(tokens[i : i + STREAM_TOKENS_PER_CHUNK])
        for i in range(0, len(tokens), STREAM_TOKENS_PER_CHUNK)
    ]
    deltas: list[dict[str, Any]] = [{"role": "assistant", "content": ""}]
    deltas += [{"content": part} for part in parts]
    for index, delta in enumerate(deltas):
        last = index == len(deltas) - 1
        chunk: dict[str, Any] = {
            "id": call_id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": name,
            "choices": [
                {
                    "index": 0,
                    "delta": delta,
                    "finish_reason": answer.finish_reason if last else None,
                }
            ],
        }
        if last:
            chunk["usage"] = usage_out(prompt, answer.tokens)
        yield f"data: {json.dumps(chunk, separators=(',', ':'))}\n\n"
    yield "data: [DONE]\n\n"


# --- handlers -----------------------------------------------------------------------------


class InferenceApi:
    """The inference handlers, bound to one store and the catalog it prices with."""

    def __init__(self, store: SandboxStore, catalog: Catalog) -> None:
        self.store = store
        self.catalog = catalog

    def _key(self, token: str | None) -> KeyRecord:
        key = self.store.authenticate_key(token) if token else None
        if key is None:
            raise Unauthorized("Invalid API key")
        return key

    def _model(self, name: str, capability: str, what: str) -> CatalogModel:
        model = self.catalog.resolve(name)
        if model is None:
            raise InvalidModel(f"Invalid model: {name}", param="model")
        if not model.capabilities.get(capability):
            raise InvalidModel(f"Model {name} does not support {what}", param="model")
        return model

    def _check_spend(self, key: KeyRecord) -> None:
        ws = self.store.workspace(key.workspace_id)  # active: the key authenticated
        org = self.store.organization
        org_limit = None if org.no_monthly_limit else org.spend_limit
        for limit, scope, who in (
            (ws.spend_limit, ws.uuid, f"Workspace {ws.name!r}"),
            (org_limit, None, "The organization"),
        ):
            spent = month_cost(self.store.month_usage(scope), self.catalog)
            if limit is not None and spent >= limit:
                raise SpendLimitReached(
                    f"{who} has reached its monthly spend limit of {limit:g} {org.currency}",
                    self._seconds_to_next_month(),
                )

    def _seconds_to_next_month(self) -> int:
        now = self.store.clock().astimezone(dt.UTC)
        year, month = (now.year, now.month + 1) if now.month < 12 else (now.year + 1, 1)
        start = dt.datetime(year, month, 1, tzinfo=dt.UTC)
        return max(1, int((start - now).total_seconds()))

    def _answer(
        self,
        key: KeyRecord,
        model: CatalogModel,
        name: str,
        prompt: int,
        answer: Reply,
        *,
        stream: bool,
    ) -> Response:
        self.store.record_usage(key.workspace_id, model.id, prompt, answer.tokens)
        created = int(self.store.clock().timestamp())
        if stream:
            return StreamingResponse(
                stream_events(name, created, answer, prompt), media_type="text/event-stream"
            )
        return JSONResponse(completion_out(name, created, answer, prompt))

    async def chat(self, request: Request) -> Response:
        key = self._key(bearer(request))
        b = await body(request, ChatIn)
        model = self._model(b.model, "completion_chat", "chat completions")
        self._check_spend(key)
        texts = [m.text() for m in b.messages]
        last_user = next((m.text() for m in reversed(b.messages) if m.role == "user"), "")
        answer = reply(b.model, last_user, b.max_tokens)
        return self._answer(key, model, b.model, prompt_tokens(texts), answer, stream=b.stream)

    async def fim(self, request: Request) -> Response:
        key = self._key(bearer(request))
        b = await body(request, FimIn)
        model = self._model(b.model, "completion_fim", "fill-in-the-middle completions")
        self._check_spend(key)
        prompt = prompt_tokens([b.prompt, b.suffix] if b.suffix else [b.prompt])
        answer = reply(b.model, b.prompt, b.max_tokens, code=True)
        return self._answer(key, model, b.model, prompt, answer, stream=b.stream)

    async def embeddings(self, request: Request) -> Response:
        key = self._key(bearer(request))
        b = await body(request, EmbeddingsIn)
        model = self._model(b.model, "embeddings", "embeddings")
        self._check_spend(key)
        texts = [b.input] if isinstance(b.input, str) else b.input
        tokens = sum(count(t) for t in texts)
        self.store.record_usage(key.workspace_id, model.id, tokens, 0)
        size = b.output_dimension
        data = [
            {"object": "embedding", "embedding": embedding(model.id, t, size), "index": i}
            for i, t in enumerate(texts)
        ]
        return JSONResponse(
            {
                "id": uuid.uuid4().hex,
                "object": "list",
                "data": data,
                "model": b.model,
                "usage": usage_out(tokens, 0),
            }
        )

    def routes(self, guard: Callable[[Handler], Handler]) -> list[Route]:
        """The inference routes; ``guard`` turns API errors into responses."""
        return [
            Route(CHAT_PATH, guard(self.chat), methods=["POST"]),
            Route(FIM_PATH, guard(self.fim), methods=["POST"]),
            Route(EMBEDDINGS_PATH, guard(self.embeddings), methods=["POST"]),
        ]
