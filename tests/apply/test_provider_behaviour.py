"""The ``Provider`` protocol's behaviour, the same for ``FakeProvider`` and the sandbox.

Every test runs twice: against the sandbox-backed ``MistralProvider`` (the record: the
sandbox keeps to the spec extract, checked on every exchange) and against the
``FakeProvider`` the apply tests use, started from the same organisation (the sandbox's
demo seed, as fetched, and its users). What a test sees through the protocol — results,
what a fetch shows afterwards, error classes — must be the same for both, so the fake
cannot drift from the platform it stands in for.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Protocol, TypeVar

import pytest
from pydantic import SecretStr

from reconciler import errors
from reconciler.model import (
    ApiKey,
    Group,
    Invitation,
    LiveState,
    Member,
    OrgMember,
    SpendLimit,
    Workspace,
)
from reconciler.platform.sandbox import SandboxStore
from reconciler.provider import Provider
from tests.apply.fakes import FakeProvider
from tests.demo_seed import demo_seed
from tests.platform.mistral_wire import sandbox_provider

T = TypeVar("T")
NOW = dt.datetime(2026, 11, 15, 12, 0, tzinfo=dt.UTC)
UNKNOWN = str(uuid.UUID(int=0x0BAD, version=4))
EXPIRES = dt.date(2027, 6, 30)

ALICE = "alice.martin@acme.example"  # admin of dev and of the Default Workspace
BOB = "bob.chen@acme.example"  # user in dev
CAROL = "carol.diaz@acme.example"  # in no workspace
DAN = "dan.okafor@acme.example"  # admin of ml
IRIS = "iris.tanaka@acme.example"  # user in dev


class On(Protocol):
    """Runs a scenario against one provider, in one event loop, and returns its result."""

    def __call__(self, scenario: Callable[[Provider], Awaitable[T]]) -> T: ...


@pytest.fixture(params=["sandbox", "fake"])
def on(request: pytest.FixtureRequest) -> On:
    kind: str = request.param

    def run_on(scenario: Callable[[Provider], Awaitable[T]]) -> T:
        async def main() -> T:
            store = SandboxStore.in_memory(demo_seed(), clock=lambda: NOW)
            async with sandbox_provider(store) as sandbox:
                if kind == "sandbox":
                    return await scenario(sandbox)
                users = [u.email for u in store.list_users(None)[0]]
                fake = FakeProvider(await sandbox.fetch(), users=users)
            return await scenario(fake)

        return asyncio.run(main())

    return run_on


# --- reading what a fetch shows -----------------------------------------------------------


def workspace(live: LiveState, name: str) -> Workspace:
    (found,) = (w for w in live.workspaces if w.name == name)
    return found


def ws_id(live: LiveState, name: str) -> str:
    found = workspace(live, name).id
    assert found is not None
    return found


def members(live: LiveState, name: str) -> dict[str, tuple[str, ...]]:
    """email -> roles of one workspace's members."""
    return {m.email: m.roles for m in live.members if m.workspace == name}


def member(live: LiveState, name: str, email: str) -> Member:
    (found,) = (m for m in live.members if m.workspace == name and m.email == email)
    return found


def key(live: LiveState, key_id: str | None) -> tuple[str, str, str | None, dt.date | None]:
    """(name, workspace, owner, expires) of the live key with this id."""
    (found,) = (k for k in live.keys if k.id == key_id)
    return found.name, found.workspace, found.owner, found.expires


# --- workspaces ------------------------------------------------------------------------


def test_a_created_workspace_is_fetched_as_returned_with_its_admin_as_member(on: On) -> None:
    async def scenario(p: Provider) -> tuple[Workspace, LiveState]:
        made = await p.create_workspace(
            Workspace(name="prod", description="CI/CD only", admin="Grace.Lee@acme.example")
        )
        return made, await p.fetch()

    made, live = on(scenario)
    assert made.id is not None
    assert made == Workspace(
        name="prod",
        description="CI/CD only",
        admin="grace.lee@acme.example",
        spend_limit=SpendLimit(amount=None),  # a new workspace has no spend limit
        id=made.id,
    )
    assert workspace(live, "prod") == made
    assert members(live, "prod") == {"grace.lee@acme.example": ("workspace_admin",)}


