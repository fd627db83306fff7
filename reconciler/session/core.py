"""The core of a :class:`~reconciler.session.Session`: its provider, journal and stores.

:class:`SessionCore` opens the desired state's provider for the chosen target, the secret
stores the desired state names (or the ``--vault`` override), and the journal of that
target; it refuses a file vault against a live organisation unless asked, and stores the
secret of a key made by hand. Planning, auditing, applying and importing build on it
(:mod:`reconciler.session.planning` and its siblings).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Generator
from dataclasses import replace
from pathlib import Path
from types import TracebackType
from typing import Self

from pydantic import SecretStr

from reconciler.apply.console_only import refusals_path
from reconciler.apply.journal import Journal, claim_journal
from reconciler.apply.ledger import location_of
from reconciler.apply.routing import SecretRouting
from reconciler.desired.load import (
    finish,
    loading_steps,
    organization_field,
    provider_name,
    yaml_bytes,
)
from reconciler.desired.orgs import siblings
from reconciler.desired.yaml_worker import OVERLAPPED_MIN_CHARS
from reconciler.env import RECONCILER_ALLOW_FILE_VAULT
from reconciler.errors import ConfigError, ReconcilerError
from reconciler.identity import (
    earlier_identities,
    organization_identity,
)
from reconciler.model import (
    DesiredState,
    SecretBackend,
)
from reconciler.provider import Provider
from reconciler.session.target import TargetOptions, open_default_store, open_provider
from reconciler.vault.base import SecretStore
from reconciler.vault.factory import parse_override
from reconciler.vault.ledger_store import Earlier


class SessionCore:
    """What every part of a run shares: the provider, the secret stores, the journal."""

    def __init__(
        self,
        desired_dir: Path,
        options: TargetOptions,
        *,
        clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
    ) -> None:
        self.desired_dir = desired_dir
        self.options = options
        self.clock = clock
        self._provider: Provider | None = None
        self._stores: dict[str, SecretStore] = {}
        self._default_store: SecretStore | None = None
        self._file_vault_read = False  # a file vault read (plan, audit) where apply refuses one

    async def __aenter__(self) -> Self:
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
        """The desired state, parsed in a second process only when it is large enough to
        outlast the fetch (:data:`~reconciler.desired.yaml_worker.OVERLAPPED_MIN_CHARS`)."""
        return finish(self.desired_steps(OVERLAPPED_MIN_CHARS))

    def desired_steps(self, worker_min_chars: int | None) -> Generator[None, None, DesiredState]:
        """The desired state read in steps, for a plan to take between its requests'
        answers (``worker_min_chars``: see
        :func:`~reconciler.desired.yaml_worker.parsed`)."""
        return loading_steps(self.desired_dir, worker_min_chars=worker_min_chars)

    def desired_is_large(self) -> bool:
        """Whether the desired state is large enough that a second process parses it
        (:data:`~reconciler.desired.yaml_worker.OVERLAPPED_MIN_CHARS`, as its files'
        sizes say)."""
        return yaml_bytes(self.desired_dir) >= OVERLAPPED_MIN_CHARS

    def identity(self, desired: DesiredState) -> str:
        """Whose lock and journal this run takes (see
        :func:`reconciler.identity.organization_identity`)."""
        return organization_identity(self.provider.target, desired.organization)

    def journal(self, desired: DesiredState, *, take_over: bool = True) -> Journal:
        """The organisation's journal: one kept under an earlier identity (or an earlier
        release's one for the target) taken over, or, ``take_over=False`` (every plan, an
        apply's too: it is taken over once the apply is approved), read where it is
        (:func:`claim_journal`)."""
        path = claim_journal(
            self.options.state_dir,
            self.provider.target,
            self.identity(desired),
            shared=self._shares_target,
            earlier=self._earlier_identities(desired),
            take_over=take_over,
        )
        return Journal(path)

    def _shares_target(self) -> bool:
        """True when another organisation of this repository may be at this one's target
        (it names the same provider, or cannot be read)."""
        for other in siblings(self.desired_dir):
            try:
                if provider_name(other.path) == self.provider.name:
                    return True
            except ReconcilerError:
                return True
        return False

    def _refusals(self, desired: DesiredState) -> Path:
        return refusals_path(self.options.state_dir, self.identity(desired))

    def refuse_file_vault(self, desired: DesiredState, *, writing: bool = True) -> str | None:
        """A file vault against a live organisation only when asked for (ConfigError), to
        write (apply, secret put); reading one (plan, audit) writes nothing, so it is
        allowed, with the warning returned here (None: no such warning)."""
        if self.options.file_vault_allowed():
            return None
        override = self.options.vault_override()
        if override is not None:
            uses_file = parse_override(override)[0] is SecretBackend.FILE
        else:
            targets = [k.secret.backend for k in desired.keys if k.secret is not None]
            uses_file = SecretBackend.FILE in (desired.organization.vault.backend, *targets)
        if not uses_file:
            return None
        if not writing:
            self._file_vault_read = True
            return (
                f"a file vault is read against the live organisation at {self.provider.target}; "
                "apply refuses it unless --allow-file-vault is passed"
            )
        raise ConfigError(
            f"refusing a file vault against the live organisation at "
            f"{self.provider.target}: its secrets would live on this machine only, and "
            "an apply using another store would not see its lock. Pass "
            f"--allow-file-vault (or set {RECONCILER_ALLOW_FILE_VAULT}=1) to rehearse anyway."
        )

    def default_store(self, desired: DesiredState) -> SecretStore:
        if self._default_store is None:
            self.refuse_file_vault(desired, writing=not self._file_vault_read)
            self._default_store = open_default_store(desired.organization.vault, self.options)
            self._stores["default"] = self._default_store
        return self._default_store

    async def put_secret(self, address: str, secret: SecretStr) -> tuple[str, list[str]]:
        """Store the secret of a key made by hand (:mod:`reconciler.apply.secret_put`):
        where it was stored, and what became of the ownership record worth a note."""
        from reconciler.apply.record_notes import merged_now
        from reconciler.apply.secret_put import put_secret, record_stored

        desired = self.load_desired()
        self.refuse_file_vault(desired)
        live = await self.provider.fetch()
        identity = self.identity(desired)
        put = await put_secret(
            self.provider,
            desired,
            live,
            self.router(desired),
            address,
            secret,
            retiring=await self._retiring(desired, identity),
        )
        where = location_of(put.store, put.path, put.want)
        try:
            stored = await record_stored(
                self.default_store(desired),
                identity,
                put.key,
                where,
                earlier=self._earlier(desired),
            )
        except ReconcilerError as exc:
            return f"{put.where} (the ownership record was not updated: {exc})", []
        return put.where, merged_now(stored, identity)

    async def _retiring(self, desired: DesiredState, identity: str) -> frozenset[str]:
        """The ids of rotations' old keys, as the ownership record lists them (read as it
        stands, taking nothing over); none when it cannot be read."""
        from reconciler.vault import ledger_store

        try:
            stored = await ledger_store.load(
                self.default_store(desired),
                identity,
                earlier=self._earlier(desired),
                take_over=False,
            )
        except ReconcilerError:
            return frozenset()
        return stored.ledger.retiring_ids()

    def router(self, desired: DesiredState) -> SecretRouting:
        return SecretRouting(
            lambda: self.default_store(desired),
            self._stores,
            settings=desired.organization.vault,
            override=self.options.vault_override(),
            env=self.options.env,
        )

    def _earlier(self, desired: DesiredState) -> tuple[Earlier, ...]:
        """Where the ownership record may have been kept before, in the order they are
        tried: under the name-based identity (before organization.id was pinned), under
        those of the organisation's ``previous_names`` (before it was renamed), then under
        the target (an earlier release)."""
        before = self._earlier_identities(desired)
        target = self.provider.target
        return (*(Earlier(name) for name in before), Earlier(target, self._shares_target))

    def _earlier_identities(self, desired: DesiredState) -> tuple[str, ...]:
        """:func:`earlier_identities`, refused (:class:`ConfigError`) when a previous name
        is another organisation's of this repository at this provider: its ownership
        record and journal are that organisation's, and taking them over would leave it
        without either. The name-based identity of a pinned organisation is left out when
        another organisation of the repository at this provider has the same name: what is
        kept under it is that one's (its own identity, when it pins no id), or cannot be
        told whose. A sibling that pins this organisation's id is this organisation (a copy
        of its desired state beside it), never another."""
        org = desired.organization
        found = earlier_identities(self.provider.target, org)
        if not found:
            return found
        named = f"{org.name}@{self.provider.target}" if org.id else None
        for other in siblings(self.desired_dir):
            try:
                name = organization_field(other.path, "name")
                same = provider_name(other.path) == self.provider.name
                pinned = organization_field(other.path, "id")
            except ReconcilerError:
                continue  # its own commands report it
            if not same or (org.id is not None and pinned == org.id):
                continue  # another provider's, or this organisation's (a copy beside it)
            if name in org.previous_names:
                raise ConfigError(
                    f"organization.previous_names names {name!r}, the name of organisation "
                    f"{other.name!r} of this repository: its ownership record and journal "
                    "are that organisation's, and would be taken over. Remove it from "
                    "previous_names (pin organization.id to keep a record through renames). "
                    f"If {other.name!r} is a copy of this desired state, move it out of "
                    f"{other.path.parent}, or pin the same organization.id in both."
                )
            if name == org.name:
                found = tuple(each for each in found if each != named)
        return found
