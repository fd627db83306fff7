"""``AuditTrail``: the audit entries the Admin API's and the console's changes record.

The handlers of :mod:`.app` and :mod:`.control` call it after each change succeeds, with
the record before and after; what each change records, and who it names, is described in
:mod:`.audit`.
"""

from __future__ import annotations

from reconciler.platform.sandbox.audit import (
    Actor,
    AuditEvent,
    admin_key,
    changes,
    entry,
    group_entries,
    group_target,
    invite_target,
    key_target,
    limit_text,
    member_entries,
    organization_target,
    person,
    user_fields,
    workspace_target,
)
from reconciler.platform.sandbox.errors import BadRequest
from reconciler.platform.sandbox.records import (
    AuditRecord,
    GroupRecord,
    InviteRecord,
    KeyRecord,
    OrganizationRecord,
    UserRecord,
    WorkspaceRecord,
)
from reconciler.platform.sandbox.store import SandboxStore
from reconciler.platform.vocabulary import ORGANIZATION_ADMIN_ROLE


class AuditTrail:
    """Records changes made through one store, by the Admin API key unless told otherwise."""

    def __init__(self, store: SandboxStore) -> None:
        self.store = store

    def _admin_user(self) -> UserRecord | None:
        users = self.store.list_users(None)[0]
        return next((u for u in users if u.role == ORGANIZATION_ADMIN_ROLE), None)

    def admin(self) -> Actor:
        """The Admin API key, on behalf of the organisation's first organisation admin."""
        return admin_key(self._admin_user())

    def person(self, email: str | None) -> Actor:
        """A console user by email (default: the Admin API key's user); 400 if unknown."""
        if email is None:
            user = self._admin_user()
            return person(user) if user else Actor("HUMAN")
        wanted = email.lower()
        for user in self.store.list_users(email)[0]:
            if user.email.lower() == wanted:
                return person(user)
        raise BadRequest(f"No user {email} in the organization", param="actor")

    def _record(self, *entries: AuditRecord) -> None:
        for one in entries:
            self.store.record_audit(one)

    def workspace_created(self, ws: WorkspaceRecord) -> None:
        details = {"name": ws.name, "description": ws.description}
        target = workspace_target(ws)
        self._record(
            entry(self.admin(), "workspace.create", target, details, workspace_uuid=ws.uuid)
        )

    def workspace_updated(self, before: WorkspaceRecord, after: WorkspaceRecord) -> None:
        details = changes(
            {
                "name": (before.name, after.name),
                "description": (before.description, after.description),
                "icon": (before.icon, after.icon),
            }
        )
        if details:
            target = workspace_target(after)
            self._record(
                entry(self.admin(), "workspace.update", target, details, workspace_uuid=after.uuid)
            )

    def workspace_archived(self, ws: WorkspaceRecord) -> None:
        self._record(
            entry(self.admin(), "workspace.delete", workspace_target(ws), workspace_uuid=ws.uuid)
        )

    def members_changed(self, before: WorkspaceRecord, after: WorkspaceRecord) -> None:
        users = {u.uuid: u for u in self.store.list_users(None)[0]}
        self._record(*member_entries(self.admin(), before, after, users))

    def key_created(self, key: KeyRecord) -> None:
        self._key("api_key.create", key)

    def key_deleted(self, key: KeyRecord) -> None:
        self._key("api_key.delete", key)

    def _key(self, event: AuditEvent, key: KeyRecord) -> None:
        target = key_target(key, self.store.find_user(key.user_id))
        self._record(entry(self.admin(), event, target, workspace_uuid=key.workspace_id))

    def spend_limit_set(self, before: OrganizationRecord, after: OrganizationRecord) -> None:
        details = changes(
            {
                "amount": (limit_text(before.spend_limit), limit_text(after.spend_limit)),
                "no_monthly_limit": (
                    str(before.no_monthly_limit).lower(),
                    str(after.no_monthly_limit).lower(),
                ),
            }
        )
        if details:
            target = organization_target(after)
            self._record(entry(self.admin(), "billing.monthly_limit.updated", target, details))

    def workspace_spend_limit_set(
        self, actor: Actor, before: WorkspaceRecord, after: WorkspaceRecord
    ) -> None:
        details = changes(
            {"value": (limit_text(before.spend_limit), limit_text(after.spend_limit))}
        )
        if details:
            event: AuditEvent = "billing.workspace_monthly_limit.updated"
            target = workspace_target(after)
            self._record(entry(actor, event, target, details, workspace_uuid=after.uuid))

    # --- people ------------------------------------------------------------------------

    def user_created(self, user: UserRecord) -> None:
        details = {"role": user.role, "subscription_types": ",".join(user.seats)}
        self._record(entry(self.admin(), "user.create", user_fields(user), details))

    def user_updated(
        self, before: UserRecord, after: UserRecord, actor: Actor | None = None
    ) -> None:
        """A role change and a seats change, each its own entry (by ``actor``, default the
        Admin API key)."""
        who = actor or self.admin()
        role = changes({"role": (before.role, after.role)})
        if role:
            self._record(entry(who, "user.organization.role.update", user_fields(after), role))
        seats = changes({"subscription_types": (",".join(before.seats), ",".join(after.seats))})
        if seats:
            self._record(entry(who, "user.info.update", user_fields(after), seats))

    def user_deleted(self, user: UserRecord) -> None:
        self._record(entry(self.admin(), "user.delete", user_fields(user)))

    def invite_sent(self, invite: InviteRecord) -> None:
        details = {"role": invite.role}
        self._record(
            entry(self.admin(), "organization.invite.send", invite_target(invite), details)
        )

    def invite_revoked(self, invite: InviteRecord) -> None:
        self._record(entry(self.admin(), "organization.invite.revoked", invite_target(invite)))

    def invite_accepted(self, invite: InviteRecord, user: UserRecord) -> None:
        target = {**invite_target(invite), **user_fields(user)}
        self._record(entry(person(user), "organization.invite.accepted", target))

    # --- user groups -------------------------------------------------------------------

    def group_created(self, group: GroupRecord) -> None:
        details = {"name": group.name, "description": group.description or ""}
        self._record(entry(self.admin(), "user_group.create", group_target(group), details))

    def group_changed(self, before: GroupRecord, after: GroupRecord) -> None:
        """Each change between two versions of a group (see :func:`.audit.group_entries`)."""
        users = {u.uuid: u for u in self.store.list_users(None)[0]}
        workspaces = {w.uuid: w for w in self.store.list_workspaces(archived=True, search=None)}
        self._record(*group_entries(self.admin(), before, after, users, workspaces))

    def group_nested(self, group: GroupRecord, before: list[str], after: list[str]) -> None:
        """The groups nested in ``group`` replaced (names, comma-joined)."""
        details = changes({"child_group_names": (",".join(before), ",".join(after))})
        if details:
            self._record(entry(self.admin(), "user_group.update", group_target(group), details))

    def group_deleted(self, group: GroupRecord) -> None:
        self._record(entry(self.admin(), "user_group.delete", group_target(group)))
