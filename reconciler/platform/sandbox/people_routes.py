"""The sandbox's people routes: members, invitations and user groups (see :mod:`.people`).

``POST /users``, ``PATCH|DELETE /users/{user_id}``, ``GET|POST /users-invite``,
``DELETE /users-invite/{invite_uuid}``, ``GET|POST /user-groups``,
``GET|PATCH|DELETE /user-groups/{group_uuid}``, ``GET|POST|DELETE .../members``,
``GET|POST .../workspaces``, ``PATCH|DELETE .../workspaces/{workspace_uuid}``,
``PATCH .../organization-role``, ``GET|PATCH .../nested`` and
``POST /user-groups/provision-workspace``, all under ``/v1/admin`` behind the admin key.
"""

from __future__ import annotations

from collections.abc import Callable

from pydantic import TypeAdapter, ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from reconciler.platform.sandbox.audit_trail import AuditTrail
from reconciler.platform.sandbox.errors import Invalid
from reconciler.platform.sandbox.inputs import Handler, body, path_uuid, query
from reconciler.platform.sandbox.people_wire import (
    AssignIn,
    AssignUpdateIn,
    GroupIn,
    GroupsQuery,
    GroupUpdateIn,
    InviteIn,
    MemberCreateIn,
    MemberUpdateIn,
    NestedIn,
    OrganizationRoleIn,
    ProvisionIn,
    UserUuidsIn,
    assignment_out,
    group_member_out,
    group_out,
    invite_user_out,
    page_of,
)
from reconciler.platform.sandbox.roles import organization_role_name
from reconciler.platform.sandbox.store import SandboxStore
from reconciler.platform.sandbox.wire import PageQuery, member_out
from reconciler.platform.vocabulary import DEFAULT_ORGANIZATION_ROLE

NO_CONTENT = 204
_MEMBERS = TypeAdapter(list[MemberCreateIn])


def _deleted(message: str) -> Response:
    return JSONResponse({"message": message})


