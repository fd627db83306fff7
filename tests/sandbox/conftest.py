"""Fixtures: a sandbox on the demo seed at a fixed moment, a client with the admin key, and
the sandbox served on a loopback port in a thread."""

from __future__ import annotations

import asyncio
import datetime as dt
import queue
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
from starlette.types import ASGIApp

from reconciler.platform.sandbox import DEFAULT_ADMIN_KEY, SandboxStore, create_app
from reconciler.platform.sandbox.faults import FaultConfig
from reconciler.platform.sandbox.serve import Listening, serve
from tests.demo_seed import demo_seed

NOW = dt.datetime(2026, 11, 15, 12, 0, tzinfo=dt.UTC)
TODAY = NOW.date()
ADMIN = "/v1/admin"
AUTH = {"Authorization": f"Bearer {DEFAULT_ADMIN_KEY}"}


class Clock:
    """A settable clock."""

    def __init__(self, now: dt.datetime = NOW) -> None:
        self.now = now

    def __call__(self) -> dt.datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(clock: Clock) -> SandboxStore:
    return SandboxStore.in_memory(demo_seed(), clock=clock)


class TestClient:
    """A synchronous face on ``httpx.AsyncClient(transport=httpx.ASGITransport(app))``."""

    __test__ = False

    def __init__(self, app: ASGIApp, headers: Mapping[str, str] | None = None) -> None:
        self.app = app
        self._loop = asyncio.new_event_loop()
        self._client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app),
            base_url="http://sandbox.test",
            headers=dict(AUTH if headers is None else headers),
        )

    def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        return self._loop.run_until_complete(self._client.request(method, url, **kwargs))

    def get(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", url, **kwargs)

    def post(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("POST", url, **kwargs)

    def patch(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("PATCH", url, **kwargs)

    def delete(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("DELETE", url, **kwargs)

    def close(self) -> None:
        self._loop.run_until_complete(self._client.aclose())
        self._loop.close()


def make_client(
    store: SandboxStore,
    faults: FaultConfig | None = None,
    *,
    headers: Mapping[str, str] | None = None,
    admin_key: str = DEFAULT_ADMIN_KEY,
) -> TestClient:
    return TestClient(create_app(store, faults, admin_key=admin_key), headers)


@pytest.fixture
def client(store: SandboxStore) -> Iterator[TestClient]:
    c = make_client(store)
    yield c
    c.close()


class Demo:
    """Ids of the demo organisation's objects, looked up through the API."""

    def __init__(self, client: TestClient) -> None:
        users = client.get(f"{ADMIN}/users", params={"page_size": 100}).json()["members"]
        self.user = {u["email"].split("@")[0]: u["uuid"] for u in users}
        workspaces = client.get(f"{ADMIN}/workspaces", params={"page_size": 100}).json()
        self.ws = {w["name"]: w["uuid"] for w in workspaces["items"]}
        roles = client.get(f"{ADMIN}/roles").json()["workspace_roles"]
        self.roles = {r["name"]: r["uuid"] for r in roles}
        self.role_names = {v: k for k, v in self.roles.items()}


@pytest.fixture
def demo(client: TestClient) -> Demo:
    return Demo(client)


def members_of(client: TestClient, workspace: str) -> dict[str, list[str]]:
    """email -> role UUIDs of a workspace's members, read from GET /users."""
    users = client.get(f"{ADMIN}/users", params={"page_size": 100}).json()["members"]
    out: dict[str, list[str]] = {}
    for user in users:
        for ws in user["workspaces"]:
            if ws["name"] == workspace:
                out[user["email"]] = ws["raw_roles"]
    return out


def all_keys(client: TestClient, **params: Any) -> list[dict[str, Any]]:
    keys: list[dict[str, Any]] = []
    offset = 0
    while True:
        page = client.get(f"{ADMIN}/api-keys", params={"limit": 100, "offset": offset, **params})
        assert page.status_code == 200
        batch = page.json()["keys"]
        keys += batch
        if len(batch) < 100:
            return keys
        offset += 100


@contextmanager
def serving(**kwargs: Any) -> Iterator[Listening]:
    """``serve(**kwargs)`` in a thread, on any free port; stopped and joined on exit."""
    announced: queue.Queue[Listening] = queue.Queue()
    failed: list[BaseException] = []

    def run() -> None:
        try:
            serve(port=0, ready=announced.put, **kwargs)
        except BaseException as exc:
            failed.append(exc)
            raise

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    listening = announced.get(timeout=30)
    try:
        yield listening
    finally:
        listening.stop()
        thread.join(timeout=30)
    assert not thread.is_alive() and failed == []
