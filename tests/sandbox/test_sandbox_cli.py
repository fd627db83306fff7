"""``reconciler sandbox serve|reset|seed|accept-invite`` as a user runs them."""

from __future__ import annotations

import asyncio
import json
import os
import queue
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from reconciler.cli.main import app
from reconciler.platform.sandbox import DEFAULT_ADMIN_KEY, SandboxStore

REPO = Path(__file__).resolve().parents[2]
runner = CliRunner()


def test_seed_writes_the_demo_seed(tmp_path: Path) -> None:
    out = tmp_path / "demo.yaml"
    result = runner.invoke(app, ["sandbox", "seed", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "Acme Analytics" in out.read_text()


def test_seed_generate_writes_a_large_organisation(tmp_path: Path) -> None:
    out = tmp_path / "big.json"
    args = [
        "sandbox",
        "seed",
        "--generate",
        "--workspaces",
        "30",
        "--keys",
        "600",
        "--out",
        str(out),
    ]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "30 workspaces" in result.output
    assert "600 keys" in result.output
    doc = json.loads(out.read_text())
    assert (len(doc["workspaces"]), len(doc["keys"])) == (31, 600)


def test_reset_recreates_the_state_from_a_seed(tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    SandboxStore.open(state).set_spend_limit(1, False)
    result = runner.invoke(app, ["sandbox", "reset", "--state", str(state)])
    assert result.exit_code == 0, result.output
    assert "10 users, 3 workspaces, 2 keys" in result.output
    assert SandboxStore.open(state).organization.spend_limit == 3000


@pytest.mark.parametrize("provider", ["mistral", "anthropic"])
def test_reset_leaves_a_file_that_is_no_sandbox_state_unless_forced(
    tmp_path: Path, provider: str
) -> None:
    mine = tmp_path / "organization.yaml"  # a mistyped --state
    mine.write_text("version: 1\norganization: {name: Acme}\n")
    args = ["sandbox", "reset", "--provider", provider, "--state", str(mine)]
    refused = runner.invoke(app, args)
    assert refused.exit_code == 1
    assert f"{mine} is not a sandbox state file: not replaced (give --force" in refused.output
    assert mine.read_text() == "version: 1\norganization: {name: Acme}\n"
    forced = runner.invoke(app, [*args, "--force"])
    assert forced.exit_code == 0, forced.output
    assert forced.output.startswith(f"Sandbox reset: {mine} (")
    again = runner.invoke(app, args)  # a sandbox state now: reset without --force
    assert again.exit_code == 0, again.output


def test_reset_with_a_bad_seed_changes_nothing(tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    SandboxStore.open(state).set_spend_limit(1, False)
    bad = tmp_path / "bad.yaml"
    bad.write_text("users:\n  - {email: a@x.example, role: emperor}\n")
    result = runner.invoke(app, ["sandbox", "reset", "--state", str(state), "--seed", str(bad)])
    assert result.exit_code == 1
    assert f"{bad}:2: users.0.role" in result.output
    assert SandboxStore.open(state).organization.spend_limit == 1


def test_accept_invite_joins_the_invited_person_as_they_would(tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    args = ["sandbox", "accept-invite", "--state", str(state)]
    result = runner.invoke(app, [*args, "Jin.Park@acme.example"])
    assert result.exit_code == 0, result.output
    assert (
        result.output
        == "jin.park@acme.example accepted the invitation to the organisation; joined ml.\n"
    )
    store = SandboxStore.open(state)
    users, invites = store.list_users(None)
    assert "jin.park@acme.example" in {u.email for u in users} and not invites
    again = runner.invoke(app, [*args, "jin.park@acme.example"])
    assert again.exit_code == 1
    assert f"Error: no pending invitation for jin.park@acme.example in {state}" in again.output


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("garbage{", "cannot read the sandbox state"),
        ('{"organization": {"id": "org"}}', "not a usable sandbox state"),  # Anthropic's
    ],
)
@pytest.mark.parametrize(
    "command",
    [
        ["sandbox", "accept-invite", "jin.park@acme.example", "--state"],
        ["plan", str(REPO / "desired-state"), "--sandbox", "--sandbox-state"],
    ],
    ids=["accept-invite", "plan"],
)
def test_a_state_file_that_is_no_sandbox_state_is_one_error_line(
    tmp_path: Path, command: list[str], text: str, why: str
) -> None:
    state = tmp_path / "state.json"
    state.write_text(text)
    result = runner.invoke(app, [*command, str(state)])
    assert result.exit_code == 1
    assert result.stderr.splitlines()[-1].startswith(f"Error: {state}: {why}")
    assert "Traceback" not in result.output
    assert state.read_text() == text


def test_serve_refuses_a_non_loopback_interface(tmp_path: Path) -> None:
    result = runner.invoke(
        app, ["sandbox", "serve", "--host", "0.0.0.0", "--state", str(tmp_path / "s.json")]
    )
    assert result.exit_code == 1
    assert "--allow-remote" in result.output
    assert not (tmp_path / "s.json").exists()


def test_serve_reports_an_unreadable_admin_key_file(tmp_path: Path) -> None:
    empty = tmp_path / "key"
    empty.write_text("\n")
    result = runner.invoke(
        app,
        ["sandbox", "serve", "--admin-key-file", str(empty), "--state", str(tmp_path / "s.json")],
    )
    assert result.exit_code == 1
    assert "empty" in result.output


def test_serve_reports_a_bad_fault_rule(tmp_path: Path) -> None:
    args = ["sandbox", "serve", "--fault", "GET /x status=teapot", "--state", str(tmp_path / "s")]
    result = runner.invoke(app, args)
    assert result.exit_code == 1
    assert "fault 'GET /x status=teapot': status" in result.output


def _lines(stream: object, sink: queue.Queue[str]) -> None:
    for line in stream:  # type: ignore[attr-defined]
        sink.put(line)


@pytest.mark.e2e
def test_serve_answers_on_loopback_and_compacts_on_shutdown(tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    key_file = tmp_path / "admin-key"
    key_file.write_text("e2e-admin-key\n")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "reconciler",
            "sandbox",
            "serve",
            "--port",
            "0",
            "--state",
            str(state),
            "--admin-key-file",
            str(key_file),
            "--latency-ms",
            "1",
            "--fault",
            "GET /v1/admin/roles nth=1 status=503",
        ],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=_lines, args=(proc.stdout, lines), daemon=True).start()
    try:
        output: list[str] = []
        while not any("Press Ctrl+C" in line for line in output):
            output.append(lines.get(timeout=20))
        text = "".join(output)
        url = text.split("listening on ")[1].split()[0]
        assert url.startswith("http://127.0.0.1:")
        assert f"export MISTRAL_ADMIN_BASE_URL={url}/v1/admin" in text
        assert f"export MISTRAL_API_BASE_URL={url}/v1" in text
        assert f"export MISTRAL_ADMIN_API_KEY_FILE={key_file}" in text
        assert "e2e-admin-key" not in text
        auth = {"Authorization": "Bearer e2e-admin-key"}
        response = httpx.get(f"{url}/v1/admin/workspaces", headers=auth, timeout=10)
        assert response.status_code == 200
        assert [w["name"] for w in response.json()["items"]] == ["Default Workspace", "dev", "ml"]
        default_key = httpx.get(
            f"{url}/v1/admin/workspaces", headers={"Authorization": f"Bearer {DEFAULT_ADMIN_KEY}"}
        )
        assert default_key.status_code == 401
        roles = [httpx.get(f"{url}/v1/admin/roles", headers=auth).status_code for _ in range(2)]
        assert roles == [503, 200]
        changed = httpx.post(
            f"{url}/v1/admin/spend-limit", headers=auth, json={"amount": 4321}, timeout=10
        )
        assert changed.status_code == 200
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=20)
    # uvicorn shuts down gracefully, then re-raises the signal it caught
    assert proc.returncode in (0, -signal.SIGTERM)
    assert not state.with_name("state.json.journal").exists()
    assert json.loads(state.read_text())["organization"]["spend_limit"] == 4321


def test_serve_anthropic_serves_the_state_file_given(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from reconciler.platform.anthropic.sandbox import serve as anthropic_serve

    served: list[Path] = []

    def fake_serve(*, state: Path, ready: Any, **_: Any) -> None:
        served.append(state)
        ready("http://127.0.0.1:1", lambda: None)

    monkeypatch.setattr(anthropic_serve, "serve", fake_serve)
    state = tmp_path / "anth.json"
    args = ["sandbox", "serve", "--provider", "anthropic", "--state", str(state)]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert served == [state]
    assert f"State: {state}\n" in result.output


def test_reset_anthropic_recreates_its_state_private_to_its_owner(tmp_path: Path) -> None:
    from reconciler.platform.anthropic.sandbox.state import Organisation

    state = tmp_path / "anth.json"
    org = Organisation.open(state)
    org.workspace("extra")
    org.save()
    assert state.stat().st_mode & 0o777 == 0o600
    result = runner.invoke(
        app, ["sandbox", "reset", "--provider", "anthropic", "--state", str(state)]
    )
    assert result.exit_code == 0, result.output
    assert result.output.startswith(f"Sandbox reset: {state} (3 users, 2 workspaces, 1 key; ")
    names = {w["name"] for w in Organisation.open(state).data["workspaces"]}
    assert "extra" not in names
    assert state.stat().st_mode & 0o777 == 0o600


def test_reset_refuses_an_unknown_provider(tmp_path: Path) -> None:
    result = runner.invoke(app, ["sandbox", "reset", "--provider", "openai"])
    assert result.exit_code == 1
    assert "no sandbox for provider 'openai'" in result.output


def _invite_on_anthropic(state: Path, email: str) -> None:
    """What an apply does on the Anthropic sandbox: invite ``email`` as a user."""
    from reconciler.platform.anthropic.sandbox.app import DEFAULT_ADMIN_KEY as ANTHROPIC_KEY
    from reconciler.platform.anthropic.sandbox.serve import embedded_transport

    async def go() -> None:
        async with httpx.AsyncClient(
            transport=embedded_transport(state),
            base_url="http://sandbox",
            headers={"x-api-key": ANTHROPIC_KEY},
        ) as http:
            body = {"email": email, "role": "user"}
            (await http.post("/v1/organizations/invites", json=body)).raise_for_status()

    asyncio.run(go())


def test_accept_invite_on_the_anthropic_sandbox_at_its_own_default_state(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    state = Path(".sandbox/state.anthropic.json")
    args = ["sandbox", "accept-invite", "--provider", "anthropic"]
    missing = runner.invoke(app, [*args, "dee@acme.example"])
    assert missing.exit_code == 1
    assert f"Error: no pending invitation for dee@acme.example in {state}" in missing.stderr
    assert not Path(".sandbox").exists()  # no organisation of either sandbox made up
    _invite_on_anthropic(state, "dee@acme.example")

    accepted = runner.invoke(app, [*args, "Dee@acme.example"])

    assert accepted.exit_code == 0, accepted.output
    assert (
        accepted.output == "dee@acme.example accepted the invitation to the organisation as user.\n"
    )
    doc = json.loads(state.read_text())
    assert {u["email"]: u["role"] for u in doc["users"]}["dee@acme.example"] == "user"
    assert [i["status"] for i in doc["invites"]] == ["accepted"]
    assert not Path(".sandbox/state.json").exists()
    again = runner.invoke(app, [*args, "dee@acme.example"])
    assert again.exit_code == 1
    assert f"Error: no pending invitation for dee@acme.example in {state}" in again.stderr


@pytest.mark.parametrize(
    ("made_by", "given", "wanted"),
    [
        (
            ["sandbox", "reset", "--provider", "anthropic"],
            [],
            "the Anthropic sandbox state: give --provider anthropic",
        ),
        (
            ["sandbox", "reset"],
            ["--provider", "anthropic"],
            "La Plateforme's sandbox state: give --provider mistral",
        ),
    ],
    ids=["anthropic-state-as-mistral", "mistral-state-as-anthropic"],
)
def test_accept_invite_refuses_the_other_providers_state_naming_the_right_one(
    tmp_path: Path, made_by: list[str], given: list[str], wanted: str
) -> None:
    state = tmp_path / "state.json"
    assert runner.invoke(app, [*made_by, "--state", str(state)]).exit_code == 0
    before = state.read_bytes()
    args = ["sandbox", "accept-invite", "jin.park@acme.example", "--state", str(state), *given]

    refused = runner.invoke(app, args)

    assert refused.exit_code == 1
    assert refused.stderr == f"Error: {state} is {wanted}\n"
    assert state.read_bytes() == before
