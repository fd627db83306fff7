"""MistralClient: every endpoint's request and parsed answer, auth schemes, creates."""

from __future__ import annotations

import datetime as dt
import gzip
import json
from collections.abc import AsyncIterator
from decimal import Decimal

import httpx
import pytest
import respx
from pydantic import SecretStr

from reconciler import errors, http
from reconciler.platform.mistral.connection import DEFAULT_PAGE_SIZE
from tests.contract.transport import OFF_SPEC
from tests.platform.mistral_wire import (
    ADMIN,
    ADMIN_KEY,
    API,
    ATTEMPTS,
    Sleeps,
    api_key,
    client,
    created_key,
    created_workspace,
    keys_listing,
    limits,
    model_list,
    roles,
    run,
    uid,
    usage_report,
    user,
    users_page,
    workspace,
    workspaces_page,
)

NEW_SECRET = "Vq3nT8pLx2Rk5Wm9Zc4Hb7Jd1Fg6Ys0A"


def body(request: httpx.Request) -> object:
    return json.loads(request.content)


# --- auth ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("scheme", "header", "value", "absent"),
    [
        ("bearer", "authorization", f"Bearer {ADMIN_KEY}", "x-api-key"),
        ("x-api-key", "x-api-key", ADMIN_KEY, "authorization"),
    ],
)
def test_admin_key_is_sent_with_the_configured_scheme(
    scheme: str, header: str, value: str, absent: str
) -> None:
    async def main() -> httpx.Request:
        with respx.mock(base_url=ADMIN) as mock:
            route = mock.get("/roles").respond(json=roles())
            async with client(auth=scheme) as c:
                await c.list_roles()
            return route.calls.last.request

    request = run(main())
    assert request.headers[header] == value
    assert absent not in request.headers


def test_the_admin_key_is_not_a_default_header_of_the_http_client() -> None:
    c = client()
    assert ADMIN_KEY not in repr(c)
    assert ADMIN_KEY not in repr(c._admin.headers)
    assert ADMIN_KEY not in repr(c._admin.auth)
    run(c.aclose())


# --- workspaces ---------------------------------------------------------------------


@pytest.mark.parametrize(("archived", "flag"), [(False, "false"), (True, "true")])
def test_list_workspaces_sends_is_archived_and_page_size(archived: bool, flag: str) -> None:
    async def main() -> tuple[list[str], httpx.Request]:
        with respx.mock(base_url=ADMIN) as mock:
            route = mock.get("/workspaces").respond(
                json=workspaces_page([workspace(1, "dev")], total=1, page=1, size=100)
            )
            async with client() as c:
                found = await c.list_workspaces(archived=archived)
            return [w.name for w in found], route.calls.last.request

    names, request = run(main())
    assert names == ["dev"]
    assert request.url.params["is_archived"] == flag
    assert request.url.params["page"] == "1"
    assert request.url.params["page_size"] == str(DEFAULT_PAGE_SIZE)


def test_create_workspace_posts_name_admin_and_description() -> None:
    async def main() -> tuple[str, object]:
        with respx.mock(base_url=ADMIN) as mock:
            route = mock.post("/workspaces").respond(
                json=created_workspace(7, "prod", description="CI")
            )
            async with client() as c:
                out = await c.create_workspace(
                    name="prod", admin_user_id=uid(3, "c"), description="CI"
                )
            return out.uuid, body(route.calls.last.request)

    ws_id, sent = run(main())
    assert ws_id == uid(7, "a")
    assert sent == {
        "name": "prod",
        "admin_user_id": uid(3, "c"),
        "description": "CI",
        "add_all_org_members": False,
    }


def test_update_workspace_patches_only_given_fields() -> None:
    async def main() -> tuple[str | None, object]:
        with respx.mock(base_url=ADMIN) as mock:
            route = mock.patch(f"/workspaces/{uid(1, 'a')}").respond(
                json=workspace(1, "dev", description="new")
            )
            async with client() as c:
                out = await c.update_workspace(uid(1, "a"), description="new")
            return out.description, body(route.calls.last.request)

    description, sent = run(main())
    assert description == "new"
    assert sent == {"description": "new"}


