"""Errors the sandbox answers with, in the platform's two error body shapes.

- ``{"object": "error", "message", "type", "param", "code"}`` for 401, 404, 409, 429, 5xx
  (``type`` one of ``invalid_request_error``, ``authentication_error``,
  ``rate_limit_error``, ``server_error``);
- ``{"detail": [{"loc", "msg", "type", ...}]}`` for 422 validation failures.

Store operations raise :class:`ApiError` subclasses; the app turns them into responses.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import ValidationError
from starlette.responses import JSONResponse


def error_body(message: str, *, type_: str, code: str, param: str | None = None) -> dict[str, Any]:
    """The platform's error object."""
    return {"object": "error", "message": message, "type": type_, "param": param, "code": code}


def type_for(status: int) -> str:
    """The error ``type`` the platform uses for a status."""
    if status == 401:
        return "authentication_error"
    if status == 429:
        return "rate_limit_error"
    if status >= 500:
        return "server_error"
    return "invalid_request_error"


def error_response(
    status: int,
    message: str,
    *,
    code: str,
    param: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    """A JSON error response with the platform's error object."""
    body = error_body(message, type_=type_for(status), code=code, param=param)
    return JSONResponse(body, status_code=status, headers=dict(headers or {}))


class ApiError(Exception):
    """An error with a status, a message and a machine-readable code."""

    status = 400
    code = "invalid_request"

    def __init__(self, message: str, *, param: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.param = param

    def response(self) -> JSONResponse:
        return error_response(self.status, self.message, code=self.code, param=self.param)


class BadRequest(ApiError):
    """400: the request is well-formed but not allowed."""


class Unauthorized(ApiError):
    """401: missing or wrong credential."""

    status = 401
    code = "invalid_api_key"


class NotFound(ApiError):
    """404: no such object (archived workspaces and their keys included)."""

    status = 404
    code = "not_found"


class Conflict(ApiError):
    """409: the object already exists."""

    status = 409
    code = "conflict"


class Invalid(ApiError):
    """422 with the validation shape; ``errors`` are ``{"loc", "msg", "type"}`` items."""

    status = 422
    code = "validation_error"

    def __init__(self, errors: Sequence[Mapping[str, Any]]) -> None:
        self.errors = [dict(e) for e in errors]
        super().__init__("; ".join(str(e.get("msg", "")) for e in self.errors))

    @classmethod
    def one(cls, loc: Sequence[str | int], msg: str, type_: str = "value_error") -> Invalid:
        return cls([{"loc": list(loc), "msg": msg, "type": type_}])

    @classmethod
    def from_pydantic(cls, exc: ValidationError, prefix: str) -> Invalid:
        """FastAPI-style items: ``loc`` prefixed with ``body``, ``query`` or ``path``."""
        items = []
        for error in exc.errors(include_url=False):
            item: dict[str, Any] = {
                "loc": [prefix, *error["loc"]],
                "msg": error["msg"],
                "type": error["type"],
                "input": _jsonable(error.get("input")),
            }
            if error.get("ctx"):
                item["ctx"] = {k: _jsonable(v) for k, v in error["ctx"].items()}
            items.append(item)
        return cls(items)

    def response(self) -> JSONResponse:
        return JSONResponse({"detail": self.errors}, status_code=422)


def _jsonable(value: Any) -> Any:
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError):
        return str(value)
    return value
