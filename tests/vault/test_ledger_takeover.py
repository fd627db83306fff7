"""An organisation takes over the ownership record it kept under an earlier name.

An earlier release named the record after the provider's target alone; now it is named
after the organisation's identity (``<name>@<target>``, or ``<id>@<target>`` once
``organization.id`` is pinned, when the name-based record is taken over first). The file
vault holds them all.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from reconciler.ownership import Ledger, LedgerError, decode, encode, moved_to
from reconciler.vault import ledger_store
from reconciler.vault.base import StoredDocument
from reconciler.vault.file import FileVault
from reconciler.vault.ledger_store import Earlier, document_name
from tests.ledgers import entry

TARGET = "https://api.mistral.ai"
PROD = f"acme-prod@{TARGET}"
STAGING = f"acme-staging@{TARGET}"
PINNED = f"80da8647-d4dd-5809-856f-6847937468bc@{TARGET}"  # acme-prod, its id pinned


def alone() -> bool:
    return False


def together() -> bool:
    return True


def earlier_record(store: FileVault, name: str = TARGET, key: str = "k-1") -> None:
    """A record kept under ``name`` (by default the one an earlier release wrote, named
    after the target): one key."""
    ledger = Ledger(organization=name, keys={key: entry()})
    asyncio.run(store.put_document(document_name(name), encode(ledger), expect_version=0))


def text_of(store: FileVault, name: str) -> str:
    found = asyncio.run(store.read_document(document_name(name)))
    assert found is not None and found.text is not None
    return found.text


def test_the_only_organisation_at_the_target_takes_the_earlier_record_over(
    tmp_path: Path,
) -> None:
    store = FileVault(tmp_path)
    earlier_record(store)

    stored = asyncio.run(ledger_store.load(store, PROD, earlier=(Earlier(TARGET, alone),)))

    assert stored.ledger.organization == PROD and stored.ledger.owns("k-1")
    assert decode(text_of(store, PROD)) == stored.ledger  # copied under its own name
    with pytest.raises(LedgerError, match="was moved to"):  # it points to the new one
        asyncio.run(ledger_store.load(store, TARGET))
    # the old document now points to the new one: another organisation finds nothing to take
    other = asyncio.run(ledger_store.load(store, STAGING, earlier=(Earlier(TARGET, alone),)))
    assert other.version == 0 and not other.ledger.keys


def test_an_organisation_with_a_sibling_at_the_target_refuses_to_guess(tmp_path: Path) -> None:
    store = FileVault(tmp_path)
    earlier_record(store)

    with pytest.raises(LedgerError) as refused:
        asyncio.run(ledger_store.load(store, PROD, earlier=(Earlier(TARGET, together),)))

    message = str(refused.value)
    assert "\n" not in message
    assert f"_reconciler/{document_name(TARGET)} is the ownership record" in message
    assert f"move it to _reconciler/{document_name(PROD)}" in message
    assert asyncio.run(store.read_document(document_name(PROD))) is None  # nothing written
    assert decode(text_of(store, TARGET)).owns("k-1")


def test_a_record_moved_by_hand_is_read_as_the_organisations(tmp_path: Path) -> None:
    store = FileVault(tmp_path)
    earlier_record(store)
    text = text_of(store, TARGET)
    asyncio.run(store.put_document(document_name(PROD), text, expect_version=0))

    stored = asyncio.run(ledger_store.load(store, PROD, earlier=(Earlier(TARGET, together),)))

    assert stored.ledger.organization == PROD and stored.ledger.owns("k-1")
    with pytest.raises(LedgerError, match="belongs to organisation"):  # not without `earlier`
        asyncio.run(ledger_store.load(store, PROD))


def test_an_update_takes_the_record_over_before_changing_it(tmp_path: Path) -> None:
    store = FileVault(tmp_path)
    earlier_record(store)

    def add(ledger: Ledger) -> Ledger:
        return ledger.model_copy(update={"keys": {**ledger.keys, "k-2": entry("dev-ann")}})

    asyncio.run(ledger_store.update(store, PROD, add, earlier=(Earlier(TARGET, alone),)))

    assert set(decode(text_of(store, PROD)).keys) == {"k-1", "k-2"}


def test_pinning_the_id_later_takes_the_name_based_record_over_first(tmp_path: Path) -> None:
    store = FileVault(tmp_path)
    earlier_record(store)  # an earlier release's, not taken over yet
    earlier_record(store, PROD, key="k-2")
    earlier = (Earlier(PROD), Earlier(TARGET, together))

    stored = asyncio.run(ledger_store.load(store, PINNED, earlier=earlier))

    assert stored.ledger.organization == PINNED and set(stored.ledger.keys) == {"k-2"}
    assert decode(text_of(store, PINNED)) == stored.ledger  # copied under its own name
    with pytest.raises(LedgerError, match="was moved to"):  # the old one now points
        asyncio.run(ledger_store.load(store, PROD))
    assert decode(text_of(store, TARGET)).owns("k-1")  # the target's left as it was
    again = asyncio.run(ledger_store.load(store, PINNED, earlier=earlier))
    assert again == stored  # read under its own name from now on


def test_with_no_name_based_record_the_targets_is_taken_over(tmp_path: Path) -> None:
    store = FileVault(tmp_path)
    earlier_record(store)

    earlier = (Earlier(PROD), Earlier(TARGET, alone))
    stored = asyncio.run(ledger_store.load(store, PINNED, earlier=earlier))

    assert stored.ledger.organization == PINNED and stored.ledger.owns("k-1")
    assert asyncio.run(store.read_document(document_name(PROD))) is None


def test_a_read_that_takes_nothing_over_leaves_the_earlier_record_where_it_is(
    tmp_path: Path,
) -> None:
    store = FileVault(tmp_path)
    earlier_record(store, PROD, key="k-2")
    renamed = f"acme-production@{TARGET}"

    read = asyncio.run(ledger_store.load(store, renamed, earlier=(Earlier(PROD),), take_over=False))

    assert read.ledger.organization == renamed and read.ledger.owns("k-2")
    assert read.version == 0 and read.kept_under == PROD
    assert asyncio.run(store.read_document(document_name(renamed))) is None
    assert decode(text_of(store, PROD)).owns("k-2")  # still a record, not a pointer
    taken = asyncio.run(ledger_store.load(store, renamed, earlier=(Earlier(PROD),)))
    assert taken.version > 0 and taken.kept_under is None and taken.ledger == read.ledger


def test_a_rename_undone_takes_the_record_back_from_the_name_it_moved_to(tmp_path: Path) -> None:
    store = FileVault(tmp_path)
    earlier_record(store, PROD, key="k-2")
    renamed = f"acme-production@{TARGET}"
    asyncio.run(ledger_store.load(store, renamed, earlier=(Earlier(PROD),)))  # renamed, applied

    # the rename reverted: acme-prod again, its previous name the one it had meanwhile
    read = asyncio.run(ledger_store.load(store, PROD, earlier=(Earlier(renamed),), take_over=False))
    assert read.ledger.owns("k-2") and read.kept_under == renamed
    taken = asyncio.run(ledger_store.load(store, PROD, earlier=(Earlier(renamed),)))
    assert taken.ledger.organization == PROD and taken.ledger.owns("k-2")
    assert decode(text_of(store, PROD)) == taken.ledger
    again = asyncio.run(ledger_store.load(store, PROD))
    assert again == taken  # read under its own name from now on


def test_a_record_that_moved_to_a_name_not_given_says_where_it_went(tmp_path: Path) -> None:
    store = FileVault(tmp_path)
    earlier_record(store, PROD, key="k-2")
    renamed = f"acme-production@{TARGET}"
    asyncio.run(ledger_store.load(store, renamed, earlier=(Earlier(PROD),)))

    with pytest.raises(LedgerError, match=r"was moved to _reconciler/ledger/acme-production"):
        asyncio.run(ledger_store.load(store, PROD))


def test_a_record_under_an_earlier_name_beside_the_organisations_own_is_merged_into_it(
    tmp_path: Path,
) -> None:
    store = FileVault(tmp_path)
    renamed = f"acme-production@{TARGET}"
    earlier_record(store, PROD, key="k-old")
    own = Ledger(organization=renamed, keys={"k-new": entry("dev-alice")})
    asyncio.run(store.put_document(document_name(renamed), encode(own), expect_version=0))
    earlier = (Earlier(PROD),)

    read = asyncio.run(ledger_store.load(store, renamed, earlier=earlier, take_over=False))
    assert set(read.ledger.keys) == {"k-new", "k-old"} and read.version == 1
    assert [(m.name, m.keys) for m in read.merged] == [(PROD, ("k-old",))]
    assert decode(text_of(store, renamed)) == own  # a read writes nothing
    assert decode(text_of(store, PROD)).owns("k-old")

    merged = asyncio.run(ledger_store.load(store, renamed, earlier=earlier))
    assert merged.ledger == read.ledger and merged.merged == read.merged
    assert decode(text_of(store, renamed)) == read.ledger
    assert moved_to(text_of(store, PROD)) == document_name(renamed)  # a pointer, after
    again = asyncio.run(ledger_store.load(store, renamed, earlier=earlier))
    assert again.merged == () and again.ledger == read.ledger


def test_an_earlier_releases_record_at_a_shared_target_is_not_merged(tmp_path: Path) -> None:
    store = FileVault(tmp_path)
    earlier_record(store)  # the target's, k-1
    own = Ledger(organization=PROD, keys={"k-2": entry()})
    asyncio.run(store.put_document(document_name(PROD), encode(own), expect_version=0))

    stored = asyncio.run(ledger_store.load(store, PROD, earlier=(Earlier(TARGET, together),)))

    assert stored.ledger == own and stored.merged == ()
    assert decode(text_of(store, TARGET)).owns("k-1")  # left where it is


class RivalAfterMerge:
    """A file vault where a rival writes the organisation's record just after a read
    merged an earlier one into it: the update's own write then loses its check-and-set."""

    def __init__(self, inner: FileVault, organization: str) -> None:
        self.inner, self.description = inner, inner.description
        self.name = document_name(organization)
        self.writes = 0

    async def read_document(self, name: str) -> StoredDocument | None:
        return await self.inner.read_document(name)

    async def put_document(self, name: str, text: str, *, expect_version: int) -> int:
        if name == self.name:
            self.writes += 1
            if self.writes == 2:  # the update's first write, after the merge's
                rival = decode(text).model_copy(update={"keys": {}})  # any other write
                await self.inner.put_document(name, encode(rival), expect_version=expect_version)
        return await self.inner.put_document(name, text, expect_version=expect_version)


def test_an_update_that_merged_an_earlier_record_says_so_when_its_write_lost_a_race(
    tmp_path: Path,
) -> None:
    """The read of the update's first attempt merged the earlier record (and left a
    pointer); its write then lost to a rival's, and the next attempt's read finds nothing
    more to merge. What was stored still lists the merge: ``secret put`` says so."""
    store = FileVault(tmp_path)
    renamed = f"acme-production@{TARGET}"
    earlier_record(store, PROD, key="k-old")
    own = Ledger(organization=renamed, keys={"k-new": entry("dev-alice")})
    asyncio.run(store.put_document(document_name(renamed), encode(own), expect_version=0))
    racing = RivalAfterMerge(store, renamed)

    stored = asyncio.run(
        ledger_store.update(
            racing,
            renamed,
            lambda ledger: ledger.model_copy(update={"keys": {**ledger.keys, "k-3": entry()}}),
            earlier=(Earlier(PROD),),
        )
    )

    assert racing.writes == 3  # the merge, the write that lost, the one that landed
    assert [(m.name, m.keys) for m in stored.merged] == [(PROD, ("k-old",))]
    assert moved_to(text_of(store, PROD)) == document_name(renamed)
