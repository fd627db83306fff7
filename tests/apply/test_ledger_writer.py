"""The apply's ledger writer: changes from concurrent callers are serialised and batched.

A store that holds its first document write at a gate makes the batching deterministic:
while one write is held, the other callers queue, and they all go out in the next write.
Nothing sleeps.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

from reconciler.apply.ledger import LedgerWriter
from reconciler.errors import SecretStoreError
from reconciler.ownership import Ledger
from reconciler.vault import ledger_store
from reconciler.vault.base import StoredDocument
from reconciler.vault.file import FileVault
from tests.ledgers import ORG, entry, key_id


class Gated:
    """A file vault whose document writes are counted; the writes numbered in ``hold``
    wait at their gate until it is opened (``held[n]`` is set when write ``n`` waits)."""

    def __init__(self, root: Path, *, hold: tuple[int, ...] = (1,), fail: bool = False) -> None:
        self.inner = FileVault(root)
        self.description = self.inner.description
        self.writes = 0
        self.held = {n: asyncio.Event() for n in hold}
        self.gates = {n: asyncio.Event() for n in hold}
        self.fail = fail

    async def read_document(self, name: str) -> StoredDocument | None:
        return await self.inner.read_document(name)

    async def put_document(self, name: str, text: str, *, expect_version: int) -> int:
        self.writes += 1
        number = self.writes
        if number in self.gates:
            self.held[number].set()
            await self.gates[number].wait()
        if self.fail:
            raise SecretStoreError(f"{self.description}: Vault is sealed")
        return await self.inner.put_document(name, text, expect_version=expect_version)


def record(i: int) -> Callable[[Ledger], Ledger]:
    """A change recording key ``i``."""
    return lambda ledger: ledger.resolve_intent(key_id(i), entry(f"key-{i}"))


def test_changes_queued_during_a_write_go_out_together_in_the_next(tmp_path: Path) -> None:
    store = Gated(tmp_path)

    async def go() -> Ledger:
        writer = LedgerWriter(store, ORG, Ledger(organization=ORG))
        first = asyncio.ensure_future(writer.change(record(0)))
        await store.held[1].wait()  # the first write is under way
        rest = [asyncio.ensure_future(writer.change(record(i))) for i in range(1, 6)]
        await asyncio.sleep(0)  # they queue behind it
        store.gates[1].set()
        done = await asyncio.gather(first, *rest)
        assert all(ledger is writer.ledger for ledger in done[1:])
        return writer.ledger

    ledger = asyncio.run(go())
    assert store.writes == 2  # six changes, two writes
    assert set(ledger.keys) == {key_id(i) for i in range(6)}
    stored = asyncio.run(ledger_store.load(FileVault(tmp_path), ORG))
    assert stored.ledger == ledger


def test_every_caller_of_a_failed_write_gets_its_error(tmp_path: Path) -> None:
    store = Gated(tmp_path, fail=True)

    async def go() -> list[BaseException | Ledger]:
        writer = LedgerWriter(store, ORG, Ledger(organization=ORG))
        first = asyncio.ensure_future(writer.change(record(0)))
        await store.held[1].wait()
        rest = [asyncio.ensure_future(writer.change(record(i))) for i in (1, 2)]
        await asyncio.sleep(0)
        store.gates[1].set()
        return await asyncio.gather(first, *rest, return_exceptions=True)

    outcomes = asyncio.run(go())
    assert [type(o) for o in outcomes] == [SecretStoreError] * 3
    assert all("Vault is sealed" in str(o) for o in outcomes)
    assert store.writes == 2  # the first change, then the two queued behind it
    assert asyncio.run(FileVault(tmp_path).read_document(f"ledger/{ORG}")) is None


def test_a_change_that_changes_nothing_writes_nothing(tmp_path: Path) -> None:
    store = Gated(tmp_path, hold=())

    async def go() -> None:
        writer = LedgerWriter(store, ORG, Ledger(organization=ORG))
        await writer.change(lambda ledger: ledger.forget("gone"))

    asyncio.run(go())
    assert store.writes == 0


def test_a_write_whose_caller_is_cancelled_fails_the_changes_it_carried(tmp_path: Path) -> None:
    """The write of a batch is cancelled with its caller; the other changes in that
    batch get an error they can act on (never a hang, never a stray cancellation)."""
    store = Gated(tmp_path, hold=(1, 2))

    async def go() -> list[BaseException | Ledger]:
        writer = LedgerWriter(store, ORG, Ledger(organization=ORG))
        first = asyncio.ensure_future(writer.change(record(0)))
        await store.held[1].wait()
        carrier = asyncio.ensure_future(writer.change(record(1)))
        carried = asyncio.ensure_future(writer.change(record(2)))
        await asyncio.sleep(0)
        store.gates[1].set()
        await store.held[2].wait()  # the carrier writes both queued changes
        carrier.cancel()
        return list(await asyncio.gather(first, carrier, carried, return_exceptions=True))

    first, carrier, carried = asyncio.run(go())
    assert isinstance(first, Ledger) and set(first.keys) == {key_id(0)}
    assert isinstance(carrier, asyncio.CancelledError)
    assert isinstance(carried, SecretStoreError)
    assert "a write of the ownership record was interrupted" in str(carried)
