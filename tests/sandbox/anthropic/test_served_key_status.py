"""A key's status end to end against the Anthropic sandbox served on 127.0.0.1, as against
the platform: ``status: inactive`` is set in place (``~``), ``active`` again, and
``status: archived`` is the key's destroy, final; each apply re-plans clean, and the admin
key shows in no output and no file."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

from pydantic import SecretStr

from reconciler.platform.anthropic.client import AnthropicClient
from reconciler.platform.anthropic.sandbox.app import DEFAULT_ADMIN_KEY

from .conftest import run_against

EXAMPLE = Path(__file__).parents[3] / "examples" / "acme-anthropic"
NO_API_CHANGES = "No changes to apply through the Admin API."


def _status(served: str, name: str) -> str:
    async def go() -> str:
        client = AnthropicClient(SecretStr(DEFAULT_ADMIN_KEY), base_url=served)
        try:
            listed = [
                k
                for s in ("active", "inactive", "archived")
                for k in await client.list_api_keys(status=s)
            ]
            (key,) = [k for k in listed if k.name == name]
            return key.status
        finally:
            await client.aclose()

    return asyncio.run(go())


def _say_status(root: Path, status: str) -> None:
    research = root / "desired" / "workspaces" / "research.yaml"
    lines = research.read_text().splitlines()
    text = "\n".join(line for line in lines if "status:" not in line) + "\n"
    research.write_text(text + f"      status: {status}\n")


def test_a_key_is_made_inactive_active_again_then_archived_for_good(
    tmp_path: Path, served: str
) -> None:
    shutil.copytree(EXAMPLE, tmp_path / "desired")
    assert run_against(tmp_path, served, "apply", "--auto-approve").exit_code == 0

    _say_status(tmp_path, "inactive")
    planned = run_against(tmp_path, served, "plan")
    assert planned.exit_code == 0, planned.output
    assert '  ~ api_key "research-batch" {' in planned.output
    assert 'status = "active" -> "inactive"' in planned.output
    applied = run_against(tmp_path, served, "apply", "--auto-approve")
    assert applied.exit_code == 0, applied.output
    assert "Resources: 0 added, 1 changed, 0 destroyed." in applied.output
    assert _status(served, "research-batch") == "inactive"
    assert NO_API_CHANGES in run_against(tmp_path, served, "plan").output

    _say_status(tmp_path, "active")
    assert run_against(tmp_path, served, "apply", "--auto-approve").exit_code == 0
    assert _status(served, "research-batch") == "active"

    _say_status(tmp_path, "archived")
    planned = run_against(tmp_path, served, "plan")
    assert '  - api_key "research-batch" {' in planned.output
    assert "archiving a key is final" in planned.output
    applied = run_against(tmp_path, served, "apply", "--auto-approve")
    assert "Resources: 0 added, 0 changed, 1 destroyed." in applied.output
    assert _status(served, "research-batch") == "archived"
    again = run_against(tmp_path, served, "plan")
    assert NO_API_CHANGES in again.output and "research-batch" not in again.output

    for path in [*tmp_path.rglob("*")]:
        if path.is_file() and path.name != "a.json":  # the sandbox's own state holds it
            assert DEFAULT_ADMIN_KEY not in path.read_text(errors="replace"), path
