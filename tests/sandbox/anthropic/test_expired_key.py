"""A key made in the Console with an expiry, in the Anthropic sandbox as on the platform:
once its ``expires_at`` passes it is listed with the status ``expired`` (and only under
that filter), can no longer be activated or deactivated, nor used, but can be archived.
The clock is moved with time-machine: nothing depends on today's date."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

import httpx
import time_machine

from reconciler.platform.anthropic.sandbox.app import DEFAULT_ADMIN_KEY, create_app
from reconciler.platform.anthropic.sandbox.state import Organisation, demo

ADMIN = {"x-api-key": DEFAULT_ADMIN_KEY}
KEYS = "/v1/organizations/api_keys"
MADE = dt.datetime(2031, 3, 1, 9, tzinfo=dt.UTC)
EXPIRES_AT = "2031-03-01T10:00:00Z"

Step = tuple[str, str, dict[str, Any] | None, dict[str, str]]  # method, path, body, headers


def _ask(org: Organisation, *steps: Step) -> list[httpx.Response]:
    """Each request in turn against ``org``."""

    async def go() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=create_app(org))
        async with httpx.AsyncClient(transport=transport, base_url="http://sandbox") as http:
            return [
                await http.request(method, path, json=body, headers=headers)
                for method, path, body, headers in steps
            ]

    return asyncio.run(go())


def _listed(answer: httpx.Response) -> list[tuple[str, str]]:
    return [(k["name"], k["status"]) for k in answer.json()["data"]]


def test_a_key_past_its_expiry_is_listed_expired_and_cannot_be_reactivated() -> None:
    org = Organisation.open(None, demo())
    made = {"name": "lapsing", "workspace_id": "wrkspc_01", "expires_at": EXPIRES_AT}
    with time_machine.travel(MADE, tick=False):
        (created,) = _ask(org, ("POST", "/sandbox/console/api_keys", made, ADMIN))
    key = created.json()
    assert (key["status"], key["expires_at"]) == ("active", EXPIRES_AT)
    kid, used_by = key["id"], {"x-api-key": key["secret"]}

    with time_machine.travel(MADE + dt.timedelta(hours=2), tick=False):
        active, expired, reactivated, used, archived = _ask(
            org,
            ("GET", f"{KEYS}?status=active", None, ADMIN),
            ("GET", f"{KEYS}?status=expired", None, ADMIN),
            ("POST", f"{KEYS}/{kid}", {"status": "active"}, ADMIN),
            ("GET", "/v1/models", None, used_by),
            ("POST", f"{KEYS}/{kid}", {"status": "archived"}, ADMIN),
        )

    assert ("lapsing", "active") not in _listed(active)
    assert _listed(expired) == [("lapsing", "expired")]
    assert reactivated.status_code == 400
    assert "expired" in reactivated.json()["error"]["message"]
    assert used.status_code == 401
    assert archived.status_code == 200 and archived.json()["status"] == "archived"