@pytest.mark.parametrize(
    ("admin", "name", "raised"),
    [
        (None, "prod", errors.PlanError),
        ("ghost@acme.example", "prod", errors.PlanError),
        (ALICE, "DEV", errors.Conflict),
    ],
    ids=["no-admin", "admin-not-a-user", "name-taken"],
)
def test_a_workspace_that_cannot_be_created_is_refused(
    on: On, admin: str | None, name: str, raised: type[Exception]
) -> None:
    async def scenario(p: Provider) -> LiveState:
        with pytest.raises(raised):
            await p.create_workspace(Workspace(name=name, admin=admin))
        return await p.fetch()

    assert [w.name for w in on(scenario).workspaces] == ["Default Workspace", "dev", "ml"]


def test_an_update_renames_and_describes_and_members_and_keys_follow(on: On) -> None:
    async def scenario(p: Provider) -> tuple[Workspace, LiveState, LiveState]:
        before = await p.fetch()
        dev = workspace(before, "dev")
        changed = dev.model_copy(update={"name": "developers", "description": "Developers"})
        updated = await p.update_workspace(ws_id(before, "dev"), changed)
        return updated, before, await p.fetch()

    updated, before, after = on(scenario)
    assert updated == workspace(before, "dev").model_copy(
        update={"name": "developers", "description": "Developers"}
    )
    assert workspace(after, "developers") == updated
    assert members(after, "developers") == members(before, "dev")
    assert not members(after, "dev")
    assert {k.name for k in after.keys if k.workspace == "developers"} == {
        "dev-alice",
        "iris-laptop",
    }


def test_renaming_to_a_name_in_use_is_a_conflict(on: On) -> None:
    async def scenario(p: Provider) -> LiveState:
        live = await p.fetch()
        with pytest.raises(errors.Conflict):
            await p.update_workspace(
                ws_id(live, "dev"), workspace(live, "dev").model_copy(update={"name": "ML"})
            )
        return await p.fetch()

    assert workspace(on(scenario), "dev").name == "dev"


def test_an_archived_workspace_its_members_and_its_keys_are_gone(on: On) -> None:
    async def scenario(p: Provider) -> tuple[LiveState, list[ApiKey], bool]:
        live = await p.fetch()
        made = await p.create_key(ApiKey(name="ml-dan", workspace="ml"), ws_id(live, "ml"))
        await p.archive_workspace(ws_id(live, "ml"))
        assert made.key.id is not None
        await p.delete_key(made.key.id)  # already gone with its workspace: still fine
        return await p.fetch(), await p.find_keys({"ml-dan"}), await p.check_key(made.secret)

    after, found, works = on(scenario)
    assert [w.name for w in after.workspaces] == ["Default Workspace", "dev"]
    assert not members(after, "ml")
    assert "ml-dan" not in {k.name for k in after.keys}
    assert found == []
    assert works is False


@pytest.mark.parametrize(
    ("name", "raised"),
    [("Default Workspace", errors.InvalidRequest), ("gone", errors.NotFound)],
    ids=["default", "archived-already"],
)
def test_a_workspace_that_cannot_be_archived_is_refused(
    on: On, name: str, raised: type[Exception]
) -> None:
    async def scenario(p: Provider) -> LiveState:
        live = await p.fetch()
        if name == "gone":
            await p.archive_workspace(ws_id(live, "ml"))
            target = ws_id(live, "ml")
        else:
            target = ws_id(live, name)
        with pytest.raises(raised):
            await p.archive_workspace(target)
        return await p.fetch()

    assert "Default Workspace" in {w.name for w in on(scenario).workspaces}


# --- members -------------------------------------------------------------------------


