"""Typed wire models for the Admin API's responses (and the inference ``/models`` list).

Field names follow ``mistral-admin-openapi.yaml``. Every model ignores fields it does not
know (the API is a preview and grows), and fields the spec marks nullable default to
``None`` so a sparse answer still parses. Only :mod:`.client` builds these; only
:mod:`.provider` and :mod:`.usage` read them. None of them ever holds a plaintext secret:
:class:`CreatedKeyOut.key` is a :class:`~pydantic.SecretStr` from the moment of parsing.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from pydantic import ConfigDict, Field, RootModel, SecretStr, with_config

from reconciler.compact import Compact


class Wire(Compact):
    """Base of every wire model: immutable, unknown fields ignored."""

    model_config = ConfigDict(frozen=True, extra="ignore", defer_build=True)


# --- workspaces -----------------------------------------------------------------------


class WorkspaceSpendLimitOut(Wire):
    value: Decimal | None = None
    currency: str | None = None
    no_monthly_limit: bool | None = None


class WorkspaceOut(Wire):
    uuid: str
    name: str
    description: str | None = None
    icon: str | None = None
    members_count: int | None = None
    spend_limit: WorkspaceSpendLimitOut | None = None
    is_default: bool = False
    raw_roles: list[str] | None = None  # only on the create response


class WorkspacesPage(Wire):
    total: int
    items: list[WorkspaceOut] = Field(default_factory=list)
    page: int = 1
    page_size: int = 0


# --- users and roles ------------------------------------------------------------------


@with_config(ConfigDict(extra="ignore"))
@dataclass(frozen=True, slots=True)
class MemberWorkspaceInfo:
    """One workspace of a member's (a dataclass like :class:`KeyOut`: a listing of users
    holds one per membership, by the thousand)."""

    uuid: str
    name: str = ""
    is_default: bool = False
    raw_roles: list[str] | None = None
    raw_role: str | None = None

    def role_values(self) -> list[str]:
        """``raw_roles``, or the deprecated single ``raw_role`` when that is all there is."""
        if self.raw_roles:
            return list(self.raw_roles)
        return [self.raw_role] if self.raw_role else []


class UserOut(Wire):
    uuid: str
    name: str | None = None
    email: str | None = None
    workspaces: list[MemberWorkspaceInfo] | None = None
    raw_roles: list[str] | None = None
    raw_role: str | None = None
    subscription_types: list[str] | None = None
    created_at: dt.datetime | None = None

    def role_values(self) -> list[str]:
        """``raw_roles``, or the deprecated single ``raw_role`` when that is all there is."""
        return list(self.raw_roles) if self.raw_roles else [self.raw_role] if self.raw_role else []


class InviteOut(Wire):
    uuid: str
    email: str
    expired: bool = False
    workspace_uuids: list[str] = Field(default_factory=list)
    raw_roles: list[str] | None = None
    raw_role: str | None = None
    created_at: dt.datetime | None = None

    def role_values(self) -> list[str]:
        return list(self.raw_roles) if self.raw_roles else [self.raw_role] if self.raw_role else []


class UsersPage(Wire):
    members: list[UserOut] = Field(default_factory=list)
    invites: list[InviteOut] = Field(default_factory=list)
    total: int | None = None
    page: int | None = None
    page_size: int | None = None


class UserListing(Wire):
    """Every organisation member and pending invitation, all pages joined."""

    members: list[UserOut] = Field(default_factory=list)
    invites: list[InviteOut] = Field(default_factory=list)


class RoleOut(Wire):
    name: str
    uuid: str
    description: str = ""
    is_custom_role: bool = False


class RolesOut(Wire):
    workspace_roles: list[RoleOut] = Field(default_factory=list)
    organization_roles: list[RoleOut] = Field(default_factory=list)


class MembersChanged(Wire):
    """Answer of add-users, add-or-update users and remove-users (counts only)."""

    added_members_count: int | None = None
    updated_members_count: int | None = None
    deleted_members_count: int | None = None
    not_deleted_members: list[str] | None = None


class InvitesCreated(Wire):
    """``OrganizationInvitesCreateOUT``."""

    invalid_emails: list[str] = Field(default_factory=list)
    already_members: list[str] = Field(default_factory=list)
    invited_members_count: int | None = None


class UsersCreated(Wire):
    """``OrganizationUsersCreateOUT``."""

    invalid_emails: list[str] = Field(default_factory=list)
    email_to_user_id: dict[str, str] = Field(default_factory=dict)


class Deleted(Wire):
    """``DeleteOUT``."""

    message: str = ""


# --- user groups ----------------------------------------------------------------------


class GroupOut(Wire):
    uuid: str
    name: str
    description: str | None = None
    organization_role: str | None = None
    parent_group_ids: list[str] = Field(default_factory=list)


class GroupsPage(Wire):
    total: int
    items: list[GroupOut] = Field(default_factory=list)
    page: int = 1
    page_size: int = 0


class GroupMemberOut(Wire):
    user_uuid: str
    name: str | None = None
    email: str | None = None


class GroupMembersPage(Wire):
    total: int
    members: list[GroupMemberOut] = Field(default_factory=list)
    page: int = 1
    page_size: int = 0


class RoleRef(Wire):
    name: str
    uuid: str


class AssignmentOut(Wire):
    roles: list[RoleRef] = Field(default_factory=list)
    role_name: str | None = None
    workspace_uuid: str
    workspace_name: str = ""


class AssignmentsPage(Wire):
    total: int
    items: list[AssignmentOut] = Field(default_factory=list)
    page: int = 1
    page_size: int = 0


class NestedGroupRef(Wire):
    uuid: str
    name: str = ""


class NestedOut(Wire):
    children: list[NestedGroupRef] = Field(default_factory=list)


# --- API keys -------------------------------------------------------------------------


@with_config(ConfigDict(extra="ignore"))
@dataclass(frozen=True, slots=True)
class KeyOut:
    """A listed key. The listing never carries the plaintext, so ``key`` is not read.

    A plain dataclass, validated as its listing page is: a listing holds them by the ten
    thousand, and a model's per-object record of fields given (and the call that shares
    it) would cost a fifth of the page's parse and three times the memory.
    """

    key_id: str
    name: str | None = None
    hidden_key: str | None = None
    workspace_id: str | None = None
    workspace_name: str | None = None
    created_by: str | None = None
    created_at: dt.datetime | None = None
    expiration_date: dt.date | None = None
    product: str | None = None
    last_used: dt.date | None = None
    can_delete: bool | None = None


class KeysPage(Wire):
    keys: list[KeyOut] = Field(default_factory=list)


class CreatedKeyOut(Wire):
    """The create answer: the only time the plaintext exists; parsed straight to SecretStr."""

    key_id: str
    key: SecretStr | None = None
    name: str | None = None
    hidden_key: str | None = None
    created_at: dt.datetime | None = None
    expiration_date: dt.date | None = None


# --- audit log ------------------------------------------------------------------------


class AuditLogOut(Wire):
    """One audit log entry: who (actor), did what (event), to what (target), when."""

    log_id: int
    created_at: dt.datetime
    actor_type: str  # HUMAN | API_KEY | OTHER
    actor_metadata: dict[str, str] = Field(default_factory=dict)
    event_type: str
    event_metadata: dict[str, str] = Field(default_factory=dict)
    target_type: str
    target_metadata: dict[str, str] = Field(default_factory=dict)
    organization_uuid: str | None = None
    workspace_uuid: str | None = None


class AuditLogsPage(RootModel[list[AuditLogOut]]):
    """``GET /audit-logs`` answers a bare list of entries."""

    model_config = ConfigDict(frozen=True, defer_build=True)


# --- organisation: limits and usage ---------------------------------------------------


class UsageLimits(Wire):
    no_monthly_limit: bool = False
    monthly_limit_reached: bool = False
    usage: Decimal | None = None
    total_usage: Decimal | None = None
    usage_limit: Decimal | None = None


class LimitsContext(Wire):
    completion: UsageLimits = Field(default_factory=UsageLimits)
    currency: str = "USD"
    last_payment_failure: bool = False


class LimitsOut(Wire):
    limits: LimitsContext = Field(default_factory=LimitsContext)


class TokenLimits(Wire):
    tokens_per_minute: int | None = None
    tokens_per_month: int | None = None


class RateLimitsOut(Wire):
    requests_per_second: int | None = None
    tokens_limits_by_model: dict[str, TokenLimits] = Field(default_factory=dict)


class PriceData(Wire):
    event_type: str | None = None
    billing_metric: str = ""
    billing_group: str = ""
    api_zone: str | None = None
    service_tier: str | None = None
    price: Decimal


# ``models``: model name -> group (e.g. input/output) -> usage entries (free-form objects).
ModelUsage = dict[str, dict[str, list[dict[str, Any]]]]


class BasicModelUsage(Wire):
    models: ModelUsage = Field(default_factory=dict)


class LibrariesUsage(Wire):
    pages: BasicModelUsage = Field(default_factory=BasicModelUsage)
    tokens: BasicModelUsage = Field(default_factory=BasicModelUsage)
    audio_seconds: BasicModelUsage = Field(default_factory=BasicModelUsage)


class VibeCodeUsage(Wire):
    completion: BasicModelUsage = Field(default_factory=BasicModelUsage)
    ocr: BasicModelUsage = Field(default_factory=BasicModelUsage)
    connectors: BasicModelUsage = Field(default_factory=BasicModelUsage)
    audio: BasicModelUsage = Field(default_factory=BasicModelUsage)
    audio_characters: BasicModelUsage = Field(default_factory=BasicModelUsage)


class FineTuningUsage(Wire):
    training: ModelUsage = Field(default_factory=dict)
    storage: dict[str, int] = Field(default_factory=dict)


class UsageOut(Wire):
    """``UsageOUTJSON``: one month's usage, by category, model and billing group."""

    completion: BasicModelUsage = Field(default_factory=BasicModelUsage)
    chat: BasicModelUsage = Field(default_factory=BasicModelUsage)
    ocr: BasicModelUsage = Field(default_factory=BasicModelUsage)
    connectors: BasicModelUsage = Field(default_factory=BasicModelUsage)
    audio: BasicModelUsage = Field(default_factory=BasicModelUsage)
    audio_characters: BasicModelUsage = Field(default_factory=BasicModelUsage)
    libraries_api: LibrariesUsage = Field(default_factory=LibrariesUsage)
    vibe_code: VibeCodeUsage = Field(default_factory=VibeCodeUsage)
    fine_tuning: FineTuningUsage = Field(default_factory=FineTuningUsage)
    start_date: dt.datetime | None = None
    end_date: dt.datetime | None = None
    currency: str | None = None
    prices: list[PriceData] | None = None

    def categories(self) -> dict[str, ModelUsage]:
        """Every ``models`` mapping in the report, keyed by a dotted category name."""
        return {
            "completion": self.completion.models,
            "chat": self.chat.models,
            "ocr": self.ocr.models,
            "connectors": self.connectors.models,
            "audio": self.audio.models,
            "audio_characters": self.audio_characters.models,
            "libraries_api.pages": self.libraries_api.pages.models,
            "libraries_api.tokens": self.libraries_api.tokens.models,
            "libraries_api.audio_seconds": self.libraries_api.audio_seconds.models,
            "vibe_code.completion": self.vibe_code.completion.models,
            "vibe_code.ocr": self.vibe_code.ocr.models,
            "vibe_code.connectors": self.vibe_code.connectors.models,
            "vibe_code.audio": self.vibe_code.audio.models,
            "vibe_code.audio_characters": self.vibe_code.audio_characters.models,
            "fine_tuning.training": self.fine_tuning.training,
        }


# --- inference API --------------------------------------------------------------------


class ModelCard(Wire):
    id: str
    name: str | None = None
    aliases: list[str] = Field(default_factory=list)
    max_context_length: int | None = None
    deprecation: str | None = None
    deprecation_replacement_model: str | None = None
    capabilities: dict[str, bool | None] = Field(default_factory=dict)


class ModelList(Wire):
    data: list[ModelCard] = Field(default_factory=list)
