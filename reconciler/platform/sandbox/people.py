"""The sandbox's people: organisation members, invitations and user groups, with their rules.

:class:`PeopleStore` holds the operations of ``/users``, ``/users-invite`` and
``/user-groups`` on the sandbox's state (under the store's one lock, journaled like every
change). :class:`~.store.SandboxStore` inherits them.

Behaviour decided here (the public contract leaves it open):

- an email is one person, whatever its case; creating or inviting an email that is
  already a member answers it in ``already_members``/``invalid_emails`` and changes nothing;
- one pending invitation per email: inviting again replaces it (a new id and date, as a
  resend would);
- the organisation keeps at least one ``organization_admin``: demoting or deleting the last
  one is refused (400);
- deleting a member removes them from every workspace and group and deletes their API keys
  (they no longer belong to the organisation);
- a group's members reach the workspaces it is assigned to, with its roles, and so do the
  members of the groups nested inside it: ``GET /users`` lists those workspaces beside
  direct memberships (roles merged), and such a member may own keys there;
- group names are unique, case-insensitively (409); nesting a group inside itself or
  inside one of its descendants is refused (400);
- ``provision-workspace`` makes every direct member of the group a direct member of the
  workspace with the role (added, or roles replaced, as ``PATCH .../users`` does).
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Iterable, Sequence

from reconciler.platform.sandbox.errors import BadRequest, Conflict, NotFound
from reconciler.platform.sandbox.journaled import JournaledState
from reconciler.platform.sandbox.records import (
    GroupRecord,
    InviteRecord,
    KeyRecord,
    Record,
    UserRecord,
    iso_datetime,
)
from reconciler.platform.vocabulary import ORGANIZATION_ADMIN_ROLE

ADMIN = ORGANIZATION_ADMIN_ROLE


class PeopleStore(JournaledState):
    """Members, invitations and groups (see the module docstring)."""

    # --- members --------------------------------------------------------------------

    def _user_by_email(self, email: str) -> UserRecord | None:
        wanted = email.strip().lower()
        return next((u for u in self._state.users.values() if u.email.lower() == wanted), None)

    def _check_admins_remain(self, leaving: str) -> None:
        admins = [u.uuid for u in self._state.users.values() if u.role == ADMIN]
        if admins == [leaving]:
            raise BadRequest(f"The organization must keep at least one {ADMIN}")

    def _drop_invites(self, email: str) -> list[tuple[str, str]]:
        wanted = email.lower()
        gone = [i.uuid for i in self._state.invites.values() if i.email.lower() == wanted]
        for invite_id in gone:
            del self._state.invites[invite_id]
        return [("invite", i) for i in gone]

    def create_users(
        self, entries: Sequence[tuple[str, str, str, str, list[str]]]
    ) -> tuple[list[str], dict[str, str]]:
        """Create members from (email, first name, last name, role, seats); returns the
        emails that could not be created and each created email's user id."""
        with self._lock:
            invalid: list[str] = []
            created: dict[str, str] = {}
            for email, first, last, role, seats in entries:
                if "@" not in email or self._user_by_email(email) is not None:
                    invalid.append(email)
                    continue
                user = UserRecord(
                    uuid=str(uuid.uuid4()),
                    email=email,
                    first_name=first,
                    last_name=last,
                    role=role,
                    created_at=iso_datetime(self.clock()),
                    seats=list(dict.fromkeys(seats)),
                )
                self._state.users[user.uuid] = user
                self._commit([user], self._drop_invites(email))
                created[email] = user.uuid
            return invalid, created

    def update_user(
        self, user_uuid: str, *, role: str | None, seats: list[str] | None
    ) -> UserRecord:
        """Change a member's organisation role and/or product seats (``None``: unchanged)."""
        with self._lock:
            user = self._member(user_uuid)
            if role is not None and role != ADMIN and user.role == ADMIN:
                self._check_admins_remain(user_uuid)
            user = dataclasses.replace(
                user,
                role=user.role if role is None else role,
                seats=user.seats if seats is None else list(dict.fromkeys(seats)),
            )
            self._state.users[user_uuid] = user
            self._commit([user])
            return user

    def delete_user(self, user_uuid: str) -> tuple[UserRecord, list[KeyRecord]]:
        """Remove a member from the organisation; returns them and the keys deleted."""
        with self._lock:
            user = self._member(user_uuid)
            self._check_admins_remain(user_uuid)
            puts: list[Record] = []
            for ws in list(self._state.workspaces.values()):
                if user_uuid in ws.members:
                    members = {u: r for u, r in ws.members.items() if u != user_uuid}
                    ws = dataclasses.replace(ws, members=members)
                    self._state.workspaces[ws.uuid] = ws
                    puts.append(ws)
            for group in list(self._state.groups.values()):
                if user_uuid in group.members:
                    group = dataclasses.replace(
                        group, members=[m for m in group.members if m != user_uuid]
                    )
                    self._state.groups[group.uuid] = group
                    puts.append(group)
            keys = [k for k in self._state.keys.values() if k.user_id == user_uuid]
            for key in keys:
                del self._state.keys[key.key_id]
                self._key_by_digest.pop(key.secret_sha256, None)
            del self._state.users[user_uuid]
            self._active_key_ids = None
            self._user_workspaces = None
            dels = [("user", user_uuid), *(("key", k.key_id) for k in keys)]
            self._commit(puts, dels)
            return user, keys

    def _member(self, user_uuid: str) -> UserRecord:
        user = self._state.users.get(user_uuid)
        if user is None:
            raise NotFound(f"User {user_uuid} not found", param="user_id")
        return user

    # --- invitations ----------------------------------------------------------------

    def invite(
        self, emails: Sequence[str], *, role: str, seats: list[str], workspace_uuids: list[str]
    ) -> tuple[list[str], list[str], int]:
        """Invite each email; returns (invalid emails, already members, invitations made)."""
        with self._lock:
            for index, ws_uuid in enumerate(workspace_uuids):
                ws = self._state.workspaces.get(ws_uuid)
                if ws is None or ws.archived:
                    raise NotFound(
                        f"Workspace {ws_uuid} not found", param=f"workspace_uuids.{index}"
                    )
            invalid: list[str] = []
            members: list[str] = []
            made = 0
            for email in emails:
                if "@" not in email or any(c.isspace() for c in email):
                    invalid.append(email)
                    continue
                if self._user_by_email(email) is not None:
                    members.append(email)
                    continue
                invite = InviteRecord(
                    uuid=str(uuid.uuid4()),
                    email=email,
                    role=role,
                    created_at=iso_datetime(self.clock()),
                    workspace_uuids=list(dict.fromkeys(workspace_uuids)),
                    seats=list(dict.fromkeys(seats)),
                )
                dels = self._drop_invites(email)
                self._state.invites[invite.uuid] = invite
                self._commit([invite], dels)
                made += 1
            return invalid, members, made

    def cancel_invite(self, invite_uuid: str) -> InviteRecord:
        with self._lock:
            invite = self._state.invites.pop(invite_uuid, None)
            if invite is None:
                raise NotFound(f"Invitation {invite_uuid} not found", param="invite_uuid")
            self._commit(dels=[("invite", invite_uuid)])
            return invite

    def accept_invite(
        self, invite_uuid: str, *, first_name: str = "", last_name: str = ""
    ) -> UserRecord:
        """What the invited person does (the control API): they join, with the invitation's
        role and seats, and the workspaces it names (role ``user``)."""
        with self._lock:
            invite = self._state.invites.get(invite_uuid)
            if invite is None or invite.expired:
                raise NotFound(f"Invitation {invite_uuid} not found", param="invite_uuid")
            _, created = self.create_users(
                [(invite.email, first_name, last_name, invite.role, invite.seats)]
            )
            user = self._state.users[created[invite.email]]
            for ws_uuid in invite.workspace_uuids:
                ws = self._state.workspaces.get(ws_uuid)
                if ws is not None and not ws.archived:
                    ws = dataclasses.replace(ws, members={**ws.members, user.uuid: ["user"]})
                    self._state.workspaces[ws_uuid] = ws
                    self._commit([ws])
            self._user_workspaces = None
            return user

    # --- groups ---------------------------------------------------------------------

    def list_groups(self, search: str | None) -> list[GroupRecord]:
        with self._lock:
            groups = list(self._state.groups.values())
        if search:
            needle = search.lower()
            groups = [g for g in groups if needle in g.name.lower()]
        return groups

    def group(self, group_uuid: str) -> GroupRecord:
        found = self._state.groups.get(group_uuid)
        if found is None:
            raise NotFound(f"User group {group_uuid} not found", param="group_uuid")
        return found

    def _check_group_name(self, name: str, exclude: str | None = None) -> None:
        for g in self._state.groups.values():
            if g.uuid != exclude and g.name.lower() == name.lower():
                raise Conflict(f"A user group named {name!r} already exists", param="name")

    def _ancestors(self, group_uuid: str) -> set[str]:
        seen: set[str] = set()
        todo = [group_uuid]
        while todo:
            group = self._state.groups.get(todo.pop())
            for parent in group.parent_ids if group else ():
                if parent not in seen:
                    seen.add(parent)
                    todo.append(parent)
        return seen

    def _check_parents(self, group_uuid: str, parents: Iterable[str]) -> list[str]:
        out = []
        for index, parent in enumerate(dict.fromkeys(parents)):
            if parent not in self._state.groups:
                raise NotFound(f"User group {parent} not found", param=f"parent_group_ids.{index}")
            if parent == group_uuid or group_uuid in self._ancestors(parent):
                raise BadRequest("A group cannot be nested inside itself", param="parent_group_ids")
            out.append(parent)
        return out

    def _put_group(self, group: GroupRecord) -> GroupRecord:
        self._state.groups[group.uuid] = group
        self._user_workspaces = None
        self._commit([group])
        return group

    def create_group(
        self, *, name: str, description: str | None, target_type: str | None, parents: list[str]
    ) -> GroupRecord:
        with self._lock:
            self._check_group_name(name)
            group_uuid = str(uuid.uuid4())
            group = GroupRecord(
                uuid=group_uuid,
                name=name,
                description=description,
                created_at=iso_datetime(self.clock()),
                target_type=target_type,
                parent_ids=self._check_parents(group_uuid, parents),
            )
            return self._put_group(group)

    def update_group(
        self,
        group_uuid: str,
        *,
        name: str | None,
        description: str | None,
        target_type: str | None,
        parents: list[str] | None,
    ) -> GroupRecord:
        with self._lock:
            group = self.group(group_uuid)
            if name is not None:
                self._check_group_name(name, exclude=group_uuid)
            return self._put_group(
                dataclasses.replace(
                    group,
                    name=group.name if name is None else name,
                    description=group.description if description is None else description,
                    target_type=group.target_type if target_type is None else target_type,
                    parent_ids=group.parent_ids
                    if parents is None
                    else self._check_parents(group_uuid, parents),
                )
            )

    def delete_group(self, group_uuid: str) -> GroupRecord:
        with self._lock:
            group = self.group(group_uuid)
            del self._state.groups[group_uuid]
            children = [g for g in self._state.groups.values() if group_uuid in g.parent_ids]
            for child in children:
                self._state.groups[child.uuid] = dataclasses.replace(
                    child, parent_ids=[p for p in child.parent_ids if p != group_uuid]
                )
            self._user_workspaces = None
            self._commit([self._state.groups[c.uuid] for c in children], [("group", group_uuid)])
            return group

    def set_group_members(self, group_uuid: str, user_uuids: Sequence[str], *, add: bool) -> None:
        """Add (``add``) or remove members; unknown users are 404 when adding."""
        with self._lock:
            group = self.group(group_uuid)
            if add:
                for index, user_uuid in enumerate(user_uuids):
                    if user_uuid not in self._state.users:
                        raise NotFound(f"User {user_uuid} not found", param=f"user_uuids.{index}")
                members = list(dict.fromkeys([*group.members, *user_uuids]))
            else:
                members = [m for m in group.members if m not in set(user_uuids)]
            self._put_group(dataclasses.replace(group, members=members))

    def children(self, group_uuid: str) -> list[GroupRecord]:
        with self._lock:
            self.group(group_uuid)
            return [g for g in self._state.groups.values() if group_uuid in g.parent_ids]

    def set_children(self, group_uuid: str, child_uuids: Sequence[str]) -> None:
        """Replace the groups nested directly inside ``group_uuid``."""
        with self._lock:
            self.group(group_uuid)
            wanted = list(dict.fromkeys(child_uuids))
            for index, child in enumerate(wanted):
                if child not in self._state.groups:
                    raise NotFound(
                        f"User group {child} not found", param=f"child_group_uuids.{index}"
                    )
                if child == group_uuid or child in self._ancestors(group_uuid):
                    raise BadRequest(
                        "A group cannot be nested inside itself", param="child_group_uuids"
                    )
            changed = []
            for g in list(self._state.groups.values()):
                has = group_uuid in g.parent_ids
                if has != (g.uuid in wanted):
                    parents = (
                        [*g.parent_ids, group_uuid]
                        if not has
                        else [p for p in g.parent_ids if p != group_uuid]
                    )
                    g = dataclasses.replace(g, parent_ids=parents)
                    self._state.groups[g.uuid] = g
                    changed.append(g)
            self._user_workspaces = None
            self._commit(changed)

    def set_group_organization_role(self, group_uuid: str, role: str) -> None:
        with self._lock:
            self._put_group(dataclasses.replace(self.group(group_uuid), organization_role=role))

    def assign_workspace(
        self, group_uuid: str, ws_uuid: str, roles: list[str], *, new: bool
    ) -> None:
        """Grant a workspace (``new``: 409 if already granted; else 404 if not granted)."""
        with self._lock:
            group = self.group(group_uuid)
            found = self._state.workspaces.get(ws_uuid)
            if found is None or found.archived:
                raise NotFound(f"Workspace {ws_uuid} not found", param="workspace_uuid")
            if new and ws_uuid in group.workspaces:
                raise Conflict(f"The group {group.name!r} is already assigned to that workspace")
            if not new and ws_uuid not in group.workspaces:
                raise NotFound(f"The group {group.name!r} is not assigned to workspace {ws_uuid}")
            stamp = group.assigned_at.get(ws_uuid) or iso_datetime(self.clock())
            self._put_group(
                dataclasses.replace(
                    group,
                    workspaces={**group.workspaces, ws_uuid: list(dict.fromkeys(roles))},
                    assigned_at={**group.assigned_at, ws_uuid: stamp},
                )
            )

    def unassign_workspace(self, group_uuid: str, ws_uuid: str) -> None:
        with self._lock:
            group = self.group(group_uuid)
            if ws_uuid not in group.workspaces:
                raise NotFound(f"The group {group.name!r} is not assigned to workspace {ws_uuid}")
            self._put_group(
                dataclasses.replace(
                    group,
                    workspaces={w: r for w, r in group.workspaces.items() if w != ws_uuid},
                    assigned_at={w: t for w, t in group.assigned_at.items() if w != ws_uuid},
                )
            )

    def group_grants(self, user_uuid: str) -> dict[str, list[str]]:
        """Workspace UUID -> the roles a user holds there through groups (nested included)."""
        groups = self._state.groups
        if not groups:
            return {}
        reached: set[str] = set()
        for group in groups.values():
            if user_uuid in group.members:
                reached.add(group.uuid)
                reached |= self._ancestors(group.uuid)
        grants: dict[str, list[str]] = {}
        for group_uuid in sorted(reached):
            for ws_uuid, roles in groups[group_uuid].workspaces.items():
                merged = grants.setdefault(ws_uuid, [])
                merged.extend(r for r in roles if r not in merged)
        return grants