def test_archive_workspace_is_a_delete_answered_204() -> None:
    async def main() -> int:
        with respx.mock(base_url=ADMIN) as mock:
            route = mock.delete(f"/workspaces/{uid(1, 'a')}").respond(204)
            async with client() as c:
                await c.archive_workspace(uid(1, "a"))
            return route.call_count

    assert run(main()) == 1


# --- members ------------------------------------------------------------------------


def test_member_endpoints_send_user_uuids_and_sorted_role_names() -> None:
    ws = uid(1, "a")

    async def main() -> list[tuple[str, str, object]]:
        with respx.mock(base_url=ADMIN) as mock:
            mock.post(f"/workspaces/{ws}/add-users").respond(json={"added_members_count": 1})
            mock.patch(f"/workspaces/{ws}/users").respond(
                json={"added_members_count": 0, "updated_members_count": 1}
            )
            mock.delete(f"/workspaces/{ws}/remove-users").respond(
                json={"deleted_members_count": 1, "not_deleted_members": None}
            )
            async with client() as c:
                added = await c.add_workspace_users(ws, {uid(2, "c"): ["user"]})
                updated = await c.set_workspace_users(ws, {uid(2, "c"): ("user", "dev")})
                removed = await c.remove_workspace_users(ws, [uid(2, "c")])
            assert (added.added_members_count, updated.updated_members_count) == (1, 1)
            assert removed.deleted_members_count == 1
            return [(r.method, r.url.path, body(r)) for r, _ in mock.calls]

    calls = run(main())
    assert calls == [
        (
            "POST",
            f"/v1/admin/workspaces/{ws}/add-users",
            {"members": [{"user_uuid": uid(2, "c"), "role_names": ["user"]}]},
        ),
        (
            "PATCH",
            f"/v1/admin/workspaces/{ws}/users",
            {"members": [{"user_uuid": uid(2, "c"), "role_names": ["dev", "user"]}]},
        ),
        (
            "DELETE",
            f"/v1/admin/workspaces/{ws}/remove-users",
            {"members": [{"user_uuid": uid(2, "c")}]},
        ),
    ]


# --- keys ---------------------------------------------------------------------------


def test_create_key_sends_owner_workspace_expiry_and_returns_the_secret_wrapped() -> None:
    async def main() -> tuple[object, object]:
        with respx.mock(base_url=ADMIN) as mock:
            route = mock.post("/api-keys").respond(json=created_key(5, "ci", NEW_SECRET))
            async with client() as c:
                out = await c.create_key(
                    workspace_id=uid(1, "a"),
                    user_id=uid(2, "c"),
                    name="ci",
                    expiration=dt.date(2027, 2, 1),
                )
            return out, body(route.calls.last.request)

    out, sent = run(main())
    assert sent == {
        "workspace_uuid": uid(1, "a"),
        "user_id": uid(2, "c"),
        "name": "ci",
        "expiration": "2027-02-01",
    }
    assert isinstance(out.key, SecretStr)  # type: ignore[attr-defined]
    assert out.key.get_secret_value() == NEW_SECRET  # type: ignore[attr-defined]
    assert NEW_SECRET not in repr(out)
    assert NEW_SECRET not in str(out)


def test_delete_key_is_a_delete_and_a_missing_key_is_not_found() -> None:
    async def main() -> None:
        with respx.mock(base_url=ADMIN) as mock:
            mock.delete(f"/api-keys/{uid(1, 'b')}").respond(
                json={"detail": "API key deleted successfully"}
            )
            mock.delete(f"/api-keys/{uid(2, 'b')}").respond(404, json={"message": "not found"})
            async with client() as c:
                await c.delete_key(uid(1, "b"))
                with pytest.raises(errors.NotFound, match=r"DELETE /api-keys/.* HTTP 404"):
                    await c.delete_key(uid(2, "b"))

    run(main())


