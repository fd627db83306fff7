"""The Anthropic client on the wire: headers, paging, POST updates, errors and retries."""

from __future__ import annotations

import io
import json
from pathlib import Path

import httpx
import pytest
import respx

from reconciler import errors
from reconciler.logging import configure_logging
from tests.platform.anthropic.wire_bodies import (
    ADMIN_KEY,
    ORG,
    api_key,
    client,
    error,
    page,
    workspace,
)
from tests.platform.mistral_wire import Sleeps, run


@respx.mock
def test_every_request_carries_the_key_as_x_api_key_and_the_version() -> None:
    route = respx.get(f"{ORG}/workspaces").respond(json=page(workspace("wrkspc_1", "dev")))

    spaces = run(client().list_workspaces())

    assert [w.name for w in spaces] == ["dev"]
    sent = route.calls.last.request
    assert sent.headers["x-api-key"] == ADMIN_KEY
    assert sent.headers["anthropic-version"] == "2023-06-01"
    assert "authorization" not in sent.headers
    assert "anthropic-beta" not in sent.headers


@respx.mock
def test_a_listing_follows_after_id_until_has_more_is_false() -> None:
    route = respx.get(f"{ORG}/workspaces").mock(
        side_effect=[
            httpx.Response(200, json=page(workspace("wrkspc_1", "a"), more=True, last="wrkspc_1")),
            httpx.Response(200, json=page(workspace("wrkspc_2", "b"), last="wrkspc_2")),
        ]
    )

    spaces = run(client().list_workspaces())

    assert [w.id for w in spaces] == ["wrkspc_1", "wrkspc_2"]
    queries = [dict(c.request.url.params) for c in route.calls]
    assert queries == [{"limit": "100"}, {"limit": "100", "after_id": "wrkspc_1"}]


@respx.mock
def test_updates_are_posts_to_the_object_never_patch() -> None:
    ws = respx.post(f"{ORG}/workspaces/wrkspc_1").respond(json=workspace("wrkspc_1", "new"))
    key = respx.post(f"{ORG}/api_keys/apikey_1").respond(
        json=api_key("apikey_1", "ci", "wrkspc_1", status="inactive")
    )
    archive = respx.post(f"{ORG}/workspaces/wrkspc_1/archive").respond(
        json=workspace("wrkspc_1", "new", archived_at="2026-11-02T00:00:00Z")
    )

    async def go() -> None:
        c = client()
        await c.update_workspace("wrkspc_1", name="new", tags={"description": None})
        await c.update_api_key("apikey_1", status="inactive")
        await c.archive_workspace("wrkspc_1")

    run(go())

    assert json.loads(ws.calls.last.request.content) == {
        "name": "new",
        "tags": {"description": None},
    }
    assert json.loads(key.calls.last.request.content) == {"status": "inactive"}
    assert archive.called


def _override(rid: str, name: str, value: int) -> dict[str, object]:
    """A workspace's override, as ``GET /workspaces/{id}/rate_limits`` documents it."""
    return {
        "type": "workspace_rate_limit",
        "workspace_id": "wrkspc_1",
        "rate_limit_id": rid,
        "group": {"id": "rlg_" + rid, "type": "model_group", "display_name": name},
        "models": ["claude-sonnet-4-5"],
        "limits": [
            {
                "type": "requests_per_minute",
                "value": value,
                "org_limit": 4000,
                "source": {"type": "workspace"},
            }
        ],
    }


@respx.mock
def test_rate_limit_overrides_page_by_next_page_and_are_set_by_a_post_naming_each_type() -> None:
    listing = respx.get(f"{ORG}/workspaces/wrkspc_1/rate_limits")
    listing.side_effect = [
        httpx.Response(200, json={"data": [_override("rl_1", "Sonnet", 50)], "next_page": "p2"}),
        httpx.Response(200, json={"data": [_override("rl_2", "Haiku", 9)], "next_page": None}),
    ]
    write = respx.post(f"{ORG}/workspaces/wrkspc_1/rate_limits/rl_1").respond(
        json=_override("rl_1", "Sonnet", 60)
    )

    async def go() -> list[str]:
        c = client()
        listed = await c.list_workspace_rate_limits("wrkspc_1")
        await c.set_workspace_rate_limit(
            "wrkspc_1", "rl_1", {"requests_per_minute": 60, "tokens_per_day": None}
        )
        return [entry.rate_limit_id for entry in listed]

    assert run(go()) == ["rl_1", "rl_2"]
    assert listing.calls[1].request.url.params["page"] == "p2"
    assert json.loads(write.calls.last.request.content) == {
        "limits": [
            {"type": "requests_per_minute", "value": 60},
            {"type": "tokens_per_day", "value": None},  # null clears the override
        ]
    }


