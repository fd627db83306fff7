"""The sandbox's state as plain records, and their JSON form in the state file.

Records hold what the platform would hold, in the platform's terms (UUIDs, role names,
ISO timestamps as strings so rendering needs no conversion). A key record never holds its
secret: only the SHA-256 of it, so ``GET /v1/models`` and inference can recognise the key.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar, Self

STATE_FORMAT = "reconciler-sandbox-state"
STATE_VERSION = 1


def iso_datetime(value: dt.datetime) -> str:
    """``2026-11-27T07:30:12.345Z``: the timestamp form the sandbox serves."""
    value = value.astimezone(dt.UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def audit_time(now: dt.datetime, previous: str | None) -> str:
    """The time of a new audit entry: ``now``, or 1 ms after ``previous`` if not later.

    Entries get distinct, increasing times, so paging with ``after``/``before`` at the
    last entry's time neither skips nor repeats one.
    """
    if previous is not None:
        floor = dt.datetime.fromisoformat(previous) + dt.timedelta(milliseconds=1)
        now = max(now.astimezone(dt.UTC), floor)
    return iso_datetime(now)


def secret_digest(secret: str) -> str:
    """What the state keeps instead of a key's secret."""
    return hashlib.sha256(secret.encode()).hexdigest()


def hide(secret: str) -> str:
    """The masked form the platform displays: ``AbCd...WxYz``."""
    return f"{secret[:4]}...{secret[-4:]}"


class Record:
    """Shallow dict conversion shared by every record type."""

    __slots__ = ()
    kind: ClassVar[str]

    def to_json(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}  # type: ignore[arg-type]

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Self:
        return cls(**data)


@dataclass(slots=True)
class UserRecord(Record):
    """An organisation member."""

    kind: ClassVar[str] = "user"
    uuid: str
    email: str
    first_name: str
    last_name: str
    role: str  # organisation role name
    created_at: str
    seats: list[str] = field(default_factory=list)  # product seats: CHAT, MISTRAL_CODE

    @property
    def display_name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip() or self.email


@dataclass(slots=True)
class InviteRecord(Record):
    """A pending invitation to the organisation."""

    kind: ClassVar[str] = "invite"
    uuid: str
    email: str
    role: str
    created_at: str
    expired: bool = False
    workspace_uuids: list[str] = field(default_factory=list)
    seats: list[str] = field(default_factory=list)


@dataclass(slots=True)
class GroupRecord(Record):
    """A user group: direct members, parent groups, an organisation role, workspace grants.

    ``workspaces`` maps a workspace UUID to the role names the group grants there;
    ``assigned_at`` the time each grant was made.
    """

    kind: ClassVar[str] = "group"
    uuid: str
    name: str
    description: str | None
    created_at: str
    organization_role: str | None = None  # organisation role name
    target_type: str | None = None  # W | O
    parent_ids: list[str] = field(default_factory=list)
    members: list[str] = field(default_factory=list)  # user UUIDs
    workspaces: dict[str, list[str]] = field(default_factory=dict)
    assigned_at: dict[str, str] = field(default_factory=dict)


@dataclass(slots=True)
class WorkspaceRecord(Record):
    """A workspace; ``members`` maps a user UUID to its workspace role names."""

    kind: ClassVar[str] = "workspace"
    uuid: str
    name: str
    description: str
    icon: str
    is_default: bool
    archived: bool
    created_at: str
    spend_limit: float | None  # set in the console only; None = no monthly limit
    members: dict[str, list[str]] = field(default_factory=dict)


@dataclass(slots=True)
class KeyRecord(Record):
    """An API key. ``secret_sha256`` is all the sandbox keeps of the secret."""

    kind: ClassVar[str] = "key"
    key_id: str
    name: str | None
    workspace_id: str
    user_id: str
    created_at: str
    expiration_date: str | None
    last_used: str | None
    secret_sha256: str
    hidden_key: str
    product: str = "API"


@dataclass(slots=True)
class OrganizationRecord(Record):
    """Organisation settings: spend limit, key expiry policy and rate limits.

    ``uuid`` is the organisation's id in its audit log entries ("" in a state file older
    than it: the log then names none).
    """

    kind: ClassVar[str] = "organization"
    name: str
    currency: str
    spend_limit: int | None
    no_monthly_limit: bool
    max_key_expiry_days: int | None
    requests_per_second: int
    tokens_limits_by_model: dict[str, dict[str, int]] = field(default_factory=dict)
    uuid: str = ""


