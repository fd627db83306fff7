"""The spec check every hand-built Admin API body goes through: what it lets pass, what not."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from reconciler.platform.sandbox.wire import roles_out
from tests.contract.spec import template
from tests.contract.transport import OFF_SPEC, SpecCheckedTransport, SpecViolation

BASE = "https://admin.test"
KEY = "bbbbbbbb-0000-4000-8000-000000000001"


def exchange(
    answer: httpx.Response, method: str = "GET", path: str = "/v1/admin/roles", body: object = None
) -> SpecCheckedTransport:
    """Send one request through a checked transport serving ``answer``; return it, closed."""
    transport = SpecCheckedTransport(httpx.MockTransport(lambda request: answer))

    async def main() -> None:
        async with httpx.AsyncClient(transport=transport, base_url=BASE) as client:
            await client.request(method, path, json=body)

    asyncio.run(main())
    return transport


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/v1/admin/api-keys", "/v1/admin/api-keys"),
        (f"/v1/admin/api-keys/{KEY}", "/v1/admin/api-keys/{key_id}"),
        ("/v1/admin/user-groups/provision-workspace", "/v1/admin/user-groups/provision-workspace"),
        ("/v1/admin/user-groups/g1/members", "/v1/admin/user-groups/{group_uuid}/members"),
        ("/v1/models", "/v1/models"),
    ],
)
def test_a_url_path_is_matched_to_its_spec_path_literal_segments_first(
    path: str, expected: str
) -> None:
    assert template(path) == expected


def test_a_body_that_keeps_to_the_spec_passes() -> None:
    assert exchange(httpx.Response(200, json=roles_out())).violations == []


@pytest.mark.parametrize(
    ("answer", "method", "path", "body", "why"),
    [
        (
            httpx.Response(200, json={"workspace_roles": []}),
            "GET",
            "/v1/admin/roles",
            None,
            "'organization_roles' is a required property",
        ),
        (
            httpx.Response(200, json={}),
            "DELETE",
            "/v1/admin/workspaces/aaaaaaaa-0000-4000-8000-000000000001",
            None,
            "status 200 is not in the spec",
        ),
        (httpx.Response(200, json={}), "GET", "/v1/admin/nowhere", None, "not a path of the spec"),
        (httpx.Response(200, json={}), "PUT", "/v1/admin/roles", None, "not an operation"),
        (
            httpx.Response(503),
            "POST",
            "/v1/admin/spend-limit",
            {"amount": "lots"},
            "'lots' is not of type 'integer'",
        ),
    ],
    ids=["missing-field", "undocumented-success", "unknown-path", "unknown-method", "bad-body"],
)
def test_a_body_or_status_the_spec_does_not_allow_fails_the_request(
    answer: httpx.Response, method: str, path: str, body: object, why: str
) -> None:
    with pytest.raises(SpecViolation, match=why):
        exchange(answer, method, path, body)


def test_an_error_status_the_spec_does_not_document_is_let_through() -> None:
    assert exchange(httpx.Response(500, text="upstream connect error")).violations == []


def test_a_body_served_malformed_on_purpose_says_so_and_passes() -> None:
    answer = httpx.Response(200, json={"workspace_roles": []}, headers=OFF_SPEC)
    assert exchange(answer).violations == []


def test_a_violation_the_client_swallowed_still_fails_when_the_transport_closes() -> None:
    transport = SpecCheckedTransport(
        httpx.MockTransport(lambda request: httpx.Response(200, json={"keys": [{"name": 1}]}))
    )

    async def main() -> None:
        client = httpx.AsyncClient(transport=transport, base_url=BASE)
        with pytest.raises(SpecViolation):
            await client.get("/v1/admin/api-keys")
        await client.aclose()

    with pytest.raises(SpecViolation, match=r"GET /v1/admin/api-keys answered HTTP 200"):
        asyncio.run(main())
