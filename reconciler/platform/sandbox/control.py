"""Control routes outside ``/v1``, for tests and demos against a running sandbox.

All need the admin key, like the Admin API; faults never apply to them.

- ``GET    /_sandbox/faults``   the fault configuration and per-rule ``matched``/``fired``
- ``POST   /_sandbox/faults``   replace it (body: a :class:`FaultConfig`); counters restart
- ``DELETE /_sandbox/faults``   no faults, no added latency
- ``POST   /_sandbox/reset``    a fresh organisation from the sandbox's seed; clears faults
                                and request statistics

Replacing or clearing the faults (a reset too) lets requests held by a ``hold`` rule go
on, and answers once they have been dealt with.
- ``GET    /_sandbox/state``    the whole state, without secret digests
- ``GET    /_sandbox/stats``    requests served, per method and path (ids folded)
- ``DELETE /_sandbox/stats``    reset those counts
- ``POST   /_sandbox/workspaces/{uuid}/spend-limit``  body ``{"value": 800}`` (or null),
                                optionally ``"actor": "<email>"``: what a person does in
                                the console, for drift tests; the audit log names the
                                person (default: the organisation's first admin)
- ``POST   /_sandbox/invites/{uuid}/accept``  what the invited person does: they join the
                                organisation and the invitation's workspaces
- ``POST   /_sandbox/users/{uuid}``  body ``{"role": "billing_manager", "seats": ["CHAT"]}``
                                (either), optionally ``"actor"``: a member's organisation
                                role or seats changed by a person in the console
"""

from __future__ import annotations

from collections.abc import Callable

from pydantic import BaseModel, ConfigDict, Field
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from reconciler.platform.sandbox.audit_trail import AuditTrail
from reconciler.platform.sandbox.faults import CONTROL_PREFIX, FaultConfig, FaultEngine
from reconciler.platform.sandbox.inputs import Handler, body, path_uuid
from reconciler.platform.sandbox.roles import OrgRoleName, Seat
from reconciler.platform.sandbox.store import SandboxStore
from reconciler.platform.sandbox.wire import member_out, workspace_out


class ConsoleSpendLimitIn(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    value: float | None = Field(ge=0, allow_inf_nan=False)
    actor: str | None = None


class ConsoleUserIn(BaseModel):
    """A member's organisation role and/or product seats, as a person sets them in the
    console (``None``: unchanged)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    role: OrgRoleName | None = None
    seats: list[Seat] | None = None
    actor: str | None = None


def control_routes(
    store: SandboxStore, engine: FaultEngine, guard: Callable[[Handler], Handler]
) -> list[Route]:
    """The ``/_sandbox`` routes for one app; ``guard`` checks the admin key, as for the API."""
    trail = AuditTrail(store)

    async def get_faults(request: Request) -> Response:
        return JSONResponse(engine.describe())

    async def set_faults(request: Request) -> Response:
        engine.configure(await body(request, FaultConfig))
        await engine.settled()
        return JSONResponse(engine.describe())

    async def clear_faults(request: Request) -> Response:
        engine.configure(FaultConfig())
        await engine.settled()
        return JSONResponse(engine.describe())

    async def reset(request: Request) -> Response:
        engine.configure(FaultConfig())
        await engine.settled()
        store.reset()
        engine.reset_stats()
        return JSONResponse({"detail": "sandbox reset from its seed"})

    async def state(request: Request) -> Response:
        return JSONResponse(store.snapshot(secrets=False))

    async def stats(request: Request) -> Response:
        return JSONResponse(engine.stats())

    async def clear_stats(request: Request) -> Response:
        engine.reset_stats()
        return JSONResponse(engine.stats())

    async def console_spend_limit(request: Request) -> Response:
        ws_uuid = path_uuid(request, "workspace_uuid")
        b = await body(request, ConsoleSpendLimitIn)
        actor = trail.person(b.actor)
        before = store.workspace(ws_uuid)
        ws = store.set_workspace_spend_limit(ws_uuid, b.value)
        trail.workspace_spend_limit_set(actor, before, ws)
        return JSONResponse(workspace_out(ws, store.organization.currency))

    async def accept_invite(request: Request) -> Response:
        invite_uuid = path_uuid(request, "invite_uuid")
        invite = next((i for i in store.list_users(None)[1] if i.uuid == invite_uuid), None)
        user = store.accept_invite(invite_uuid)
        if invite is not None:
            trail.invite_accepted(invite, user)
        return JSONResponse(member_out(user, store.user_workspaces(user.uuid)))

    async def console_user(request: Request) -> Response:
        user_uuid = path_uuid(request, "user_uuid")
        b = await body(request, ConsoleUserIn)
        actor = trail.person(b.actor)
        before = store.find_user(user_uuid)
        seats = None if b.seats is None else [str(s) for s in b.seats]
        user = store.update_user(user_uuid, role=b.role, seats=seats)
        if before is not None:
            trail.user_updated(before, user, actor)
        return JSONResponse(member_out(user, store.user_workspaces(user.uuid)))

    g = guard
    c = CONTROL_PREFIX
    return [
        Route(f"{c}/faults", g(get_faults), methods=["GET"]),
        Route(f"{c}/faults", g(set_faults), methods=["POST"]),
        Route(f"{c}/faults", g(clear_faults), methods=["DELETE"]),
        Route(f"{c}/reset", g(reset), methods=["POST"]),
        Route(f"{c}/state", g(state), methods=["GET"]),
        Route(f"{c}/stats", g(stats), methods=["GET"]),
        Route(f"{c}/stats", g(clear_stats), methods=["DELETE"]),
        Route(
            f"{c}/workspaces/{{workspace_uuid}}/spend-limit",
            g(console_spend_limit),
            methods=["POST"],
        ),
        Route(f"{c}/invites/{{invite_uuid}}/accept", g(accept_invite), methods=["POST"]),
        Route(f"{c}/users/{{user_uuid}}", g(console_user), methods=["POST"]),
    ]
