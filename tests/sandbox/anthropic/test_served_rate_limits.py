"""A workspace's own rate limits end to end against the Anthropic sandbox served on
127.0.0.1: planned field by field, written as the workspace's overrides, re-planned clean,
and exactly the desired ones (a limit no longer named is cleared)."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import pytest
import respx
from pydantic import SecretStr

from reconciler import errors
from reconciler.platform.anthropic import rate_limits
from reconciler.platform.anthropic.client import AnthropicClient
from reconciler.platform.anthropic.sandbox.app import DEFAULT_ADMIN_KEY

from .conftest import run_against

EXAMPLE = Path(__file__).parents[3] / "examples" / "acme-anthropic"
NO_API_CHANGES = "No changes to apply through the Admin API."


def _limit(root: Path, limits: str) -> None:
    research = root / "desired" / "workspaces" / "research.yaml"
    text = research.read_text().split("  rate_limits:")[0]
    research.write_text(text + f"  rate_limits:\n    Claude Sonnet: {limits}\n")


def _overrides(served: str) -> dict[str, dict[str, int]]:
    async def go() -> dict[str, dict[str, int]]:
        client = AnthropicClient(SecretStr(DEFAULT_ADMIN_KEY), base_url=served)
        try:
            return (await rate_limits.read(client, ["wrkspc_01"]))["wrkspc_01"]
        finally:
            await client.aclose()

    return asyncio.run(go())


def test_a_workspace_s_rate_limits_are_its_overrides_exactly(tmp_path: Path, served: str) -> None:
    shutil.copytree(EXAMPLE, tmp_path / "desired")
    _limit(tmp_path, "{requests_per_minute: 100}")

    planned = run_against(tmp_path, served, "plan")
    assert planned.exit_code == 0, planned.output
    assert '  ~ workspace "research" {' in planned.output
    assert "~ rate_limits.Claude Sonnet.requests_per_minute = null -> 100" in planned.output
    assert run_against(tmp_path, served, "apply", "--auto-approve").exit_code == 0
    assert _overrides(served) == {"Claude Sonnet": {"requests_per_minute": 100}}
    assert 'workspace "research"' not in run_against(tmp_path, served, "plan").output

    _limit(tmp_path, "{output_tokens_per_minute: 5000}")
    planned = run_against(tmp_path, served, "plan")
    assert "requests_per_minute      = 100 -> null" in planned.output
    assert "output_tokens_per_minute = null -> 5000" in planned.output
    applied = run_against(tmp_path, served, "apply", "--auto-approve")
    assert applied.exit_code == 0, applied.output
    assert _overrides(served) == {"Claude Sonnet": {"output_tokens_per_minute": 5000}}
    again = run_against(tmp_path, served, "plan")
    assert NO_API_CHANGES in again.output and 'workspace "research"' not in again.output


@respx.mock
def test_a_plan_without_rate_limit_writes_is_a_console_change() -> None:
    base = "https://anthropic.test/v1/organizations"
    respx.get(f"{base}/workspaces/wrkspc_01/rate_limits").respond(
        json={"data": [], "next_page": None}
    )
    refused = {"type": "error", "error": {"type": "permission_error", "message": "no access"}}
    respx.get(f"{base}/rate_limits").respond(403, json=refused)
    client = AnthropicClient(SecretStr("adm-test-key-0000"), base_url="https://anthropic.test")

    with pytest.raises(errors.ConsoleOnly, match="set those of workspace 'research' in the"):
        asyncio.run(
            rate_limits.write(
                client, "wrkspc_01", "research", {"Claude Sonnet": {"tokens_per_day": 9}}
            )
        )
