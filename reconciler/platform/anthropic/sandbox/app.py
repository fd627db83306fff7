"""The Anthropic sandbox's HTTP app: the Admin API's routes behind the admin key.

Auth is the admin key as ``x-api-key`` (or ``Authorization: Bearer``, as the SDK sends
it); errors are the API's error bodies (:mod:`.answers`). ``/v1/models`` takes a key's
own secret instead; ``/sandbox/console/api_keys`` (admin key) stands in for the Console.
"""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from reconciler.platform.anthropic.sandbox import rate_limits, routes
from reconciler.platform.anthropic.sandbox.answers import ApiError, error
from reconciler.platform.anthropic.sandbox.state import Organisation

DEFAULT_ADMIN_KEY = "sk-ant-admin01-sandbox-not-secret"
PREFIX = "/v1/organizations"


def create_app(org: Organisation, *, admin_key: str = DEFAULT_ADMIN_KEY) -> Starlette:
    """The app over ``org``; ``admin_key`` opens ``/v1/organizations`` and the console."""

    def route(path: str, handler: routes.Handler, methods: list[str], admin: bool) -> Route:
        async def endpoint(request: Request) -> JSONResponse:
            given = request.headers.get("x-api-key") or request.headers.get(
                "authorization", ""
            ).removeprefix("Bearer ")
            if admin and given != admin_key:
                return error(401, "invalid x-api-key")
            try:
                return await handler(request, org)
            except ApiError as exc:
                return error(exc.status, str(exc), exc.code)

        return Route(path, endpoint, methods=methods)

    table = [(PREFIX + p, h, m, True) for p, h, m in [*routes.ADMIN, *rate_limits.ROUTES]]
    table += [
        ("/sandbox/console/api_keys", routes.console_key, ["POST"], True),
        ("/v1/models", routes.models, ["GET"], False),
    ]
    return Starlette(routes=[route(*row) for row in table])
