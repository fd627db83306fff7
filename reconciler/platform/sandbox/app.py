"""The sandbox's Starlette app: La Plateforme's Admin API and ``/v1/models``, locally.

Routes (all under ``/v1/admin`` need the admin key as ``Authorization: Bearer`` or
``x-api-key``): ``GET|POST /workspaces``, ``PATCH|DELETE /workspaces/{uuid}``,
``POST /workspaces/{uuid}/add-users``, ``PATCH /workspaces/{uuid}/users``,
``DELETE /workspaces/{uuid}/remove-users``, ``GET /users``, ``GET /users/{uuid}``,
``GET /roles``, ``GET|POST /api-keys``, ``DELETE /api-keys/{key_id}``, the people routes
(members, invitations, user groups: see :mod:`.people_routes`),
``GET|POST /spend-limit``, ``GET /rate-limit``, ``GET /usage``, ``GET /audit-logs`` (changes
made through it: see :mod:`.audit`). ``GET /v1/models`` takes an inference key of the
sandbox (or the admin key); chat, FIM and embeddings take an inference key (see
:mod:`.inference`). Control routes live under ``/_sandbox`` (see :mod:`.control`). Faults
are injected in front (see :mod:`.faults`).
"""

from __future__ import annotations

from contextlib import asynccontextmanager
from functools import partial
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from reconciler.platform.sandbox.audit import AuditQuery, audit_out
from reconciler.platform.sandbox.audit_trail import AuditTrail
from reconciler.platform.sandbox.catalog import load_catalog
from reconciler.platform.sandbox.control import control_routes
from reconciler.platform.sandbox.errors import ApiError, Unauthorized, error_response
from reconciler.platform.sandbox.faults import FaultConfig, FaultEngine, FaultMiddleware
from reconciler.platform.sandbox.inference import InferenceApi
from reconciler.platform.sandbox.inputs import Handler, bearer, body, path_uuid, query, same
from reconciler.platform.sandbox.json_body import ListingResponse
from reconciler.platform.sandbox.people_routes import PeopleApi
from reconciler.platform.sandbox.store import SandboxStore
from reconciler.platform.sandbox.usage import month_cost, usage_out
from reconciler.platform.sandbox.wire import (
    KeyIn,
    KeysQuery,
    MembersIn,
    RemoveMembersIn,
    SpendLimitIn,
    UsageQuery,
    UsersQuery,
    WorkspaceIn,
    WorkspacesQuery,
    WorkspaceUpdateIn,
    created_key_out,
    invite_out,
    key_out,
    limits_out,
    member_out,
    rate_limits_out,
    roles_out,
    user_out,
    workspace_enriched_out,
    workspace_out,
)

DEFAULT_ADMIN_KEY = "sandbox-admin-key"
ADMIN_PREFIX = "/v1/admin"


