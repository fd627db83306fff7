"""Imported keys become managed keys whose secret is unknown.

An import declares live keys in the desired state; from then on reconciler manages them
(a managed key removed from the YAML is deleted, rotation puts its secret in the store).
Which keys reconciler manages is recorded in the ownership ledger, kept in the secret
store, so the record outlives any one machine.
"""

from __future__ import annotations

from collections.abc import Sequence

from reconciler.model import ApiKey


def adopt_imported_keys(keys: Sequence[ApiKey]) -> None:
    """Record ``keys`` (live keys, each with its id and the secret path the import gave
    it) as managed, adopted by import, with their secret unknown.

    Adoption is recorded by the ownership ledger, which keeps that record in the
    organisation's secret store; without a ledger there is nothing to record here, and a
    key the desired state declares is matched by name as before.
    """
    del keys
