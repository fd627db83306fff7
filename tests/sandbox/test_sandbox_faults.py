"""Faults: the Nth request, a share of requests, Retry-After, latency, after-the-fact,
requests held until the faults change."""

from __future__ import annotations

import asyncio
import json
import random
from pathlib import Path
from typing import Any

import httpx
import pytest

from reconciler import errors
from reconciler.http import RetryPolicy, make_client, send
from reconciler.platform.sandbox import FaultConfig, FaultRule, SandboxStore, create_app
from tests.contract.spec import check_error

from .conftest import ADMIN, AUTH, Demo, TestClient, all_keys


def faulty(store: SandboxStore, **config: Any) -> TestClient:
    return TestClient(create_app(store, FaultConfig.model_validate(config)))


def statuses(client: TestClient, n: int, path: str = f"{ADMIN}/workspaces") -> list[int]:
    return [client.get(path).status_code for _ in range(n)]


def test_the_nth_request_to_a_path_fails_once(store: SandboxStore) -> None:
    client = faulty(
        store, rules=[{"method": "GET", "path": f"{ADMIN}/workspaces", "nth": 2, "status": 503}]
    )
    assert statuses(client, 4) == [200, 503, 200, 200]
    assert client.get(f"{ADMIN}/users").status_code == 200  # another path is not counted
    client.close()


def test_times_extends_the_failure_to_following_requests(store: SandboxStore) -> None:
    client = faulty(store, rules=[{"path": f"{ADMIN}/*", "nth": 1, "times": 3, "status": 500}])
    assert statuses(client, 5) == [500, 500, 500, 200, 200]
    client.close()


def test_methods_are_matched(store: SandboxStore) -> None:
    client = faulty(store, rules=[{"method": "post", "path": f"{ADMIN}/workspaces", "status": 500}])
    assert statuses(client, 2) == [200, 200]
    response = client.post(f"{ADMIN}/workspaces", json={})
    check_error(response, 500, "server_error")
    client.close()


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_share_of_requests_fails_reproducibly_from_the_seed(
    store: SandboxStore, seed: int
) -> None:
    config = {"seed": seed, "rules": [{"path": "*", "probability": 0.3, "status": 503}]}
    rng = random.Random(seed)
    expected = [503 if rng.random() < 0.3 else 200 for _ in range(40)]
    first = faulty(store, **config)
    second = faulty(store, **config)
    assert statuses(first, 40) == expected == statuses(second, 40)
    assert 0 < expected.count(503) < 40
    first.close()
    second.close()


@pytest.mark.parametrize(("probability", "status"), [(0.0, 200), (1.0, 429)])
def test_probability_bounds(store: SandboxStore, probability: float, status: int) -> None:
    client = faulty(store, rules=[{"probability": probability, "status": 429}])
    assert set(statuses(client, 20)) == {status}
    client.close()


@pytest.mark.parametrize(
    ("rule", "retry_after"),
    [
        ({"status": 429}, "1"),
        ({"status": 429, "retry_after": 7}, "7"),
        (
            {"status": 429, "retry_after": "Wed, 21 Oct 2026 07:28:00 GMT"},
            "Wed, 21 Oct 2026 07:28:00 GMT",
        ),
        ({"status": 503, "retry_after": 2}, "2"),
        ({"status": 503}, None),
    ],
)
def test_retry_after_header(
    store: SandboxStore, rule: dict[str, Any], retry_after: str | None
) -> None:
    client = faulty(store, rules=[rule])
    response = client.get(f"{ADMIN}/roles")
    client.close()
    assert response.headers.get("retry-after") == retry_after
    expected_type = "rate_limit_error" if rule["status"] == 429 else "server_error"
    check_error(response, rule["status"], expected_type)


def test_a_failed_request_changes_nothing(store: SandboxStore, demo: Demo) -> None:
    client = faulty(store, rules=[{"method": "POST", "path": f"{ADMIN}/api-keys", "status": 503}])
    body = {"workspace_uuid": demo.ws["dev"], "user_id": demo.user["bob.chen"], "name": "lost"}
    assert client.post(f"{ADMIN}/api-keys", json=body).status_code == 503
    assert all_keys(client, name="lost") == []
    client.close()


def test_after_applies_the_change_then_fails_the_response(store: SandboxStore, demo: Demo) -> None:
    client = faulty(
        store, rules=[{"method": "POST", "path": f"{ADMIN}/api-keys", "status": 500, "after": True}]
    )
    body = {"workspace_uuid": demo.ws["dev"], "user_id": demo.user["bob.chen"], "name": "ambiguous"}
    response = client.post(f"{ADMIN}/api-keys", json=body)
    check_error(response, 500, "server_error")
    assert "key" not in response.json()
    assert [k["name"] for k in all_keys(client, name="ambiguous")] == ["ambiguous"]
    client.close()


class Sleeps:
    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)


def slept(store: SandboxStore, config: FaultConfig | None, paths: list[str]) -> list[float]:
    app = create_app(store, config)
    sleeps = Sleeps()
    app.state.faults.sleep = sleeps
    client = TestClient(app)
    for path in paths:
        assert client.get(path).status_code == 200
    client.close()
    return sleeps.delays


def test_global_and_rule_latency_add_up(store: SandboxStore) -> None:
    config = FaultConfig.model_validate(
        {
            "latency_ms": 20,
            "rules": [{"method": "GET", "path": f"{ADMIN}/users", "latency_ms": 300}],
        }
    )
    # control routes are never slowed
    delays = slept(store, config, [f"{ADMIN}/roles", f"{ADMIN}/users", "/_sandbox/stats"])
    assert delays == [0.02, 0.32]


