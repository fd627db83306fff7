"""Writing one new key's secret into its store: at most one version, and a clear outcome.

The apply engine hands a new key's secret here straight from the create response. The
version the path is at is read once (or given: the apply read it before its creates) and
announced (so the journal can tell later whether the write landed); every attempt then
writes against that version, so however many times it is retried the write makes at most
one version and never replaces one someone else wrote meanwhile. An attempt whose answer
was lost and whose retry meets its own version is recognised by reading the secret back.
When every attempt failed, a read-back says where things stand (:class:`Outcome`), for
the engine to decide the key's fate. A store says when a failed write leaves the current
version as it was (a plain :class:`~reconciler.errors.SecretStoreError`); only after a
:class:`~reconciler.vault.base.WriteUncertain` is the path read back:

- ``STORED``: the current version is this secret with its metadata after all;
- ``ABSENT``: the current version is not this secret (the path is as it was, or the
  store cannot be read back at all, as GitHub's write-only secrets);
- ``UNKNOWN``: the store cannot be read now, or holds this secret without its metadata.

What is written beside the secret, :func:`secret_metadata` (the key's facts and the
policy it is bound by), is the same for the apply, ``secret put`` and a resumed rotation.
"""

from __future__ import annotations

import datetime as dt
import enum
import hmac
from collections.abc import Awaitable, Callable
from typing import Any

from pydantic import SecretStr

from reconciler.errors import SecretStoreError
from reconciler.model import ApiKey, DesiredState
from reconciler.vault.base import CasMismatch, SecretMetadata, SecretStore, WriteUncertain


class Unread(enum.Enum):
    """The version a path is at has not been read yet."""

    UNREAD = "unread"


UNREAD = Unread.UNREAD


class Outcome(enum.Enum):
    STORED = "stored"
    ABSENT = "absent"
    UNKNOWN = "unknown"


class SecretWriteFailed(SecretStoreError):
    """Every attempt failed; ``outcome`` is what a read-back found, ``last`` the last error."""

    def __init__(self, last: SecretStoreError, outcome: Outcome, attempts: int) -> None:
        self.last = last
        self.outcome = outcome
        self.attempts = attempts
        super().__init__(str(last))


def secret_metadata(desired: DesiredState, key: ApiKey, created: ApiKey) -> SecretMetadata:
    """The non-secret facts stored beside a key's secret, policy included."""
    role = desired.role(key.role) if key.role else None
    workspace = desired.workspace(key.workspace)
    policy = workspace.policy if workspace else None
    role_models = set(role.allowed_models) if role else {"*"}
    ws_models = set(policy.allowed_models) if policy else {"*"}
    if "*" in role_models:
        models = ws_models
    elif "*" in ws_models:
        models = role_models
    else:
        models = role_models & ws_models
    return SecretMetadata(
        key_id=created.id or "",
        key_name=key.name,
        workspace=key.workspace,
        owner=key.owner or "",
        created=created.created_at or dt.datetime.now(dt.UTC),
        expires=created.expires or key.expires,
        role=key.role or "",
        allowed_models=tuple(sorted(models)),
        max_tokens_per_request=role.max_tokens_per_request if role else None,
        daily_token_budget=role.daily_token_budget if role else None,
        rpm=policy.rpm if policy else None,
        monthly_budget_usd=policy.monthly_budget_usd if policy else None,
    )


async def write_secret(
    store: SecretStore,
    path: str,
    secret: SecretStr,
    metadata: SecretMetadata,
    *,
    attempts: int,
    backoff: float,
    sleep: Callable[[float], Awaitable[Any]],
    announce: Callable[[int | None], Awaitable[None]],
    on_retry: Callable[[int, float, SecretStoreError], None],
    version_before: int | Unread | None = UNREAD,
) -> int | None:
    """Write ``secret`` at ``path``; return the version, or raise :class:`SecretWriteFailed`.

    ``announce(version_before)`` is awaited once, before the first write is sent;
    ``on_retry(attempt, delay, error)`` before each wait between attempts.
    ``version_before``: the version the path is at, when the caller read it already (the
    write then never replaces a version written since); else it is read here.
    """
    expect: int | None = None
    announced = uncertain = False
    last = SecretStoreError(f"{store.description}: {path}: no attempt was made")
    for attempt in range(1, attempts + 1):
        try:
            if not announced:
                if version_before is UNREAD:
                    current = await store.read_metadata(path)
                    # a store that keeps no versions (GitHub) is written unconditionally
                    expect = 0 if current is None else current.version
                else:
                    expect = version_before
                await announce(expect)
                announced = True
            return await store.put(path, secret, metadata, expect_version=expect)
        except CasMismatch as exc:
            last = exc
            if attempt > 1 and await read_back(store, path, secret, metadata) is Outcome.STORED:
                return await _current_version(store, path)
            break  # someone else's version: never written over
        except SecretStoreError as exc:
            last = exc
            uncertain = uncertain or isinstance(exc, WriteUncertain)
        if attempt < attempts:
            delay = backoff * 2 ** (attempt - 1)
            on_retry(attempt, delay, last)
            await sleep(delay)
    outcome = await read_back(store, path, secret, metadata) if uncertain else Outcome.ABSENT
    if outcome is Outcome.STORED:
        return await _current_version(store, path)
    raise SecretWriteFailed(last, outcome, attempts)


async def read_back(
    store: SecretStore, path: str, secret: SecretStr, metadata: SecretMetadata
) -> Outcome:
    """Whether ``path``'s current version is ``secret`` with ``metadata``'s key id."""
    try:
        current = await store.read_metadata(path)
        found = await store.read_secret(path)
    except SecretStoreError:
        return Outcome.UNKNOWN
    if found is None or not hmac.compare_digest(
        found.get_secret_value().encode(), secret.get_secret_value().encode()
    ):
        return Outcome.ABSENT
    if current is not None and current.key_id == metadata.key_id:
        return Outcome.STORED
    return Outcome.UNKNOWN


async def _current_version(store: SecretStore, path: str) -> int | None:
    try:
        current = await store.read_metadata(path)
    except SecretStoreError:
        return None
    return current.version if current is not None else None
