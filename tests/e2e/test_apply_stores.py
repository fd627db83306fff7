"""Where an apply against a live organisation may keep secrets: a file vault only when
asked for, since its lock is invisible to an apply using another store."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.apply_support import Cli, applied_sentence, write_small_desired
from tests.e2e.conftest import SandboxServer

pytestmark = pytest.mark.e2e


def refusal(sandbox: SandboxServer) -> str:
    return (
        f"Error: refusing a file vault against the live organisation at "
        f"{sandbox.admin_base_url}: its secrets would live on this machine only, and an "
        "apply using another store would not see its lock. Pass --allow-file-vault (or set "
        "RECONCILER_ALLOW_FILE_VAULT=1) to rehearse anyway."
    )


@pytest.mark.parametrize("how", ["override", "desired-state"])
def test_a_file_vault_against_a_live_organisation_is_refused_in_one_line(
    sandbox: SandboxServer, tmp_path: Path, how: str
) -> None:
    write_small_desired(tmp_path, backend="file" if how == "desired-state" else "vault")
    cli = Cli(sandbox, tmp_path, vault="file:vault")
    cli.env["RECONCILER_ALLOW_FILE_VAULT"] = ""  # as outside the tests: not asked for
    # --vault "" is no override: the desired state's file vault is the one refused
    extra = () if how == "override" else ("--vault", "")
    result = cli("apply", "--auto-approve", *extra)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == refusal(sandbox)
    assert "Traceback" not in result.stderr
    # a plan writes nothing: it runs, and says that apply would refuse the file vault
    planned = cli("plan", *extra)
    assert planned.returncode == 0, planned.stderr
    assert "apply refuses it unless --allow-file-vault is passed" in planned.stdout
    assert sandbox.stats()["by_route"].get("POST /v1/admin/api-keys", 0) == 0
    assert not list((tmp_path / "vault").rglob("*.json"))  # no secret written


def test_asked_for_it_is_a_rehearsal(sandbox: SandboxServer, tmp_path: Path) -> None:
    write_small_desired(tmp_path, backend="vault")
    cli = Cli(sandbox, tmp_path, vault="file:vault")
    cli.env["RECONCILER_ALLOW_FILE_VAULT"] = ""
    result = cli("apply", "--auto-approve", "--allow-file-vault")
    assert result.returncode == 0, result.stderr
    assert applied_sentence((7, 0, 2)) in result.stdout
    assert (tmp_path / "vault" / "dev" / "dev-bob.json").exists()
