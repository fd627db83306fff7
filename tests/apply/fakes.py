"""In-memory doubles for apply tests: a platform implementing ``Provider``, a flaky store.

:class:`FakeProvider` keeps workspaces, members and keys in dicts, records every mutation
in ``calls`` (in order) and can be told to fail a method (``fail``) with any error. Keys get
fresh ids and random secrets; ``secrets`` maps a live key id to its secret, as the
platform would check it. :class:`FlakyStore` wraps a real store and fails chosen ``put``
calls, to exercise the engine's retries.
"""

from __future__ import annotations

import datetime as dt
import secrets
import uuid
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from pydantic import SecretStr

from reconciler.errors import ReconcilerError, SecretStoreError
from reconciler.model import (
    ApiKey,
    DesiredState,
    LiveState,
    Member,
    Organization,
    Role,
    SpendLimit,
    Workspace,
    WorkspacePolicy,
)
from reconciler.provider import CreatedKey, ProgressCallback
from reconciler.vault.base import LockHolder, SecretMetadata, SecretStore, StoredSecret

Failure = Callable[[str], ReconcilerError | None]  # argument: the object's name or id


class FakeProvider:
    """A platform in memory (see the module docstring)."""

    name = "fake"

    def __init__(self, live: LiveState, *, target: str = "fake://acme") -> None:
        self.target = target
        self.spend_limit = live.organization.spend_limit
        self.workspaces: dict[str, Workspace] = {w.id or w.name: w for w in live.workspaces}
        self.members: dict[tuple[str, str], Member] = {
            (m.workspace, m.email): m for m in live.members
        }
        self.keys: dict[str, ApiKey] = {k.id or k.name: k for k in live.keys}
        self.secrets: dict[str, str] = {}
        self.calls: list[tuple[str, str]] = []
        self.fail: dict[str, Failure] = {}

    def _check(self, method: str, what: str) -> None:
        rule = self.fail.get(method)
        error = rule(what) if rule is not None else None
        if error is not None:
            raise error

    def _ws_name(self, workspace_id: str) -> str:
        return self.workspaces[workspace_id].name

    async def fetch(self, progress: ProgressCallback | None = None) -> LiveState:
        return LiveState(
            target=self.target,
            organization=Organization(spend_limit=self.spend_limit),
            workspaces=tuple(self.workspaces.values()),
            members=tuple(self.members.values()),
            keys=tuple(self.keys.values()),
        )

    async def create_workspace(self, workspace: Workspace) -> Workspace:
        self._check("create_workspace", workspace.name)
        created = workspace.model_copy(update={"id": str(uuid.uuid4())})
        self.workspaces[created.id or ""] = created
        if workspace.admin:
            self.members[(workspace.name, workspace.admin)] = Member(
                workspace=workspace.name, email=workspace.admin, roles=("workspace_admin",)
            )
        self.calls.append(("create_workspace", workspace.name))
        return created

    async def update_workspace(self, workspace_id: str, workspace: Workspace) -> Workspace:
        self._check("update_workspace", workspace.name)
        updated = self.workspaces[workspace_id].model_copy(
            update={"description": workspace.description}
        )
        self.workspaces[workspace_id] = updated
        self.calls.append(("update_workspace", workspace.name))
        return updated

    async def archive_workspace(self, workspace_id: str) -> None:
        name = self._ws_name(workspace_id)
        self._check("archive_workspace", name)
        del self.workspaces[workspace_id]
        self.calls.append(("archive_workspace", name))

    async def set_member(self, workspace_id: str, member: Member) -> None:
        ws = self._ws_name(workspace_id)
        self._check("set_member", member.email)
        self.members[(ws, member.email)] = member.model_copy(update={"workspace": ws})
        self.calls.append(("set_member", f"{ws}/{member.email}"))

    async def remove_member(self, workspace_id: str, member: Member) -> None:
        ws = self._ws_name(workspace_id)
        self._check("remove_member", member.email)
        self.members.pop((ws, member.email), None)
        self.calls.append(("remove_member", f"{ws}/{member.email}"))

    async def create_key(self, key: ApiKey, workspace_id: str) -> CreatedKey:
        self._check("create_key", key.name)
        live = ApiKey(
            name=key.name,
            workspace=self._ws_name(workspace_id),
            owner=key.owner,
            expires=key.expires,
            id=str(uuid.uuid4()),
            created_at=dt.datetime.now(dt.UTC),
        )
        secret = secrets.token_urlsafe(24)
        self.keys[live.id or ""] = live
        self.secrets[live.id or ""] = secret
        self.calls.append(("create_key", key.name))
        return CreatedKey(key=live, secret=SecretStr(secret))

    async def delete_key(self, key_id: str) -> None:
        self._check("delete_key", key_id)
        gone = self.keys.pop(key_id, None)
        self.secrets.pop(key_id, None)
        self.calls.append(("delete_key", gone.name if gone else key_id))

    async def find_keys(self, name: str) -> list[ApiKey]:
        return [k for k in self.keys.values() if k.name == name]

    async def set_organization_spend_limit(self, limit: SpendLimit) -> None:
        self._check("set_organization_spend_limit", limit.describe())
        self.spend_limit = limit
        self.calls.append(("set_organization_spend_limit", limit.describe()))

    async def monthly_spend(self, month: dt.date) -> dict[str, Decimal]:
        return {}

    async def check_key(self, secret: SecretStr) -> bool:
        return secret.get_secret_value() in self.secrets.values()

    async def aclose(self) -> None:
        return None


