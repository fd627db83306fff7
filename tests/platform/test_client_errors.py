"""MistralClient errors: one class per status, retries, Retry-After, and no key in sight."""

from __future__ import annotations

import email.utils
import io
import json
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx
from pydantic import SecretStr

from reconciler import errors
from reconciler.logging import configure_logging
from reconciler.platform.mistral.provider import MistralProvider
from reconciler.platform.mistral.settings import MistralSettings
from reconciler.platform.sandbox.roles import WORKSPACE_ROLE_NAMES
from tests.platform.mistral_wire import (
    ADMIN,
    ADMIN_KEY,
    API,
    ATTEMPTS,
    Sleeps,
    client,
    limits,
    roles,
    run,
    uid,
)


@pytest.mark.parametrize(
    ("status", "payload", "cls", "shown"),
    [
        (400, {"message": "bad page"}, errors.InvalidRequest, "bad page"),
        (
            401,
            {"message": "Invalid admin key", "type": "authentication_error"},
            errors.Unauthorized,
            "Invalid admin key",
        ),
        (403, {"message": "Enterprise plan required"}, errors.Forbidden, "Enterprise plan"),
        (404, {"message": "No such route"}, errors.NotFound, "No such route"),
        (409, {"message": "Workspace name taken"}, errors.Conflict, "Workspace name taken"),
        (
            422,
            {
                "detail": [
                    {"loc": ["query", "page"], "msg": "must be > 0", "type": "x"},
                    {"loc": ["query", "page_size"], "msg": "too big", "type": "y"},
                ]
            },
            errors.InvalidRequest,
            "query.page: must be > 0; query.page_size: too big",
        ),
        (500, {"message": "Internal error"}, errors.ServerError, "Internal error"),
    ],
)
def test_each_status_raises_its_class_naming_method_path_status_and_message(
    status: int, payload: object, cls: type[errors.RemoteError], shown: str
) -> None:
    async def main() -> tuple[errors.RemoteError, int]:
        with respx.mock(base_url=ADMIN) as mock:
            route = mock.get("/roles").respond(status, json=payload)
            async with client() as c:
                with pytest.raises(cls) as caught:
                    await c.list_roles()
            return caught.value, route.call_count

    error, calls = run(main())
    assert type(error) is cls
    assert str(error).startswith(f"mistral admin: GET /roles failed with HTTP {status}: ")
    assert shown in str(error)
    assert error.status == status
    assert calls == 1  # none of these is worth repeating


@pytest.mark.parametrize("status", [502, 503, 504])
def test_gateway_errors_are_retried_then_succeed(status: int) -> None:
    sleeps = Sleeps()

    async def main() -> tuple[list[str], int, int]:
        with respx.mock(base_url=ADMIN) as mock:
            route = mock.get("/roles").mock(
                side_effect=[httpx.Response(status), httpx.Response(200, json=roles())]
            )
            async with client(sleeps) as c:
                out = await c.list_roles()
                return [r.name for r in out.workspace_roles], route.call_count, c.requests

    names, calls, counted = run(main())
    assert names == list(WORKSPACE_ROLE_NAMES)
    assert calls == 2
    assert counted == 2  # the client counts every attempt
    assert len(sleeps.delays) == 1


def test_retries_exhausted_raise_the_last_error() -> None:
    async def main() -> int:
        with respx.mock(base_url=ADMIN) as mock:
            route = mock.get("/roles").respond(503, json={"message": "overloaded"})
            async with client() as c:
                with pytest.raises(errors.ServerError, match="HTTP 503: overloaded"):
                    await c.list_roles()
            return route.call_count

    assert run(main()) == ATTEMPTS


def test_429_waits_retry_after_seconds() -> None:
    sleeps = Sleeps()

    async def main() -> int:
        with respx.mock(base_url=ADMIN) as mock:
            route = mock.get("/roles").mock(
                side_effect=[
                    httpx.Response(429, headers={"Retry-After": "7"}),
                    httpx.Response(200, json=roles()),
                ]
            )
            async with client(sleeps) as c:
                await c.list_roles()
            return route.call_count

    assert run(main()) == 2
    assert sleeps.delays == [7.0]


def test_a_wait_before_a_retry_is_logged_with_its_reason(tmp_path: Path) -> None:
    # a 429's Retry-After may be minutes: the terminal and the JSON log say why it waits
    stream = io.StringIO()
    configure_logging(stream=stream, json_file=tmp_path / "log.jsonl")

    async def main() -> None:
        with respx.mock(base_url=ADMIN) as mock:
            mock.get("/roles").mock(
                side_effect=[
                    httpx.Response(429, headers={"Retry-After": "5"}),
                    httpx.Response(200, json=roles()),
                ]
            )
            async with client(Sleeps()) as c:
                await c.list_roles()

    run(main())
    shown = stream.getvalue()
    assert "platform.retry" in shown and "delay=5.0" in shown and "HTTP 429" in shown
    (entry,) = [
        json.loads(line)
        for line in (tmp_path / "log.jsonl").read_text().splitlines()
        if '"platform.retry"' in line
    ]
    assert (entry["service"], entry["method"], entry["path"]) == ("mistral admin", "GET", "/roles")
    assert (entry["attempt"], entry["delay"]) == (1, 5.0)


