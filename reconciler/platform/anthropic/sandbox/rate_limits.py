"""The sandbox's rate limits: the organisation's (read-only, seeded under ``rate_limits``)
and each workspace's overrides (``workspace_rate_limits``: ``{workspace id: {rate limit
id: {type: value}}}``), in the Admin API's shapes. ``rate_limit_writes: false`` in the
state stands for an organisation whose plan may not write overrides (403)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse

from reconciler.platform.anthropic.sandbox.answers import ApiError, body, workspace_of
from reconciler.platform.anthropic.sandbox.state import Organisation, Record
from reconciler.platform.anthropic.vocabulary import RATE_LIMIT_TYPES as LIMIT_TYPES


def _limits(org: Organisation) -> list[Record]:
    found: list[Record] = org.data.get("rate_limits", [])
    return found


def _overrides(org: Organisation, wid: str) -> dict[str, dict[str, int]]:
    found: dict[str, dict[str, int]] = org.data.setdefault("workspace_rate_limits", {}).setdefault(
        wid, {}
    )
    return found


def _entry(org: Organisation, wid: str, limit: Record) -> Record:
    """A workspace's override of ``limit``, as ``GET /workspaces/{id}/rate_limits`` shows it."""
    own = _overrides(org, wid).get(limit["id"], {})
    org_values = {entry["type"]: entry["value"] for entry in limit["limits"]}
    return {
        "type": "workspace_rate_limit",
        "workspace_id": wid,
        "rate_limit_id": limit["id"],
        "group": limit["group"],
        "models": limit.get("models"),
        "limits": [
            {
                "type": kind,
                "value": value,
                "org_limit": org_values.get(kind),
                "source": {"type": "workspace"},
            }
            for kind, value in sorted(own.items())
        ],
    }


async def list_rate_limits(request: Request, org: Organisation) -> JSONResponse:
    return JSONResponse({"data": _limits(org), "next_page": None})


async def list_workspace_rate_limits(request: Request, org: Organisation) -> JSONResponse:
    wid = workspace_of(org, request.path_params["wid"])["id"]
    own = _overrides(org, wid)
    data = [_entry(org, wid, limit) for limit in _limits(org) if own.get(limit["id"])]
    return JSONResponse({"data": data, "next_page": None})


async def set_workspace_rate_limit(request: Request, org: Organisation) -> JSONResponse:
    if not org.data.get("rate_limit_writes", True):
        raise ApiError(403, "Rate limit overrides are not available on this organization's plan.")
    wid = workspace_of(org, request.path_params["wid"])["id"]
    rid = request.path_params["rid"]
    limit = next((r for r in _limits(org) if r["id"] == rid), None)
    if limit is None:
        raise ApiError(404, f"rate limit {rid} not found")
    given = (await body(request)).get("limits")
    if not isinstance(given, list):
        raise ApiError(400, "limits: a list of {type, value} is required")
    own = _overrides(org, wid).setdefault(rid, {})
    for item in given:
        kind = item.get("type") if isinstance(item, dict) else None
        if kind not in LIMIT_TYPES:
            raise ApiError(400, f"limits.type: must be one of {', '.join(LIMIT_TYPES)}")
        value = item.get("value")
        if value is None:
            own.pop(kind, None)
        elif isinstance(value, int) and value > 0:
            own[kind] = value
        else:
            raise ApiError(400, "limits.value: a positive integer, or null to clear")
    org.save()
    return JSONResponse(_entry(org, wid, limit))


ROUTES = [
    ("/rate_limits", list_rate_limits, ["GET"]),
    ("/workspaces/{wid}/rate_limits", list_workspace_rate_limits, ["GET"]),
    ("/workspaces/{wid}/rate_limits/{rid}", set_workspace_rate_limit, ["POST"]),
]
