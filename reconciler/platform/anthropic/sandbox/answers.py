"""How the Anthropic sandbox answers: error bodies, id-cursor pages, request bodies, and
the lookups every route shares."""

from __future__ import annotations

import itertools
import json

from starlette.requests import Request
from starlette.responses import JSONResponse

from reconciler.platform.anthropic.sandbox.state import Organisation, Record, digest, key_status

_STATUS_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    409: "conflict_error",
}
_requests = itertools.count(1)


class ApiError(Exception):
    """An answer other than 2xx: its status and message."""

    def __init__(self, status: int, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code


def error(status: int, message: str, code: str | None = None) -> JSONResponse:
    """``{"type": "error", "error": {"type", "message", "details"?}, "request_id"}``."""
    kind = _STATUS_TYPES.get(status, "api_error")
    detail: dict[str, object] = {"type": kind, "message": message}
    if code is not None:
        detail["details"] = {"error_code": code}
    body = {"type": "error", "error": detail, "request_id": f"req_{next(_requests):06d}"}
    return JSONResponse(body, status_code=status)


def public(record: Record) -> Record:
    """A record as the API shows it (no secret hash, no sandbox-only marks; a key's
    status as of now: :func:`~.state.key_status`)."""
    shown = {k: v for k, v in record.items() if k not in ("secret_sha256", "default")}
    if record.get("type") == "api_key":
        shown["status"] = key_status(record)
    return shown


def _id(record: Record) -> str:
    return str(record.get("id") or record.get("user_id"))


def page(request: Request, items: list[Record]) -> JSONResponse:
    """One id-cursor page of ``items``, sorted by id."""
    q = request.query_params
    try:
        limit = int(q.get("limit", "20"))
    except ValueError:
        raise ApiError(400, "limit: must be an integer") from None
    if not 1 <= limit <= 1000:
        raise ApiError(400, "limit: must be between 1 and 1000")
    rows = sorted(items, key=_id)
    if "after_id" in q:
        rows = [r for r in rows if _id(r) > q["after_id"]]
    if "before_id" in q:
        rows = [r for r in rows if _id(r) < q["before_id"]][-limit:]
    chosen = rows[:limit]
    return JSONResponse(
        {
            "data": [public(r) for r in chosen],
            "has_more": len(rows) > limit,
            "first_id": _id(chosen[0]) if chosen else None,
            "last_id": _id(chosen[-1]) if chosen else None,
        }
    )


async def body(request: Request) -> Record:
    """The request's JSON object (400 otherwise)."""
    try:
        found = json.loads(await request.body() or b"{}")
    except json.JSONDecodeError:
        raise ApiError(400, "the body is not JSON") from None
    if not isinstance(found, dict):
        raise ApiError(400, "the body must be an object")
    return found


def workspace_of(org: Organisation, wid: str, *, live: bool = True) -> Record:
    """A listed workspace (not the default one); 404, or 400 when ``live`` and archived."""
    found = org.find("workspaces", wid)
    if found is None or found.get("default"):
        raise ApiError(404, f"workspace {wid} not found")
    if live and found["archived_at"]:
        raise ApiError(400, f"workspace {wid} is archived")
    return found


def member_of(org: Organisation, wid: str, uid: str) -> Record:
    found: Record | None = next(
        (m for m in org.data["members"] if m["workspace_id"] == wid and m["user_id"] == uid),
        None,
    )
    if found is None:
        raise ApiError(404, f"user {uid} is not a member of workspace {wid}")
    return found


def key_by_secret(org: Organisation, secret: str) -> Record | None:
    """The active key whose secret this is (not expired)."""
    hashed = digest(secret)
    found: Record | None = next(
        (k for k in org.data["keys"] if k["secret_sha256"] == hashed and key_status(k) == "active"),
        None,
    )
    return found