class FlakyStore:
    """A real store whose ``put`` fails on the attempts listed in ``failing`` (1-based)."""

    def __init__(self, inner: SecretStore, failing: set[int] | None = None) -> None:
        self.inner = inner
        self.failing = failing or set()
        self.puts = 0
        self.description = inner.description
        self.backend = inner.backend
        self.exclusive = inner.exclusive

    async def check(self) -> None:
        await self.inner.check()

    async def put(
        self,
        path: str,
        secret: SecretStr,
        metadata: SecretMetadata,
        *,
        expect_version: int | None = 0,
    ) -> int | None:
        self.puts += 1
        if self.puts in self.failing:
            raise SecretStoreError(f"{self.description}: cannot write {path}: Vault is sealed")
        return await self.inner.put(path, secret, metadata, expect_version=expect_version)

    async def read_metadata(self, path: str) -> StoredSecret | None:
        return await self.inner.read_metadata(path)

    async def read_secret(self, path: str) -> SecretStr | None:
        return await self.inner.read_secret(path)

    async def delete(self, path: str) -> None:
        await self.inner.delete(path)

    async def list(self, prefix: str = "") -> list[str]:
        return await self.inner.list(prefix)

    async def acquire_lock(
        self, name: str, holder: LockHolder, ttl: dt.timedelta
    ) -> LockHolder | None:
        return await self.inner.acquire_lock(name, holder, ttl)

    async def release_lock(self, name: str, holder: LockHolder) -> None:
        await self.inner.release_lock(name, holder)

    async def aclose(self) -> None:
        await self.inner.aclose()


# --- an organisation to apply to ---------------------------------------------------------

OLD = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
ROLES = (
    Role(
        name="developer",
        allowed_models=("mistral-small-latest", "codestral-latest"),
        max_tokens_per_request=8000,
        daily_token_budget=1_000_000,
    ),
    Role(name="admin", allowed_models=("*",), max_tokens_per_request=128_000),
)


def live_org() -> LiveState:
    """dev (bob, iris), archive-me, keys dev-alice (no expiry) and iris-laptop."""
    return LiveState(
        target="fake://acme",
        organization=Organization(spend_limit=SpendLimit(amount=Decimal(3000))),
        workspaces=(
            Workspace(name="dev", description="old", id="ws-dev", admin="alice@acme.example"),
            Workspace(name="archive-me", id="ws-old"),
        ),
        members=(
            Member(workspace="dev", email="alice@acme.example", roles=("workspace_admin",)),
            Member(workspace="dev", email="bob@acme.example"),
            Member(workspace="dev", email="iris@acme.example"),
        ),
        keys=(
            ApiKey(
                name="dev-alice",
                workspace="dev",
                owner="alice@acme.example",
                id="k-alice",
                created_at=OLD,
            ),
            ApiKey(
                name="iris-laptop",
                workspace="dev",
                owner="iris@acme.example",
                id="k-iris",
                created_at=OLD,
            ),
        ),
    )


def desired_org(**dev_changes: Any) -> DesiredState:
    """dev changed everywhere, ml new, archive-me archived; keys replaced, new, pruned."""
    dev = Workspace(
        name="dev",
        description="new",
        admin="alice@acme.example",
        policy=WorkspacePolicy(
            allowed_models=("mistral-small-latest", "codestral-latest", "mistral-large-latest"),
            rpm=60,
            monthly_budget_usd=Decimal(50),
        ),
        prune_unmanaged_keys=True,
    ).model_copy(update=dev_changes)
    return DesiredState(
        organization=Organization(name="Acme", spend_limit=SpendLimit(amount=Decimal(5000))),
        roles=ROLES,
        workspaces=(
            dev,
            Workspace(name="ml", description="ML", admin="dan@acme.example"),
            Workspace(name="archive-me", archived=True),
        ),
        members=(
            Member(workspace="dev", email="alice@acme.example", roles=("workspace_admin",)),
            Member(workspace="dev", email="bob@acme.example"),
            Member(workspace="dev", email="carol@acme.example"),
            Member(workspace="ml", email="dan@acme.example", roles=("workspace_admin",)),
        ),
        keys=(
            ApiKey(
                name="dev-alice",
                workspace="dev",
                owner="alice@acme.example",
                expires=dt.date(2027, 6, 30),
                role="developer",
            ),
            ApiKey(
                name="dev-bob",
                workspace="dev",
                owner="bob@acme.example",
                expires=dt.date(2027, 6, 30),
                role="developer",
            ),
            ApiKey(name="ml-dan", workspace="ml", owner="dan@acme.example", role="admin"),
        ),
    )