def test_a_short_backoff_is_not_logged(tmp_path: Path) -> None:
    stream = io.StringIO()
    configure_logging(stream=stream)

    async def main() -> None:
        with respx.mock(base_url=ADMIN) as mock:
            mock.get("/roles").mock(
                side_effect=[httpx.Response(503), httpx.Response(200, json=roles())]
            )
            async with client(Sleeps()) as c:
                await c.list_roles()

    run(main())
    assert "platform.retry" not in stream.getvalue()


def test_429_waits_until_an_http_date_retry_after() -> None:
    sleeps = Sleeps()
    when = email.utils.formatdate(time.time() + 60, usegmt=True)

    async def main() -> None:
        with respx.mock(base_url=ADMIN) as mock:
            mock.get("/roles").mock(
                side_effect=[
                    httpx.Response(429, headers={"Retry-After": when}),
                    httpx.Response(200, json=roles()),
                ]
            )
            async with client(sleeps) as c:
                await c.list_roles()

    run(main())
    assert len(sleeps.delays) == 1
    assert 30 < sleeps.delays[0] <= 60


def test_429_every_time_gives_up_with_retry_after_in_the_message() -> None:
    async def main() -> errors.RateLimited:
        with respx.mock(base_url=ADMIN) as mock:
            mock.get("/roles").respond(429, headers={"Retry-After": "2"}, json={"message": "slow"})
            async with client() as c:
                with pytest.raises(errors.RateLimited) as caught:
                    await c.list_roles()
            return caught.value

    error = run(main())
    assert error.retry_after == 2.0
    assert "(retry after 2s)" in str(error)


@pytest.mark.parametrize(
    ("failure", "cls", "text"),
    [
        (httpx.ReadTimeout("timed out"), errors.Timeout, "GET /roles timed out"),
        (httpx.ConnectError("connection refused"), errors.TransportError, "ConnectError"),
    ],
)
def test_timeouts_and_connection_errors_are_retried_then_raised(
    failure: Exception, cls: type[errors.RemoteError], text: str
) -> None:
    async def main() -> tuple[errors.RemoteError, int]:
        with respx.mock(base_url=ADMIN) as mock:
            route = mock.get("/roles").mock(side_effect=failure)
            async with client() as c:
                with pytest.raises(cls) as caught:
                    await c.list_roles()
            return caught.value, route.call_count

    error, calls = run(main())
    assert text in str(error)
    assert calls == ATTEMPTS


def _refused(request: httpx.Request) -> httpx.Response:
    raise httpx.ConnectError("connection refused", request=request)


def _not_found(request: httpx.Request) -> httpx.Response:
    return httpx.Response(404, json={"message": f"Not found: {request.url.path}"})


def _listing_error(env: dict[str, str], answer: Any) -> str:
    """The error of listing workspaces from the settings ``env`` gives, answered by ``answer``."""

    async def main() -> str:
        provider = MistralProvider.from_env(
            {"MISTRAL_ADMIN_API_KEY": ADMIN_KEY, **env},
            transport=httpx.MockTransport(answer),
            sleep=Sleeps(),
        )
        async with provider:
            with pytest.raises(errors.RemoteError) as caught:
                await provider.client.list_workspaces()
        return str(caught.value)

    return run(main())


@pytest.mark.parametrize(
    ("base", "answer", "error", "hint"),
    [
        (
            "http://127.0.0.1:8798/v1/admin",
            _refused,
            "mistral admin: GET /workspaces failed: cannot connect to http://127.0.0.1:8798: "
            "ConnectError: connection refused",
            "MISTRAL_ADMIN_BASE_URL is http://127.0.0.1:8798/v1/admin: is that address right, "
            "and its server running?",
        ),
        (
            "http://127.0.0.1:8798/v1",
            _not_found,
            "mistral admin: GET /workspaces failed with HTTP 404: Not found: /v1/workspaces",
            "MISTRAL_ADMIN_BASE_URL is http://127.0.0.1:8798/v1: the Admin API is under /admin, "
            "as in https://api.mistral.ai/v1/admin",
        ),
    ],
    ids=["refused", "no-admin"],
)
def test_a_failure_that_suggests_a_wrong_base_url_names_the_variable(
    base: str, answer: Any, error: str, hint: str
) -> None:
    assert _listing_error({"MISTRAL_ADMIN_BASE_URL": base}, answer) == f"{error} ({hint})"


def test_no_base_url_hint_without_the_variable_nor_for_a_404_under_admin() -> None:
    refused = _listing_error({}, _refused)  # the default base: nothing to point at
    assert refused.endswith(
        "cannot connect to https://api.mistral.ai: ConnectError: connection refused"
    )
    under_admin = _listing_error({"MISTRAL_ADMIN_BASE_URL": ADMIN}, _not_found)
    assert under_admin.endswith("HTTP 404: Not found: /v1/admin/workspaces")