def test_set_member_adds_then_is_idempotent_then_changes_roles(on: On) -> None:
    async def scenario(p: Provider) -> list[dict[str, tuple[str, ...]]]:
        dev = ws_id(await p.fetch(), "dev")
        seen = []
        for roles in [("user",), ("user",), ("user", "dev")]:
            await p.set_member(
                dev, Member(workspace="dev", email="Carol.Diaz@ACME.example", roles=roles)
            )
            seen.append(members(await p.fetch(), "dev"))
        return seen

    added, again, changed = on(scenario)
    assert added[CAROL] == ("user",)
    assert again == added
    assert changed == {**added, CAROL: ("dev", "user")}


def test_the_admin_is_the_first_member_by_email_holding_workspace_admin(on: On) -> None:
    async def scenario(p: Provider) -> list[str | None]:
        dev = ws_id(await p.fetch(), "dev")
        admins = []
        for email, roles in [(BOB, ("workspace_admin",)), (ALICE, ("user",)), (BOB, ("user",))]:
            await p.set_member(dev, Member(workspace="dev", email=email, roles=roles))
            admins.append(workspace(await p.fetch(), "dev").admin)
        return admins

    assert on(scenario) == [ALICE, BOB, None]


def test_a_member_who_is_not_an_organisation_user_is_refused(on: On) -> None:
    async def scenario(p: Provider) -> None:
        dev = ws_id(await p.fetch(), "dev")
        ghost = Member(workspace="dev", email="ghost@acme.example", roles=("user",))
        with pytest.raises(errors.PlanError):
            await p.set_member(dev, ghost)

    on(scenario)


def test_remove_member_removes_and_a_second_removal_is_an_error(on: On) -> None:
    async def scenario(p: Provider) -> LiveState:
        live = await p.fetch()
        iris = member(live, "dev", IRIS)
        await p.remove_member(ws_id(live, "dev"), iris)
        with pytest.raises(errors.RemoteError):
            await p.remove_member(ws_id(live, "dev"), iris)
        return await p.fetch()

    after = on(scenario)
    assert set(members(after, "dev")) == {ALICE, BOB, "henry.novak@acme.example"}
    assert IRIS not in {m.email for m in after.members}


# --- keys ------------------------------------------------------------------------------


def test_a_created_key_has_a_secret_and_is_fetched_with_owner_expiry_and_workspace(
    on: On,
) -> None:
    async def scenario(p: Provider) -> tuple[ApiKey, SecretStr, LiveState, bool]:
        dev = ws_id(await p.fetch(), "dev")
        made = await p.create_key(
            ApiKey(name="dev-bob", workspace="dev", owner=BOB, expires=EXPIRES), dev
        )
        return made.key, made.secret, await p.fetch(), await p.check_key(made.secret)

    made, secret, live, works = on(scenario)
    assert (made.name, made.workspace, made.owner, made.expires) == ("dev-bob", "dev", BOB, EXPIRES)
    assert made.id is not None
    assert made.created_at is not None
    assert len(secret.get_secret_value()) >= 24
    assert secret.get_secret_value() not in repr(made)
    assert key(live, made.id) == ("dev-bob", "dev", BOB, EXPIRES)
    assert works is True


def test_a_key_without_owner_is_made_for_the_workspace_admin(on: On) -> None:
    async def scenario(p: Provider) -> tuple[ApiKey, LiveState]:
        ml = ws_id(await p.fetch(), "ml")
        made = await p.create_key(ApiKey(name="ml-svc", workspace="ml"), ml)
        return made.key, await p.fetch()

    made, live = on(scenario)
    assert made.owner is None  # as asked; the platform records who owns it
    assert key(live, made.id) == ("ml-svc", "ml", DAN, None)


