"""One process at a time owns a sandbox state file, across real processes: while
``reconciler sandbox serve`` holds it, ``apply --sandbox`` on the same file is refused at
once (the server's organisation untouched); once the server is killed (SIGKILL: nothing
of it runs to let go), the OS has released it and the next ``--sandbox`` run owns it."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.conftest import run_cli, start_sandbox

pytestmark = pytest.mark.e2e


def test_a_served_state_refuses_a_sandbox_apply_until_its_server_is_killed(
    tmp_path: Path, workdir: Path
) -> None:
    server = start_sandbox(tmp_path / "served")
    embedded = ["--sandbox", "--sandbox-state", str(server.state), "--no-color"]
    try:
        served_before = server.state_doc()
        refused = run_cli(["apply", "desired-state", "--auto-approve", *embedded], cwd=workdir)

        assert refused.returncode == 1
        assert refused.stderr.splitlines()[-1] == (
            f"Error: {server.state} is being served by process {server.proc.pid} (reconciler "
            f"sandbox serve): point MISTRAL_ADMIN_BASE_URL at {server.admin_base_url}, or "
            "stop it first"
        )
        assert server.state_doc() == served_before
    finally:
        server.proc.kill()
        server.proc.wait(timeout=10)
        server.stop()

    planned = run_cli(["plan", "desired-state", "--detailed-exitcode", *embedded], cwd=workdir)
    assert planned.returncode == 2, planned.stderr  # owned now, and the demo's drift planned
    assert "Plan: " in planned.stdout
