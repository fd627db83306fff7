"""Control routes under /_sandbox: faults at runtime, reset, state, stats, console changes."""

from __future__ import annotations

import json

import pytest

from .conftest import ADMIN, Demo, TestClient, all_keys


def test_faults_can_be_set_inspected_and_cleared_at_runtime(client: TestClient) -> None:
    config = {"rules": [{"method": "GET", "path": f"{ADMIN}/roles", "nth": 2, "status": 503}]}
    assert client.post("/_sandbox/faults", json=config).status_code == 200
    assert [client.get(f"{ADMIN}/roles").status_code for _ in range(3)] == [200, 503, 200]
    described = client.get("/_sandbox/faults").json()
    assert described["config"]["rules"][0]["status"] == 503
    assert described["rules"] == [{"matched": 3, "fired": 1}]
    client.delete("/_sandbox/faults")
    assert client.get("/_sandbox/faults").json()["config"]["rules"] == []


def test_setting_faults_restarts_the_counters(client: TestClient) -> None:
    config = {"rules": [{"path": f"{ADMIN}/roles", "nth": 1, "status": 500}]}
    client.post("/_sandbox/faults", json=config)
    assert client.get(f"{ADMIN}/roles").status_code == 500
    client.post("/_sandbox/faults", json=config)
    assert client.get(f"{ADMIN}/roles").status_code == 500


def test_a_bad_fault_config_is_422_and_keeps_the_old_one(client: TestClient) -> None:
    client.post("/_sandbox/faults", json={"latency_ms": 0, "rules": [{"path": "*", "status": 418}]})
    response = client.post("/_sandbox/faults", json={"rules": [{"path": "*"}]})
    assert response.status_code == 422
    assert client.get("/_sandbox/faults").json()["config"]["rules"][0]["status"] == 418


def test_faults_never_block_the_control_routes(client: TestClient) -> None:
    client.post("/_sandbox/faults", json={"rules": [{"path": "*", "status": 503}]})
    assert client.get(f"{ADMIN}/roles").status_code == 503
    assert client.get("/_sandbox/state").status_code == 200
    assert client.delete("/_sandbox/faults").status_code == 200
    assert client.get(f"{ADMIN}/roles").status_code == 200


def test_reset_restores_the_seed_with_the_same_ids(client: TestClient, demo: Demo) -> None:
    client.delete(f"{ADMIN}/workspaces/{demo.ws['ml']}")
    body = {"workspace_uuid": demo.ws["dev"], "user_id": demo.user["bob.chen"], "name": "temp"}
    client.post(f"{ADMIN}/api-keys", json=body)
    client.post("/_sandbox/faults", json={"latency_ms": 5})
    assert client.post("/_sandbox/reset").status_code == 200
    assert Demo(client).ws == demo.ws
    assert {k["name"] for k in all_keys(client)} == {"dev-alice", "iris-laptop"}
    assert client.get("/_sandbox/faults").json()["config"]["latency_ms"] == 0


def test_state_shows_everything_but_secret_digests(client: TestClient) -> None:
    state = client.get("/_sandbox/state").json()
    assert {w["name"] for w in state["workspaces"]} == {"Default Workspace", "dev", "ml"}
    assert state["organization"]["spend_limit"] == 3000
    assert state["keys"]
    assert all("secret_sha256" not in k for k in state["keys"])


def test_stats_count_requests_per_route_with_ids_folded(client: TestClient, demo: Demo) -> None:
    client.delete("/_sandbox/stats")
    client.get(f"{ADMIN}/workspaces")
    client.get(f"{ADMIN}/workspaces")
    client.patch(f"{ADMIN}/workspaces/{demo.ws['dev']}", json={"description": "x"})
    stats = client.get("/_sandbox/stats").json()
    assert stats == {
        "requests": 3,
        "by_route": {
            "GET /v1/admin/workspaces": 2,
            "PATCH /v1/admin/workspaces/{id}": 1,
        },
    }


def test_the_console_spend_limit_of_a_workspace_can_change(client: TestClient, demo: Demo) -> None:
    response = client.post(f"/_sandbox/workspaces/{demo.ws['dev']}/spend-limit", json={"value": 75})
    assert response.json()["spend_limit"]["value"] == 75
    listed = client.get(f"{ADMIN}/workspaces", params={"search": "dev"}).json()["items"][0]
    assert listed["spend_limit"] == {"value": 75, "currency": "USD", "no_monthly_limit": False}
    client.post(f"/_sandbox/workspaces/{demo.ws['dev']}/spend-limit", json={"value": None})
    listed = client.get(f"{ADMIN}/workspaces", params={"search": "dev"}).json()["items"][0]
    assert listed["spend_limit"]["no_monthly_limit"] is True


@pytest.mark.parametrize("value", ["Infinity", "NaN"])
def test_a_console_spend_limit_that_is_not_a_number_is_refused(
    client: TestClient, demo: Demo, value: str
) -> None:
    """The listings are strict JSON: a limit of ``Infinity`` would make them unreadable."""
    response = client.post(
        f"/_sandbox/workspaces/{demo.ws['dev']}/spend-limit",
        content=f'{{"value": {value}}}',
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 422
    listed = client.get(f"{ADMIN}/workspaces", params={"search": "dev"})
    assert json.loads(listed.content, parse_constant=lambda c: pytest.fail(c))["items"]
