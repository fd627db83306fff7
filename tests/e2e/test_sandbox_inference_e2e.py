"""A key's life on the served sandbox: created, used for inference, audited, deleted.

Over real HTTP on 127.0.0.1, as an application and an administrator meet it: the Admin API
creates a key, chat answers its secret with usage (through plain HTTP and through the
official SDK), the key's ``last_used`` and the workspace's usage move, the deleted key is
refused, and the audit log pages through the create and the delete.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from mistralai.client import Mistral
from mistralai.client.models import UserMessage

from tests.contract.spec import check_error, check_response
from tests.e2e.conftest import SandboxServer

pytestmark = pytest.mark.e2e

MODEL_ID = "mistral-small-2506"  # mistral-small-latest


def dev_input_tokens(sandbox: SandboxServer) -> int:
    usage = sandbox.http.get("/v1/admin/usage").json()["completion"]["models"]
    return sum(e["value"] for e in usage[MODEL_ID]["input"] if e["workspace_name"] == "dev")


def listed(sandbox: SandboxServer, key_id: str) -> dict[str, Any] | None:
    keys = sandbox.http.get("/v1/admin/api-keys", params={"limit": 100}).json()["keys"]
    return next((k for k in keys if k["key_id"] == key_id), None)


def test_a_key_is_used_audited_and_refused_once_deleted(sandbox: SandboxServer) -> None:
    admin = sandbox.http
    workspaces = admin.get("/v1/admin/workspaces").json()["items"]
    dev = next(w["uuid"] for w in workspaces if w["name"] == "dev")
    users = admin.get("/v1/admin/users", params={"page_size": 100}).json()["members"]
    bob = next(u["uuid"] for u in users if u["email"] == "bob.chen@acme.example")
    created = admin.post(
        "/v1/admin/api-keys", json={"workspace_uuid": dev, "user_id": bob, "name": "e2e-app"}
    ).json()
    key_id, secret = created["key_id"], created["key"]
    fresh = listed(sandbox, key_id)
    assert fresh is not None
    assert fresh["last_used"] is None
    tokens_before = dev_input_tokens(sandbox)

    with httpx.Client(base_url=sandbox.url, timeout=30.0) as app:
        chat = {
            "model": "mistral-small-latest",
            "messages": [{"role": "user", "content": "Which workspace am I in?"}],
        }
        answered = app.post("/v1/chat/completions", json=chat, headers={"x-api-key": secret})
        assert answered.status_code == 200, answered.text
        usage = answered.json()["usage"]
        assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"] > 0

        with Mistral(api_key=secret, server_url=sandbox.url) as sdk:
            reply = sdk.chat.complete(
                model="mistral-small-latest", messages=[UserMessage(content="And now?")]
            )
        assert reply.usage.prompt_tokens == 1 + 3 + 3  # And| now|?

        key = listed(sandbox, key_id)
        assert key is not None
        assert key["last_used"] is not None
        assert dev_input_tokens(sandbox) == tokens_before + usage["prompt_tokens"] + 7

        assert admin.delete(f"/v1/admin/api-keys/{key_id}").status_code == 200
        refused = app.post(
            "/v1/chat/completions", json=chat, headers={"Authorization": f"Bearer {secret}"}
        )
        check_error(refused, 401, "authentication_error")

    newest = admin.get("/v1/admin/audit-logs", params={"limit": 1})
    [deleted] = check_response("GET", "/v1/admin/audit-logs", newest)
    params = {"limit": 1, "before": deleted["created_at"]}
    [created_entry] = admin.get("/v1/admin/audit-logs", params=params).json()
    assert [created_entry["event_type"], deleted["event_type"]] == [
        "api_key.create",
        "api_key.delete",
    ]
    assert created_entry["log_id"] < deleted["log_id"]
    assert created_entry["created_at"] < deleted["created_at"]
    for entry in (created_entry, deleted):
        assert entry["target_metadata"]["key_id"] == key_id
        assert entry["actor_type"] == "API_KEY"
        assert entry["workspace_uuid"] == dev