@pytest.mark.parametrize(
    ("key_id", "sent"),
    [
        ("../workspaces/ws-1", "/api-keys/..%2Fworkspaces%2Fws-1"),
        ("other-key?x=", "/api-keys/other-key%3Fx%3D"),
        ("k#frag", "/api-keys/k%23frag"),
    ],
    ids=["dot-segments", "query", "fragment"],
)
def test_an_id_from_the_platform_stays_one_path_segment(key_id: str, sent: str) -> None:
    """An id comes from the platform's answer: with a ``/``, ``..``, ``?`` or ``#`` in it,
    unescaped, ``DELETE /api-keys/{id}`` would delete another key, or a workspace."""

    async def main() -> list[str]:
        with respx.mock(base_url=ADMIN, assert_all_called=False) as mock:
            # off the spec: the contract check reads the path decoded, as no server should
            mock.delete(url__regex=r".*").respond(404, json={"message": "x"}, headers=OFF_SPEC)
            async with client() as c:
                with pytest.raises(errors.NotFound):
                    await c.delete_key(key_id)
            return [call.request.url.raw_path.decode() for call in mock.calls]

    assert run(main()) == ["/v1/admin" + sent]


@pytest.mark.parametrize("key_id", ["..", ".", ""])
def test_an_id_that_is_a_dot_segment_is_refused_before_sending(key_id: str) -> None:
    async def main() -> int:
        with respx.mock(base_url=ADMIN, assert_all_called=False) as mock:
            mock.delete(url__regex=r".*").respond(200, json={})
            async with client() as c:
                with pytest.raises(errors.RemoteError, match="not an id"):
                    await c.delete_key(key_id)
            return len(mock.calls)

    assert run(main()) == 0


def test_list_keys_passes_the_name_filter() -> None:
    async def main() -> tuple[list[str], httpx.Request]:
        with respx.mock(base_url=ADMIN) as mock:
            route = mock.get("/api-keys").mock(
                side_effect=keys_listing([api_key(1, "ci"), api_key(2, "ci-old")])
            )
            async with client() as c:
                found = await c.list_keys(name="ci")
            return [k.name or "" for k in found], route.calls[0].request

    names, request = run(main())
    assert names == ["ci", "ci-old"]
    assert request.url.params["name"] == "ci"
    assert request.url.params["offset"] == "0"
    assert request.url.params["limit"] == str(DEFAULT_PAGE_SIZE)


# --- users, roles, organisation -----------------------------------------------------


def test_list_users_splits_members_and_invites_and_passes_the_email_filter() -> None:
    invite = {
        "uuid": uid(9, "d"),
        "raw_roles": ["M"],
        "raw_role": "M",
        "email": "new@acme.example",
        "expired": False,
        "created_at": "2026-11-01T00:00:00Z",
    }

    async def main() -> tuple[list[str | None], list[str], httpx.Request]:
        with respx.mock(base_url=ADMIN) as mock:
            route = mock.get("/users").respond(
                json=users_page([user(1, "alice@acme.example")], total=2, invites=[invite])
            )
            async with client() as c:
                listing = await c.list_users(email="alice@acme.example")
            return (
                [m.email for m in listing.members],
                [i.email for i in listing.invites],
                route.calls.last.request,
            )

    members, invites, request = run(main())
    assert members == ["alice@acme.example"]
    assert invites == ["new@acme.example"]
    assert request.url.params["email"] == "alice@acme.example"


@pytest.mark.parametrize(
    ("amount", "sent"),
    [
        (5000, {"amount": 5000, "no_monthly_limit": False}),
        (None, {"amount": 0, "no_monthly_limit": True}),
    ],
)
def test_set_spend_limit_posts_amount_or_no_limit(amount: int | None, sent: object) -> None:
    async def main() -> object:
        with respx.mock(base_url=ADMIN) as mock:
            route = mock.post("/spend-limit").respond(json=limits())
            async with client() as c:
                await c.set_spend_limit(amount)
            return body(route.calls.last.request)

    assert run(main()) == sent


