"""MistralClient listings: every page, edges of page sizes, failures midway, concurrency."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
import respx

from reconciler import errors
from tests.platform.mistral_wire import (
    ADMIN,
    api_key,
    client,
    run,
    user,
    users_page,
    workspace,
    workspaces_page,
)


class PagedServer:
    """Serves ``count`` workspaces, users and keys in pages, and records what was asked."""

    def __init__(self, count: int, *, fail: set[str] | None = None) -> None:
        self.workspaces = [workspace(i, f"ws-{i:03d}") for i in range(count)]
        self.users = [user(i, f"user{i:03d}@acme.example") for i in range(count)]
        self.keys = [api_key(i, f"key-{i:03d}") for i in range(count)]
        self.fail = fail or set()  # e.g. {"workspaces:2", "keys:4"} (page number / offset)
        self.asked: list[str] = []
        self.in_flight = 0
        self.most_in_flight = 0

    async def handle(self, request: httpx.Request) -> httpx.Response:
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            for _ in range(3):  # let other requests start while this one is "on the wire"
                await asyncio.sleep(0)
            return self._answer(request)
        finally:
            self.in_flight -= 1

    def _answer(self, request: httpx.Request) -> httpx.Response:
        params = request.url.params
        what = request.url.path.rsplit("/", 1)[-1]
        if what == "api-keys":
            offset, limit = int(params["offset"]), int(params["limit"])
            self.asked.append(f"keys:{offset}")
            if f"keys:{offset}" in self.fail:
                return httpx.Response(500, json={"message": "shard down"})
            return httpx.Response(200, json={"keys": self.keys[offset : offset + limit]})
        page, size = int(params["page"]), int(params["page_size"])
        self.asked.append(f"{what}:{page}")
        if f"{what}:{page}" in self.fail:
            return httpx.Response(500, json={"message": "shard down"})
        rows = self.workspaces if what == "workspaces" else self.users
        chunk = rows[(page - 1) * size : page * size]
        if what == "workspaces":
            return httpx.Response(200, json=workspaces_page(chunk, len(rows), page, size))
        return httpx.Response(200, json=users_page(chunk, len(rows), page, size))

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)


def _list_all(server: PagedServer, **options: Any) -> tuple[list[str], list[str], list[str]]:
    async def main() -> tuple[list[str], list[str], list[str]]:
        async with client(transport=server.transport(), **options) as c:
            ws = await c.list_workspaces()
            users = await c.list_users()
            keys = await c.list_keys()
        return (
            [w.name for w in ws],
            [u.email or "" for u in users.members],
            [k.name or "" for k in keys],
        )

    return run(main())


@pytest.mark.parametrize(
    ("count", "pages"),
    [(0, 1), (1, 1), (9, 3), (10, 3), (11, 3), (12, 3), (13, 4)],
    ids=["empty", "one", "short-last", "page-minus-one", "one-more", "exact-multiple", "spill"],
)
def test_workspaces_and_users_every_page_in_order(count: int, pages: int) -> None:
    server = PagedServer(count)
    ws, users, keys = _list_all(server, page_size=4, key_page_size=4, concurrency=3)
    assert ws == [f"ws-{i:03d}" for i in range(count)]
    assert users == [f"user{i:03d}@acme.example" for i in range(count)]
    assert keys == [f"key-{i:03d}" for i in range(count)]
    asked_ws = sorted(a for a in server.asked if a.startswith("workspaces:"))
    assert asked_ws == sorted(f"workspaces:{p}" for p in range(1, pages + 1))


@pytest.mark.parametrize("count", [0, 3, 4, 8, 9])
def test_keys_sequentially_end_at_the_first_short_page(count: int) -> None:
    server = PagedServer(count)
    _, _, keys = _list_all(server, key_page_size=4, concurrency=1)
    assert keys == [f"key-{i:03d}" for i in range(count)]
    # one request per full page, plus the short (possibly empty) one that ends the list
    expected = [f"keys:{o}" for o in range(0, (count // 4 + 1) * 4, 4)]
    assert [a for a in server.asked if a.startswith("keys:")] == expected


def test_keys_are_read_ahead_concurrently_and_stop_at_the_end() -> None:
    server = PagedServer(10)
    _, _, keys = _list_all(server, key_page_size=2, concurrency=4)
    assert keys == [f"key-{i:03d}" for i in range(10)]
    asked = [int(a.split(":")[1]) for a in server.asked if a.startswith("keys:")]
    assert {0, 2, 4, 6, 8, 10} <= set(asked)  # every page up to the empty one
    assert max(asked) < 10 + 4 * 2  # never more than one window past the end


@pytest.mark.parametrize(
    ("fail", "cls_text"),
    [
        ("workspaces:2", "listing workspaces failed at page 2 of 3"),
        ("users:3", "listing users failed at page 3 of 3"),
        ("keys:4", "listing API keys failed at offset 4"),
    ],
)
@pytest.mark.parametrize("concurrency", [1, 4])
def test_a_page_failing_midway_fails_the_whole_listing(
    fail: str, cls_text: str, concurrency: int
) -> None:
    server = PagedServer(10, fail={fail})
    with pytest.raises(errors.ServerError) as caught:
        _list_all(server, page_size=4, key_page_size=4, concurrency=concurrency)
    message = str(caught.value)
    assert cls_text in message
    assert "nothing returned" in message
    assert "HTTP 500: shard down" in message


@pytest.mark.parametrize("fail", ["workspaces:1", "users:1", "keys:0"])
def test_a_first_page_failing_is_the_request_s_error_alone(fail: str) -> None:
    """Nothing of the listing was read: no page or offset to name."""
    server = PagedServer(10, fail={fail})
    with pytest.raises(errors.ServerError) as caught:
        _list_all(server, page_size=4, key_page_size=4, concurrency=2)
    path = "/api-keys" if fail.startswith("keys") else f"/{fail.split(':')[0]}"
    assert str(caught.value) == f"mistral admin: GET {path} failed with HTTP 500: shard down"


def test_a_failing_page_past_the_end_of_the_keys_does_not_matter() -> None:
    server = PagedServer(5, fail={"keys:12", "keys:16"})
    _, _, keys = _list_all(server, key_page_size=4, concurrency=8)
    assert keys == [f"key-{i:03d}" for i in range(5)]


def test_concurrency_one_is_strictly_sequential() -> None:
    server = PagedServer(30)
    _list_all(server, page_size=2, key_page_size=2, concurrency=1)
    assert len(server.asked) > 30
    assert server.most_in_flight == 1


def test_pages_are_fetched_concurrently_up_to_the_bound() -> None:
    server = PagedServer(30)
    _list_all(server, page_size=2, key_page_size=2, concurrency=5)
    assert 1 < server.most_in_flight <= 5


def test_users_without_a_total_are_read_until_a_short_page() -> None:
    people = [user(i, f"u{i}@acme.example") for i in range(5)]

    def answer(request: httpx.Request) -> httpx.Response:
        page = int(request.url.params["page"])
        chunk = people[(page - 1) * 2 : page * 2]
        return httpx.Response(200, json=users_page(chunk, None, page, 2))

    async def main() -> tuple[list[str], int]:
        with respx.mock(base_url=ADMIN) as mock:
            route = mock.get("/users").mock(side_effect=answer)
            async with client(page_size=2, concurrency=1) as c:
                listing = await c.list_users()
            return [u.email or "" for u in listing.members], route.call_count

    emails, calls = run(main())
    assert emails == [f"u{i}@acme.example" for i in range(5)]
    assert calls == 3


def test_a_server_capping_the_page_size_is_followed() -> None:
    rows = [workspace(i, f"w{i}") for i in range(7)]

    def answer(request: httpx.Request) -> httpx.Response:
        page = int(request.url.params["page"])  # asks for 100, gets 3
        return httpx.Response(
            200, json=workspaces_page(rows[(page - 1) * 3 : page * 3], 7, page, 3)
        )

    async def main() -> list[str]:
        with respx.mock(base_url=ADMIN) as mock:
            mock.get("/workspaces").mock(side_effect=answer)
            async with client() as c:
                return [w.name for w in await c.list_workspaces()]

    assert run(main()) == [f"w{i}" for i in range(7)]


class CappingServer(PagedServer):
    """Serves at most ``cap`` items a page whatever was asked, and does not say so."""

    def __init__(self, count: int, cap: int) -> None:
        super().__init__(count)
        self.cap = cap

    def _answer(self, request: httpx.Request) -> httpx.Response:
        params = dict(request.url.params)
        for name in ("limit", "page_size"):
            if name in params:
                params[name] = str(min(int(params[name]), self.cap))
        capped = httpx.Request(request.method, request.url.copy_with(params=params))
        response = super()._answer(capped)
        if "page_size" in params and response.status_code == 200:
            body = response.json()
            body["page_size"] = int(request.url.params["page_size"])  # echoes what was asked
            return httpx.Response(200, json=body)
        return response


@pytest.mark.parametrize("count", [0, 50, 99, 100, 101, 250, 400])
@pytest.mark.parametrize("concurrency", [1, 4])
def test_a_server_capping_pages_below_the_size_asked_never_ends_a_listing_early(
    count: int, concurrency: int
) -> None:
    """Asked for 1,000 a page, the server serves 100 (the spec's default for keys, and
    more than its default for workspaces and users): a page of 100 is not the last."""
    server = CappingServer(count, cap=100)
    ws, users, keys = _list_all(server, page_size=1000, key_page_size=1000, concurrency=concurrency)
    assert keys == [f"key-{i:03d}" for i in range(count)]
    assert ws == [f"ws-{i:03d}" for i in range(count)]
    assert users == [f"user{i:03d}@acme.example" for i in range(count)]
    asked = [int(a.split(":")[1]) for a in server.asked if a.startswith("keys:")]
    # a first page of 100 may be the cap: the next is read; a shorter one ends the listing
    assert asked[:2] == ([0, 100] if count >= 100 else [0])
    assert max(asked) < count + 100 * (concurrency + 1)  # at most one window past the end


def test_keys_capped_by_a_respx_server_are_all_read() -> None:
    """The key listing against a server that caps ``limit`` at 100 (respx)."""
    keys = [api_key(i, f"key-{i}") for i in range(250)]

    def answer(request: httpx.Request) -> httpx.Response:
        offset = int(request.url.params["offset"])
        limit = min(int(request.url.params["limit"]), 100)
        return httpx.Response(200, json={"keys": keys[offset : offset + limit]})

    async def main() -> tuple[list[str], list[str]]:
        with respx.mock(base_url=ADMIN) as mock:
            route = mock.get("/api-keys").mock(side_effect=answer)
            async with client(key_page_size=1000, concurrency=1) as c:
                listed = await c.list_keys()
            offsets = [call.request.url.params["offset"] for call in route.calls]
            return [k.name or "" for k in listed], offsets

    names, offsets = run(main())
    assert names == [f"key-{i}" for i in range(250)]
    assert offsets == ["0", "100", "200"]


def test_progress_reports_items_as_pages_arrive() -> None:
    server = PagedServer(5)
    seen: list[tuple[int, int | None]] = []

    async def main() -> None:
        async with client(transport=server.transport(), page_size=2) as c:
            await c.list_workspaces(progress=lambda done, total: seen.append((done, total)))

    run(main())
    assert seen[0] == (2, 5)
    assert seen[-1] == (5, 5)
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)
