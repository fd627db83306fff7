"""Builders of Admin API wire bodies and a client wired for respx, for the platform tests."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

import httpx
from pydantic import SecretStr

from reconciler.http import RetryPolicy
from reconciler.platform.mistral.client import MistralClient

ADMIN = "https://admin.test/v1/admin"
API = "https://admin.test/v1"
# Deliberately not shaped like anything errors.scrub() masks, so a leak would show.
ADMIN_KEY = "adm-Zq7-not-a-real-key-4711"
ATTEMPTS = 3

T = TypeVar("T")


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


class Sleeps:
    """A no-op ``sleep`` that records the delays it was asked for."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)


def client(
    sleeps: Sleeps | None = None,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
    **options: Any,
) -> MistralClient:
    options.setdefault("retry", RetryPolicy(attempts=ATTEMPTS, base_delay=0.01, max_delay=0.02))
    return MistralClient(
        SecretStr(ADMIN_KEY),
        admin_base_url=ADMIN,
        api_base_url=API,
        transport=transport,
        sleep=sleeps if sleeps is not None else Sleeps(),
        **options,
    )


# --- bodies -------------------------------------------------------------------------


def uid(n: int, prefix: str = "0") -> str:
    """A deterministic uuid-shaped id."""
    return f"{prefix * 8}-0000-4000-8000-{n:012d}"


def workspace(
    n: int,
    name: str,
    *,
    description: str | None = "",
    spend_limit: dict[str, Any] | None = None,
    is_default: bool = False,
) -> dict[str, Any]:
    return {
        "uuid": uid(n, "a"),
        "name": name,
        "description": description,
        "icon": None,
        "members_count": 1,
        "spend_limit": spend_limit,
        "is_default": is_default,
    }


def workspaces_page(
    items: list[dict[str, Any]], total: int, page: int, size: int
) -> dict[str, Any]:
    return {"total": total, "items": items, "object": "list", "page": page, "page_size": size}


def api_key(
    n: int,
    name: str,
    *,
    workspace_uuid: str | None = None,
    workspace_name: str = "dev",
    created_by: str | None = None,
    product: str | None = "API",
) -> dict[str, Any]:
    return {
        "key_id": uid(n, "b"),
        "key": None,
        "name": name,
        "hidden_key": f"ab12...{n:04d}",
        "created_at": "2026-05-01T12:00:00Z",
        "expiration_date": None,
        "actions": {"rotate": None, "delete": {"status": "available"}},
        "workspace_id": workspace_uuid or uid(1, "a"),
        "workspace_name": workspace_name,
        "created_by": created_by,
        "product": product,
        "last_used": None,
        "can_delete": True,
    }


def user(
    n: int, email: str | None, memberships: list[tuple[str, str, list[str]]] | None = None
) -> dict[str, Any]:
    """An org member; ``memberships``: (workspace uuid, workspace name, raw role values)."""
    return {
        "uuid": uid(n, "c"),
        "oid_id": None,
        "name": email,
        "email": email,
        "workspaces": [
            {
                "uuid": ws,
                "name": name,
                "is_default": False,
                "raw_roles": roles,
                "raw_role": roles[0] if roles else None,
            }
            for ws, name, roles in memberships or []
        ],
        "raw_roles": ["M"],
        "raw_role": "M",
        "created_at": "2026-01-01T00:00:00Z",
    }


def users_page(
    members: list[dict[str, Any]],
    total: int | None,
    page: int = 1,
    size: int = 100,
    invites: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    return {
        "members": members,
        "invites": invites or [],
        "total": total,
        "page": page,
        "page_size": size,
    }


ROLE_ADMIN = "d7ea77c5-9260-41d0-ab26-52b5add3ee56"
ROLE_USER = "48436751-ee56-44bd-8a2d-712233977821"
ROLE_DEV = "375cd0db-3bbe-4b79-80f3-954ccf04f3d1"


def roles() -> dict[str, Any]:
    def role(name: str, uuid: str) -> dict[str, Any]:
        return {"name": name, "uuid": uuid, "description": name, "is_custom_role": False}

    return {
        "workspace_roles": [
            role("workspace_admin", ROLE_ADMIN),
            role("user", ROLE_USER),
            role("dev", ROLE_DEV),
        ],
        "organization_roles": [role("admin", "0d48f530-095c-43fe-8aea-6673bcacabe6")],
    }


def limits(*, usage_limit: float | None = 3000, no_monthly_limit: bool = False) -> dict[str, Any]:
    return {
        "limits": {
            "completion": {
                "no_monthly_limit": no_monthly_limit,
                "monthly_limit_reached": False,
                "usage": 12.5,
                "usage_limit": usage_limit,
            },
            "last_payment_failure": False,
            "last_payment_failure_protection": None,
            "currency": "USD",
        }
    }


def created_key(n: int, name: str, secret: str) -> dict[str, Any]:
    return {
        "key_id": uid(n, "b"),
        "key": secret,
        "name": name,
        "hidden_key": f"{secret[:4]}...{secret[-4:]}",
        "created_at": "2026-11-27T08:00:00Z",
        "expiration_date": "2027-02-01",
        "actions": {"rotate": None, "delete": None},
    }