def test_spend_limit_rate_limit_and_usage_are_read() -> None:
    async def main() -> None:
        with respx.mock(base_url=ADMIN) as mock:
            mock.get("/spend-limit").respond(json=limits(usage_limit=3000))
            mock.get("/rate-limit").respond(
                json={
                    "requests_per_second": 5,
                    "tokens_limits_by_model": {
                        "mistral-small-latest": {
                            "tokens_per_minute": 500000,
                            "tokens_per_month": 1000000000,
                        }
                    },
                }
            )
            usage = mock.get("/usage").respond(json=usage_report({}, []))
            async with client() as c:
                spend = await c.get_spend_limit()
                rate = await c.get_rate_limit()
                await c.get_usage(month=11, year=2026, workspace_id=uid(1, "a"))
            assert spend.limits.completion.usage_limit == Decimal(3000)
            assert rate.requests_per_second == 5
            tpm = rate.tokens_limits_by_model["mistral-small-latest"].tokens_per_minute
            assert tpm == 500000
            params = usage.calls.last.request.url.params
            assert (params["month"], params["year"], params["workspace_id"]) == (
                "11",
                "2026",
                uid(1, "a"),
            )

    run(main())


# --- inference API ------------------------------------------------------------------


@pytest.mark.parametrize(("status", "works"), [(200, True), (401, False)])
def test_check_key_calls_models_with_that_key(status: int, works: bool) -> None:
    fresh = SecretStr("inference-key-123456")

    async def main() -> tuple[bool, httpx.Request]:
        with respx.mock(base_url=API) as mock:
            route = mock.get("/models").respond(
                status, json={"object": "list", "data": []} if status == 200 else {"message": "no"}
            )
            async with client(auth="x-api-key") as c:
                result = await c.check_key(fresh)
            return result, route.calls.last.request

    result, request = run(main())
    assert result is works
    assert request.headers["authorization"] == "Bearer inference-key-123456"
    assert ADMIN_KEY not in str(request.headers)


def test_check_key_raises_when_the_answer_says_nothing_about_the_key() -> None:
    async def main() -> None:
        with respx.mock(base_url=API) as mock:
            mock.get("/models").respond(500, json={"message": "boom"})
            async with client() as c:
                with pytest.raises(errors.ServerError, match=r"mistral: GET /models"):
                    await c.check_key(SecretStr("inference-key-123456"))

    run(main())


def test_list_models_uses_the_admin_key_by_default() -> None:
    async def main() -> tuple[list[str], httpx.Request]:
        with respx.mock(base_url=API) as mock:
            route = mock.get("/models").respond(json=model_list("mistral-small-2506"))
            async with client() as c:
                models = await c.list_models()
            return [m.id for m in models.data], route.calls.last.request

    ids, request = run(main())
    assert ids == ["mistral-small-2506"]
    assert request.headers["authorization"] == f"Bearer {ADMIN_KEY}"


# --- creates: never repeated blindly ------------------------------------------------


async def _create(kind: str, sleeps: Sleeps) -> object:
    async with client(sleeps) as c:
        if kind == "key":
            return await c.create_key(workspace_id=uid(1, "a"), user_id=uid(2, "c"), name="ci")
        return await c.create_workspace(name="prod", admin_user_id=uid(2, "c"))


CREATES = [("key", "/api-keys"), ("workspace", "/workspaces")]


def _created(kind: str) -> dict[str, object]:
    return created_key(5, "ci", NEW_SECRET) if kind == "key" else created_workspace(7, "prod")


@pytest.mark.parametrize(("kind", "path"), CREATES)
@pytest.mark.parametrize(
    "failure",
    [
        httpx.Response(500, json={"message": "internal"}),
        httpx.Response(502),
        httpx.Response(503),
        httpx.Response(504),
        httpx.ReadTimeout("read timed out"),
        httpx.RemoteProtocolError("server disconnected"),
    ],
    ids=["500", "502", "503", "504", "timeout", "dropped"],
)
def test_a_create_that_may_have_happened_is_sent_once_and_reported_ambiguous(
    kind: str, path: str, failure: httpx.Response | Exception
) -> None:
    sleeps = Sleeps()

    async def main() -> int:
        with respx.mock(base_url=ADMIN) as mock:
            route = mock.post(path).mock(
                side_effect=[failure, httpx.Response(200, json=_created(kind))]
            )
            with pytest.raises(errors.AmbiguousCreate, match="list to find out") as caught:
                await _create(kind, sleeps)
            assert isinstance(caught.value.__cause__, errors.ServerError | errors.TransportError)
            return route.call_count

    assert run(main()) == 1
    assert sleeps.delays == []