class AdminApi:
    """The request handlers, bound to one store and one admin key."""

    def __init__(self, store: SandboxStore, admin_key: str) -> None:
        self.store = store
        self.admin_key = admin_key
        self.catalog = load_catalog()
        self.audit = AuditTrail(store)

    @property
    def currency(self) -> str:
        return self.store.organization.currency

    def guard(self, handler: Handler, *, admin: bool = True) -> Handler:
        """Check the credential, then run the handler; API errors become responses."""

        async def endpoint(request: Request) -> Response:
            try:
                token = bearer(request)
                if token is None:
                    raise Unauthorized("No API key provided")
                if admin and not same(token, self.admin_key):
                    raise Unauthorized("Invalid admin API key")
                return await handler(request)
            except ApiError as exc:
                return exc.response()

        endpoint.__name__ = handler.__name__
        return endpoint

    # --- workspaces -----------------------------------------------------------------

    async def list_workspaces(self, request: Request) -> Response:
        q = query(request, WorkspacesQuery)
        records = self.store.list_workspaces(archived=q.is_archived, search=q.search)
        start = (q.page - 1) * q.page_size
        items = [workspace_out(w, self.currency) for w in records[start : start + q.page_size]]
        return ListingResponse(
            {
                "total": len(records),
                "items": items,
                "object": "list",
                "page": q.page,
                "page_size": q.page_size,
            }
        )

    async def create_workspace(self, request: Request) -> Response:
        b = await body(request, WorkspaceIn)
        ws = self.store.create_workspace(
            name=b.name,
            description=b.description,
            icon=b.icon,
            admin_user_id=str(b.admin_user_id),
            add_all_org_members=b.add_all_org_members,
        )
        self.audit.workspace_created(ws)
        return JSONResponse(
            workspace_enriched_out(ws, ws.members[str(b.admin_user_id)], self.currency)
        )

    async def update_workspace(self, request: Request) -> Response:
        ws_uuid = path_uuid(request, "workspace_uuid")
        b = await body(request, WorkspaceUpdateIn)
        before = self.store.workspace(ws_uuid)
        ws = self.store.update_workspace(
            ws_uuid, name=b.name, description=b.description, icon=b.icon
        )
        self.audit.workspace_updated(before, ws)
        return JSONResponse(workspace_out(ws, self.currency))

    async def archive_workspace(self, request: Request) -> Response:
        ws = self.store.workspace(path_uuid(request, "workspace_uuid"))
        self.store.archive_workspace(ws.uuid)
        self.audit.workspace_archived(ws)
        return Response(status_code=204)

    async def add_users(self, request: Request) -> Response:
        ws_uuid = path_uuid(request, "workspace_uuid")
        b = await body(request, MembersIn)
        changes = [(str(m.user_uuid), m.role_list()) for m in b.members or ()]
        before = self.store.workspace(ws_uuid)
        added = self.store.add_members(ws_uuid, changes)
        self.audit.members_changed(before, self.store.workspace(ws_uuid))
        return JSONResponse({"added_members_count": added})

    async def put_users(self, request: Request) -> Response:
        ws_uuid = path_uuid(request, "workspace_uuid")
        b = await body(request, MembersIn)
        changes = [(str(m.user_uuid), m.role_list()) for m in b.members or ()]
        before = self.store.workspace(ws_uuid)
        added, updated = self.store.put_members(ws_uuid, changes)
        self.audit.members_changed(before, self.store.workspace(ws_uuid))
        return JSONResponse({"added_members_count": added, "updated_members_count": updated})

    async def remove_users(self, request: Request) -> Response:
        ws_uuid = path_uuid(request, "workspace_uuid")
        b = await body(request, RemoveMembersIn)
        before = self.store.workspace(ws_uuid)
        removed, missing = self.store.remove_members(ws_uuid, [str(m.user_uuid) for m in b.members])
        self.audit.members_changed(before, self.store.workspace(ws_uuid))
        return JSONResponse(
            {"deleted_members_count": removed, "not_deleted_members": missing or None}
        )

    # --- users and roles ------------------------------------------------------------

    async def list_users(self, request: Request) -> Response:
        q = query(request, UsersQuery)
        users, invites = self.store.list_users(q.email)
        start = (q.page - 1) * q.page_size
        end = start + q.page_size
        page_users = users[start:end]
        invite_start = max(0, start - len(users))
        invite_end = max(0, end - len(users))
        return ListingResponse(
            {
                "members": [member_out(u, self.store.user_workspaces(u.uuid)) for u in page_users],
                "invites": [invite_out(i) for i in invites[invite_start:invite_end]],
                "total": len(users) + len(invites),
                "page": q.page,
                "page_size": q.page_size,
            }
        )

    async def get_user(self, request: Request) -> Response:
        user = self.store.user(path_uuid(request, "user_id"))
        return JSONResponse(user_out(user, self.store.user_workspaces(user.uuid)))

    async def roles(self, request: Request) -> Response:
        return JSONResponse(roles_out())

    # --- API keys -------------------------------------------------------------------

    async def list_keys(self, request: Request) -> Response:
        q = query(request, KeysQuery)
        today = self.store.today()
        store = self.store
        keys = store.list_keys(offset=q.offset, limit=q.limit, name=q.name)
        items = [
            key_out(k, store.workspace_any(k.workspace_id), store.find_user(k.user_id), today)
            for k in keys
        ]
        return ListingResponse({"keys": items})

    async def create_key(self, request: Request) -> Response:
        b = await body(request, KeyIn)
        key, secret = self.store.create_key(
            workspace_uuid=str(b.workspace_uuid),
            user_id=str(b.user_id),
            name=b.name,
            expiration=b.expiration,
        )
        self.audit.key_created(key)
        return JSONResponse(created_key_out(key, secret, self.store.today()))

    async def delete_key(self, request: Request) -> Response:
        self.audit.key_deleted(self.store.delete_key(path_uuid(request, "key_id")))
        return JSONResponse({"detail": "API key deleted successfully"})

    # --- organisation ---------------------------------------------------------------

    def _month_spend(self) -> float:
        today = self.store.today()
        return month_cost(self.store.usage(today.year, today.month, None), self.catalog)

    async def get_spend_limit(self, request: Request) -> Response:
        return JSONResponse(limits_out(self.store.organization, self._month_spend()))

    async def set_spend_limit(self, request: Request) -> Response:
        b = await body(request, SpendLimitIn)
        before = self.store.organization
        org = self.store.set_spend_limit(b.amount, b.no_monthly_limit)
        self.audit.spend_limit_set(before, org)
        return JSONResponse(limits_out(org, self._month_spend()))

    async def rate_limit(self, request: Request) -> Response:
        return JSONResponse(rate_limits_out(self.store.organization))

    async def usage(self, request: Request) -> Response:
        q = query(request, UsageQuery)
        today = self.store.today()
        year, month = q.year or today.year, q.month or today.month
        ws_id = str(q.workspace_id) if q.workspace_id else None
        records = self.store.usage(year, month, ws_id)
        names = {}
        for record in records:
            ws = self.store.workspace_any(record.workspace_id)
            names[record.workspace_id] = ws.name if ws else ""
        doc = usage_out(
            records,
            year=year,
            month=month,
            catalog=self.catalog,
            currency=self.currency,
            workspace_names=names,
            api_zone=q.api_zone,
        )
        return JSONResponse(doc)

    async def audit_logs(self, request: Request) -> Response:
        q = AuditQuery.of(request)
        org = self.store.organization
        return JSONResponse([audit_out(e, org) for e in q.select(self.store.audit_log())])

    # --- inference API --------------------------------------------------------------

    async def models(self, request: Request) -> Response:
        token = bearer(request) or ""
        if not same(token, self.admin_key) and self.store.authenticate_key(token) is None:
            raise Unauthorized("Invalid API key")
        return JSONResponse({"object": "list", "data": self.catalog.cards()})

    def routes(self) -> list[Route]:
        g = self.guard
        p = ADMIN_PREFIX
        ws = f"{p}/workspaces/{{workspace_uuid}}"
        return [
            Route(f"{p}/workspaces", g(self.list_workspaces), methods=["GET"]),
            Route(f"{p}/workspaces", g(self.create_workspace), methods=["POST"]),
            Route(ws, g(self.update_workspace), methods=["PATCH"]),
            Route(ws, g(self.archive_workspace), methods=["DELETE"]),
            Route(f"{ws}/add-users", g(self.add_users), methods=["POST"]),
            Route(f"{ws}/users", g(self.put_users), methods=["PATCH"]),
            Route(f"{ws}/remove-users", g(self.remove_users), methods=["DELETE"]),
            Route(f"{p}/users", g(self.list_users), methods=["GET"]),
            Route(f"{p}/users/{{user_id}}", g(self.get_user), methods=["GET"]),
            Route(f"{p}/roles", g(self.roles), methods=["GET"]),
            Route(f"{p}/api-keys", g(self.list_keys), methods=["GET"]),
            Route(f"{p}/api-keys", g(self.create_key), methods=["POST"]),
            Route(f"{p}/api-keys/{{key_id}}", g(self.delete_key), methods=["DELETE"]),
            Route(f"{p}/spend-limit", g(self.get_spend_limit), methods=["GET"]),
            Route(f"{p}/spend-limit", g(self.set_spend_limit), methods=["POST"]),
            Route(f"{p}/rate-limit", g(self.rate_limit), methods=["GET"]),
            Route(f"{p}/usage", g(self.usage), methods=["GET"]),
            Route(f"{p}/audit-logs", g(self.audit_logs), methods=["GET"]),
            Route("/v1/models", g(self.models, admin=False), methods=["GET"]),
            *PeopleApi(self.store).routes(g, p),
        ]


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 404:
        return error_response(404, f"Not found: {request.url.path}", code="not_found")
    if exc.status_code == 405:
        return error_response(
            405,
            f"Method {request.method} not allowed on {request.url.path}",
            code="method_not_allowed",
        )
    return error_response(exc.status_code, str(exc.detail), code="http_error")


async def _server_error(request: Request, exc: Exception) -> Response:
    return error_response(500, "Internal server error", code="internal_error")


def create_app(
    store: SandboxStore,
    faults: FaultConfig | None = None,
    *,
    admin_key: str = DEFAULT_ADMIN_KEY,
) -> Starlette:
    """The sandbox as an ASGI app; ``app.state.faults`` is its live :class:`FaultEngine`."""
    if not admin_key:
        raise ValueError("the sandbox admin key must not be empty")
    api = AdminApi(store, admin_key)
    engine = FaultEngine(faults)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> Any:
        yield
        store.close()

    app = Starlette(
        routes=[
            *api.routes(),
            *InferenceApi(store, api.catalog).routes(partial(api.guard, admin=False)),
            *control_routes(store, engine, api.guard),
        ],
        middleware=[Middleware(FaultMiddleware, engine=engine)],
        exception_handlers={HTTPException: _http_error, Exception: _server_error},
        lifespan=lifespan,
    )
    app.state.store = store
    app.state.faults = engine
    return app
