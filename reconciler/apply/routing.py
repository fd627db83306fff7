"""Where each key's secret goes: its store and its path there, and back from a record.

:class:`SecretRouter` and :data:`StoreLocator` are what the apply engine asks for;

a :class:`SecretRouting` is both. It serves one run: it maps a desired key to the store its secret
goes to (the organisation's default, an override, a GitHub repository or environment) and
its path in that store, and maps a secret location the ownership record holds back to the
store it is in, when this run uses that store. Stores are opened once per run and kept in
the cache the caller passes (the session closes them).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, MutableMapping
from typing import Protocol

from reconciler.errors import ConfigError, SecretStoreError
from reconciler.model import ApiKey, SecretBackend, SecretTarget, VaultSettings
from reconciler.ownership import SecretLocation
from reconciler.vault.base import SecretStore
from reconciler.vault.factory import store_for_target


class SecretRouter(Protocol):
    """Finds the store and the path for a desired key's secret."""

    def __call__(self, key: ApiKey) -> tuple[SecretStore, str]: ...


StoreLocator = Callable[[SecretLocation], "SecretStore | None"]
"""The store a recorded secret location is in (None: not one this run can reach)."""


def route(router: SecretRouter, key: ApiKey) -> tuple[SecretStore, str] | None:
    """Where ``key``'s secret goes, or None when its store cannot be opened here (a GitHub
    secret without a token, say): a plan goes on without checking it."""
    try:
        return router(key)
    except (ConfigError, SecretStoreError):
        return None


class SecretRouting:
    """Maps a desired key to its secret store and its path in that store."""

    def __init__(
        self,
        default: Callable[[], SecretStore],
        stores: MutableMapping[str, SecretStore],
        *,
        settings: VaultSettings,
        override: str | None,
        env: Mapping[str, str],
    ) -> None:
        self.default = default  # the organisation's default store, opened when first asked
        self.stores = stores
        self.settings = settings
        self.override = override
        self.env = env
        self._places: dict[tuple[object, ...], SecretStore] = {}  # a few stores, many keys

    def _store(self, target: SecretTarget) -> SecretStore:
        """The store of ``target``'s place, opened once (asked once per key: a tuple, not
        the shared cache's text key, finds it again)."""
        place = (target.backend, target.repository, target.environment)
        store = self._places.get(place)
        if store is not None:
            return store
        cache_key = f"{target.backend}:{target.repository}:{target.environment}"
        store = self.stores.get(cache_key)
        if store is None:
            store = store_for_target(
                target, self.default(), settings=self.settings, override=self.override, env=self.env
            )
            self.stores[cache_key] = store
        self._places[place] = store
        return store

    def __call__(self, key: ApiKey) -> tuple[SecretStore, str]:
        target = key.secret or SecretTarget(path=f"{key.workspace}/{key.name}")
        store = self._store(target)
        if target.backend is SecretBackend.GITHUB and store.backend is not SecretBackend.GITHUB:
            # Sent elsewhere (an override, the sandbox): GitHub secrets of one name in other
            # repositories or environments must not land on one path and overwrite each other.
            where = f"github/{target.repository or '-'}"
            if target.environment:
                where += f"/environments/{target.environment}"
            return store, f"{where}/{target.path}"
        return store, target.path

    def store_at(self, location: SecretLocation) -> SecretStore | None:
        """The store a recorded secret is in, if this run uses that store (the same
        description); None otherwise, or if it cannot be opened here."""
        target = SecretTarget(
            backend=location.backend,
            path=location.path,
            repository=location.repository,
            environment=location.environment,
        )
        try:
            store = self._store(target)
        except ConfigError:
            return None
        return store if store.description == location.store else None