def test_a_timeout_then_success_is_invisible() -> None:
    async def main() -> int:
        with respx.mock(base_url=ADMIN) as mock:
            route = mock.get("/roles").mock(
                side_effect=[httpx.ConnectTimeout("slow"), httpx.Response(200, json=roles())]
            )
            async with client() as c:
                await c.list_roles()
            return route.call_count

    assert run(main()) == 2


WS, USER, KEY = uid(1, "a"), uid(1, "c"), uid(1, "b")
MUTATIONS: dict[str, tuple[str, str, httpx.Response]] = {
    "PATCH users": (
        "PATCH",
        f"/workspaces/{WS}/users",
        httpx.Response(200, json={"added_members_count": 0, "updated_members_count": 1}),
    ),
    "DELETE remove-users": (
        "DELETE",
        f"/workspaces/{WS}/remove-users",
        httpx.Response(200, json={"deleted_members_count": 1, "not_deleted_members": None}),
    ),
    "DELETE key": (
        "DELETE",
        f"/api-keys/{KEY}",
        httpx.Response(200, json={"detail": "API key deleted successfully"}),
    ),
    "DELETE workspace": ("DELETE", f"/workspaces/{WS}", httpx.Response(204)),
    "POST spend-limit": ("POST", "/spend-limit", httpx.Response(200, json=limits())),
}


@pytest.mark.parametrize("mutation", MUTATIONS)
def test_idempotent_mutations_are_retried(mutation: str) -> None:
    method, path, ok = MUTATIONS[mutation]

    async def main() -> int:
        with respx.mock(base_url=ADMIN) as mock:
            route = mock.route(method=method, path=path).mock(side_effect=[httpx.Response(503), ok])
            async with client() as c:
                if mutation == "PATCH users":
                    await c.set_workspace_users(WS, {USER: ["user"]})
                elif mutation == "DELETE remove-users":
                    await c.remove_workspace_users(WS, [USER])
                elif mutation == "DELETE key":
                    await c.delete_key(KEY)
                elif mutation == "DELETE workspace":
                    await c.archive_workspace(WS)
                else:
                    await c.set_spend_limit(100)
            return route.call_count

    assert run(main()) == 2


# --- the admin key never shows --------------------------------------------------------


ECHOES = [
    httpx.Response(401, json={"message": f"invalid key {ADMIN_KEY}"}),
    httpx.Response(403, text=f"Authorization: Bearer {ADMIN_KEY} is not allowed"),
    httpx.Response(422, json={"detail": [{"loc": ["header"], "msg": ADMIN_KEY, "type": "x"}]}),
    httpx.Response(500, json={"message": f"x-api-key {ADMIN_KEY} broke us"}),
    httpx.Response(429, json={"message": ADMIN_KEY}),
]


@pytest.mark.parametrize("scheme", ["bearer", "x-api-key"])
@pytest.mark.parametrize("answer", ECHOES, ids=["401", "403", "422", "500", "429"])
def test_a_key_echoed_by_the_server_never_reaches_the_error(
    scheme: str, answer: httpx.Response
) -> None:
    async def main() -> errors.RemoteError:
        with respx.mock(base_url=ADMIN) as mock:
            mock.get("/roles").mock(return_value=answer)
            async with client(auth=scheme) as c:
                with pytest.raises(errors.RemoteError) as caught:
                    await c.list_roles()
            return caught.value

    error = run(main())
    for text in (str(error), repr(error), error.server_message, *map(str, error.args)):
        assert ADMIN_KEY not in text


def test_an_inference_key_echoed_by_the_server_never_reaches_the_error() -> None:
    fresh = "inference-key-abcdef"

    async def main() -> errors.RemoteError:
        with respx.mock(base_url=API) as mock:
            mock.get("/models").respond(403, json={"message": f"key {fresh} is disabled"})
            async with client() as c:
                with pytest.raises(errors.Forbidden) as caught:
                    await c.check_key(SecretStr(fresh))
            return caught.value

    error = run(main())
    assert fresh not in str(error)
    assert "[REDACTED]" in str(error)


@pytest.mark.parametrize("scheme", ["bearer", "x-api-key"])
def test_transport_failures_do_not_carry_the_key(scheme: str) -> None:
    async def main() -> errors.RemoteError:
        with respx.mock(base_url=ADMIN) as mock:
            mock.get("/roles").mock(side_effect=httpx.ConnectError("refused"))
            async with client(auth=scheme) as c:
                with pytest.raises(errors.TransportError) as caught:
                    await c.list_roles()
            return caught.value

    error = run(main())
    chain: BaseException | None = error
    while chain is not None:
        assert ADMIN_KEY not in str(chain)
        assert ADMIN_KEY not in repr(chain)
        chain = chain.__cause__ or chain.__context__


def test_reprs_of_settings_client_and_provider_hide_the_key() -> None:
    settings = MistralSettings.from_env({"MISTRAL_ADMIN_API_KEY": ADMIN_KEY})
    provider = MistralProvider.from_settings(settings)
    texts = [repr(settings), str(settings), repr(provider), repr(provider.client)]
    texts.append(settings.model_dump_json())
    run(provider.aclose())
    for text in texts:
        assert ADMIN_KEY not in text
