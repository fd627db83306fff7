"""The protocol every platform provider implements, in terms of the core model only.

The plan engine and the apply engine talk to a provider through this protocol and never
see a wire format. ``reconciler.platform.mistral`` implements it for La Plateforme; a
second provider (for example Anthropic's workspaces) implements the same methods, and
registers how to open it in :mod:`reconciler.providers`. A platform that keeps an audit
log implements :class:`AttributionSource` too, so plans and audits can say who changed an
object outside reconciler.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Set
from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol, runtime_checkable

from pydantic import SecretStr

from reconciler.model import (
    ApiKey,
    Attribution,
    Group,
    Invitation,
    LiveState,
    Member,
    OrgMember,
    SpendLimit,
    Workspace,
)

# progress(what, done, total_or_None): called while fetching, for a progress display.
ProgressCallback = Callable[[str, int, int | None], None]


@dataclass(frozen=True, slots=True, repr=False)
class CreatedKey:
    """A freshly created key and its secret, which exists only here, in memory.

    ``resent``: the create was refused (429) and sent again; what the refused request may
    have made was looked for and deleted first.
    """

    key: ApiKey
    secret: SecretStr
    resent: bool = False

    def __repr__(self) -> str:
        return f"CreatedKey(key={self.key.name!r}, id={self.key.id!r}, secret=**********)"


class Provider(Protocol):
    """A platform that holds workspaces, members, API keys, and the organisation's people."""

    name: str  # e.g. "mistral"
    target: str  # what is being talked to: an API base URL, or the sandbox's file

    async def fetch(self, progress: ProgressCallback | None = None) -> LiveState:
        """Read the whole live state, every page, normalised into the core model, with the
        organisation's ``id`` (what identifies it on this platform)."""
        ...

    async def create_workspace(self, workspace: Workspace) -> Workspace:
        """Create a workspace; return it with its ``id``."""
        ...

    async def update_workspace(self, workspace_id: str, workspace: Workspace) -> Workspace:
        """Update a workspace's description (and name) in place."""
        ...

    async def archive_workspace(self, workspace_id: str) -> None:
        """Archive (the platform's delete) a workspace."""
        ...

    async def set_member(self, workspace_id: str, member: Member) -> None:
        """Add a member to a workspace or update their roles (idempotent)."""
        ...

    async def remove_member(self, workspace_id: str, member: Member) -> None:
        """Remove a member from a workspace."""
        ...

    async def create_key(self, key: ApiKey, workspace_id: str) -> CreatedKey:
        """Create a key. Never retried blindly: on an ambiguous failure, list to find out;
        before sending it again after a refusal, delete any key of this name in this
        workspace the refused request made (:func:`~reconciler.model.created_within` it)."""
        ...

    async def delete_key(self, key_id: str) -> None:
        """Delete a key (idempotent: a key already gone is not an error)."""
        ...

    async def find_keys(self, names: Set[str]) -> list[ApiKey]:
        """Live keys named exactly one of ``names`` (an apply looks up the names of the
        keys it is about to create), in as few requests as the platform allows."""
        ...

    async def set_organization_spend_limit(self, limit: SpendLimit) -> None:
        """Set the organisation's monthly spend limit."""
        ...

    async def monthly_spend(self, month: dt.date) -> dict[str, Decimal]:
        """Spend so far in the month containing ``month``, per workspace name, in USD."""
        ...

    # --- people ---------------------------------------------------------------------

    async def invite(self, invitation: Invitation) -> Invitation:
        """Invite a person, with role, seats and workspaces; return it with its ``id``."""
        ...

    async def cancel_invite(self, invitation_id: str) -> None:
        """Withdraw a pending invitation."""
        ...

    async def set_org_member(self, member: OrgMember) -> None:
        """Set an organisation member's role and product seats."""
        ...

    async def remove_org_member(self, member: OrgMember) -> None:
        """Remove a person from the organisation (their workspaces and groups go too)."""
        ...

    async def create_group(self, group: Group) -> Group:
        """Create an empty group (name, description); return it with its ``id``."""
        ...

    async def update_group(self, group_id: str, before: Group, after: Group) -> None:
        """Take a group from ``before`` to ``after``: description, members, nested groups,
        organisation role and workspace grants."""
        ...

    async def delete_group(self, group_id: str) -> None:
        """Delete a group (its members stay in the organisation)."""
        ...

    async def check_key(self, secret: SecretStr) -> bool:
        """True if an inference call with this key is accepted (side-effect free)."""
        ...

    async def aclose(self) -> None:
        """Release connections."""
        ...


@runtime_checkable
class KeyStatusSetter(Protocol):
    """A provider whose platform sets a key's status in place (``ProviderSpec.key_statuses``)."""

    async def set_key_status(self, key_id: str, status: str) -> None:
        """Set the key's status (idempotent)."""
        ...


@runtime_checkable
class AttributionSource(Protocol):
    """A provider whose platform keeps an audit log of who changed what."""

    async def attributions(
        self, since: dt.datetime, progress: ProgressCallback | None = None
    ) -> list[Attribution]:
        """The changes since ``since`` to objects reconciler manages, newest first, each
        at the address of the object it changed (``outside`` False for reconciler's own)."""
        ...
