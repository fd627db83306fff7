"""``SandboxStore``: the sandbox organisation in memory, persisted to a state file.

All reads and mutations go through this class, under one lock, so the app is safe to call
from several threads or tasks. Records are replaced, never changed in place (copy on
write), so a record handed to a renderer stays consistent. Listings keep maintained id
lists (active keys in creation order, workspaces per archive flag, each user's
workspaces) that are rebuilt only after a change that affects them; a page is a slice.

Every mutation appends the records it changed to the state file's journal (see
:mod:`.journaled`), so persisting is proportional to the change, not to the organisation.

Behaviour decided here (the public contract leaves it open):

- workspace names are unique among active workspaces, case-insensitively (409);
  an archived workspace's name can be reused;
- archiving hides the workspace from the default listing (``is_archived=true`` lists
  archived workspaces along with the active ones, as the spec describes the parameter:
  "whether to include archived Workspaces"), drops it from members' ``workspaces``,
  and makes its keys unlisted, unusable (``/v1/models`` -> 401) and undeletable (404);
  the default workspace cannot be archived (400);
- ``add-users`` refuses a user who is already a member (409); ``PATCH .../users`` adds or
  updates; ``remove-users`` reports non-members in ``not_deleted_members``;
- a key is created for a user who is a member of the key's workspace (400 otherwise);
  an expiry in the past is refused (422); the organisation's ``max_key_expiry_days``
  (when set) clamps a later or missing expiry;
- a key used against ``/v1/models`` or for inference gets ``last_used`` = today; an
  expired key is refused; inference adds its tokens to this month's usage;
- audit entries get increasing ``log_id`` and distinct, increasing times (see
  :func:`.records.audit_time`).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import unicodedata
import uuid
from collections.abc import Sequence
from functools import lru_cache

from reconciler.platform.sandbox.errors import BadRequest, Conflict, Invalid, NotFound
from reconciler.platform.sandbox.people import PeopleStore
from reconciler.platform.sandbox.records import (
    AuditRecord,
    InviteRecord,
    KeyRecord,
    OrganizationRecord,
    UsageRecord,
    UserRecord,
    WorkspaceRecord,
    audit_time,
    hide,
    iso_datetime,
    secret_digest,
)


@lru_cache(maxsize=65536)
def fold(text: str) -> str:
    """Case- and accent-insensitive form used by name filters."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


