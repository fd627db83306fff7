"""Small hand-built desired and live states for diff, plan and render tests."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from reconciler.model import (
    ApiKey,
    DesiredState,
    Group,
    Invitation,
    LiveState,
    Member,
    Organization,
    OrgMember,
    People,
    Role,
    SpendLimit,
    Workspace,
    WorkspacePolicy,
)

CREATED = dt.datetime(2026, 5, 1, 12, 0, tzinfo=dt.UTC)
# the fixtures' keys are never due for rotation, whatever day the suite runs
ROTATION_NEVER_DUE = 100_000


def desired(**overrides: object) -> DesiredState:
    base: dict[str, object] = {
        "organization": Organization(
            name="Acme",
            spend_limit=SpendLimit(amount=Decimal(5000)),
            rotation_period_days=ROTATION_NEVER_DUE,
        ),
        "roles": (Role(name="developer", allowed_models=("mistral-small-latest",)),),
        "workspaces": (
            Workspace(
                name="dev",
                description="All developers",
                admin="alice@acme.example",
                spend_limit=SpendLimit(amount=Decimal(50)),
                policy=WorkspacePolicy(allowed_models=("mistral-small-latest",), rpm=60),
            ),
            Workspace(
                name="prod", description="CI/CD only", admin="grace@acme.example", protected=True
            ),
        ),
        "members": (
            Member(workspace="dev", email="alice@acme.example", roles=("workspace_admin",)),
            Member(workspace="dev", email="bob@acme.example", roles=("user",)),
            Member(workspace="prod", email="grace@acme.example", roles=("workspace_admin",)),
        ),
        "keys": (
            ApiKey(
                name="dev-alice",
                workspace="dev",
                owner="alice@acme.example",
                expires=dt.date(2027, 6, 30),
                role="developer",
            ),
            ApiKey(
                name="prod-checkout", workspace="prod", owner="grace@acme.example", role="developer"
            ),
        ),
    }
    base.update(overrides)
    return DesiredState.model_validate(base)


def live_matching() -> LiveState:
    """A live state that matches :func:`desired` exactly."""
    return LiveState(
        target="sandbox (test)",
        organization=Organization(spend_limit=SpendLimit(amount=Decimal(5000))),
        workspaces=(
            Workspace(
                name="dev",
                description="All developers",
                id="ws-dev",
                spend_limit=SpendLimit(amount=Decimal(50)),
            ),
            Workspace(name="prod", description="CI/CD only", id="ws-prod"),
        ),
        members=(
            Member(
                workspace="dev",
                email="alice@acme.example",
                roles=("workspace_admin",),
                user_id="u-alice",
            ),
            Member(workspace="dev", email="bob@acme.example", roles=("user",), user_id="u-bob"),
            Member(
                workspace="prod",
                email="grace@acme.example",
                roles=("workspace_admin",),
                user_id="u-grace",
            ),
        ),
        keys=(
            ApiKey(
                name="dev-alice",
                workspace="dev",
                owner="alice@acme.example",
                expires=dt.date(2027, 6, 30),
                id="k-alice",
                created_at=CREATED,
            ),
            ApiKey(
                name="prod-checkout",
                workspace="prod",
                owner="grace@acme.example",
                id="k-checkout",
                created_at=CREATED,
            ),
        ),
    )


def live_drifted() -> LiveState:
    """Every kind of difference at once."""
    base = live_matching()
    return base.model_copy(
        update={
            "organization": Organization(spend_limit=SpendLimit(amount=Decimal(3000))),
            "workspaces": (
                Workspace(name="Default Workspace", id="ws-default", is_default=True),
                Workspace(
                    name="dev",
                    description="Old text",
                    id="ws-dev",
                    spend_limit=SpendLimit(amount=Decimal(80)),
                ),
            ),
            "members": (
                Member(
                    workspace="dev",
                    email="alice@acme.example",
                    roles=("workspace_admin",),
                    user_id="u-alice",
                ),
                Member(
                    workspace="dev", email="iris@acme.example", roles=("user",), user_id="u-iris"
                ),
            ),
            "keys": (
                ApiKey(
                    name="dev-alice",
                    workspace="dev",
                    owner="alice@acme.example",
                    expires=dt.date(2027, 1, 31),
                    id="k-alice",
                    created_at=CREATED,
                ),
                ApiKey(
                    name="iris-laptop",
                    workspace="dev",
                    owner="iris@acme.example",
                    id="k-iris",
                    created_at=CREATED,
                ),
            ),
        }
    )


def desired_renamed() -> DesiredState:
    """:func:`desired` after two renames, each declaring the former name: workspace ``dev``
    is now ``developers``, and key ``dev-alice`` is now ``developers-alice``."""
    base = desired()

    def moved(workspace: str) -> str:
        return "developers" if workspace == "dev" else workspace

    return base.model_copy(
        update={
            "workspaces": tuple(
                w.model_copy(update={"name": "developers", "previous_names": ("dev",)})
                if w.name == "dev"
                else w
                for w in base.workspaces
            ),
            "members": tuple(
                m.model_copy(update={"workspace": moved(m.workspace)}) for m in base.members
            ),
            "keys": tuple(
                k.model_copy(
                    update={
                        "name": "developers-alice" if k.name == "dev-alice" else k.name,
                        "previous_names": ("dev-alice",) if k.name == "dev-alice" else (),
                        "workspace": moved(k.workspace),
                    }
                )
                for k in base.keys
            ),
        }
    )


def desired_people(name: str = "hana") -> DesiredState:
    """:func:`desired` with ``people.yaml`` and ``groups.yaml``: ``<name>@acme.example``
    joins dev (invited), bob gains a seat, a group ``<name>-team`` is created and
    ``analysts`` gains a workspace; the organisation prunes people, so iris is offboarded
    and her key in dev is deleted."""
    base = desired()
    newcomer = f"{name}@acme.example"
    return base.model_copy(
        update={
            "organization": base.organization.model_copy(update={"prune_people": True}),
            "members": (*base.members, Member(workspace="dev", email=newcomer, roles=("user",))),
            "people": People(
                members=(
                    OrgMember(email="alice@acme.example", role="organization_admin"),
                    OrgMember(email="bob@acme.example", role="member", seats=("chat",)),
                    OrgMember(email="grace@acme.example", role="organization_admin"),
                    OrgMember(email="jin@acme.example", role="member"),
                    OrgMember(email=newcomer, role="member"),
                ),
                run_as="alice@acme.example",
            ),
            "groups": (
                Group(
                    name="analysts",
                    description="Data analysts",
                    members=("bob@acme.example",),
                    workspace_grants={"dev": ("user",), "prod": ("user",)},
                ),
                Group(name=f"{name}-team", description=name, members=(newcomer,)),
            ),
        }
    )


def live_people(name: str = "hana") -> LiveState:
    """:func:`live_drifted` with its people: iris (leaving, a key in dev), bob without a
    seat, jin invited (pending), a stale invitation for ``<name>-old@x``, and the groups
    ``analysts`` (dev only) and ``<name>-legacy``."""
    base = live_drifted()
    return base.model_copy(
        update={
            "people": (
                OrgMember(email="alice@acme.example", role="organization_admin", id="u-alice"),
                OrgMember(email="bob@acme.example", role="member", id="u-bob"),
                OrgMember(email="grace@acme.example", role="organization_admin", id="u-grace"),
                OrgMember(email="iris@acme.example", role="member", id="u-iris"),
            ),
            "invitations": (
                Invitation(
                    email="jin@acme.example",
                    role="member",
                    workspaces=("dev",),
                    id="inv-jin",
                    created_at=CREATED,
                ),
                Invitation(email=f"{name}-old@x", role="member", id=f"inv-{name}"),
            ),
            "groups": (
                Group(
                    name="analysts",
                    description="Data analysts",
                    members=("bob@acme.example",),
                    workspace_grants={"dev": ("user",)},
                    id="g-analysts",
                ),
                Group(name=f"{name}-legacy", description=name, id=f"g-{name}"),
            ),
        }
    )