@pytest.mark.parametrize(
    ("owner", "raised"),
    [
        (CAROL, errors.InvalidRequest),  # a user, but not a member of dev
        ("ghost@acme.example", errors.PlanError),
    ],
    ids=["not-a-member", "not-a-user"],
)
def test_a_key_for_an_owner_outside_the_workspace_is_refused(
    on: On, owner: str, raised: type[Exception]
) -> None:
    async def scenario(p: Provider) -> LiveState:
        dev = ws_id(await p.fetch(), "dev")
        with pytest.raises(raised):
            await p.create_key(ApiKey(name="dev-x", workspace="dev", owner=owner), dev)
        return await p.fetch()

    assert "dev-x" not in {k.name for k in on(scenario).keys}


@pytest.mark.parametrize("change", ["demoted", "removed"])
def test_a_key_without_owner_in_a_workspace_that_just_lost_its_admin_is_refused(
    on: On, change: str
) -> None:
    async def scenario(p: Provider) -> LiveState:
        live = await p.fetch()
        dev = ws_id(live, "dev")
        if change == "demoted":
            await p.set_member(dev, Member(workspace="dev", email=ALICE, roles=("user",)))
        else:
            await p.remove_member(dev, member(live, "dev", ALICE))
        with pytest.raises(errors.PlanError):
            await p.create_key(ApiKey(name="dev-x", workspace="dev"), dev)
        return await p.fetch()

    after = on(scenario)
    assert workspace(after, "dev").admin is None
    assert "dev-x" not in {k.name for k in after.keys}


def test_a_key_without_owner_is_made_for_the_admin_just_promoted(on: On) -> None:
    async def scenario(p: Provider) -> tuple[ApiKey, LiveState]:
        live = await p.fetch()
        dev = ws_id(live, "dev")
        await p.set_member(dev, Member(workspace="dev", email=ALICE, roles=("user",)))
        await p.set_member(dev, Member(workspace="dev", email=BOB, roles=("workspace_admin",)))
        made = await p.create_key(ApiKey(name="dev-x", workspace="dev"), dev)
        return made.key, await p.fetch()

    made, live = on(scenario)
    assert key(live, made.id) == ("dev-x", "dev", BOB, None)


def test_delete_key_is_idempotent_and_the_secret_stops_working(on: On) -> None:
    async def scenario(p: Provider) -> tuple[LiveState, bool]:
        dev = ws_id(await p.fetch(), "dev")
        made = await p.create_key(ApiKey(name="dev-bob", workspace="dev", owner=BOB), dev)
        assert made.key.id is not None
        await p.delete_key(made.key.id)
        await p.delete_key(made.key.id)
        await p.delete_key(UNKNOWN)
        return await p.fetch(), await p.check_key(made.secret)

    live, works = on(scenario)
    assert "dev-bob" not in {k.name for k in live.keys}
    assert works is False


@pytest.mark.parametrize("others", [0, 12], ids=["one-name", "many-names"])
def test_find_keys_finds_every_key_with_exactly_one_of_the_names(on: On, others: int) -> None:
    """A few names are looked up one by one, many in one listing: the same keys either way."""
    names = {"svc", *(f"absent-{i}" for i in range(others))}

    async def scenario(p: Provider) -> tuple[list[ApiKey], list[str | None]]:
        live = await p.fetch()
        dev, ml = ws_id(live, "dev"), ws_id(live, "ml")
        made = [
            await p.create_key(ApiKey(name=name, workspace=ws_name, owner=owner), ws)
            for name, ws_name, ws, owner in [
                ("svc", "dev", dev, BOB),
                ("svc", "ml", ml, DAN),
                ("svc-old", "dev", dev, BOB),
                ("SVC", "dev", dev, BOB),
            ]
        ]
        return await p.find_keys(names), [m.key.id for m in made[:2]]

    found, ids = on(scenario)
    assert sorted((k.id or "", k.workspace, k.owner) for k in found) == sorted(
        [(ids[0] or "", "dev", BOB), (ids[1] or "", "ml", DAN)]
    )
    assert {k.name for k in found} == {"svc"}


