"""The ownership record in a store: load, save, and updates that all land under contention.

Run against the file vault and Vault KV v2 (through the fake) alike. Contention is made
deterministic by a store that lets a rival write between our read and our write, or
holds readers at a barrier; nothing sleeps.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
import respx

from reconciler.ownership import Ledger, LedgerError, UnsupportedFormat, encode
from reconciler.vault import ledger_store
from reconciler.vault.base import (
    CasMismatch,
    DocumentUnsupported,
    SecretStore,
    StoredDocument,
    document_path,
)
from reconciler.vault.file import FileVault
from reconciler.vault.ledger_store import LedgerConflict, StoredLedger, document_name
from tests.ledgers import ORG, entry, intent, many

from .fake_vault import FakeVault
from .helpers import TOKEN_TEXT, VAULT_ADDR, run, vault_store
from .test_github import store as github_store

NAME = f"ledger/{ORG}"


class Counted:
    """A pure change that counts how often it ran."""

    def __init__(self, change: Callable[[Ledger], Ledger]) -> None:
        self.change = change
        self.calls = 0

    def __call__(self, ledger: Ledger) -> Ledger:
        self.calls += 1
        return self.change(ledger)


class Interleaved:
    """A store whose next ``read_document`` runs ``meanwhile`` after reading, before
    answering: a rival writes between our read and our write."""

    def __init__(self, inner: SecretStore, meanwhile: Callable[[], Awaitable[object]]) -> None:
        self.inner = inner
        self.description = inner.description
        self.meanwhile: Callable[[], Awaitable[object]] | None = meanwhile
        self.writes = 0

    async def read_document(self, name: str) -> StoredDocument | None:
        found = await self.inner.read_document(name)
        if self.meanwhile is not None:
            rival, self.meanwhile = self.meanwhile, None
            await rival()
        return found

    async def put_document(self, name: str, text: str, *, expect_version: int) -> int:
        self.writes += 1
        return await self.inner.put_document(name, text, expect_version=expect_version)


def test_no_ledger_yet_is_an_empty_one_at_version_0(store: SecretStore) -> None:
    assert run(ledger_store.load(store, ORG)) == StoredLedger(Ledger(organization=ORG), 0)


def test_an_update_is_stored_and_read_back(store: SecretStore) -> None:
    async def scenario() -> None:
        first = await ledger_store.update(
            store, ORG, lambda ledger: ledger.with_intent(intent("dev-bob"))
        )
        assert first.version == 1
        second = await ledger_store.update(
            store, ORG, lambda ledger: ledger.resolve_intent("k-bob", entry("dev-bob"))
        )
        assert second.version == 2
        loaded = await ledger_store.load(store, ORG)
        assert loaded == second
        assert loaded.ledger.owns("k-bob")
        assert loaded.ledger.intents == ()

    run(scenario())


def test_an_update_that_changes_nothing_writes_nothing(store: SecretStore) -> None:
    async def scenario() -> None:
        await ledger_store.update(store, ORG, lambda ledger: ledger.with_intent(intent()))
        same = await ledger_store.update(
            store, ORG, lambda ledger: ledger.drop_intent("dev", "nobody")
        )
        assert same.version == 1
        assert (await ledger_store.update(store, "org-new", lambda ledger: ledger)).version == 0
        assert await store.read_document(document_name("org-new")) is None

    run(scenario())


def test_a_change_is_reapplied_to_what_a_rival_wrote_meanwhile(store: SecretStore) -> None:
    async def rival() -> None:
        await ledger_store.update(
            store, ORG, lambda ledger: ledger.resolve_intent("k-rival", entry("r"))
        )

    racing = Interleaved(store, rival)
    ours = Counted(lambda ledger: ledger.resolve_intent("k-ours", entry("o")))
    result = run(ledger_store.update(racing, ORG, ours))
    assert ours.calls == 2
    assert racing.writes == 2  # the first lost its check-and-set, the second landed
    assert result.version == 2
    assert set(run(ledger_store.load(store, ORG)).ledger.keys) == {"k-rival", "k-ours"}


def test_a_writer_that_knows_the_stored_ledger_writes_without_reading(
    store: SecretStore,
) -> None:
    """Over what it stored last, a writer writes at once; when a rival wrote since, its
    check-and-set fails and the change is re-applied to a fresh read."""
    ours = run(ledger_store.update(store, ORG, lambda ledger: ledger.with_intent(intent("a"))))
    unread = Interleaved(store, meanwhile=lambda: asyncio.sleep(0))
    again = run(
        ledger_store.update(unread, ORG, lambda ledger: ledger.with_intent(intent("b")), known=ours)
    )
    assert unread.meanwhile is not None  # never read
    assert (again.version, [i.name for i in again.ledger.intents]) == (2, ["a", "b"])
    run(ledger_store.update(store, ORG, lambda ledger: ledger.with_intent(intent("rival"))))
    stale = Counted(lambda ledger: ledger.with_intent(intent("c")))
    last = run(ledger_store.update(store, ORG, stale, known=again))
    assert stale.calls == 2  # over the stale version, then over what the rival wrote
    assert [i.name for i in last.ledger.intents] == ["a", "b", "rival", "c"]
    assert run(ledger_store.load(store, ORG)) == last


def test_two_concurrent_updaters_both_land(store: SecretStore) -> None:
    """Both read version 0 before either writes; the loser re-reads and re-applies."""
    barrier = asyncio.Barrier(2)

    class BothReadFirst:
        def __init__(self) -> None:
            self.description = store.description
            self.reads = 0

        async def read_document(self, name: str) -> StoredDocument | None:
            found = await store.read_document(name)
            self.reads += 1
            if self.reads <= 2:
                await barrier.wait()
            return found

        async def put_document(self, name: str, text: str, *, expect_version: int) -> int:
            return await store.put_document(name, text, expect_version=expect_version)

    shared = BothReadFirst()
    alice = Counted(lambda ledger: ledger.resolve_intent("k-alice", entry("dev-alice")))
    bob = Counted(lambda ledger: ledger.resolve_intent("k-bob", entry("dev-bob")))

    async def scenario() -> None:
        await asyncio.gather(
            ledger_store.update(shared, ORG, alice),
            ledger_store.update(shared, ORG, bob),
        )

    run(scenario())
    final = run(ledger_store.load(store, ORG))
    assert set(final.ledger.keys) == {"k-alice", "k-bob"}
    assert final.version == 2
    assert sorted((alice.calls, bob.calls)) == [1, 2]


def test_an_update_that_loses_every_time_gives_up_clearly(store: SecretStore) -> None:
    class AlwaysBeaten:
        description = store.description

        async def read_document(self, name: str) -> StoredDocument | None:
            return await store.read_document(name)

        async def put_document(self, name: str, text: str, *, expect_version: int) -> int:
            raise CasMismatch("changed", store="s", path=name, expected=expect_version, current=9)

    change = Counted(lambda ledger: ledger.with_intent(intent()))
    with pytest.raises(LedgerConflict) as caught:
        run(ledger_store.update(AlwaysBeaten(), ORG, change, attempts=3))
    assert change.calls == 3
    message = str(caught.value)
    assert f"could not update the ownership record _reconciler/ledger/{ORG}" in message
    assert "it changed under each of 3 attempts" in message
    assert message.startswith(store.description)


def test_a_change_that_fails_writes_nothing(store: SecretStore) -> None:
    with pytest.raises(LedgerError, match="not in the ownership record"):
        run(ledger_store.update(store, ORG, lambda ledger: ledger.mark_stored("k-gone")))
    assert run(store.read_document(NAME)) is None


@pytest.mark.parametrize(
    ("text", "error", "expected"),
    [
        ("{not json", LedgerError, "not a ledger: invalid JSON"),
        ('{"format": 1, "keys": []}', LedgerError, "organization: Field required"),
        ('{"format": 2, "organization": "x"}', UnsupportedFormat, "the ledger is format 2"),
    ],
)
def test_a_corrupted_or_newer_ledger_is_a_clear_error_and_never_overwritten(
    store: SecretStore, text: str, error: type[Exception], expected: str
) -> None:
    run(store.put_document(NAME, text, expect_version=0))
    with pytest.raises(error) as caught:
        run(ledger_store.load(store, ORG))
    message = str(caught.value)
    assert message.startswith(f"{store.description}: _reconciler/{NAME}: ")
    assert expected in message
    with pytest.raises(error):
        run(ledger_store.update(store, ORG, lambda ledger: ledger.with_intent(intent())))
    assert run(store.read_document(NAME)) == StoredDocument(NAME, text, 1)


def test_another_organisations_ledger_is_refused(store: SecretStore) -> None:
    run(store.put_document(NAME, encode(Ledger(organization="org-other")), expect_version=0))
    with pytest.raises(LedgerError, match="belongs to organisation 'org-other', not 'org-3f9c2a'"):
        run(ledger_store.load(store, ORG))


def test_save_refuses_to_put_one_organisations_ledger_over_anothers(store: SecretStore) -> None:
    empty = run(ledger_store.load(store, ORG))
    with pytest.raises(LedgerError, match="cannot save the ledger of organisation 'org-other'"):
        run(ledger_store.save(store, empty, Ledger(organization="org-other")))


def test_a_ledger_of_thousands_of_keys_goes_through_the_store_compressed(tmp_path: Path) -> None:
    big = many(3_000)  # scripts/bench_ledger.py measures 20,000
    vault = FileVault(tmp_path)
    stored = run(ledger_store.update(vault, ORG, lambda _: Ledger(organization=ORG, keys=big.keys)))
    assert stored.version == 1
    text = run(vault.read_document(NAME))
    assert text is not None and text.text is not None
    assert json.loads(text.text)["encoding"] == "zlib+b64"
    assert len(text.text) * 4 < len(json.dumps(big.model_dump(mode="json")))
    assert run(ledger_store.load(vault, ORG)).ledger == big


def test_vault_soft_deleted_ledger_starts_empty_and_writes_over_its_version() -> None:
    fake = FakeVault(VAULT_ADDR, token=TOKEN_TEXT)
    with respx.mock(assert_all_called=False) as router:
        fake.install(router)
        store = vault_store()
        run(ledger_store.update(store, ORG, lambda ledger: ledger.with_intent(intent())))
        fake.entries[f"mistral/acme/_reconciler/{NAME}"].versions[1]["deletion_time"] = "now"
        assert run(ledger_store.load(store, ORG)) == StoredLedger(Ledger(organization=ORG), 1)
        after = run(ledger_store.update(store, ORG, lambda ledger: ledger.with_intent(intent("x"))))
    assert after.version == 2


def test_github_cannot_hold_the_ledger() -> None:
    with pytest.raises(DocumentUnsupported, match="cannot hold the ownership record"):
        run(ledger_store.load(github_store(), ORG))


@pytest.mark.parametrize(
    ("organization", "name"),
    [
        ("org-3f9c2a", "ledger/org-3f9c2a"),
        ("5c8e1f5e-6a3b-4b5e-9d3a-2f1c0e9b8a7d", "ledger/5c8e1f5e-6a3b-4b5e-9d3a-2f1c0e9b8a7d"),
        ("sandbox (.sandbox/state.json)", "ledger/sandbox-.sandbox-state.json-"),
        ("../../etc", "ledger/etc-"),
        ("///", "ledger/"),
    ],
)
def test_the_document_name_is_a_safe_path_for_any_organisation(
    organization: str, name: str
) -> None:
    found = document_name(organization)
    assert found.startswith(name)
    assert found == document_name(organization)
    assert document_path(found, store="test") == f"_reconciler/{found}"


def test_organisations_that_sanitise_alike_get_different_documents() -> None:
    names = {document_name(o) for o in ("a b", "a/b", "a\\b", "a:b", "a" * 81, "a" * 82)}
    assert len(names) == 6
