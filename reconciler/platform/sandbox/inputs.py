"""What a sandbox request carries: its credential, query, JSON body and path UUIDs.

Each reader validates against a pydantic model and raises the Admin API's own 401/422
errors (:mod:`.errors`), so the API's routes (:mod:`.app`) and the control routes
(:mod:`.control`) read requests the same way.
"""

from __future__ import annotations

import hmac
import uuid
from collections.abc import Awaitable, Callable
from typing import TypeVar

from pydantic import BaseModel, ValidationError
from starlette.requests import Request
from starlette.responses import Response

from reconciler.platform.sandbox.errors import Invalid

Model = TypeVar("Model", bound=BaseModel)
Handler = Callable[[Request], Awaitable[Response]]


def bearer(request: Request) -> str | None:
    """The credential a request carries (``Authorization: Bearer`` or ``x-api-key``)."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return request.headers.get("x-api-key") or None


def same(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


def query(request: Request, model: type[Model]) -> Model:
    try:
        return model.model_validate(dict(request.query_params))
    except ValidationError as exc:
        raise Invalid.from_pydantic(exc, "query") from None


async def body(request: Request, model: type[Model]) -> Model:
    raw = await request.body()
    if not raw.strip():
        raise Invalid.one(["body"], "Field required", "missing")
    try:
        return model.model_validate_json(raw)
    except ValidationError as exc:
        raise Invalid.from_pydantic(exc, "body") from None


def path_uuid(request: Request, name: str) -> str:
    value = request.path_params[name]
    try:
        return str(uuid.UUID(value))
    except ValueError:
        raise Invalid(
            [
                {
                    "loc": ["path", name],
                    "msg": "Input should be a valid UUID",
                    "type": "uuid_parsing",
                    "input": value,
                }
            ]
        ) from None