def test_check_key_is_false_for_a_secret_the_platform_never_issued(on: On) -> None:
    async def scenario(p: Provider) -> bool:
        return await p.check_key(SecretStr("not-a-key-of-this-organisation-0042"))

    assert on(scenario) is False


# --- organisation ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "limit",
    [SpendLimit(amount=Decimal(5000)), SpendLimit(amount=Decimal("250.00")), SpendLimit()],
    ids=["amount", "whole-with-cents", "no-limit"],
)
def test_the_organisation_spend_limit_set_is_the_one_fetched(on: On, limit: SpendLimit) -> None:
    async def scenario(p: Provider) -> SpendLimit | None:
        await p.set_organization_spend_limit(limit)
        return (await p.fetch()).organization.spend_limit

    assert on(scenario) == limit


@pytest.mark.parametrize("amount", ["10.5", "-1"])
def test_a_spend_limit_the_platform_cannot_take_is_refused(on: On, amount: str) -> None:
    async def scenario(p: Provider) -> SpendLimit | None:
        with pytest.raises(errors.PlanError):
            await p.set_organization_spend_limit(SpendLimit(amount=Decimal(amount)))
        return (await p.fetch()).organization.spend_limit

    assert on(scenario) == SpendLimit(amount=Decimal(3000))


def test_monthly_spend_has_every_live_workspace(on: On) -> None:
    async def scenario(p: Provider) -> tuple[dict[str, Decimal], LiveState]:
        return await p.monthly_spend(NOW.date()), await p.fetch()

    spend, live = on(scenario)
    assert set(spend) == {w.name for w in live.workspaces}
    assert all(isinstance(v, Decimal) and v >= 0 for v in spend.values())


# --- unknown ids -----------------------------------------------------------------------


OPERATIONS: dict[str, Callable[[Provider, LiveState], Awaitable[object]]] = {
    "update_workspace": lambda p, live: p.update_workspace(UNKNOWN, Workspace(name="x")),
    "archive_workspace": lambda p, live: p.archive_workspace(UNKNOWN),
    "set_member": lambda p, live: p.set_member(
        UNKNOWN, Member(workspace="x", email=BOB, roles=("user",))
    ),
    "remove_member": lambda p, live: p.remove_member(UNKNOWN, member(live, "dev", BOB)),
    "create_key": lambda p, live: p.create_key(ApiKey(name="x", workspace="x", owner=BOB), UNKNOWN),
}


@pytest.mark.parametrize("operation", OPERATIONS)
def test_an_unknown_workspace_id_is_not_found(on: On, operation: str) -> None:
    async def scenario(p: Provider) -> None:
        live = await p.fetch()
        with pytest.raises(errors.NotFound):
            await OPERATIONS[operation](p, live)

    on(scenario)


# --- people: members, invitations, groups -------------------------------------------

KATE = "kate.moreau@acme.example"


def person(live: LiveState, email: str) -> OrgMember | None:
    return next((p for p in live.people if p.email == email), None)


def test_the_organisation_is_fetched_with_roles_seats_and_the_pending_invitation(on: On) -> None:
    async def scenario(p: Provider) -> LiveState:
        return await p.fetch()

    live = on(scenario)
    alice = person(live, ALICE)
    assert alice is not None
    assert (alice.role, alice.seats) == ("organization_admin", ("chat", "mistral_code"))
    assert [(i.email, i.role, i.workspaces) for i in live.invitations] == [
        ("jin.park@acme.example", "member", ("ml",))
    ]


def test_an_invitation_is_fetched_with_its_role_and_workspaces_then_cancelled(on: On) -> None:
    async def scenario(p: Provider) -> tuple[Invitation, LiveState, LiveState]:
        made = await p.invite(
            Invitation(
                email="Kate.Moreau@acme.example", role="billing_manager", workspaces=("dev",)
            )
        )
        after = await p.fetch()
        assert made.id is not None
        await p.cancel_invite(made.id)
        await p.cancel_invite(made.id)  # already gone: not an error
        return made, after, await p.fetch()

    made, after, cancelled = on(scenario)
    (kate,) = (i for i in after.invitations if i.email == KATE)
    assert (kate.role, kate.workspaces, kate.id) == ("billing_manager", ("dev",), made.id)
    assert KATE not in {i.email for i in cancelled.invitations}


