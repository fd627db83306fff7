"""MistralProvider over the sandbox (in-process ASGI transport, demo seed): one contract.

Every exchange is also held to the spec extract, so these tests check the sandbox too.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from pydantic import SecretStr

from reconciler import errors
from reconciler.model import ApiKey, LiveState, Member, SpendLimit, Workspace
from reconciler.platform.mistral.provider import MistralProvider
from reconciler.platform.sandbox import FaultConfig, SandboxStore
from tests.demo_seed import demo_seed
from tests.platform.mistral_wire import run, sandbox_provider

NOW = dt.datetime(2026, 11, 15, 12, 0, tzinfo=dt.UTC)


def demo_provider(*, auth: str = "bearer", concurrency: int = 4) -> MistralProvider:
    """The demo organisation, read in small pages so every listing takes several."""
    store = SandboxStore.in_memory(demo_seed(), clock=lambda: NOW)
    return sandbox_provider(store, auth=auth, concurrency=concurrency, page_size=3, key_page_size=2)


def by_name(live: LiveState) -> dict[str, Workspace]:
    return {w.name: w for w in live.workspaces}


@pytest.mark.parametrize("auth", ["bearer", "x-api-key"])
def test_fetch_reads_the_demo_organisation(auth: str) -> None:
    async def main() -> LiveState:
        async with demo_provider(auth=auth) as p:
            return await p.fetch()

    live = run(main())
    workspaces = by_name(live)
    assert {"dev", "ml"} <= set(workspaces)
    assert "prod" not in workspaces
    assert any(w.is_default for w in live.workspaces)
    assert workspaces["dev"].admin == "alice.martin@acme.example"
    assert workspaces["ml"].spend_limit == SpendLimit(amount=Decimal(800))
    assert live.organization.spend_limit == SpendLimit(amount=Decimal(3000))
    dev_members = {m.email: m.roles for m in live.members if m.workspace == "dev"}
    assert dev_members["alice.martin@acme.example"] == ("workspace_admin",)
    assert "iris.tanaka@acme.example" in dev_members
    assert "carol.diaz@acme.example" not in dev_members
    keys = {k.name: k for k in live.keys}
    assert {"dev-alice", "iris-laptop"} <= set(keys)
    assert keys["dev-alice"].workspace == "dev"
    assert all(k.id and k.hidden_key for k in live.keys)
    assert live.requests > 5  # small pages: several per listing


def test_mutations_round_trip_through_the_sandbox() -> None:
    async def main() -> None:
        async with demo_provider() as p:
            await p.fetch()
            prod = await p.create_workspace(
                Workspace(name="prod", description="CI/CD only", admin="grace.lee@acme.example")
            )
            assert prod.id is not None
            await p.set_member(
                prod.id, Member(workspace="prod", email="ci-bot@acme.example", roles=("user",))
            )
            made = await p.create_key(
                ApiKey(name="prod-checkout-service", workspace="prod", owner="ci-bot@acme.example"),
                prod.id,
            )
            assert isinstance(made.secret, SecretStr)
            assert made.secret.get_secret_value() not in repr(made)
            assert await p.check_key(made.secret) is True
            assert await p.check_key(SecretStr("not-a-key-of-this-sandbox")) is False
            found = await p.find_keys({"prod-checkout-service"})
            assert [(k.id, k.workspace) for k in found] == [(made.key.id, "prod")]

            live = await p.fetch()
            prod_members = {m.email: m.roles for m in live.members if m.workspace == "prod"}
            assert prod_members["grace.lee@acme.example"] == ("workspace_admin",)
            assert prod_members["ci-bot@acme.example"] == ("user",)
            dev = by_name(live)["dev"]
            assert dev.id is not None
            iris = next(
                m
                for m in live.members
                if m.email == "iris.tanaka@acme.example" and m.workspace == "dev"
            )
            await p.remove_member(dev.id, iris)
            await p.update_workspace(dev.id, dev.model_copy(update={"description": "Developers"}))
            await p.set_organization_spend_limit(SpendLimit(amount=Decimal(5000)))
            assert made.key.id is not None
            await p.delete_key(made.key.id)
            await p.delete_key(made.key.id)  # already gone: still fine

            after = await p.fetch()
            assert by_name(after)["dev"].description == "Developers"
            assert after.organization.spend_limit == SpendLimit(amount=Decimal(5000))
            assert not any(
                m.email == "iris.tanaka@acme.example" and m.workspace == "dev"
                for m in after.members
            )
            assert "prod-checkout-service" not in {k.name for k in after.keys}
            await p.archive_workspace(prod.id)
            assert "prod" not in by_name(await p.fetch())

    run(main())


def test_monthly_spend_reads_the_seeded_usage() -> None:
    async def main() -> dict[str, Decimal]:
        async with demo_provider() as p:
            return await p.monthly_spend(NOW.date())

    spend = run(main())
    assert {"dev", "ml"} <= set(spend)
    assert all(v >= 0 for v in spend.values())
    assert sum(spend.values()) > 0


def test_a_wrong_admin_key_is_unauthorized_without_showing_it() -> None:
    store = SandboxStore.in_memory(demo_seed(), clock=lambda: NOW)
    wrong = "wrong-admin-key-0042"

    async def main() -> errors.Unauthorized:
        async with sandbox_provider(store, admin_key=wrong) as p:
            with pytest.raises(errors.Unauthorized) as caught:
                await p.fetch()
        return caught.value

    error = run(main())
    assert wrong not in str(error)
    assert "HTTP 401" in str(error)


def test_a_key_create_answered_429_after_the_sandbox_made_it_leaves_one_new_key() -> None:
    """The sandbox rule ``POST /v1/admin/api-keys nth=1 status=429 after=true``: the key is
    made, the answer with its secret replaced by a 429. The provider finds that key,
    deletes it and creates again: one new key, whose secret works, beside the old one."""
    store = SandboxStore.in_memory(demo_seed(), clock=lambda: NOW)
    rule = {"method": "POST", "path": "/v1/admin/api-keys", "nth": 1, "status": 429}
    faults = FaultConfig.model_validate({"rules": [{**rule, "after": True}]})

    async def main() -> tuple[set[str | None], set[str | None], str | None, bool, bool]:
        async with sandbox_provider(store, faults=faults, clock=lambda: NOW) as p:
            before = {k.id for k in (await p.fetch()).keys if k.name == "dev-alice"}
            dev = by_name(await p.fetch())["dev"].id
            assert dev is not None
            want = ApiKey(name="dev-alice", workspace="dev", owner="alice.martin@acme.example")
            made = await p.create_key(want, dev)
            after = {k.id for k in await p.find_keys({"dev-alice"})}
            return before, after, made.key.id, made.resent, await p.check_key(made.secret)

    before, after, made, resent, works = run(main())
    assert resent and works
    assert after == before | {made}  # the old dev-alice and one new one: no orphan
    assert len(after) == 2