class PeopleApi:
    """The handlers, bound to one store."""

    def __init__(self, store: SandboxStore) -> None:
        self.store = store
        self.trail = AuditTrail(store)

    # --- members --------------------------------------------------------------------

    async def create_users(self, request: Request) -> Response:
        raw = await request.body()
        try:
            entries = _MEMBERS.validate_json(raw or b"null")
        except ValidationError as exc:
            raise Invalid.from_pydantic(exc, "body") from None
        invalid, created = self.store.create_users(
            [
                (
                    e.email,
                    e.first_name,
                    e.last_name,
                    e.org_role() or DEFAULT_ORGANIZATION_ROLE,
                    [*e.seats()],
                )
                for e in entries
            ]
        )
        for user_id in created.values():
            if (user := self.store.find_user(user_id)) is not None:
                self.trail.user_created(user)
        return JSONResponse({"invalid_emails": invalid, "email_to_user_id": created})

    async def update_user(self, request: Request) -> Response:
        user_id = path_uuid(request, "user_id")
        b = await body(request, MemberUpdateIn)
        seats = None if b.subscription_types is None else [str(s) for s in b.subscription_types]
        before = self.store.find_user(user_id)
        user = self.store.update_user(user_id, role=b.org_role(), seats=seats)
        if before is not None:
            self.trail.user_updated(before, user)
        return JSONResponse(member_out(user, self.store.user_workspaces(user.uuid)))

    async def delete_user(self, request: Request) -> Response:
        user, _ = self.store.delete_user(path_uuid(request, "user_id"))
        self.trail.user_deleted(user)
        return _deleted("Organization member deleted successfully")

    # --- invitations ----------------------------------------------------------------

    async def invite(self, request: Request) -> Response:
        b = await body(request, InviteIn)
        invalid, members, made = self.store.invite(
            b.emails(),
            role=b.org_role() or DEFAULT_ORGANIZATION_ROLE,
            seats=b.seats(),
            workspace_uuids=[str(w) for w in b.workspace_uuids or ()],
        )
        sent = {e.lower() for e in b.emails()} - {e.lower() for e in [*invalid, *members]}
        for invite in self.store.list_users(None)[1]:
            if invite.email.lower() in sent:
                self.trail.invite_sent(invite)
        return JSONResponse(
            {"invalid_emails": invalid, "already_members": members, "invited_members_count": made}
        )

    async def list_invites(self, request: Request) -> Response:
        invites = self.store.list_users(None)[1]
        return JSONResponse([invite_user_out(i) for i in invites])

    async def cancel_invite(self, request: Request) -> Response:
        self.trail.invite_revoked(self.store.cancel_invite(path_uuid(request, "invite_uuid")))
        return _deleted("Organization invitation deleted successfully")

    # --- groups ---------------------------------------------------------------------

    async def list_groups(self, request: Request) -> Response:
        q = query(request, GroupsQuery)
        groups = self.store.list_groups(q.search)
        return JSONResponse(
            {
                "total": len(groups),
                "items": [group_out(g) for g in page_of(groups, q.page, q.page_size)],
                "page": q.page,
                "page_size": q.page_size,
            }
        )

    async def create_group(self, request: Request) -> Response:
        b = await body(request, GroupIn)
        group = self.store.create_group(
            name=b.name,
            description=b.description,
            target_type=b.target_type,
            parents=[str(p) for p in b.parent_group_ids],
        )
        self.trail.group_created(group)
        return JSONResponse(group_out(group))

    async def get_group(self, request: Request) -> Response:
        return JSONResponse(group_out(self.store.group(path_uuid(request, "group_uuid"))))

    async def update_group(self, request: Request) -> Response:
        group_uuid = path_uuid(request, "group_uuid")
        b = await body(request, GroupUpdateIn)
        parents = None if b.parent_group_ids is None else [str(p) for p in b.parent_group_ids]
        before = self.store.group(group_uuid)
        group = self.store.update_group(
            group_uuid,
            name=b.name,
            description=b.description,
            target_type=b.target_type,
            parents=parents,
        )
        self.trail.group_changed(before, group)
        return JSONResponse(group_out(group))

    async def delete_group(self, request: Request) -> Response:
        self.trail.group_deleted(self.store.delete_group(path_uuid(request, "group_uuid")))
        return Response(status_code=NO_CONTENT)

    async def members(self, request: Request) -> Response:
        group = self.store.group(path_uuid(request, "group_uuid"))
        q = query(request, PageQuery)
        users = [u for m in group.members if (u := self.store.find_user(m)) is not None]
        return JSONResponse(
            {
                "total": len(users),
                "members": [group_member_out(u) for u in page_of(users, q.page, q.page_size)],
                "page": q.page,
                "page_size": q.page_size,
            }
        )

    async def _set_members(self, request: Request, *, add: bool) -> Response:
        group_uuid = path_uuid(request, "group_uuid")
        b = await body(request, UserUuidsIn)
        before = self.store.group(group_uuid)
        self.store.set_group_members(group_uuid, [str(u) for u in b.user_uuids], add=add)
        self.trail.group_changed(before, self.store.group(group_uuid))
        return Response(status_code=NO_CONTENT)

    async def add_members(self, request: Request) -> Response:
        return await self._set_members(request, add=True)

    async def remove_members(self, request: Request) -> Response:
        return await self._set_members(request, add=False)

    async def workspaces(self, request: Request) -> Response:
        group = self.store.group(path_uuid(request, "group_uuid"))
        q = query(request, GroupsQuery)
        assigned = [
            (ws_uuid, ws)
            for ws_uuid in group.workspaces
            if (ws := self.store.workspace_any(ws_uuid)) is not None and not ws.archived
        ]
        return JSONResponse(
            {
                "total": len(assigned),
                "items": [
                    assignment_out(group, ws) for _, ws in page_of(assigned, q.page, q.page_size)
                ],
                "page": q.page,
                "page_size": q.page_size,
            }
        )

    async def assign(self, request: Request) -> Response:
        group_uuid = path_uuid(request, "group_uuid")
        b = await body(request, AssignIn)
        before = self.store.group(group_uuid)
        self.store.assign_workspace(group_uuid, str(b.workspace_uuid), b.role_list(), new=True)
        self.trail.group_changed(before, self.store.group(group_uuid))
        return Response(status_code=201)

    async def update_assignment(self, request: Request) -> Response:
        group_uuid = path_uuid(request, "group_uuid")
        ws_uuid = path_uuid(request, "workspace_uuid")
        b = await body(request, AssignUpdateIn)
        before = self.store.group(group_uuid)
        self.store.assign_workspace(group_uuid, ws_uuid, b.role_list(), new=False)
        self.trail.group_changed(before, self.store.group(group_uuid))
        return Response(status_code=NO_CONTENT)

    async def unassign(self, request: Request) -> Response:
        group_uuid = path_uuid(request, "group_uuid")
        before = self.store.group(group_uuid)
        self.store.unassign_workspace(group_uuid, path_uuid(request, "workspace_uuid"))
        self.trail.group_changed(before, self.store.group(group_uuid))
        return Response(status_code=NO_CONTENT)

    async def organization_role(self, request: Request) -> Response:
        group_uuid = path_uuid(request, "group_uuid")
        b = await body(request, OrganizationRoleIn)
        role = organization_role_name(b.organization_role) or DEFAULT_ORGANIZATION_ROLE
        before = self.store.group(group_uuid)
        self.store.set_group_organization_role(group_uuid, role)
        self.trail.group_changed(before, self.store.group(group_uuid))
        return Response(status_code=NO_CONTENT)

    async def nested(self, request: Request) -> Response:
        children = self.store.children(path_uuid(request, "group_uuid"))
        return JSONResponse({"children": [{"uuid": g.uuid, "name": g.name} for g in children]})

    async def set_nested(self, request: Request) -> Response:
        group_uuid = path_uuid(request, "group_uuid")
        b = await body(request, NestedIn)
        before = [g.name for g in self.store.children(group_uuid)]
        self.store.set_children(group_uuid, [str(c) for c in b.child_group_uuids])
        after = [g.name for g in self.store.children(group_uuid)]
        self.trail.group_nested(self.store.group(group_uuid), before, after)
        return Response(status_code=NO_CONTENT)

    async def provision(self, request: Request) -> Response:
        b = await body(request, ProvisionIn)
        group = self.store.group(str(b.user_group_uuid))
        role = b.role()
        self.store.put_members(str(b.workspace_uuid), [(u, [role]) for u in group.members])
        return Response(status_code=NO_CONTENT)

    def routes(self, guard: Callable[[Handler], Handler], prefix: str) -> list[Route]:
        g = guard
        user = f"{prefix}/users/{{user_id}}"
        group = f"{prefix}/user-groups/{{group_uuid}}"
        return [
            Route(f"{prefix}/users", g(self.create_users), methods=["POST"]),
            Route(user, g(self.update_user), methods=["PATCH"]),
            Route(user, g(self.delete_user), methods=["DELETE"]),
            Route(f"{prefix}/users-invite", g(self.invite), methods=["POST"]),
            Route(f"{prefix}/users-invite", g(self.list_invites), methods=["GET"]),
            Route(
                f"{prefix}/users-invite/{{invite_uuid}}", g(self.cancel_invite), methods=["DELETE"]
            ),
            Route(f"{prefix}/user-groups", g(self.list_groups), methods=["GET"]),
            Route(f"{prefix}/user-groups", g(self.create_group), methods=["POST"]),
            Route(f"{prefix}/user-groups/provision-workspace", g(self.provision), methods=["POST"]),
            Route(group, g(self.get_group), methods=["GET"]),
            Route(group, g(self.update_group), methods=["PATCH"]),
            Route(group, g(self.delete_group), methods=["DELETE"]),
            Route(f"{group}/members", g(self.members), methods=["GET"]),
            Route(f"{group}/members", g(self.add_members), methods=["POST"]),
            Route(f"{group}/members", g(self.remove_members), methods=["DELETE"]),
            Route(f"{group}/workspaces", g(self.workspaces), methods=["GET"]),
            Route(f"{group}/workspaces", g(self.assign), methods=["POST"]),
            Route(
                f"{group}/workspaces/{{workspace_uuid}}",
                g(self.update_assignment),
                methods=["PATCH"],
            ),
            Route(f"{group}/workspaces/{{workspace_uuid}}", g(self.unassign), methods=["DELETE"]),
            Route(f"{group}/organization-role", g(self.organization_role), methods=["PATCH"]),
            Route(f"{group}/nested", g(self.nested), methods=["GET"]),
            Route(f"{group}/nested", g(self.set_nested), methods=["PATCH"]),
        ]
