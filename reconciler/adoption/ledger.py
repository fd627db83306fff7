"""Imported keys become managed keys whose secret is unknown, in the ownership record.

An import declares live keys in the desired state; from then on reconciler manages them
(a managed key removed from the YAML is deleted; a rotation puts its secret in the store).
The record of which keys reconciler manages is the organisation's
:class:`~reconciler.ownership.Ledger`, kept in its default secret store
(:mod:`reconciler.vault.ledger_store`), so it outlives any one machine. A key the ledger
holds already (created by reconciler, or adopted before) keeps its entry: adopting it
again would forget where its secret is.
"""

from __future__ import annotations

from collections.abc import Sequence

from reconciler.model import ApiKey
from reconciler.ownership import Ledger, SecretLocation
from reconciler.vault import ledger_store
from reconciler.vault.ledger_store import DocumentStore

Adopted = tuple[ApiKey, SecretLocation]  # a live key, and where its secret would be


def adopted(ledger: Ledger, keys: Sequence[Adopted]) -> Ledger:
    """``ledger`` with each key it does not hold yet recorded as adopted, secret unknown."""
    for key, where in keys:
        if key.id is not None and not ledger.owns(key.id):
            ledger = ledger.adopt(key, where)
    return ledger


async def adopt_imported_keys(
    store: DocumentStore,
    organization: str,
    keys: Sequence[Adopted],
    *,
    earlier: Sequence[ledger_store.Earlier] = (),
) -> int:
    """Record ``keys`` as managed in ``organization``'s ledger in ``store``; how many were
    not recorded before. Each write is a check-and-set, re-applied on a fresh read when
    another writer got there first (:func:`reconciler.vault.ledger_store.update`);
    ``earlier``: see :func:`reconciler.vault.ledger_store.load`."""
    before: list[int] = []

    def change(ledger: Ledger) -> Ledger:
        before[:] = [len(ledger.keys)]
        return adopted(ledger, keys)

    stored = await ledger_store.update(store, organization, change, earlier=earlier)
    return len(stored.ledger.keys) - before[0]
