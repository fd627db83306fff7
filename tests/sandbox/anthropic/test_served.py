"""``reconciler sandbox serve --provider anthropic`` on 127.0.0.1: the official SDK's admin
client and reconciler's own client both talk to it over a real socket."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from anthropic import Anthropic
from pydantic import SecretStr

from reconciler.errors import ConfigError
from reconciler.platform.anthropic.client import AnthropicClient
from reconciler.platform.anthropic.sandbox.app import DEFAULT_ADMIN_KEY
from reconciler.platform.anthropic.sandbox.serve import serve


def test_the_sdk_and_reconciler_list_the_served_organisation(served: str) -> None:
    sdk = Anthropic(api_key=DEFAULT_ADMIN_KEY, base_url=served, max_retries=0)
    workspaces = list(sdk.beta.organization.workspaces.list())
    users = list(sdk.beta.organization.users.list())

    async def ours() -> list[str]:
        client = AnthropicClient(SecretStr(DEFAULT_ADMIN_KEY), base_url=served)
        try:
            return [k.name for k in await client.list_api_keys()]
        finally:
            await client.aclose()

    assert [w.name for w in workspaces] == ["research"]
    assert [u.email for u in users] == ["ada@acme.example", "ben@acme.example", "cy@acme.example"]
    assert asyncio.run(ours()) == ["research-batch"]


def test_a_wrong_admin_key_gets_the_apis_error_body(served: str) -> None:
    import anthropic

    sdk = Anthropic(api_key="sk-ant-admin01-wrong", base_url=served, max_retries=0)
    with pytest.raises(anthropic.AuthenticationError) as caught:
        list(sdk.beta.organization.workspaces.list())
    assert caught.value.status_code == 401
    assert caught.value.body == {
        "type": "error",
        "error": {"type": "authentication_error", "message": "invalid x-api-key"},
        "request_id": caught.value.body["request_id"],
    }


def test_serving_beyond_loopback_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="loopback"):
        serve(state=tmp_path / "a.json", host="0.0.0.0")
