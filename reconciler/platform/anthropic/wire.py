"""Typed wire models of Anthropic's Admin API (``/v1/organizations/...``).

Field names and enums follow the official SDK's types (``anthropic.types.beta.
organization``), which the suite checks against; the SDK itself is never imported at run
time. Every model ignores fields it does not know (the API grows), and fields the SDK
marks optional or nullable default to ``None``. No model here holds a key's secret: the
API never returns one (only ``partial_key_hint``).
"""

from __future__ import annotations

import datetime as dt
from typing import Generic, Literal, TypeVar

from pydantic import ConfigDict, Field

from reconciler.compact import Compact

KeyStatus = Literal["active", "inactive", "archived", "expired"]
WritableKeyStatus = Literal["active", "inactive", "archived"]


class Wire(Compact):
    """Base of every wire model: immutable, unknown fields ignored."""

    model_config = ConfigDict(frozen=True, extra="ignore")


T = TypeVar("T", bound=Wire)


class Page(Wire, Generic[T]):
    """An id-cursor page: ``after_id=last_id`` while ``has_more``."""

    data: list[T] = Field(default_factory=list)
    has_more: bool = False
    first_id: str | None = None
    last_id: str | None = None


class ErrorDetail(Wire):
    type: str
    message: str = ""


class ErrorBody(Wire):
    """``{"type": "error", "error": {"type", "message"}, "request_id"}``."""

    type: Literal["error"]
    error: ErrorDetail
    request_id: str | None = None


class Organization(Wire):
    id: str
    name: str
    type: Literal["organization"] = "organization"


class User(Wire):
    id: str
    type: Literal["user"] = "user"
    email: str
    name: str = ""
    role: str
    added_at: dt.datetime | None = None


class Invite(Wire):
    id: str
    type: Literal["invite"] = "invite"
    email: str
    role: str
    status: str = "pending"  # pending | accepted | expired | deleted
    invited_at: dt.datetime | None = None
    expires_at: dt.datetime | None = None


class Deleted(Wire):
    """``{"id", "type": "user_deleted" | "invite_deleted"}``."""

    id: str
    type: str


class DataResidency(Wire):
    workspace_geo: str | None = None
    allowed_inference_geos: str | list[str] | None = None
    default_inference_geo: str | None = None


class Workspace(Wire):
    id: str
    type: Literal["workspace"] = "workspace"
    name: str
    display_color: str | None = None
    created_at: dt.datetime | None = None
    archived_at: dt.datetime | None = None
    tags: dict[str, str] | None = None
    data_residency: DataResidency | None = None


class WorkspaceMember(Wire):
    type: Literal["workspace_member"] = "workspace_member"
    user_id: str
    workspace_id: str
    workspace_role: str


class WorkspaceMemberDeleted(Wire):
    type: Literal["workspace_member_deleted"] = "workspace_member_deleted"
    user_id: str
    workspace_id: str


class Actor(Wire):
    id: str
    type: str


class KeyScope(Wire):
    type: Literal["workspace", "organization"]
    workspace_id: str | None = None


class ApiKey(Wire):
    id: str
    type: Literal["api_key"] = "api_key"
    name: str
    status: KeyStatus
    created_at: dt.datetime | None = None
    expires_at: dt.datetime | None = None
    partial_key_hint: str | None = None
    created_by: Actor | None = None
    workspace_id: str | None = None
    scope: KeyScope | None = None

    @property
    def workspace(self) -> str | None:
        """The workspace id the key belongs to (``scope`` first, then the flat field)."""
        if self.scope is not None and self.scope.workspace_id:
            return self.scope.workspace_id
        return self.workspace_id


class SpendLimit(Wire):
    id: str
    type: Literal["spend_limit"] = "spend_limit"
    amount: str | None = None  # minor units ("50000" = 500.00)
    currency: str = "USD"
    period: str = "monthly"
    scope: dict[str, str] = Field(default_factory=dict)


class CostGroup(Wire):
    workspace_id: str | None = None
    api_key_id: str | None = None


class Cost(Wire):
    amount: str = "0"  # US cents, possibly fractional
    currency: str = "USD"
    requests: int = 0


class CostRow(Wire):
    starting_at: dt.datetime | None = None  # the row's time bucket
    group: CostGroup = Field(default_factory=CostGroup)
    cost: Cost = Field(default_factory=Cost)


class CostReport(Wire):
    data: list[CostRow] = Field(default_factory=list)
    has_more: bool = False
    next_page: str | None = None


class CursorPage(Wire, Generic[T]):
    """An opaque-cursor page (spend and rate limits): ``page=next_page`` until null."""

    data: list[T] = Field(default_factory=list)
    next_page: str | None = None


class RateLimitGroup(Wire):
    id: str | None = None  # rlg_...
    type: str  # model_group | batch | token_count | files | skills | web_search
    display_name: str | None = None  # model groups


class Limit(Wire):
    type: str  # requests_per_minute, input_tokens_per_minute, ...
    value: int | None = None


class RateLimit(Wire):
    """One of the organisation's rate limits (read-only)."""

    id: str
    type: Literal["rate_limit"] = "rate_limit"
    group: RateLimitGroup
    models: list[str] | None = None
    limits: list[Limit] = Field(default_factory=list)

    @property
    def name(self) -> str:
        """What the desired state calls it: a model group's display name, else its type."""
        return self.group.display_name or self.group.type


class WorkspaceRateLimit(Wire):
    """A workspace's override of one of the organisation's rate limits."""

    type: Literal["workspace_rate_limit"] = "workspace_rate_limit"
    workspace_id: str
    rate_limit_id: str
    group: RateLimitGroup
    models: list[str] | None = None
    limits: list[Limit] = Field(default_factory=list)
