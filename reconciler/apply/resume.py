"""A rotation an earlier apply left between storing its new key's secret and recording it:
its new key is verified before the apply goes on.

Part of the apply, run under its lock before the ownership record is brought up to date
(:func:`reconciler.apply.ownership.settle_before_apply`), which would record the new key
and retire the old one. Each key the desired state claims that a rotation's create made
(its intent in the record carries a grace) and whose secret is the store's current version
is checked as step 3 of a rotation is (:class:`~reconciler.apply.rotation.Verifier`):

- accepted: the apply goes on, and the record takes the new key, the old one retiring;
- refused: the store's previous version (:meth:`~reconciler.vault.base.SecretStore.read_previous`,
  the old key's secret) is written back as the current version, with the old key's
  metadata, and the new key is deleted; a path that held nothing before is emptied. The
  apply then stops (:class:`~reconciler.apply.rotation.RotationFailed`) before it changes
  anything else, the old key current and live. A store that keeps no versions (GitHub),
  or an old secret that cannot be written back, keeps the new key and its secret: nothing
  is deleted, and the error says so.
"""

from __future__ import annotations

from collections.abc import Callable

from reconciler.apply.ownership import OwnershipView
from reconciler.apply.rotation import Previous, RotationFailed, Verifier
from reconciler.apply.routing import StoreLocator
from reconciler.apply.secret_write import secret_metadata
from reconciler.logging import register_secret
from reconciler.model import ApiKey, DesiredState, LiveState
from reconciler.ownership import Claimed, Ledger, intent_key
from reconciler.vault.base import SecretStore


async def verify_resumed(
    view: OwnershipView,
    live: LiveState,
    desired: DesiredState,
    *,
    verifier: Verifier,
    stores: StoreLocator,
    report: Callable[[str], None],
) -> None:
    """Verify each resumed rotation's new key (see the module docstring)."""
    ledger = view.facts.ledger
    intents = ledger.intents_by_key()
    for found in view.claimed:
        intent = intents.get(intent_key(found.key.workspace, found.key.name))
        if not found.created or not found.stored or intent is None or intent.grace_hours is None:
            continue
        store = stores(found.location)
        old = _predecessor(ledger, live, found.key, intent.replaces)
        if store is not None:
            await _verify(found, store, old, desired, verifier, report)


async def _verify(
    found: Claimed,
    store: SecretStore,
    old: ApiKey | None,
    desired: DesiredState,
    verifier: Verifier,
    report: Callable[[str], None],
) -> None:
    """Verify the new key ``found`` whose secret is at its location in ``store``, the
    rotation of ``old`` (None: gone from the platform, its secret not worth restoring)."""
    new, path = found.key, found.location.path
    secret = await store.read_secret(path)
    current = await store.read_metadata(path)
    if new.id is None or secret is None or current is None or current.key_id != new.id:
        return  # not the new key's secret (anymore): nothing to verify
    register_secret(secret)
    address = f"api_key.{new.name}"
    report(f"{address}: verifying the new key of a rotation an earlier apply left unverified...")
    before = await store.read_previous(path) if old is not None else None
    if before is not None:
        register_secret(before)
    want = next(
        (k for k in desired.keys if k.name == new.name and k.workspace == new.workspace),
        ApiKey(name=new.name, workspace=new.workspace),
    )
    previous = Previous(
        secret=before,
        metadata=secret_metadata(desired, want, old) if old is not None else None,
        # a versioned store with nothing before the new key's version held nothing
        present=before is not None or not store.keeps_versions or old is None,
    )
    try:
        await verifier.verify(new.id, secret, store, path, previous, current.version)
    except RotationFailed as failed:
        raise RotationFailed(f"{address}: {failed}", kept=failed.kept) from failed
    report(f"{address}: the new key is accepted by the inference API")


def _predecessor(
    ledger: Ledger, live: LiveState, new: ApiKey, replaces: str | None
) -> ApiKey | None:
    """The live managed key the rotation that made ``new`` replaces: the one its intent
    names (a rename's), else the one of its name."""
    if replaces is not None:
        return next((k for k in live.keys if k.id == replaces), None)
    for key in live.keys:
        entry = ledger.entry(key.id or "")
        if (
            key.id != new.id
            and entry is not None
            and entry.retiring is None
            and key.name == new.name
            and key.workspace.lower() == new.workspace.lower()
        ):
            return key
    return None
