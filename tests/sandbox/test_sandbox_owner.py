"""One process at a time owns a sandbox state file: a served state refuses ``--sandbox``
commands, ``sandbox reset``, ``accept-invite`` and a second server at once, saying who
serves it and where; an embedded sandbox refuses a server while it runs; closing the
owner lets the next one in.

Here the owners run in this process (flock refuses a second open of the lock file even
from the process that holds it); ``tests/e2e/test_sandbox_owner_e2e.py`` runs them as
processes of their own, one of them killed.
"""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from reconciler.cli.main import app
from reconciler.errors import ConfigError
from reconciler.platform.sandbox import DEFAULT_ADMIN_KEY, EMBEDDED_ADMIN_BASE_URL
from reconciler.platform.sandbox import embedded_transport as embedded
from reconciler.platform.sandbox.owner import Owner, StateInUse, StateLock, lock_path, serving
from tests.sandbox.anthropic.conftest import serving as served_anthropic

from .conftest import AUTH
from .conftest import serving as served

REPO = Path(__file__).resolve().parents[2]
runner = CliRunner()


def _files(state: Path) -> dict[str, bytes]:
    """The state file and its journal, as they are on disk."""
    return {p.name: p.read_bytes() for p in state.parent.glob(state.name + "*") if p.is_file()}


def test_a_served_state_refuses_every_other_owner_and_keeps_the_servers_changes(
    tmp_path: Path,
) -> None:
    state = tmp_path / "state.json"
    owners = {
        "plan --sandbox": ["plan", str(REPO / "desired-state"), "--sandbox", "--sandbox-state"],
        "apply --sandbox": [
            *["apply", str(REPO / "desired-state"), "--auto-approve"],
            *["--sandbox", "--sandbox-state"],
        ],
        "reset": ["sandbox", "reset", "--state"],
        "accept-invite": ["sandbox", "accept-invite", "jin.park@acme.example", "--state"],
        "serve": ["sandbox", "serve", "--port", "0", "--state"],
    }
    with served(state=state) as listening:
        with httpx.Client(base_url=listening.admin_base_url, headers=AUTH, timeout=10) as http:
            assert http.post("/spend-limit", json={"amount": 4321}).status_code == 200
        before = _files(state)
        refusal = (
            f"Error: {state} is being served by process {os.getpid()} (reconciler sandbox "
            f"serve): point MISTRAL_ADMIN_BASE_URL at {listening.admin_base_url}, or stop it "
            "first"
        )
        for name, command in owners.items():
            refused = runner.invoke(app, [*command, str(state)])
            assert (name, refused.exit_code) == (name, 1)
            assert refused.stderr.splitlines()[-1] == refusal, name
            assert "Traceback" not in refused.output
        assert _files(state) == before  # nothing rewrote what the server holds
    assert json.loads(state.read_text())["organization"]["spend_limit"] == 4321
    accepted = runner.invoke(app, owners["accept-invite"] + [str(state)])
    assert accepted.exit_code == 0, accepted.output  # the server gone, the next owner is let in


def test_an_embedded_sandbox_owns_its_state_until_closed(tmp_path: Path) -> None:
    state = tmp_path / "state.json"

    async def one_run() -> None:
        async with httpx.AsyncClient(transport=embedded(state), headers=AUTH) as client:
            answer = await client.get(f"{EMBEDDED_ADMIN_BASE_URL}/workspaces")
            assert answer.status_code == 200
            with pytest.raises(StateInUse) as second:
                embedded(state)
            refused = runner.invoke(app, ["sandbox", "serve", "--port", "0", "--state", str(state)])
        assert str(second.value) == (
            f"{state} is in use by process {os.getpid()} (reconciler --sandbox): wait for it "
            "to finish, or stop it first"
        )
        assert refused.exit_code == 1
        assert f"Error: {second.value}" in refused.stderr

    asyncio.run(one_run())
    asyncio.run(one_run())  # the first run's close let the second in
    assert lock_path(state).read_text() == ""  # and names no holder that is gone


