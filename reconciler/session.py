"""Wiring for one run against one target: provider, secret stores, journal, plan.

A :class:`Session` opens the desired state's provider (looked up by the name
``organization.yaml`` gives it, in :mod:`reconciler.providers`) for the chosen target (its
sandbox, or the platform through the environment's settings), the secret stores the
desired state names
(or the ``--vault`` override), and the journal of that target. It produces plans from the
desired state and the live state, consulting the journal so a plan after an interrupted
apply says plainly what that apply left behind. The CLI is a thin layer over this.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import TracebackType

from reconciler.apply.journal import Journal, journal_path
from reconciler.desired import load_desired_state
from reconciler.desired.load import provider_name
from reconciler.env import RECONCILER_VAULT
from reconciler.errors import ConfigError, SecretStoreError
from reconciler.model import ApiKey, DesiredState, LiveState, SecretBackend, SecretTarget
from reconciler.plan import Plan, make_plan
from reconciler.provider import ProgressCallback, Provider
from reconciler.providers import Target, get_provider
from reconciler.vault.base import SecretStore
from reconciler.vault.factory import open_store, store_for_target

DEFAULT_SANDBOX_STATE = Path(".sandbox/state.json")
DEFAULT_SANDBOX_VAULT = Path(".sandbox/vault")
DEFAULT_STATE_DIR = Path(".reconciler")


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


@dataclass(frozen=True)
class PlanContext:
    """A plan with the two states it was made from."""

    desired: DesiredState
    live: LiveState
    plan: Plan


class Session:
    """One run against one target. Use as ``async with Session(...) as session``."""

    def __init__(self, desired_dir: Path, options: TargetOptions) -> None:
        self.desired_dir = desired_dir
        self.options = options
        self._provider: Provider | None = None
        self._stores: dict[str, SecretStore] = {}
        self._default_store: SecretStore | None = None

    async def __aenter__(self) -> Session:
        options = self.options
        if options.provider is None:  # the platform the desired state names
            options = replace(options, provider=provider_name(self.desired_dir))
        self._provider = open_provider(options)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._provider is not None:
            await self._provider.aclose()
        for store in {id(s): s for s in self._stores.values()}.values():
            close = getattr(store, "aclose", None)
            if close is not None:
                await close()

    @property
    def provider(self) -> Provider:
        if self._provider is None:
            raise ConfigError("session is not open")
        return self._provider

    def load_desired(self) -> DesiredState:
        return load_desired_state(self.desired_dir)

    def journal(self) -> Journal:
        return Journal(journal_path(self.options.state_dir, self.provider.target))

    # --- secret stores -----------------------------------------------------------------

    def default_store(self, desired: DesiredState) -> SecretStore:
        if self._default_store is None:
            self._default_store = open_store(
                desired.organization.vault,
                override=self.options.vault_override(),
                env=self.options.env,
            )
            self._stores["default"] = self._default_store
        return self._default_store

    def router(self, desired: DesiredState) -> SecretRouterImpl:
        return SecretRouterImpl(self, desired)

    # --- planning --------------------------------------------------------------------

    async def plan(
        self, desired: DesiredState | None = None, progress: ProgressCallback | None = None
    ) -> PlanContext:
        desired = desired or self.load_desired()
        if (desired.provider or self.provider.name) != self.provider.name:
            raise ConfigError(
                f"the desired state is for provider {desired.provider}, but this session "
                f"talks to {self.provider.name}"
            )
        live = await self.provider.fetch(progress)
        journal = self.journal()
        confirmed: set[str] = set()
        live_ids = {k.id for k in live.keys}
        router = self.router(desired)
        for pending in journal.pending_secrets():
            if pending.key_id not in live_ids:
                continue
            key = next((k for k in desired.keys if k.name == pending.name), None)
            try:
                store, path = router(key) if key else (self.default_store(desired), pending.path)
                found = await store.read_metadata(pending.path or path)
            except SecretStoreError:
                continue
            if found is not None and found.key_id == pending.key_id:
                confirmed.add(pending.key_id)
        abandoned = journal.abandoned_keys(live, confirmed_stored=frozenset(confirmed))
        warnings = []
        if abandoned:
            warnings.append(
                f"An earlier apply was interrupted: {len(abandoned)} key(s) it left behind "
                "will be deleted, and what the desired state needs re-created."
            )
        plan = make_plan(
            desired,
            live,
            provider=self.provider.name,
            desired_path=str(self.desired_dir),
            abandoned_keys=abandoned,
            warnings=warnings,
        )
        return PlanContext(desired=desired, live=live, plan=plan)


class SecretRouterImpl:
    """Maps a desired key to its secret store and its path in that store."""

    def __init__(self, session: Session, desired: DesiredState) -> None:
        self.session = session
        self.desired = desired

    def __call__(self, key: ApiKey) -> tuple[SecretStore, str]:
        target = key.secret or SecretTarget(path=f"{key.workspace}/{key.name}")
        default = self.session.default_store(self.desired)
        cache_key = f"{target.backend}:{target.repository}:{target.environment}"
        store = self.session._stores.get(cache_key)
        if store is None:
            store = store_for_target(
                target,
                default,
                settings=self.desired.organization.vault,
                override=self.session.options.vault_override(),
                env=self.session.options.env,
            )
            self.session._stores[cache_key] = store
        if target.backend is SecretBackend.GITHUB and store.backend is not SecretBackend.GITHUB:
            # Sent elsewhere (an override, the sandbox): GitHub secrets of one name in other
            # repositories or environments must not land on one path and overwrite each other.
            where = f"github/{target.repository or '-'}"
            if target.environment:
                where += f"/environments/{target.environment}"
            return store, f"{where}/{target.path}"
        return store, target.path
