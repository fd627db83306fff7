"""Builders of Admin API wire bodies and a client wired for respx, for the platform tests.

Every body served to :func:`client` is checked against the spec extract on its way in
(:class:`~tests.contract.transport.SpecCheckedTransport`), and role UUIDs come from the
sandbox's role table, so these bodies and the sandbox keep to one record of the API.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

import httpx
from pydantic import SecretStr

from reconciler.http import RetryPolicy
from reconciler.platform.mistral.client import MistralClient
from reconciler.platform.mistral.provider import MistralProvider
from reconciler.platform.sandbox import (
    DEFAULT_ADMIN_KEY,
    EMBEDDED_ADMIN_BASE_URL,
    EMBEDDED_API_BASE_URL,
    FaultConfig,
    SandboxStore,
    create_app,
)
from reconciler.platform.sandbox.catalog import Catalog, load_catalog
from reconciler.platform.sandbox.roles import WORKSPACE_ROLE_UUID
from reconciler.platform.sandbox.usage import usage_out
from reconciler.platform.sandbox.wire import roles_out
from tests.contract.transport import SpecCheckedTransport

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
        transport=SpecCheckedTransport(transport),
        sleep=sleeps if sleeps is not None else Sleeps(),
        **options,
    )


def sandbox_provider(
    store: SandboxStore,
    *,
    admin_key: str = DEFAULT_ADMIN_KEY,
    faults: FaultConfig | None = None,
    **options: Any,
) -> MistralProvider:
    """A provider over the sandbox serving ``store`` in-process, held to the spec extract.

    ``admin_key`` is the key the provider sends; ``faults`` are the sandbox's fault rules;
    ``clock`` is the provider's; other ``options`` (``auth``, ``concurrency``, page
    sizes...) go to the client.
    """
    app = create_app(store, faults, admin_key=DEFAULT_ADMIN_KEY)
    auth = options.pop("auth", "bearer")
    return MistralProvider.from_env(
        {
            "MISTRAL_ADMIN_API_KEY": admin_key,
            "MISTRAL_ADMIN_BASE_URL": EMBEDDED_ADMIN_BASE_URL,
            "MISTRAL_API_BASE_URL": EMBEDDED_API_BASE_URL,
            "MISTRAL_ADMIN_AUTH": auth,
        },
        transport=SpecCheckedTransport(httpx.ASGITransport(app=app)),
        target="sandbox:memory",
        sleep=Sleeps(),
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


def created_workspace(n: int, name: str, **fields: Any) -> dict[str, Any]:
    """``POST /workspaces``'s answer: the workspace and the creator's roles in it (admin)."""
    role = WORKSPACE_ROLE_UUID["workspace_admin"]
    return {**workspace(n, name, **fields), "raw_roles": [role], "raw_role": role}


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


def keys_listing(keys: list[dict[str, Any]]) -> Callable[[httpx.Request], httpx.Response]:
    """``GET /api-keys`` answering ``offset`` and ``limit`` as the Admin API does."""

    def answer(request: httpx.Request) -> httpx.Response:
        offset = int(request.url.params.get("offset", 0))
        limit = int(request.url.params.get("limit", 100))
        return httpx.Response(200, json={"keys": keys[offset : offset + limit]})

    return answer


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


ROLE_ADMIN = WORKSPACE_ROLE_UUID["workspace_admin"]
ROLE_USER = WORKSPACE_ROLE_UUID["user"]
ROLE_DEV = WORKSPACE_ROLE_UUID["dev"]


def roles() -> dict[str, Any]:
    """``GET /roles``, as the sandbox serves it."""
    return roles_out()


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


def usage_report(
    models: dict[str, Any], prices: list[dict[str, Any]], *, year: int = 2026, month: int = 11
) -> dict[str, Any]:
    """``GET /usage``: the sandbox's report of an empty month, with these completions and prices."""
    empty = usage_out(
        (),
        year=year,
        month=month,
        catalog=Catalog(models=(), currency="USD"),
        currency="USD",
        workspace_names={},
        api_zone=None,
    )
    return {**empty, "completion": {"models": models}, "prices": prices}


def model_list(*ids: str) -> dict[str, Any]:
    """``GET /models``: the catalogue's cards for these model ids or aliases."""
    catalog = load_catalog()
    cards = []
    for model_id in ids:
        model = catalog.resolve(model_id)
        assert model is not None, model_id
        cards.append(model.card(model_id))
    return {"object": "list", "data": cards}
