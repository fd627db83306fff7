"""Live organisations for the import tests, built in code (no platform, no sandbox)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from reconciler.model import ApiKey, LiveState, Member, Organization, SpendLimit, Workspace

TODAY = dt.date(2026, 11, 27)
ALICE, BOB, CAROL = "alice@acme.example", "bob@acme.example", "carol@acme.example"


def live(
    *,
    workspaces: tuple[Workspace, ...] = (),
    members: tuple[Member, ...] = (),
    keys: tuple[ApiKey, ...] = (),
) -> LiveState:
    """Workspace ``dev`` (alice its admin, bob a user; keys dev-alice and dev-bob) plus
    whatever is given."""
    return LiveState(
        target="test platform",
        organization=Organization(spend_limit=SpendLimit(amount=Decimal(3000))),
        workspaces=(
            Workspace(
                name="dev",
                description="Developers",
                admin=ALICE,
                id="ws-dev",
                spend_limit=SpendLimit(amount=Decimal(50)),
            ),
            *workspaces,
        ),
        members=(
            Member(workspace="dev", email=ALICE, roles=("workspace_admin",), user_id="u-a"),
            Member(workspace="dev", email=BOB, roles=("user",), user_id="u-b"),
            *members,
        ),
        keys=(
            ApiKey(
                name="dev-alice",
                workspace="dev",
                owner=ALICE,
                expires=dt.date(2039, 6, 30),
                id="k-alice",
            ),
            ApiKey(name="dev-bob", workspace="dev", owner=BOB, id="k-bob"),
            *keys,
        ),
    )
