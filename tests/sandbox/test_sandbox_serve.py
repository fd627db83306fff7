"""``serve()`` from Python: the sandbox on a loopback port in a thread, stopped by its handle.

``reconciler sandbox serve`` is this plus a banner (``test_sandbox_cli.py`` runs it as a
user would); here the library's own promises: where it listens, the fault rules merged
in order, the state kept when it stops, and refusals before anything listens.
"""

from __future__ import annotations

import json
import socket
from pathlib import Path

import httpx
import pytest

from reconciler.errors import ConfigError
from reconciler.platform.sandbox import DEFAULT_ADMIN_KEY
from reconciler.platform.sandbox.serve import Listening, serve

from .conftest import serving

AUTH = {"Authorization": f"Bearer {DEFAULT_ADMIN_KEY}"}


def test_serves_on_loopback_with_the_faults_merged_and_keeps_the_state(tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    faults = tmp_path / "faults.yaml"
    faults.write_text(
        "latency_ms: 25\nseed: 7\n"
        "rules:\n  - {method: GET, path: /v1/admin/roles, nth: 1, status: 503}\n"
    )
    rule = "GET /v1/admin/workspaces nth=1 status=500"
    with serving(state=state, faults=faults, fault=[rule], latency_ms=0) as listening:
        assert listening.url.startswith("http://127.0.0.1:")
        assert listening.admin_base_url == listening.url + "/v1/admin"
        # the file's rules, then the command line's; latency from the argument, seed from the file
        assert [(r.path, r.status) for r in listening.faults.rules] == [
            ("/v1/admin/roles", 503),
            ("/v1/admin/workspaces", 500),
        ]
        assert (listening.faults.latency_ms, listening.faults.seed) == (0, 7)
        with httpx.Client(base_url=listening.admin_base_url, headers=AUTH, timeout=10) as http:
            assert [http.get("/roles").status_code for _ in range(2)] == [503, 200]
            assert [http.get("/workspaces").status_code for _ in range(2)] == [500, 200]
            assert http.post("/spend-limit", json={"amount": 4321}).status_code == 200
    assert json.loads(state.read_text())["organization"]["spend_limit"] == 4321
    assert not state.with_name("state.json.journal").exists()


def test_a_port_in_use_is_an_error_before_anything_is_announced(tmp_path: Path) -> None:
    taken = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    taken.bind(("127.0.0.1", 0))
    taken.listen(1)
    port = taken.getsockname()[1]
    announced: list[Listening] = []
    try:
        with pytest.raises(ConfigError, match=f"cannot listen on 127.0.0.1:{port}: "):
            serve(state=tmp_path / "state.json", port=port, ready=announced.append)
    finally:
        taken.close()
    assert announced == []


def test_a_non_loopback_interface_needs_allow_remote(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"refusing to listen on 0\.0\.0\.0.*--allow-remote"):
        serve(state=tmp_path / "state.json", host="0.0.0.0")
    assert not (tmp_path / "state.json").exists()