REFUSED = httpx.Response(429, headers={"Retry-After": "4"}, json={"message": "slow"})


def test_a_workspace_create_refused_with_429_is_retried_after_retry_after() -> None:
    """A second workspace of one name is refused (409), so a resend cannot make two."""
    sleeps = Sleeps()

    async def main() -> int:
        with respx.mock(base_url=ADMIN) as mock:
            route = mock.post("/workspaces").mock(
                side_effect=[REFUSED, httpx.Response(200, json=_created("workspace"))]
            )
            await _create("workspace", sleeps)
            return route.call_count

    assert run(main()) == 2
    assert sleeps.delays == [4.0]


def test_a_key_create_refused_with_429_is_not_resent_without_a_look_first() -> None:
    """The 429 may come after the key was made: nothing is resent blindly."""
    sleeps = Sleeps()

    async def main() -> int:
        with respx.mock(base_url=ADMIN) as mock:
            route = mock.post("/api-keys").mock(
                side_effect=[REFUSED, httpx.Response(200, json=_created("key"))]
            )
            with pytest.raises(errors.RateLimited, match="retry after 4s"):
                await _create("key", sleeps)
            return route.call_count

    assert run(main()) == 1
    assert sleeps.delays == []


def test_a_key_create_refused_with_429_is_resent_after_the_wait_and_the_look() -> None:
    sleeps = Sleeps()
    order: list[str] = []

    async def look() -> None:
        order.append(f"look after {sleeps.delays}")

    def created(request: httpx.Request) -> httpx.Response:
        order.append("POST")
        return REFUSED if len(order) == 1 else httpx.Response(200, json=_created("key"))

    async def main() -> None:
        with respx.mock(base_url=ADMIN) as mock:
            mock.post("/api-keys").mock(side_effect=created)
            async with client(sleeps) as c:
                await c.create_key(
                    workspace_id=uid(1, "a"), user_id=uid(2, "c"), name="ci", before_resend=look
                )

    run(main())
    assert order == ["POST", "look after [4.0]", "POST"]


def test_a_failed_look_before_a_resend_makes_the_create_ambiguous() -> None:
    async def look() -> None:
        raise errors.ServerError("mistral admin: GET /api-keys failed with HTTP 500")

    async def main() -> int:
        with respx.mock(base_url=ADMIN) as mock:
            route = mock.post("/api-keys").mock(side_effect=[REFUSED])
            async with client() as c:
                with pytest.raises(errors.AmbiguousCreate, match="looking for it failed"):
                    await c.create_key(
                        workspace_id=uid(1, "a"), user_id=uid(2, "c"), name="ci", before_resend=look
                    )
            return route.call_count

    assert run(main()) == 1


async def _create_looking_first(kind: str) -> object:
    """A create that may be resent after a 429: a key's with a look first."""

    async def look() -> None:
        return None

    async with client() as c:
        if kind == "key":
            return await c.create_key(
                workspace_id=uid(1, "a"), user_id=uid(2, "c"), name="ci", before_resend=look
            )
        return await c.create_workspace(name="prod", admin_user_id=uid(2, "c"))


@pytest.mark.parametrize(("kind", "path"), CREATES)
def test_a_create_refused_with_429_every_time_gives_up_rate_limited(kind: str, path: str) -> None:
    async def main() -> int:
        with respx.mock(base_url=ADMIN) as mock:
            route = mock.post(path).respond(429, headers={"Retry-After": "1"})
            with pytest.raises(errors.RateLimited):
                await _create_looking_first(kind)
            return route.call_count

    assert run(main()) == ATTEMPTS