def test_inviting_a_member_is_refused(on: On) -> None:
    async def scenario(p: Provider) -> None:
        with pytest.raises(errors.PlanError):
            await p.invite(Invitation(email=BOB.upper()))

    on(scenario)


def test_a_members_role_and_seats_are_set(on: On) -> None:
    async def scenario(p: Provider) -> LiveState:
        await p.set_org_member(OrgMember(email=BOB, role="billing_manager", seats=("chat",)))
        return await p.fetch()

    bob = person(on(scenario), BOB)
    assert bob is not None and (bob.role, bob.seats) == ("billing_manager", ("chat",))


def test_the_last_organisation_admin_stays(on: On) -> None:
    async def scenario(p: Provider) -> LiveState:
        with pytest.raises(errors.RemoteError) as demoted:
            await p.set_org_member(OrgMember(email=ALICE, role="member"))
        with pytest.raises(errors.RemoteError) as removed:
            await p.remove_org_member(OrgMember(email=ALICE))
        assert demoted.value.status == removed.value.status == 400
        return await p.fetch()

    alice = person(on(scenario), ALICE)
    assert alice is not None and alice.role == "organization_admin"


def test_a_removed_member_leaves_every_workspace_and_their_keys_go(on: On) -> None:
    async def scenario(p: Provider) -> LiveState:
        await p.remove_org_member(OrgMember(email=IRIS))
        return await p.fetch()

    live = on(scenario)
    assert person(live, IRIS) is None
    assert IRIS not in members(live, "dev")
    assert not [k for k in live.keys if k.owner == IRIS]


def test_a_group_grants_its_workspaces_to_its_members_and_nested_groups(on: On) -> None:
    async def scenario(p: Provider) -> tuple[LiveState, LiveState]:
        live = await p.fetch()
        team = await p.create_group(Group(name="ml-team", description="ML"))
        interns = await p.create_group(Group(name="interns"))
        assert team.id is not None and interns.id is not None
        await p.update_group(interns.id, interns, Group(name="interns", members=(CAROL,)))
        want = Group(
            name="ml-team",
            description="ML engineers",
            members=(BOB,),
            nested=("interns",),
            org_role="member",
            workspace_grants={"ml": ("dev", "user")},
        )
        await p.update_group(team.id, team, want)
        grown = await p.fetch()
        assert ws_id(live, "ml")
        (have,) = (g for g in grown.groups if g.name == "ml-team")
        await p.update_group(team.id, have, want.model_copy(update={"workspace_grants": {}}))
        return grown, await p.fetch()

    grown, shrunk = on(scenario)
    (team,) = (g for g in grown.groups if g.name == "ml-team")
    assert team.model_copy(update={"id": None}) == Group(
        name="ml-team",
        description="ML engineers",
        members=(BOB,),
        nested=("interns",),
        org_role="member",
        workspace_grants={"ml": ("dev", "user")},
    )
    assert members(grown, "ml")[BOB] == ("dev", "user")
    assert members(grown, "ml")[CAROL] == ("dev", "user")  # through the nested group
    assert BOB not in members(shrunk, "ml")


def test_a_deleted_group_is_gone_and_its_members_stay(on: On) -> None:
    async def scenario(p: Provider) -> LiveState:
        team = await p.create_group(Group(name="ml-team"))
        assert team.id is not None
        await p.update_group(team.id, team, Group(name="ml-team", members=(BOB,)))
        await p.delete_group(team.id)
        return await p.fetch()

    live = on(scenario)
    assert [g.name for g in live.groups] == ["analysts"]  # the seeded one stays
    assert person(live, BOB) is not None
