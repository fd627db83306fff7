"""A rotation's new key refused by the platform, where the store cannot give the old secret
back: a GitHub Actions secret keeps no earlier versions, so its current version is the new
key's secret. Deleting the new key would leave a dead key's secret there; it is kept, the
old key stays live, nothing is deleted, and the error says so."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import respx

from reconciler.apply.journal import Journal
from reconciler.apply.rotation import RotationFailed, Verifier, remember
from reconciler.model import ApiKey
from tests.apply.fakes import FakeProvider, live_org
from tests.vault.test_github import ENV_SECRETS, store

NEW = ApiKey(name="dev-bob", workspace="dev", owner="bob@acme.example")


def test_a_store_without_versions_keeps_the_refused_key_and_deletes_nothing(
    tmp_path: Path,
) -> None:
    github = store()
    assert not github.keeps_versions
    provider = FakeProvider(live_org())
    journal = Journal(tmp_path / "journal.jsonl")

    async def scenario() -> RotationFailed:
        created = await provider.create_key(NEW, "ws-dev")
        provider.secrets.clear()  # the platform refuses it: GET /models answers 401
        previous = await remember(github, "dev/dev-bob")  # the old key's, written before
        assert previous.present and previous.secret is None
        verifier = Verifier(provider, journal, "apply-1")
        with pytest.raises(RotationFailed) as failed:
            await verifier.verify(
                created.key.id or "", created.secret, github, "dev/dev-bob", previous, None
            )
        return failed.value

    with respx.mock:
        respx.get(f"{ENV_SECRETS}/DEV_DEV_BOB").respond(
            200, json={"name": "DEV_DEV_BOB", "updated_at": "2026-12-01T10:00:00Z"}
        )
        deleted = respx.delete(f"{ENV_SECRETS}/DEV_DEV_BOB").respond(204)
        failed = asyncio.run(scenario())
    assert failed.kept
    message = str(failed)
    assert "was refused by the platform's inference API (GET /models)" in message
    assert "cannot give the old secret back (it keeps no earlier versions)" in message
    assert "the new key was kept, its secret the current version there" in message
    assert "the old key stays live: nothing was deleted" in message
    assert not deleted.called  # the store still holds the (new) secret
    assert [c for c in provider.calls if c[0] == "delete_key"] == []  # both keys live
    assert "dev-bob" in {k.name for k in provider.keys.values()}
    assert '"key-deleted"' not in journal.path.read_text()
