"""Convergence as a property: whatever the desired and live states, one apply is enough.

A hypothesis state machine edits the desired state (workspaces added and archived,
members added and removed, keys added, removed, given another owner or expiry date, the
organisation's spend limit) and the live one behind the tool's back (a key deleted, a
member removed, a description or the spend limit changed in the console), in any order.
After each step it applies the plan with the real engine against :class:`FakeProvider`
and a file vault, then checks what a user would: the next plan has no API change, a second
apply sends no mutating request, and every desired key's secret is stored under its
live id.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import shutil
import tempfile
from decimal import Decimal
from pathlib import Path

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from reconciler.apply.engine import Applier
from reconciler.apply.journal import Journal
from reconciler.model import ApiKey, DesiredState, Member, SpendLimit, Workspace
from reconciler.plan import Plan, make_plan
from reconciler.vault.base import SecretStore
from reconciler.vault.file import FileVault
from tests.apply.fakes import ADMIN_ROLE, ORG_USERS, ROLES, FakeProvider, desired_org, live_org

NOW = dt.datetime(2026, 12, 1, 12, tzinfo=dt.UTC)
WORKSPACES = ("dev", "ml", "ops")
EXPIRIES = (None, dt.date(2027, 6, 30), dt.date(2028, 1, 31))
workspaces = st.sampled_from(WORKSPACES)
people = st.sampled_from(ORG_USERS)
key_names = st.sampled_from(("k1", "k2", "k3"))


class Convergence(RuleBasedStateMachine):
    """The desired state as plain dicts (rendered by :meth:`desired`), the platform live."""

    def __init__(self) -> None:
        super().__init__()
        self.tmp = Path(tempfile.mkdtemp(prefix="convergence-"))
        self.provider = FakeProvider(live_org(), users=ORG_USERS)
        start = desired_org()
        self.admins = {w.name: w.admin or "" for w in start.workspaces if not w.archived}
        self.members = {(m.workspace, m.email) for m in start.members if ADMIN_ROLE not in m.roles}
        self.keys = {(k.workspace, k.name): k for k in start.keys}
        self.spend = Decimal(5000)
        self.vault = FileVault(self.tmp / "vault")
        self.applies = 0

    def teardown(self) -> None:
        shutil.rmtree(self.tmp, ignore_errors=True)

    # --- the desired state -----------------------------------------------------------------

    def desired(self) -> DesiredState:
        base = desired_org()
        live_names = {w.name for w in self.provider.workspaces.values()}
        workspaces = [
            Workspace(name=name, description=name, admin=admin, prune_unmanaged_keys=True)
            for name, admin in sorted(self.admins.items())
        ] + [Workspace(name=name, archived=True) for name in sorted(live_names - set(self.admins))]
        members = [
            Member(workspace=ws, email=admin, roles=(ADMIN_ROLE,))
            for ws, admin in sorted(self.admins.items())
        ] + [
            Member(workspace=ws, email=email)
            for ws, email in sorted(self.members | {(w, k.owner or "") for w, k in self.keyed()})
            if ws in self.admins and email != self.admins[ws]
        ]
        keys = [k for (ws, _), k in sorted(self.keys.items()) if ws in self.admins]
        return DesiredState(
            organization=base.organization.model_copy(
                update={"spend_limit": SpendLimit(amount=self.spend)}
            ),
            roles=ROLES,
            workspaces=tuple(workspaces),
            members=tuple(members),
            keys=tuple(keys),
        )

    def keyed(self) -> list[tuple[str, ApiKey]]:
        """(workspace, key) of every key; owners are members (the platform requires it)."""
        return [(ws, key) for (ws, _), key in self.keys.items()]

    @rule(name=workspaces, admin=people)
    def add_workspace(self, name: str, admin: str) -> None:
        self.admins.setdefault(name, admin)

    @rule(name=workspaces)
    def archive_workspace(self, name: str) -> None:
        self.admins.pop(name, None)

    @rule(ws=workspaces, email=people)
    def toggle_member(self, ws: str, email: str) -> None:
        owners = {k.owner for (w, _), k in self.keys.items() if w == ws}
        if (ws, email) in self.members and email not in owners:
            self.members.discard((ws, email))
        elif ws in self.admins:
            self.members.add((ws, email))

    @rule(ws=workspaces, name=key_names, owner=people, expires=st.sampled_from(EXPIRIES))
    def put_key(self, ws: str, name: str, owner: str, expires: dt.date | None) -> None:
        if ws not in self.admins or any(n == f"{ws}-{name}" for _, n in self.keys if _ != ws):
            return
        if owner != self.admins[ws]:
            self.members.add((ws, owner))
        self.keys[(ws, f"{ws}-{name}")] = ApiKey(
            name=f"{ws}-{name}", workspace=ws, owner=owner, expires=expires, role="developer"
        )

    @rule(ws=workspaces, name=key_names)
    def remove_key(self, ws: str, name: str) -> None:
        self.keys.pop((ws, f"{ws}-{name}"), None)

    @rule(amount=st.sampled_from((1000, 3000, 5000)))
    def spend_limit(self, amount: int) -> None:
        self.spend = Decimal(amount)

    # --- the live state, changed in the console ----------------------------------------------

    @rule(index=st.integers(0, 5))
    def console_deletes_key(self, index: int) -> None:
        ids = sorted(self.provider.keys)
        if ids:
            del self.provider.keys[ids[index % len(ids)]]

    @rule(index=st.integers(0, 5))
    def console_removes_member(self, index: int) -> None:
        found = sorted(k for k, m in self.provider.members.items() if ADMIN_ROLE not in m.roles)
        if found:
            del self.provider.members[found[index % len(found)]]

    @rule(index=st.integers(0, 5))
    def console_edits_description(self, index: int) -> None:
        ids = sorted(self.provider.workspaces)
        if ids:  # every workspace archived: none left to edit
            found = self.provider.workspaces[ids[index % len(ids)]]
            self.provider.workspaces[ids[index % len(ids)]] = found.model_copy(
                update={"description": "changed in the console"}
            )

    @rule(amount=st.sampled_from((10, 3000)))
    def console_spend_limit(self, amount: int) -> None:
        self.provider.spend_limit = SpendLimit(amount=Decimal(amount))

    # --- the property ------------------------------------------------------------------------

    def plan(self, desired: DesiredState) -> Plan:
        live = asyncio.run(self.provider.fetch())
        return make_plan(desired, live, provider="fake", now=NOW)

    def apply(self, desired: DesiredState) -> None:
        self.applies += 1

        def router(key: ApiKey) -> tuple[SecretStore, str]:
            return self.vault, f"{key.workspace}/{key.name}"

        async def no_sleep(seconds: float) -> None:
            return None

        applier = Applier(
            provider=self.provider,
            desired=desired,
            live=asyncio.run(self.provider.fetch()),
            secrets=router,
            journal=Journal(self.tmp / "state" / "journal.jsonl"),
            apply_id=f"apply-{self.applies}",
            report=lambda line: None,
            sleep=no_sleep,
        )
        asyncio.run(applier.run(self.plan(desired)))  # raises ApplyError on any failure

    @invariant()
    def one_apply_converges(self) -> None:
        desired = self.desired()
        self.apply(desired)
        after = self.plan(desired)
        assert not after.summary.has_changes, [
            (c.address, c.actions) for c in after.changes if c.actions
        ]
        self.provider.calls.clear()
        self.apply(desired)
        assert self.provider.calls == [], self.provider.calls
        for key in desired.keys:
            live = [
                k
                for k in self.provider.keys.values()
                if (k.workspace, k.name) == (key.workspace, key.name)
            ]
            assert len(live) == 1, key.name
            meta = asyncio.run(self.vault.read_metadata(f"{key.workspace}/{key.name}"))
            assert meta is not None and meta.metadata is not None, key.name
            assert meta.metadata.key_id == live[0].id, key.name
            assert live[0].id is not None
            stored = asyncio.run(self.vault.read_secret(f"{key.workspace}/{key.name}"))
            assert stored is not None
            assert self.provider.secrets[live[0].id] == stored.get_secret_value(), key.name


Convergence.TestCase.settings = settings(
    max_examples=10,
    stateful_step_count=6,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
test_convergence = Convergence.TestCase