class SandboxStore(PeopleStore):
    """Every operation the API performs on the sandbox's state, with the rules it keeps."""

    # --- organisation -------------------------------------------------------------------

    @property
    def organization(self) -> OrganizationRecord:
        return self._state.organization

    def set_spend_limit(self, amount: int, no_monthly_limit: bool) -> OrganizationRecord:
        with self._lock:
            org = dataclasses.replace(
                self._state.organization, spend_limit=amount, no_monthly_limit=no_monthly_limit
            )
            self._state.organization = org
            self._commit([org])
            return org

    def usage(self, year: int, month: int, workspace_id: str | None) -> list[UsageRecord]:
        with self._lock:
            if workspace_id is not None and workspace_id not in self._state.workspaces:
                raise NotFound(f"Workspace {workspace_id} not found", param="workspace_id")
            return [
                u
                for u in self._state.usage
                if u.year == year
                and u.month == month
                and (workspace_id is None or u.workspace_id == workspace_id)
            ]

    def month_usage(self, workspace_id: str | None = None) -> list[UsageRecord]:
        """This month's usage (of one workspace, or of the whole organisation)."""
        today = self.today()
        return self.usage(today.year, today.month, workspace_id)

    def record_usage(
        self, workspace_id: str, model: str, input_tokens: int, output_tokens: int
    ) -> UsageRecord:
        """Add one call's tokens to this month's usage of a workspace on a model id."""
        with self._lock:
            today = self.today()
            record = UsageRecord(
                workspace_id, today.year, today.month, model, input_tokens, output_tokens
            )
            old = self._state.find_usage(record.identity)
            if old is not None:
                record = dataclasses.replace(
                    old,
                    input_tokens=old.input_tokens + input_tokens,
                    output_tokens=old.output_tokens + output_tokens,
                )
            self._state.put_usage(record)
            self._commit([record])
            return record

    # --- audit log ----------------------------------------------------------------------

    def record_audit(self, entry: AuditRecord) -> AuditRecord:
        """Append an entry, giving it the next ``log_id`` and a time after the last one's."""
        with self._lock:
            log = self._state.audit
            last = log[-1] if log else None
            entry = dataclasses.replace(
                entry,
                log_id=last.log_id + 1 if last else 1,
                created_at=audit_time(self.clock(), last.created_at if last else None),
            )
            log.append(entry)
            self._commit([entry])
            return entry

    def audit_log(self) -> list[AuditRecord]:
        """Every audit entry, oldest first."""
        with self._lock:
            return list(self._state.audit)

    # --- users --------------------------------------------------------------------------

    def list_users(self, email: str | None) -> tuple[list[UserRecord], list[InviteRecord]]:
        """Members and pending invites whose email contains ``email`` (case-insensitive)."""
        with self._lock:
            users = list(self._state.users.values())
            invites = list(self._state.invites.values())
        if email:
            needle = email.lower()
            users = [u for u in users if needle in u.email.lower()]
            invites = [i for i in invites if needle in i.email.lower()]
        return users, invites

    def user(self, user_uuid: str) -> UserRecord:
        record = self._state.users.get(user_uuid)
        if record is None:
            raise NotFound(f"User {user_uuid} not found", param="user_id")
        return record

    def find_user(self, user_uuid: str) -> UserRecord | None:
        return self._state.users.get(user_uuid)

    def user_workspaces(self, user_uuid: str) -> list[tuple[WorkspaceRecord, list[str]]]:
        """The active workspaces a user belongs to, directly or through a group (see
        :mod:`.people`), with the user's role names in each."""
        with self._lock:
            if self._user_workspaces is None:
                index: dict[str, list[str]] = {}
                for ws in self._state.workspaces.values():
                    if ws.archived:
                        continue
                    for member in ws.members:
                        index.setdefault(member, []).append(ws.uuid)
                self._user_workspaces = index
            roles: dict[str, list[str]] = {
                ws_id: list(self._state.workspaces[ws_id].members[user_uuid])
                for ws_id in self._user_workspaces.get(user_uuid, ())
            }
            for ws_id, granted in self.group_grants(user_uuid).items():
                found = self._state.workspaces.get(ws_id)
                if found is not None and not found.archived:
                    merged = roles.setdefault(ws_id, [])
                    merged.extend(r for r in granted if r not in merged)
            return [(self._state.workspaces[ws_id], held) for ws_id, held in roles.items()]

    # --- workspaces ---------------------------------------------------------------------

    def list_workspaces(self, *, archived: bool, search: str | None) -> list[WorkspaceRecord]:
        """Active workspaces (with ``archived``, archived ones too) in creation order."""
        with self._lock:
            ids = self._workspace_ids.get(archived)
            if ids is None:
                ids = [
                    w.uuid for w in self._state.workspaces.values() if archived or not w.archived
                ]
                self._workspace_ids[archived] = ids
            records = [self._state.workspaces[i] for i in ids]
        if search:
            needle = fold(search)
            records = [w for w in records if needle in fold(w.name)]
        return records

    def workspace(self, ws_uuid: str) -> WorkspaceRecord:
        """An active workspace, or 404."""
        ws = self._state.workspaces.get(ws_uuid)
        if ws is None or ws.archived:
            raise NotFound(f"Workspace {ws_uuid} not found", param="workspace_uuid")
        return ws

    def _check_name(self, name: str, *, exclude: str | None = None) -> None:
        wanted = name.lower()
        for ws in self._state.workspaces.values():
            if not ws.archived and ws.uuid != exclude and ws.name.lower() == wanted:
                raise Conflict(f"A workspace named {name!r} already exists", param="name")

    def create_workspace(
        self,
        *,
        name: str,
        description: str,
        icon: str,
        admin_user_id: str,
        add_all_org_members: bool,
    ) -> WorkspaceRecord:
        with self._lock:
            self._check_name(name)
            self.user(admin_user_id)
            members = {}
            if add_all_org_members:
                members = {u: ["user"] for u in self._state.users}
            members[admin_user_id] = ["workspace_admin"]
            ws = WorkspaceRecord(
                uuid=str(uuid.uuid4()),
                name=name,
                description=description,
                icon=icon,
                is_default=False,
                archived=False,
                created_at=iso_datetime(self.clock()),
                spend_limit=None,
                members=members,
            )
            self._state.workspaces[ws.uuid] = ws
            self._workspace_ids.clear()
            self._user_workspaces = None
            self._commit([ws])
            return ws

    def update_workspace(
        self, ws_uuid: str, *, name: str | None, description: str | None, icon: str | None
    ) -> WorkspaceRecord:
        with self._lock:
            ws = self.workspace(ws_uuid)
            if name is not None:
                self._check_name(name, exclude=ws_uuid)
            ws = dataclasses.replace(
                ws,
                name=ws.name if name is None else name,
                description=ws.description if description is None else description,
                icon=ws.icon if icon is None else icon,
            )
            self._state.workspaces[ws_uuid] = ws
            self._commit([ws])
            return ws

    def archive_workspace(self, ws_uuid: str) -> None:
        with self._lock:
            ws = self.workspace(ws_uuid)
            if ws.is_default:
                raise BadRequest("The default workspace cannot be archived", param="workspace_uuid")
            ws = dataclasses.replace(ws, archived=True)
            self._state.workspaces[ws_uuid] = ws
            self._workspace_ids.clear()
            self._user_workspaces = None
            self._active_key_ids = None
            self._commit([ws])

    def set_workspace_spend_limit(self, ws_uuid: str, value: float | None) -> WorkspaceRecord:
        """What the admin console does (not in the Admin API): used by the control API."""
        with self._lock:
            ws = dataclasses.replace(self.workspace(ws_uuid), spend_limit=value)
            self._state.workspaces[ws_uuid] = ws
            self._commit([ws])
            return ws

    # --- members ------------------------------------------------------------------------

    def _member_changes(
        self, ws_uuid: str, changes: Sequence[tuple[str, list[str]]]
    ) -> WorkspaceRecord:
        ws = self.workspace(ws_uuid)
        for index, (user_uuid, _) in enumerate(changes):
            if user_uuid not in self._state.users:
                raise NotFound(f"User {user_uuid} not found", param=f"members.{index}.user_uuid")
        return ws

    def _store_members(self, ws: WorkspaceRecord, members: dict[str, list[str]]) -> None:
        ws = dataclasses.replace(ws, members=members)
        self._state.workspaces[ws.uuid] = ws
        self._user_workspaces = None
        self._commit([ws])

    def add_members(self, ws_uuid: str, changes: Sequence[tuple[str, list[str]]]) -> int:
        """Add new members; 409 (and nothing changed) if one already belongs."""
        with self._lock:
            ws = self._member_changes(ws_uuid, changes)
            for user_uuid, _ in changes:
                if user_uuid in ws.members:
                    email = self._state.users[user_uuid].email
                    raise Conflict(f"User {email} is already a member of {ws.name!r}")
            members = dict(ws.members)
            members.update({u: list(roles) for u, roles in changes})
            self._store_members(ws, members)
            return len({u for u, _ in changes})

    def put_members(
        self, ws_uuid: str, changes: Sequence[tuple[str, list[str]]]
    ) -> tuple[int, int]:
        """Add or update members; returns (added, updated with different roles)."""
        with self._lock:
            ws = self._member_changes(ws_uuid, changes)
            members = dict(ws.members)
            added = updated = 0
            for user_uuid, roles in changes:
                before = members.get(user_uuid)
                if before is None:
                    added += 1
                elif sorted(before) != sorted(roles):
                    updated += 1
                members[user_uuid] = list(roles)
            if added or updated:
                self._store_members(ws, members)
            return added, updated

    def remove_members(self, ws_uuid: str, user_uuids: Sequence[str]) -> tuple[int, list[str]]:
        """Remove members; returns (removed, the UUIDs that were not members)."""
        with self._lock:
            ws = self.workspace(ws_uuid)
            members = dict(ws.members)
            missing = [u for u in user_uuids if u not in members]
            removed = 0
            for user_uuid in user_uuids:
                if members.pop(user_uuid, None) is not None:
                    removed += 1
            if removed:
                self._store_members(ws, members)
            return removed, missing

    # --- keys ---------------------------------------------------------------------------

    def _active_keys(self) -> list[str]:
        if self._active_key_ids is None:
            workspaces = self._state.workspaces
            self._active_key_ids = [
                k.key_id
                for k in self._state.keys.values()
                if not workspaces[k.workspace_id].archived
            ]
        return self._active_key_ids

    def count_keys(self) -> int:
        with self._lock:
            return len(self._active_keys())

    def list_keys(self, *, offset: int, limit: int, name: str | None) -> list[KeyRecord]:
        """One page of keys of active workspaces, oldest first; ``name`` filters."""
        with self._lock:
            keys = self._state.keys
            ids = self._active_keys()
            if not name:
                return [keys[i] for i in ids[offset : offset + limit]]
            needle = fold(name)
            matches = [
                keys[i]
                for i in ids
                if needle in fold(keys[i].name or "") or fold(keys[i].hidden_key[-4:]) == needle
            ]
            return matches[offset : offset + limit]

    def workspace_any(self, ws_uuid: str) -> WorkspaceRecord | None:
        """A workspace, archived or not (for rendering a key's workspace name)."""
        return self._state.workspaces.get(ws_uuid)

    def create_key(
        self,
        *,
        workspace_uuid: str,
        user_id: str,
        name: str | None,
        expiration: dt.date | None,
    ) -> tuple[KeyRecord, str]:
        """Create a key; returns the record and the plaintext secret (the only copy)."""
        with self._lock:
            today = self.today()
            if expiration is not None and expiration < today:
                raise Invalid.one(
                    ["body", "expiration"],
                    f"Expiration date {expiration.isoformat()} is in the past",
                    "value_error",
                )
            ws = self.workspace(workspace_uuid)
            user = self.user(user_id)
            if user_id not in ws.members and ws.uuid not in self.group_grants(user_id):
                raise BadRequest(
                    f"User {user.email} is not a member of workspace {ws.name!r}", param="user_id"
                )
            cap = self._state.organization.max_key_expiry_days
            if cap is not None:
                latest = today + dt.timedelta(days=cap)
                if expiration is None or expiration > latest:
                    expiration = latest
            from reconciler.platform.sandbox.seed import new_secret  # a plan makes no key

            secret = new_secret()
            while secret_digest(secret) in self._key_by_digest:  # pragma: no cover
                secret = new_secret()
            key = KeyRecord(
                key_id=str(uuid.uuid4()),
                name=name,
                workspace_id=ws.uuid,
                user_id=user_id,
                created_at=iso_datetime(self.clock()),
                expiration_date=expiration.isoformat() if expiration else None,
                last_used=None,
                secret_sha256=secret_digest(secret),
                hidden_key=hide(secret),
            )
            self._state.keys[key.key_id] = key
            self._key_by_digest[key.secret_sha256] = key.key_id
            if self._active_key_ids is not None:
                self._active_key_ids.append(key.key_id)
            self._commit([key])
            return key, secret

    def delete_key(self, key_id: str) -> KeyRecord:
        """Delete a key of an active workspace; returns what it was."""
        with self._lock:
            key = self._state.keys.get(key_id)
            if key is None or self._state.workspaces[key.workspace_id].archived:
                raise NotFound(f"API key {key_id} not found", param="key_id")
            del self._state.keys[key_id]
            self._key_by_digest.pop(key.secret_sha256, None)
            self._active_key_ids = None
            self._commit(dels=[("key", key_id)])
            return key

    def authenticate_key(self, secret: str) -> KeyRecord | None:
        """The usable key with this secret (marking it used today), or None."""
        with self._lock:
            key_id = self._key_by_digest.get(secret_digest(secret))
            if key_id is None:
                return None
            key = self._state.keys[key_id]
            today = self.today()
            if self._state.workspaces[key.workspace_id].archived:
                return None
            if (
                key.expiration_date is not None
                and dt.date.fromisoformat(key.expiration_date) < today
            ):
                return None
            if key.last_used != today.isoformat():
                key = dataclasses.replace(key, last_used=today.isoformat())
                self._state.keys[key_id] = key
                self._commit([key])
            return key
