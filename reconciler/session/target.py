"""Where a run goes: the target's options, its provider and default secret store.

:class:`TargetOptions` say where to plan and apply (the sandbox or the platform) and where
secrets go; :func:`open_provider` opens the live provider they name and
:func:`open_default_store` the organisation's default secret store (where the apply lock
lives). :func:`force_unlock` opens only that store, never the platform.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from reconciler.apply.lock import Confirm, unlock_by_id
from reconciler.desired.load import (
    load_organization,
    provider_name,
)
from reconciler.env import RECONCILER_ALLOW_FILE_VAULT, RECONCILER_VAULT
from reconciler.identity import (
    organization_identity,
)
from reconciler.model import (
    VaultSettings,
)
from reconciler.provider import Provider
from reconciler.providers import Target, get_provider
from reconciler.vault.base import LockHolder, SecretStore
from reconciler.vault.factory import open_store

DEFAULT_SANDBOX_STATE = Path(".sandbox/state.json")
DEFAULT_SANDBOX_VAULT = Path(".sandbox/vault")
DEFAULT_STATE_DIR = Path(".reconciler")
DEFAULT_ATTRIBUTION_DAYS = 30  # how far back the audit log is read for attributions


@dataclass(frozen=True)
class TargetOptions:
    """Where to plan and apply, and where secrets go."""

    sandbox: bool = False
    sandbox_state: Path = DEFAULT_SANDBOX_STATE
    vault: str | None = None  # "file:PATH" etc.; RECONCILER_VAULT is the env equivalent
    state_dir: Path = DEFAULT_STATE_DIR
    concurrency: int = 8
    env: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    provider: str | None = None  # a registered provider's name; None: the default one
    allow_file_vault: bool = False  # RECONCILER_ALLOW_FILE_VAULT=1 is the env equivalent

    def file_vault_allowed(self) -> bool:
        """A file vault may hold a live organisation's secrets (a rehearsal), if asked."""
        flag = self.env.get(RECONCILER_ALLOW_FILE_VAULT, "").strip().lower()
        return self.sandbox or self.allow_file_vault or flag in ("1", "true", "yes")

    def vault_override(self) -> str | None:
        override = self.vault or self.env.get(RECONCILER_VAULT) or None
        if override is None and self.sandbox:
            # Rehearsals against the sandbox never touch real secret stores.
            override = f"file:{self.sandbox_state.parent / DEFAULT_SANDBOX_VAULT.name}"
        return override


def open_provider(options: TargetOptions) -> Provider:
    """``options.provider``'s live provider: on its sandbox, or on the platform itself."""
    target = Target(
        env=options.env, concurrency=options.concurrency, sandbox_state=options.sandbox_state
    )
    return get_provider(options.provider).open_target(target, sandbox=options.sandbox)


def open_default_store(settings: VaultSettings, options: TargetOptions) -> SecretStore:
    """The organisation's default secret store (where the apply lock lives): the one
    ``settings`` describe, or the override (``--vault``, ``RECONCILER_VAULT``, the
    sandbox's)."""
    return open_store(settings, override=options.vault_override(), env=options.env)


async def force_unlock(
    desired_dir: Path, options: TargetOptions, lock_id: str, *, confirm: Confirm | None = None
) -> LockHolder | None:
    """``reconciler force-unlock``: release the apply lock held under ``lock_id`` in the
    default store (see :func:`reconciler.apply.lock.unlock_by_id`). The platform is never
    contacted (the apply that held the lock is gone, not the platform): the provider
    names the target whose lock this is from the same settings, without credentials."""
    # organization.yaml alone: a lock is removed whatever the rest of the state says
    name = options.provider or provider_name(desired_dir)
    target = get_provider(name).name_target(
        Target(env=options.env, sandbox_state=options.sandbox_state), sandbox=options.sandbox
    )
    organization = load_organization(desired_dir)
    identity = organization_identity(target, organization)
    store = open_default_store(organization.vault, options)
    try:
        return await unlock_by_id(store, target, identity, lock_id, confirm=confirm)
    finally:
        await store.aclose()