def test_no_faults_no_latency(store: SandboxStore) -> None:
    assert slept(store, None, [f"{ADMIN}/roles", "/v1/models"]) == []


@pytest.mark.parametrize(
    ("method", "path"), [("POST", "faults"), ("DELETE", "faults"), ("POST", "reset")]
)
def test_a_held_request_goes_on_when_the_faults_change_which_waits_for_it(
    store: SandboxStore, method: str, path: str
) -> None:
    hold = FaultRule(method="POST", path=f"{ADMIN}/spend-limit", hold=True)
    app = create_app(store, FaultConfig(rules=(hold,)))

    async def go() -> tuple[int, int, int]:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://sandbox.test", headers=AUTH
        ) as client:
            held = asyncio.ensure_future(client.post(f"{ADMIN}/spend-limit", json={"amount": 1234}))
            while not app.state.faults.describe()["rules"][0]["fired"]:
                await asyncio.sleep(0)  # the held request has not reached the sandbox yet
            limit = await client.get(f"{ADMIN}/spend-limit")  # other requests go on
            assert not held.done()
            before = limit.json()["limits"]["completion"]["usage_limit"]
            body: dict[str, Any] | None = (
                {"rules": []} if path == "faults" and method == "POST" else None
            )
            await client.request(method, f"/_sandbox/{path}", json=body)
            # answered once the held request was dealt with: its change is there
            after = store.snapshot(secrets=False)["organization"]["spend_limit"]
            return before, (await held).status_code, after

    before, status, after = asyncio.run(go())
    assert (before, status) == (3000, 200)
    assert after == (3000 if path == "reset" else 1234)  # a reset comes after the request


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        ({"path": "*"}, "needs a status, a latency_ms or hold"),
        ({"status": 503, "nth": 1, "probability": 0.5}, "nth or probability"),
        ({"latency_ms": 5, "after": True}, "after: true needs a status"),
        ({"status": 200}, "greater than or equal to 400"),
        ({"status": 503, "bogus": 1}, "Extra inputs"),
    ],
)
def test_fault_files_are_checked_with_file_and_field(
    tmp_path: Path, rule: dict[str, Any], message: str
) -> None:
    path = tmp_path / "faults.yaml"
    path.write_text(f"latency_ms: 5\nrules:\n  - {json.dumps(rule)}\n")
    with pytest.raises(errors.ConfigError) as caught:
        FaultConfig.load(path)
    assert str(path) in str(caught.value)
    assert "rules.0" in str(caught.value)
    assert message in str(caught.value)


def test_fault_files_load_from_yaml_and_json(tmp_path: Path) -> None:
    yaml_file = tmp_path / "f.yaml"
    yaml_file.write_text(
        "latency_ms: 20\nseed: 4\nrules:\n"
        "  - {method: POST, path: /v1/admin/api-keys, nth: 2, status: 503}\n"
    )
    json_file = tmp_path / "f.json"
    json_file.write_text(
        '{"latency_ms": 20, "seed": 4, "rules": [{"method": "POST",'
        ' "path": "/v1/admin/api-keys", "nth": 2, "status": 503}]}'
    )
    expected = FaultConfig(
        latency_ms=20,
        seed=4,
        rules=(FaultRule(method="POST", path="/v1/admin/api-keys", nth=2, status=503),),
    )
    assert FaultConfig.load(yaml_file) == FaultConfig.load(json_file) == expected


def test_the_shared_http_stack_retries_a_429_after_the_advised_delay(store: SandboxStore) -> None:
    app = create_app(
        store,
        FaultConfig(
            rules=(
                FaultRule(path=f"{ADMIN}/workspaces", nth=1, times=2, status=429, retry_after="3"),
            )
        ),
    )
    delays: list[float] = []

    async def sleep(delay: float) -> None:
        delays.append(delay)

    async def go() -> httpx.Response:
        async with make_client(
            "http://sandbox.test/v1/admin", headers=AUTH, transport=httpx.ASGITransport(app=app)
        ) as client:
            return await send(
                client,
                "GET",
                "/workspaces",
                service="sandbox",
                idempotent=True,
                sleep=sleep,
                policy=RetryPolicy(attempts=3),
            )

    response = asyncio.run(go())
    assert response.status_code == 200
    assert delays == [3.0, 3.0]


@pytest.mark.parametrize(
    ("text", "rule"),
    [
        (
            "POST /v1/admin/api-keys nth=2 status=503",
            FaultRule(method="POST", path="/v1/admin/api-keys", nth=2, status=503),
        ),
        (
            "* /v1/admin/* probability=0.1 status=429 retry_after=2",
            FaultRule(path="/v1/admin/*", probability=0.1, status=429, retry_after="2"),
        ),
        (
            "get /v1/models latency_ms=250",
            FaultRule(method="GET", path="/v1/models", latency_ms=250),
        ),
        (
            "POST /v1/admin/api-keys nth=1 hold=true",
            FaultRule(method="POST", path="/v1/admin/api-keys", nth=1, hold=True),
        ),
    ],
)
def test_a_rule_can_be_written_on_one_line(text: str, rule: FaultRule) -> None:
    assert FaultRule.parse(text) == rule


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("POST /v1/admin/api-keys", "expected 'METHOD PATH key=value"),
        ("POST /v1/admin/api-keys 503", "expected 'METHOD PATH key=value"),
        ("POST /x status=teapot", "status: Input should be a valid integer"),
        ("POST /x colour=red status=500", "colour: Extra inputs"),
    ],
)
def test_a_bad_one_line_rule_says_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(errors.ConfigError) as caught:
        FaultRule.parse(text)
    assert text in str(caught.value)
    assert message in str(caught.value)
