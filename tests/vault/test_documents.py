"""reconciler's own documents in a secret store: the reserved ``_reconciler/`` folder.

The file vault and Vault KV v2 (through the fake) behave alike: versioned check-and-set
writes, never listed, never reachable as a secret path. GitHub refuses them.
"""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
import respx

from reconciler.errors import SecretStoreError
from reconciler.vault.base import (
    CasMismatch,
    DocumentUnsupported,
    SecretExists,
    SecretStore,
    StoredDocument,
    normalize_path,
)
from reconciler.vault.file import DOCUMENT_VERSIONS, FileVault

from .fake_vault import CAS_MISMATCH, FakeVault, now_text
from .helpers import SECRET, VAULT_ADDR, make_metadata, run, vault_store
from .test_github import store as github_store

LEDGER = "ledger/org-3f9c2a"
DATA = f"{VAULT_ADDR}/v1/secret/data/mistral/acme/_reconciler/{LEDGER}"


def test_a_document_is_written_and_read_back_with_versions(store: SecretStore) -> None:
    async def scenario() -> None:
        assert await store.read_document(LEDGER) is None
        assert await store.put_document(LEDGER, '{"v": 1}', expect_version=0) == 1
        assert await store.put_document(LEDGER, '{"v": 2}', expect_version=1) == 2
        assert await store.read_document(LEDGER) == StoredDocument(LEDGER, '{"v": 2}', 2)

    run(scenario())


@pytest.mark.parametrize(
    ("expect", "error"), [(0, SecretExists), (1, CasMismatch), (5, CasMismatch)]
)
def test_a_document_write_is_always_check_and_set(
    store: SecretStore, expect: int, error: type[Exception]
) -> None:
    async def scenario() -> None:
        await store.put_document(LEDGER, "first", expect_version=0)
        await store.put_document(LEDGER, "second", expect_version=1)
        with pytest.raises(error) as caught:
            await store.put_document(LEDGER, "third", expect_version=expect)
        if expect == 0:
            assert f"a document already exists at _reconciler/{LEDGER}" in str(caught.value)
        found = await store.read_document(LEDGER)
        assert found is not None
        assert found.text == "second"

    run(scenario())


def test_a_large_document_fits(store: SecretStore) -> None:
    text = json.dumps({"keys": {f"k{i}": "x" * 200 for i in range(10_000)}})

    async def scenario() -> None:
        await store.put_document(LEDGER, text, expect_version=0)
        found = await store.read_document(LEDGER)
        assert found is not None
        assert found.text == text

    run(scenario())


def test_documents_are_never_listed_beside_secrets(store: SecretStore) -> None:
    async def scenario() -> None:
        await store.put("dev/dev-alice", SECRET, make_metadata())
        await store.put_document(LEDGER, "{}", expect_version=0)
        assert await store.list() == ["dev/dev-alice"]

    run(scenario())


@pytest.mark.parametrize(
    "path",
    [
        "_reconciler/ledger/org-3f9c2a",
        "_RECONCILER/ledger/x",
        "_Reconciler",
        "_locks/apply",
        "_LOCKS/x",
    ],
)
def test_the_reserved_folders_are_never_a_secret_path(store: SecretStore, path: str) -> None:
    with pytest.raises(SecretStoreError, match=r"/ is reserved"):
        normalize_path(path, store="test")

    async def scenario() -> None:
        await store.put_document(LEDGER, "{}", expect_version=0)
        with pytest.raises(SecretStoreError, match="is reserved"):
            await store.put(path, SECRET, make_metadata(), expect_version=None)
        with pytest.raises(SecretStoreError, match="is reserved"):
            await store.read_secret(path)
        with pytest.raises(SecretStoreError, match="is reserved"):
            await store.delete(path)
        found = await store.read_document(LEDGER)
        assert found is not None
        assert found.text == "{}"

    run(scenario())


def test_folders_that_only_start_like_a_reserved_one_are_fine() -> None:
    assert normalize_path("_reconciler-notes/x", store="test") == "_reconciler-notes/x"
    assert normalize_path("team/_reconciler/x", store="test") == "team/_reconciler/x"