@pytest.mark.parametrize(("kind", "path"), CREATES)
def test_a_create_rejected_with_a_4xx_is_a_plain_client_error(kind: str, path: str) -> None:
    async def main() -> int:
        with respx.mock(base_url=ADMIN) as mock:
            route = mock.post(path).respond(
                422, json={"detail": [{"loc": ["body", "name"], "msg": "too long", "type": "x"}]}
            )
            with pytest.raises(errors.InvalidRequest, match=r"body\.name: too long") as caught:
                await _create(kind, Sleeps())
            assert not isinstance(caught.value, errors.AmbiguousCreate)
            return route.call_count

    assert run(main()) == 1


def test_a_body_the_client_cannot_read_is_reported_without_echoing_it() -> None:
    async def main() -> None:
        with respx.mock(base_url=ADMIN) as mock:
            mock.post("/api-keys").respond(json={"key": NEW_SECRET, "name": "ci"}, headers=OFF_SPEC)
            async with client() as c:
                with pytest.raises(errors.RemoteError, match="key_id") as caught:
                    await c.create_key(workspace_id=uid(1, "a"), user_id=uid(2, "c"), name="ci")
            assert NEW_SECRET not in str(caught.value)
            assert caught.value.__cause__ is None
            assert caught.value.__context__ is None

    run(main())


@pytest.mark.parametrize("status", [301, 302, 307, 308])
def test_a_redirect_is_not_followed_and_says_where_it_pointed(status: int) -> None:
    # the admin key never goes to an address it was not given; the message says why the
    # call failed, in words, and shows the redirect's host only (never its path or query)
    async def main() -> None:
        with respx.mock(base_url=ADMIN, assert_all_called=False) as mock:
            listed = mock.get("/workspaces").respond(
                status, headers={"Location": "https://evil.example:8443/steal?k=1"}
            )
            elsewhere = mock.route(host="evil.example")
            async with client() as c:
                with pytest.raises(errors.RemoteError) as raised:
                    await c.list_workspaces()
            assert listed.call_count == 1  # not retried
            assert not elsewhere.called
            message = str(raised.value)
            assert message.endswith(
                f"GET /workspaces answered HTTP {status}, a redirect to https://evil.example:8443: "
                "not followed (credentials go only to the address configured); if that "
                "address is right, configure it instead"
            )
            assert "steal" not in message

    run(main())


@pytest.mark.parametrize("declared", [True, False], ids=["content-length", "chunked"])
def test_an_answer_past_the_size_limit_is_refused_unread(
    declared: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a server (or whatever answers at its address) sending gigabytes must not take the
    # machine's memory: the read stops at the limit, with an error saying so, not retried
    monkeypatch.setattr(http, "MAX_RESPONSE_BYTES", 4096)
    many = [workspace(i, f"team-{i}") for i in range(1, 200)]
    body = json.dumps(workspaces_page(many, total=len(many), page=1, size=1000)).encode()

    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(body), 1000):
            yield body[start : start + 1000]

    async def main() -> None:
        with respx.mock(base_url=ADMIN) as mock:
            answer = httpx.Response(200, content=body if declared else chunks())
            listed = mock.get("/workspaces").mock(return_value=answer)
            async with client() as c:
                with pytest.raises(errors.RemoteError) as raised:
                    await c.list_workspaces()
            assert listed.call_count == 1
            assert str(raised.value).endswith(
                "GET /workspaces answered more than 4,096 bytes: not read further"
            )

    run(main())


def test_a_compressed_answer_is_limited_as_it_is_unpacked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(http, "MAX_RESPONSE_BYTES", 4096)
    many = [workspace(i, f"team-{i}") for i in range(1, 200)]
    packed = gzip.compress(json.dumps(workspaces_page(many, total=199, page=1, size=1000)).encode())

    async def main() -> None:
        with respx.mock(base_url=ADMIN) as mock:
            mock.get("/workspaces").respond(
                200, content=packed, headers={"content-encoding": "gzip"}
            )
            async with client() as c:
                with pytest.raises(errors.RemoteError, match="more than 4,096 bytes"):
                    await c.list_workspaces()

    run(main())
