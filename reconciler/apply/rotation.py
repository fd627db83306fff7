"""The steps of a key rotation an apply adds to a replacement: remember, verify, roll back.

A rotation (:mod:`reconciler.diff.rotation`) runs as a replacement's create, in this
order, each step journaled before it is taken:

1. create intent (journal and ownership record), then the new key is created;
2. its secret is written to the store as the path's current version; the old key's stays
   as the previous version in stores that keep versions (Vault KV v2, the file vault);
3. the new key is verified: ``GET /v1/models`` on the inference API must accept it
   (``provider.check_key``; ``key-verify-intent``, then ``key-verified``);
4. the ownership record takes the new key, and the old key as retiring with
   ``delete_after = now + grace``; a later apply deletes it once that has passed, or this
   one at once when the grace is 0.

Here: :func:`remember` reads, before the create, what the path holds (the old key's secret
when the store has it), and :class:`Verifier` runs step 3. When the platform refuses the
new key, the store's current version is first made the old secret again (written back as
a new version; a path that held nothing is emptied), then the new key is deleted, so the
current version always holds a live key's secret; the apply then stops with
:class:`RotationFailed`, the old key current. A store that cannot give the old secret back
(GitHub secrets keep no versions: ``keeps_versions``), or whose write back fails, keeps the
new key's secret as its current version: the new key is then kept too (``kept``), the old
key stays live, nothing is deleted, and the error says so.

An apply stopped after step 2 resumes from the ownership record on any machine: the
create intent carries the grace, so the next apply verifies the new key again
(:mod:`reconciler.apply.resume`, with the old secret from the store's previous version),
then records it and the old one retiring from the intent's time
(:func:`reconciler.ownership.settle`); one stopped before has its new key, whose secret
nobody holds, deleted and the rotation planned again.
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import SecretStr

from reconciler.apply.journal import Journal
from reconciler.errors import ReconcilerError, SecretStoreError
from reconciler.logging import register_secret
from reconciler.provider import Provider
from reconciler.vault.base import SecretMetadata, SecretStore


class RotationFailed(ReconcilerError):
    """The new key of a rotation was refused by the platform; the old key stays live.

    ``kept``: the new key could not be deleted safely (its secret is the store's current
    version, the old one could not be put back), so it was kept and nothing deleted."""

    def __init__(self, message: str, *, kept: bool = False) -> None:
        self.kept = kept
        super().__init__(message)


@dataclass(frozen=True, slots=True, repr=False)
class Previous:
    """What a rotation's secret path held before the new key's secret was written."""

    secret: SecretStr | None  # the old secret, when the store can give it back
    metadata: SecretMetadata | None
    present: bool  # anything there at all

    def __repr__(self) -> str:
        return f"Previous(present={self.present}, key_id={self.key_id!r}, secret=**********)"

    @property
    def key_id(self) -> str | None:
        return self.metadata.key_id if self.metadata is not None else None


async def remember(store: SecretStore, path: str) -> Previous:
    """What ``path`` holds now (read before the rotation's create)."""
    current = await store.read_metadata(path)
    if current is None:
        return Previous(secret=None, metadata=None, present=False)
    secret = await store.read_secret(path)
    if secret is not None:
        register_secret(secret)  # never in a log line, as a new key's
    return Previous(secret=secret, metadata=current.metadata, present=True)


@dataclass(frozen=True, slots=True)
class Verifier:
    """Step 3 of one apply's rotations (see the module docstring)."""

    provider: Provider
    journal: Journal
    apply_id: str

    async def verify(
        self,
        key_id: str,
        secret: SecretStr,
        store: SecretStore,
        path: str,
        previous: Previous,
        version: int | None,
    ) -> None:
        """Check the new key ``key_id`` (its ``secret`` the current version at ``path``)
        against the inference API; undo the rotation if refused (:class:`RotationFailed`)."""
        await self.journal.arecord("key-verify-intent", apply_id=self.apply_id, key_id=key_id)
        if await self.provider.check_key(secret):
            await self.journal.arecord("key-verified", apply_id=self.apply_id, key_id=key_id)
            return
        await self.journal.arecord("key-verify-failed", apply_id=self.apply_id, key_id=key_id)
        refused = f"the new key {key_id} was refused by the platform's inference API (GET /models)"
        # the old secret first: the current version never names a deleted key
        restored = await _restore(store, path, previous, version)
        if restored is not None:
            raise RotationFailed(
                f"{refused}; {restored}, so the new key was kept, its secret the current "
                "version there, and the old key stays live: nothing was deleted. Check the new "
                "key, then delete the one you do not want in the console.",
                kept=True,
            )
        await self.journal.arecord("key-delete-intent", apply_id=self.apply_id, key_id=key_id)
        await self.provider.delete_key(key_id)
        await self.journal.arecord("key-deleted", apply_id=self.apply_id, key_id=key_id)
        what = (
            "holds the old key's secret again"
            if previous.secret is not None
            else "no longer holds its secret (it held none before)"
        )
        raise RotationFailed(
            f"{refused}, so it was deleted; {store.description} at {path} {what}. "
            "Nothing else was changed."
        )


async def _restore(
    store: SecretStore, path: str, previous: Previous, version: int | None
) -> str | None:
    """Make the path's current version what it was before the rotation; None once done,
    else why it could not be (the new key's secret is still the current version)."""
    where = f"{store.description} at {path}"
    try:
        if previous.secret is not None and previous.metadata is not None:
            await store.put(path, previous.secret, previous.metadata, expect_version=version)
            return None
        if not previous.present:
            await store.delete(path)
            return None
    except SecretStoreError as exc:
        return f"putting the old secret back in {where} failed ({exc})"
    return f"{where} cannot give the old secret back (it keeps no earlier versions)"