@pytest.mark.parametrize(
    ("status", "kind", "cls"),
    [
        (400, "invalid_request_error", errors.InvalidRequest),
        (401, "authentication_error", errors.Unauthorized),
        (403, "permission_error", errors.Forbidden),
        (404, "not_found_error", errors.NotFound),
        (409, "conflict_error", errors.Conflict),
    ],
)
@respx.mock
def test_an_error_body_gives_its_class_and_its_type_and_message(
    status: int, kind: str, cls: type[errors.RemoteError]
) -> None:
    respx.get(f"{ORG}/users").respond(status, json=error(kind, f"no luck for {ADMIN_KEY}"))

    with pytest.raises(cls) as caught:
        run(client().list_users())

    text = str(caught.value)
    assert f"{kind}: no luck for [REDACTED]" in text
    assert ADMIN_KEY not in text and ADMIN_KEY not in caught.value.server_message


@respx.mock
def test_an_overloaded_read_is_retried_and_a_create_is_never_resent() -> None:
    sleeps = Sleeps()
    listing = respx.get(f"{ORG}/workspaces").mock(
        side_effect=[
            httpx.Response(529, json=error("overloaded_error", "Overloaded")),
            httpx.Response(200, json=page()),
        ]
    )
    create = respx.post(f"{ORG}/workspaces").respond(503, json=error("api_error", "down"))

    async def go() -> None:
        c = client(sleeps)
        assert await c.list_workspaces() == []
        with pytest.raises(errors.AmbiguousCreate, match="look it up before trying again"):
            await c.create_workspace("dev")

    run(go())

    assert listing.call_count == 2
    assert create.call_count == 1


@respx.mock
def test_the_beta_endpoints_name_their_beta() -> None:
    route = respx.get(f"{ORG}/spend_limits").respond(json={"data": [], "next_page": None})

    assert run(client().list_spend_limits()) == []
    assert route.calls.last.request.headers["anthropic-beta"] == "spend-limit-reads-2026-09-26"


@respx.mock
def test_a_key_is_checked_with_its_own_secret_not_the_admin_key() -> None:
    from pydantic import SecretStr

    route = respx.get("https://anthropic.test/v1/models").mock(
        side_effect=[
            httpx.Response(200, json={"data": []}),
            httpx.Response(401, json=error("authentication_error", "bad")),
        ]
    )

    async def go() -> tuple[bool, bool]:
        c = client()
        return await c.check_key(SecretStr("sk-good")), await c.check_key(SecretStr("sk-bad"))

    assert run(go()) == (True, False)
    assert route.calls[0].request.headers["x-api-key"] == "sk-good"


@respx.mock
def test_a_wait_the_platform_asked_for_is_logged_with_its_reason(tmp_path: Path) -> None:
    # as La Plateforme's: a 429's Retry-After may be minutes, and the run says why it waits
    stream = io.StringIO()
    configure_logging(stream=stream, json_file=tmp_path / "log.jsonl")
    respx.get(f"{ORG}/workspaces").mock(
        side_effect=[
            httpx.Response(429, headers={"Retry-After": "30"}),
            httpx.Response(200, json=page(workspace("wrkspc_1", "dev"))),
        ]
    )

    run(client(Sleeps()).list_workspaces())

    assert "platform.retry" in stream.getvalue() and ADMIN_KEY not in stream.getvalue()
    (entry,) = [
        json.loads(line)
        for line in (tmp_path / "log.jsonl").read_text().splitlines()
        if '"platform.retry"' in line
    ]
    assert (entry["method"], entry["attempt"], entry["delay"], entry["reason"]) == (
        "GET",
        1,
        30.0,
        "HTTP 429",
    )
