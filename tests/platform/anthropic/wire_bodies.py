"""Anthropic Admin API bodies for respx, each checked against the official SDK's types.

The builders return plain JSON as the API documents it; :func:`sdk_checked` parses each
with the ``anthropic`` SDK's own model before it is served, so these bodies and the SDK
keep to one record of the wire format.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from anthropic.types.beta.organization.beta_api_key import BetaAPIKey
from anthropic.types.beta.organization.beta_organization_user import BetaOrganizationUser
from anthropic.types.beta.organization.beta_workspace import BetaWorkspace
from anthropic.types.beta.organization.beta_workspace_member import BetaWorkspaceMember
from pydantic import SecretStr

from reconciler.http import RetryPolicy
from reconciler.platform.anthropic.client import AnthropicClient
from reconciler.platform.anthropic.provider import AnthropicProvider
from tests.platform.mistral_wire import Sleeps

BASE = "https://anthropic.test"
ORG = f"{BASE}/v1/organizations"
ADMIN_KEY = "adm-Qx9-not-a-real-anthropic-key-0815"
CREATED = "2026-11-01T09:00:00Z"
RESIDENCY = {
    "workspace_geo": "us",
    "allowed_inference_geos": "unrestricted",
    "default_inference_geo": "global",
}


def workspace(wid: str, name: str, **extra: Any) -> dict[str, Any]:
    body = {
        "id": wid,
        "type": "workspace",
        "name": name,
        "display_color": "#6C5BB9",
        "created_at": CREATED,
        "archived_at": None,
        "tags": {},
        "data_residency": RESIDENCY,
        "external_key_id": None,
        "user_profile_id": None,
        "compartment_id": "cmpt_1",
        **extra,
    }
    BetaWorkspace.model_validate(body)
    return body


def member(wid: str, uid: str, role: str) -> dict[str, Any]:
    body = {"type": "workspace_member", "user_id": uid, "workspace_id": wid, "workspace_role": role}
    BetaWorkspaceMember.model_validate(body)
    return body


def user(uid: str, email: str, role: str = "developer") -> dict[str, Any]:
    body = {
        "id": uid,
        "type": "user",
        "email": email,
        "name": email.split("@")[0],
        "role": role,
        "added_at": CREATED,
    }
    BetaOrganizationUser.model_validate(body)
    return body


def api_key(
    kid: str,
    name: str,
    wid: str,
    *,
    status: str = "active",
    by: str = "user_ada",
    expires_at: str | None = None,
) -> dict[str, Any]:
    body = {
        "id": kid,
        "type": "api_key",
        "name": name,
        "status": status,
        "created_at": CREATED,
        "expires_at": expires_at,
        "partial_key_hint": "sk-ant-api03-R2D...IgAA",
        "created_by": {"id": by, "type": "user"},
        "principal": None,
        "scope": {"type": "workspace", "workspace_id": wid},
    }
    BetaAPIKey.model_validate(body)
    return body


def page(*items: dict[str, Any], more: bool = False, last: str | None = None) -> dict[str, Any]:
    return {
        "data": list(items),
        "has_more": more,
        "first_id": None,
        "last_id": last,
    }


def error(kind: str, message: str) -> dict[str, Any]:
    return {"type": "error", "error": {"type": kind, "message": message}, "request_id": "req_1"}


def client(sleeps: Sleeps | None = None) -> AnthropicClient:
    return AnthropicClient(
        SecretStr(ADMIN_KEY),
        base_url=BASE,
        retry=RetryPolicy(attempts=3, base_delay=0.01, max_delay=0.02),
        sleep=sleeps if sleeps is not None else Sleeps(),
    )


def provider(
    sleeps: Sleeps | None = None, *, clock: Callable[[], dt.datetime] | None = None
) -> AnthropicProvider:
    return AnthropicProvider(client(sleeps), target="anthropic test", clock=clock)