def test_a_lock_file_that_names_no_holder_is_still_refused_plainly(tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    with StateLock.take(state, serving("MISTRAL_ADMIN_BASE_URL")):
        lock_path(state).write_text("{torn")  # as read between another's take and its write
        with pytest.raises(StateInUse) as refused:
            StateLock.take(state, serving("MISTRAL_ADMIN_BASE_URL"))
    assert str(refused.value) == (
        f"{state} is in use by another process: wait for it to finish, or stop it first"
    )


def test_without_flock_windows_takes_no_lock_and_does_not_fail(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    state = tmp_path / "state.json"
    monkeypatch.setattr("sys.platform", "win32")
    with StateLock.take(state, serving("X")), StateLock.take(state, serving("X")):
        pass  # not enforced there (the README says so)
    assert not lock_path(state).exists()


def test_the_lock_file_beside_the_state_names_its_holder_to_its_owner_only(
    tmp_path: Path,
) -> None:
    state = tmp_path / "state.json"
    with served(state=state):
        held = json.loads(lock_path(state).read_text())
        assert lock_path(state) == tmp_path / "state.json.lock"
    assert held["pid"] == os.getpid() and held["command"] == "reconciler sandbox serve"
    assert DEFAULT_ADMIN_KEY not in json.dumps(held)
    assert lock_path(state).stat().st_mode & 0o777 == 0o600


def test_the_anthropic_sandbox_is_owned_the_same_way(tmp_path: Path) -> None:
    state = tmp_path / "state.anthropic.json"  # what --sandbox-state state.json plans on
    plan = ["plan", str(REPO / "examples" / "acme-anthropic"), "--sandbox", "--sandbox-state"]
    anthropic = ["--provider", "anthropic", "--state", str(state)]
    with served_anthropic(state) as url:
        before = state.read_bytes()
        for command in (
            [*plan, str(tmp_path / "state.json")],
            ["sandbox", "reset", *anthropic],
            ["sandbox", "accept-invite", "dee@acme.example", *anthropic],
            ["sandbox", "serve", "--port", "0", *anthropic],
        ):
            refused = runner.invoke(app, command)
            assert refused.exit_code == 1, command
            assert refused.stderr.splitlines()[-1] == (
                f"Error: {state} is being served by process {os.getpid()} (reconciler sandbox "
                f"serve): point ANTHROPIC_BASE_URL at {url}, or stop it first"
            )
        assert state.read_bytes() == before
    planned = runner.invoke(app, [*plan, str(tmp_path / "state.json")])
    assert planned.exit_code == 0, planned.output


def test_a_lock_path_that_is_a_symbolic_link_is_refused_and_its_target_left_alone(
    tmp_path: Path,
) -> None:
    """A lock path made a link (by another user, in a shared directory) to a file the
    owner may write: taking the lock never truncates nor writes through it."""
    state = tmp_path / "state.json"
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    lock_path(state).symlink_to(victim)
    with pytest.raises(StateInUse) as refused:
        StateLock.take(state, serving("MISTRAL_ADMIN_BASE_URL"))
    assert str(refused.value) == (
        f"{lock_path(state)} is not a plain file (a symbolic link, say): the lock file of "
        f"{state} must be, remove it"
    )
    assert victim.read_text() == "precious\n"


def test_what_a_holder_wrote_in_its_lock_file_is_shown_escaped_and_cut_short(
    tmp_path: Path,
) -> None:
    state = tmp_path / "state.json"
    with StateLock.take(state, serving("MISTRAL_ADMIN_BASE_URL")):
        forged = {"pid": 7, "command": "x\x1b]0;owned\x07\nError: all clear", "doing": "in use"}
        forged["advice"] = "y" * 2_000
        lock_path(state).write_text(json.dumps(forged))
        with pytest.raises(StateInUse) as refused:
            StateLock.take(state, serving("MISTRAL_ADMIN_BASE_URL"))
    message = str(refused.value)
    assert "\x1b" not in message and "\n" not in message and "\x07" not in message
    assert "x\\x1b]0;owned\\x07\\nError: all clear" in message
    assert len(message) < 1000


def test_a_lock_file_that_cannot_be_made_says_why(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A state in a directory its owner may not write (a read-only checkout): one line
    naming the lock file and the reason, no traceback."""
    state = tmp_path / "state.json"

    def refused(*args: object) -> int:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr("reconciler.platform.sandbox.owner.os.open", refused)
    with pytest.raises(ConfigError) as failed:
        StateLock.take(state, serving("MISTRAL_ADMIN_BASE_URL"))
    assert str(failed.value) == (
        f"cannot open {lock_path(state)}, the lock file of {state}: Permission denied; a "
        "sandbox state needs a directory its owner may write"
    )


def test_a_lock_path_that_is_a_directory_is_refused(tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    lock_path(state).mkdir()
    with pytest.raises(StateInUse, match="is not a plain file"):
        StateLock.take(state, serving("MISTRAL_ADMIN_BASE_URL"))


def test_a_file_that_is_no_sandbox_state_gets_no_lock_file_beside_it(tmp_path: Path) -> None:
    """``--sandbox-state /etc/passwd`` made ``/etc/passwd.lock`` before refusing the file."""
    foreign = tmp_path / "passwd"
    foreign.write_text("root:x:0:0:root:/root:/bin/bash\n")
    with pytest.raises(ConfigError, match="not a sandbox state file"):
        StateLock.take(foreign, Owner("reconciler plan", "being planned", "wait"))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["passwd"]


def test_a_fifo_named_as_the_state_is_refused_without_waiting_on_it(tmp_path: Path) -> None:
    fifo = tmp_path / "state.json"
    os.mkfifo(fifo)
    with pytest.raises(ConfigError, match="is not a plain file"):
        StateLock.take(fifo, Owner("reconciler plan", "being planned", "wait"))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["state.json"]