@dataclass(slots=True)
class UsageRecord(Record):
    """Tokens one workspace used on one model in one month."""

    kind: ClassVar[str] = "usage"
    workspace_id: str
    year: int
    month: int
    model: str
    input_tokens: int
    output_tokens: int

    @property
    def identity(self) -> tuple[str, int, int, str]:
        return (self.workspace_id, self.year, self.month, self.model)


@dataclass(slots=True)
class AuditRecord(Record):
    """One audit log entry; the store sets ``log_id`` and ``created_at`` when recording it.

    The metadata maps hold strings only, as the platform's ``AuditLogOut`` does.
    """

    kind: ClassVar[str] = "audit"
    actor_type: str  # HUMAN | API_KEY | OTHER
    actor_metadata: dict[str, str]
    event_type: str  # e.g. api_key.create
    event_metadata: dict[str, str]
    target_type: str  # e.g. API_KEY
    target_metadata: dict[str, str]
    workspace_uuid: str | None = None
    log_id: int = 0
    created_at: str = ""


@dataclass(slots=True)
class State:
    """Everything the sandbox holds."""

    created_at: str
    organization: OrganizationRecord
    users: dict[str, UserRecord]
    invites: dict[str, InviteRecord]
    workspaces: dict[str, WorkspaceRecord]
    keys: dict[str, KeyRecord]
    usage: list[UsageRecord]
    audit: list[AuditRecord] = field(default_factory=list)
    groups: dict[str, GroupRecord] = field(default_factory=dict)

    def find_usage(self, identity: tuple[str, int, int, str]) -> UsageRecord | None:
        """The usage record with this :attr:`UsageRecord.identity`, if any."""
        return next((u for u in self.usage if u.identity == identity), None)

    def put_usage(self, record: UsageRecord) -> None:
        """Add or replace the usage of one workspace on one model in one month."""
        for index, old in enumerate(self.usage):
            if old.identity == record.identity:
                self.usage[index] = record
                return
        self.usage.append(record)

    def to_json(self, *, secrets: bool = True) -> dict[str, Any]:
        """The state file's document; ``secrets=False`` leaves out the secret digests."""
        keys = [k.to_json() for k in self.keys.values()]
        if not secrets:
            for key in keys:
                del key["secret_sha256"]
        return {
            "format": STATE_FORMAT,
            "version": STATE_VERSION,
            "created_at": self.created_at,
            "organization": self.organization.to_json(),
            "users": [u.to_json() for u in self.users.values()],
            "invites": [i.to_json() for i in self.invites.values()],
            "workspaces": [w.to_json() for w in self.workspaces.values()],
            "keys": keys,
            "usage": [u.to_json() for u in self.usage],
            "audit": [a.to_json() for a in self.audit],
            "groups": [g.to_json() for g in self.groups.values()],
        }

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> State:
        if doc.get("format") != STATE_FORMAT or doc.get("version") != STATE_VERSION:
            raise ValueError(
                f"not a sandbox state file (format {doc.get('format')!r}, "
                f"version {doc.get('version')!r})"
            )
        users = (UserRecord.from_json(u) for u in doc["users"])
        invites = (InviteRecord.from_json(i) for i in doc["invites"])
        workspaces = (WorkspaceRecord.from_json(w) for w in doc["workspaces"])
        keys = (KeyRecord.from_json(k) for k in doc["keys"])
        return cls(
            created_at=doc["created_at"],
            organization=OrganizationRecord.from_json(doc["organization"]),
            users={u.uuid: u for u in users},
            invites={i.uuid: i for i in invites},
            workspaces={w.uuid: w for w in workspaces},
            keys={k.key_id: k for k in keys},
            usage=[UsageRecord.from_json(u) for u in doc["usage"]],
            audit=[AuditRecord.from_json(a) for a in doc.get("audit", ())],
            groups={g["uuid"]: GroupRecord.from_json(g) for g in doc.get("groups", ())},
        )


RECORD_TYPES: dict[str, type[Record]] = {
    cls.kind: cls
    for cls in (
        UserRecord,
        InviteRecord,
        GroupRecord,
        WorkspaceRecord,
        KeyRecord,
        OrganizationRecord,
        UsageRecord,
        AuditRecord,
    )
}