@pytest.mark.parametrize("name", ["", "/ledger", "ledger/", "../secrets", "a/./b", "a b"])
def test_invalid_document_names_are_refused(store: SecretStore, name: str) -> None:
    with pytest.raises(SecretStoreError, match="invalid document name"):
        run(store.put_document(name, "{}", expect_version=0))
    with pytest.raises(SecretStoreError, match="invalid document name"):
        run(store.read_document(name))


def test_the_file_vault_keeps_a_documents_last_versions_only(tmp_path: Path) -> None:
    vault = FileVault(tmp_path)

    async def scenario() -> None:
        for version in range(DOCUMENT_VERSIONS + 3):
            await vault.put_document(LEDGER, f"text {version}", expect_version=version)

    run(scenario())
    stored = json.loads((tmp_path / "_reconciler" / f"{LEDGER}.json").read_text())
    assert stored["current_version"] == DOCUMENT_VERSIONS + 3
    assert [v["data"]["document"] for v in stored["versions"]] == [
        f"text {v}" for v in range(3, DOCUMENT_VERSIONS + 3)
    ]
    assert all("custom_metadata" not in v for v in stored["versions"])
    assert (tmp_path / "_reconciler" / f"{LEDGER}.json").stat().st_mode & 0o777 == 0o600


def test_vault_writes_a_document_in_one_request_without_metadata(fake_vault: FakeVault) -> None:
    run(vault_store().put_document(LEDGER, "{}", expect_version=0))
    writes = [r for r in fake_vault.requests if r.method == "POST"]
    assert [r.url.path for r in writes] == [f"/v1/secret/data/mistral/acme/_reconciler/{LEDGER}"]
    assert json.loads(writes[0].content) == {"data": {"document": "{}"}, "options": {"cas": 0}}


def test_a_document_whose_current_version_vault_deleted_reads_as_text_none(
    fake_vault: FakeVault,
) -> None:
    """``vault kv delete`` soft-deletes the current version: a write must still expect it."""
    store = vault_store()
    run(store.put_document(LEDGER, "{}", expect_version=0))
    entry = fake_vault.entries[f"mistral/acme/_reconciler/{LEDGER}"]
    entry.versions[1]["deletion_time"] = now_text()
    assert run(store.read_document(LEDGER)) == StoredDocument(LEDGER, None, 1)
    assert run(store.put_document(LEDGER, "{}", expect_version=1)) == 2


def written(version: int, text: str) -> httpx.Response:
    meta = {"created_time": now_text(), "deletion_time": "", "destroyed": False}
    return httpx.Response(
        200,
        json={"data": {"data": {"document": text}, "metadata": {**meta, "version": version}}},
    )


@pytest.mark.parametrize(("stored", "ours"), [("mine", True), ("theirs", False)])
def test_a_resent_document_write_is_ours_only_if_it_holds_our_text(stored: str, ours: bool) -> None:
    """The first attempt's answer was lost; the resend fails its check-and-set."""
    with respx.mock:
        write = respx.post(DATA)
        write.side_effect = [
            httpx.ReadTimeout("timed out"),
            httpx.Response(400, json={"errors": [CAS_MISMATCH]}),
        ]
        respx.get(DATA).mock(return_value=written(4, stored))
        if ours:
            assert run(vault_store().put_document(LEDGER, "mine", expect_version=3)) == 4
        else:
            with pytest.raises(CasMismatch, match="no longer at version 3"):
                run(vault_store().put_document(LEDGER, "mine", expect_version=3))
    assert write.call_count == 2


def test_github_cannot_hold_documents() -> None:
    store = github_store()
    for attempt in (
        store.read_document(LEDGER),
        store.put_document(LEDGER, "{}", expect_version=0),
    ):
        with pytest.raises(DocumentUnsupported) as caught:
            run(attempt)
        assert "cannot hold the ownership record" in str(caught.value)
        assert "default store (Vault or a file vault)" in str(caught.value)
