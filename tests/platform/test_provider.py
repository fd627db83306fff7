"""MistralProvider: the live state normalised into the core model, and every mutation."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from typing import Any

import httpx
import pytest
import respx
from pydantic import SecretStr

from reconciler import errors
from reconciler.model import ApiKey, LiveState, Member, Organization, SpendLimit, Workspace
from reconciler.platform.mistral.provider import MistralProvider
from reconciler.provider import CreatedKey
from tests.contract.transport import SpecCheckedTransport
from tests.platform.mistral_wire import (
    ADMIN,
    ADMIN_KEY,
    API,
    ROLE_ADMIN,
    ROLE_DEV,
    ROLE_USER,
    Sleeps,
    api_key,
    client,
    created_key,
    created_workspace,
    keys_listing,
    limits,
    roles,
    run,
    uid,
    usage_report,
    user,
    users_page,
    workspace,
    workspaces_page,
)

DEV, ML, DEFAULT, ARCHIVED = uid(1, "a"), uid(2, "a"), uid(3, "a"), uid(9, "a")
ALICE, BOB, DAN, ZED, CAROL = (uid(n, "c") for n in (1, 2, 3, 4, 5))
CREATED = dt.datetime(2026, 5, 1, 12, 0, tzinfo=dt.UTC)
SECRET = "Kp4sW8nQ2xR7tY1uV5zB9cD3fG6hJ0mL"


def org_workspaces() -> list[dict[str, Any]]:
    return [
        workspace(
            1,
            "dev",
            description="All developers",
            spend_limit={"value": 50, "currency": "USD", "no_monthly_limit": False},
        ),
        workspace(
            2,
            "ml",
            description=None,
            spend_limit={"value": None, "currency": "EUR", "no_monthly_limit": True},
        ),
        workspace(3, "Default Workspace", is_default=True),
    ]


def org_users() -> list[dict[str, Any]]:
    return [
        user(
            1, "alice@acme.example", [(DEV, "dev", [ROLE_ADMIN]), (ML, "ml", [ROLE_USER, ROLE_DEV])]
        ),
        user(2, "Bob@Acme.example", [(DEV, "dev", ["M"]), (ARCHIVED, "old", [ROLE_USER])]),
        user(3, "dan@acme.example", [(ML, "ml", ["A"])]),
        user(5, "carol@acme.example"),
        user(6, None, [(DEV, "dev", [ROLE_USER])]),
    ]


def org_keys() -> list[dict[str, Any]]:
    return [
        api_key(1, "dev-alice", workspace_uuid=DEV, created_by="ALICE@acme.example"),
        api_key(2, "ci", workspace_uuid=DEV, created_by="admin-key:ops"),
        api_key(3, "vibe-seat", workspace_uuid=DEV, created_by="bob@acme.example", product="Vibe"),
        api_key(
            4,
            "ml-dan",
            workspace_uuid=ML,
            workspace_name="ml-before-rename",
            created_by="dan@acme.example",
        ),
    ]


def serve_org(mock: respx.MockRouter, *, keys: list[dict[str, Any]] | None = None) -> None:
    mock.get("/workspaces").respond(json=workspaces_page(org_workspaces(), 3, 1, 100))
    mock.get("/users").respond(
        json=users_page(
            org_users(),
            total=6,
            invites=[
                {
                    "uuid": uid(1, "d"),
                    "raw_roles": ["M"],
                    "raw_role": "M",
                    "email": "new@acme.example",
                    "expired": False,
                    "created_at": "2026-11-01T00:00:00Z",
                }
            ],
        )
    )
    mock.get("/roles").respond(json=roles())
    mock.get("/api-keys").mock(side_effect=keys_listing(org_keys() if keys is None else keys))
    mock.get("/spend-limit").respond(json=limits(usage_limit=3000))
    mock.get("/user-groups").respond(json={"total": 0, "items": [], "page": 1, "page_size": 25})


def provider(sleeps: Sleeps | None = None, **options: Any) -> MistralProvider:
    target = options.pop("target", None)
    clock = options.pop("clock", None)
    return MistralProvider(client(sleeps, **options), target=target, clock=clock)


def sent(route: respx.Route) -> Any:
    return json.loads(route.calls.last.request.content)


# --- fetch ----------------------------------------------------------------------------


def test_fetch_normalises_the_organisation_into_the_core_model() -> None:
    progress: list[tuple[str, int, int | None]] = []

    async def main() -> tuple[LiveState, int]:
        with respx.mock(base_url=ADMIN, assert_all_called=False) as mock:
            serve_org(mock)
            async with provider() as p:
                live = await p.fetch(lambda what, done, total: progress.append((what, done, total)))
            return live, len(mock.calls)

    live, calls = run(main())
    key = {"created_at": CREATED, "expires": None, "last_used": None}
    assert [p.email for p in live.people] == [
        "alice@acme.example",
        "bob@acme.example",
        "carol@acme.example",
        "dan@acme.example",
    ]
    assert [(i.email, i.role, i.id) for i in live.invitations] == [
        ("new@acme.example", "member", uid(1, "d"))
    ]
    live = live.model_copy(update={"people": (), "invitations": ()})
    assert live == LiveState(
        target=ADMIN,
        organization=Organization(
            id=DEFAULT,  # the organisation is known by its default workspace
            spend_limit=SpendLimit(amount=Decimal(3000), currency="USD"),
        ),
        workspaces=(
            Workspace(name="Default Workspace", id=DEFAULT, is_default=True),
            Workspace(
                name="dev",
                description="All developers",
                admin="alice@acme.example",
                spend_limit=SpendLimit(amount=Decimal(50)),
                id=DEV,
            ),
            Workspace(
                name="ml",
                admin="dan@acme.example",
                spend_limit=SpendLimit(amount=None, currency="EUR"),
                id=ML,
            ),
        ),
        members=(
            Member(
                workspace="dev",
                email="alice@acme.example",
                roles=("workspace_admin",),
                user_id=ALICE,
            ),
            Member(workspace="dev", email="bob@acme.example", roles=("user",), user_id=BOB),
            Member(
                workspace="ml", email="alice@acme.example", roles=("dev", "user"), user_id=ALICE
            ),
            Member(
                workspace="ml", email="dan@acme.example", roles=("workspace_admin",), user_id=DAN
            ),
        ),
        keys=(
            ApiKey(
                name="ci",
                workspace="dev",
                owner=None,
                id=uid(2, "b"),
                hidden_key="ab12...0002",
                created_by="admin-key:ops",
                **key,
            ),
            ApiKey(
                name="dev-alice",
                workspace="dev",
                owner="alice@acme.example",
                id=uid(1, "b"),
                hidden_key="ab12...0001",
                created_by="ALICE@acme.example",
                **key,
            ),
            ApiKey(
                name="ml-dan",
                workspace="ml",
                owner="dan@acme.example",
                id=uid(4, "b"),
                hidden_key="ab12...0004",
                created_by="dan@acme.example",
                **key,
            ),
        ),
        requests=6,
    )
    assert calls == 6  # the five listings and the (empty) user groups
    assert ("workspaces", 3, 3) in progress
    assert ("users", 6, 6) in progress
    assert ("api keys", 4, None) in progress
    assert ("roles", 1, 1) in progress
    assert ("spend limit", 1, 1) in progress


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        (limits(usage_limit=5000), SpendLimit(amount=Decimal(5000))),
        (limits(usage_limit=None, no_monthly_limit=True), SpendLimit(amount=None)),
        (limits(usage_limit=200, no_monthly_limit=True), SpendLimit(amount=None)),
    ],
    ids=["limit", "no-limit", "no-limit-wins"],
)
def test_fetch_maps_the_organisation_spend_limit(answer: object, expected: SpendLimit) -> None:
    async def main() -> LiveState:
        with respx.mock(base_url=ADMIN, assert_all_called=False) as mock:
            serve_org(mock)
            mock.get("/spend-limit").respond(json=answer)
            async with provider() as p:
                return await p.fetch()

    assert run(main()).organization.spend_limit == expected


def test_a_role_the_roles_listing_does_not_name_is_kept_as_its_raw_value() -> None:
    listed = roles()
    unnamed = listed["workspace_roles"].pop()["uuid"]

    async def main() -> LiveState:
        with respx.mock(base_url=ADMIN, assert_all_called=False) as mock:
            serve_org(mock)
            mock.get("/roles").respond(json=listed)
            mock.get("/users").respond(
                json=users_page([user(4, "zed@acme.example", [(DEV, "dev", [unnamed])])], 1)
            )
            async with provider() as p:
                return await p.fetch()

    assert run(main()).members == (
        Member(workspace="dev", email="zed@acme.example", roles=(unnamed,), user_id=ZED),
    )


def test_fetch_fails_whole_when_one_listing_fails() -> None:
    async def main() -> None:
        with respx.mock(base_url=ADMIN, assert_all_called=False) as mock:
            serve_org(mock)
            mock.get("/roles").respond(403, json={"message": "admin key lacks scope"})
            async with provider() as p:
                with pytest.raises(errors.Forbidden, match=r"GET /roles .*admin key lacks scope"):
                    await p.fetch()

    run(main())


def test_target_is_the_admin_base_url_unless_given() -> None:
    async def main() -> tuple[str, str]:
        async with provider() as a, provider(target=".sandbox/state.json") as b:
            return a.target, b.target

    assert run(main()) == (ADMIN, ".sandbox/state.json")


def test_from_env_builds_a_working_provider_over_a_transport() -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        assert request.headers["x-api-key"] == ADMIN_KEY
        return httpx.Response(200, json={"keys": []})

    async def main() -> list[ApiKey]:
        p = MistralProvider.from_env(
            {
                "MISTRAL_ADMIN_API_KEY": ADMIN_KEY,
                "MISTRAL_ADMIN_BASE_URL": "https://sandbox/v1/admin",
                "MISTRAL_ADMIN_AUTH": "x-api-key",
            },
            transport=SpecCheckedTransport(httpx.MockTransport(answer)),
            concurrency=2,
        )
        async with p:
            assert p.target == "https://sandbox/v1/admin"
            assert p.client.concurrency == 2
            return await p.client.list_keys()  # type: ignore[return-value]

    assert run(main()) == []


# --- workspaces and members -----------------------------------------------------------


def test_create_workspace_maps_the_admin_email_to_a_user_uuid() -> None:
    async def main() -> tuple[Workspace, Any]:
        with respx.mock(base_url=ADMIN, assert_all_called=False) as mock:
            serve_org(mock)
            route = mock.post("/workspaces").respond(
                json=created_workspace(7, "prod", description="CI/CD only")
            )
            async with provider() as p:
                made = await p.create_workspace(
                    Workspace(name="prod", description="CI/CD only", admin="Dan@acme.example")
                )
            return made, sent(route)

    made, body = run(main())
    assert body == {
        "name": "prod",
        "admin_user_id": DAN,
        "description": "CI/CD only",
        "add_all_org_members": False,
    }
    assert made == Workspace(
        name="prod", description="CI/CD only", admin="dan@acme.example", id=uid(7, "a")
    )


def test_create_workspace_without_an_admin_is_refused_before_any_request() -> None:
    async def main() -> int:
        with respx.mock(base_url=ADMIN, assert_all_called=False) as mock:
            async with provider() as p:
                with pytest.raises(errors.PlanError, match=r"workspace\.prod: an admin is needed"):
                    await p.create_workspace(Workspace(name="prod"))
            return len(mock.calls)

    assert run(main()) == 0


def test_an_admin_who_is_not_a_user_is_looked_up_then_refused() -> None:
    async def main() -> tuple[int, int]:
        with respx.mock(base_url=ADMIN, assert_all_called=False) as mock:
            lookup = mock.get("/users", params={"email": "ghost@acme.example"}).respond(
                json=users_page([], total=0)
            )
            serve_org(mock)
            create = mock.post("/workspaces").respond(json=created_workspace(7, "x"))
            async with provider() as p:
                with pytest.raises(errors.PlanError, match="no user with email ghost@acme"):
                    await p.create_workspace(Workspace(name="x", admin="ghost@acme.example"))
            return lookup.call_count, create.call_count

    assert run(main()) == (1, 0)


def test_update_and_archive_workspace() -> None:
    async def main() -> tuple[Workspace, Any, int]:
        with respx.mock(base_url=ADMIN, assert_all_called=False) as mock:
            patch = mock.patch(f"/workspaces/{DEV}").respond(
                json=workspace(1, "dev", description="Developers")
            )
            delete = mock.delete(f"/workspaces/{ML}").respond(204)
            async with provider() as p:
                updated = await p.update_workspace(
                    DEV, Workspace(name="dev", description="Developers", admin="alice@acme.example")
                )
                await p.archive_workspace(ML)
            return updated, sent(patch), delete.call_count

    updated, body, archived = run(main())
    assert body == {"name": "dev", "description": "Developers"}
    assert updated == Workspace(
        name="dev", description="Developers", admin="alice@acme.example", id=DEV
    )
    assert archived == 1


def test_set_member_patches_the_users_uuid_and_sorted_role_names() -> None:
    async def main() -> Any:
        with respx.mock(base_url=ADMIN, assert_all_called=False) as mock:
            serve_org(mock)
            route = mock.patch(f"/workspaces/{DEV}/users").respond(
                json={"added_members_count": 1, "updated_members_count": 0}
            )
            async with provider() as p:
                await p.set_member(
                    DEV, Member(workspace="dev", email="carol@acme.example", roles=("user", "dev"))
                )
            return sent(route)

    assert run(main()) == {"members": [{"user_uuid": CAROL, "role_names": ["dev", "user"]}]}


def test_remove_member_uses_the_live_user_id_without_listing() -> None:
    async def main() -> tuple[Any, int]:
        with respx.mock(base_url=ADMIN, assert_all_called=False) as mock:
            route = mock.delete(f"/workspaces/{DEV}/remove-users").respond(
                json={"deleted_members_count": 1, "not_deleted_members": None}
            )
            async with provider() as p:
                await p.remove_member(
                    DEV, Member(workspace="dev", email="zed@acme.example", user_id=ZED)
                )
            return sent(route), len(mock.calls)

    body, calls = run(main())
    assert body == {"members": [{"user_uuid": ZED}]}
    assert calls == 1


def test_a_member_the_platform_would_not_remove_is_an_error() -> None:
    async def main() -> None:
        with respx.mock(base_url=ADMIN, assert_all_called=False) as mock:
            mock.delete(f"/workspaces/{DEV}/remove-users").respond(
                json={"deleted_members_count": 0, "not_deleted_members": [ALICE]}
            )
            async with provider() as p:
                with pytest.raises(errors.RemoteError, match="did not remove alice@acme"):
                    await p.remove_member(
                        DEV, Member(workspace="dev", email="alice@acme.example", user_id=ALICE)
                    )

    run(main())


# --- keys -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("owner", "workspace_id", "user_id"),
    [("bob@acme.example", DEV, BOB), (None, DEV, ALICE), (None, ML, DAN)],
    ids=["owner", "dev-admin", "ml-admin"],
)
def test_create_key_is_made_for_the_owner_or_the_workspace_admin(
    owner: str | None, workspace_id: str, user_id: str
) -> None:
    async def main() -> tuple[Any, Any]:
        with respx.mock(base_url=ADMIN, assert_all_called=False) as mock:
            serve_org(mock)
            route = mock.post("/api-keys").respond(json=created_key(8, "svc", SECRET))
            async with provider() as p:
                made = await p.create_key(
                    ApiKey(name="svc", workspace="dev", owner=owner, expires=dt.date(2027, 2, 1)),
                    workspace_id,
                )
            return made, sent(route)

    made, body = run(main())
    assert body == {
        "workspace_uuid": workspace_id,
        "user_id": user_id,
        "name": "svc",
        "expiration": "2027-02-01",
    }
    assert made.secret.get_secret_value() == SECRET
    assert made.key == ApiKey(
        name="svc",
        workspace="dev",
        owner=owner,
        expires=dt.date(2027, 2, 1),
        id=uid(8, "b"),
        created_at=dt.datetime(2026, 11, 27, 8, 0, tzinfo=dt.UTC),
        hidden_key=f"{SECRET[:4]}...{SECRET[-4:]}",
    )
    assert SECRET not in repr(made)
    assert SECRET not in repr(made.key)


def test_a_key_for_a_workspace_created_in_this_run_is_owned_by_its_admin() -> None:
    async def main() -> Any:
        with respx.mock(base_url=ADMIN, assert_all_called=False) as mock:
            serve_org(mock)
            mock.post("/workspaces").respond(json=created_workspace(7, "prod"))
            route = mock.post("/api-keys").respond(json=created_key(8, "svc", SECRET))
            async with provider() as p:
                made = await p.create_workspace(Workspace(name="prod", admin="dan@acme.example"))
                assert made.id is not None
                await p.create_key(ApiKey(name="svc", workspace="prod"), made.id)
            return sent(route)

    assert run(main())["user_id"] == DAN


def test_a_key_without_owner_in_a_workspace_without_admin_is_refused() -> None:
    async def main() -> None:
        with respx.mock(base_url=ADMIN, assert_all_called=False) as mock:
            serve_org(mock)
            create = mock.post("/api-keys").respond(json=created_key(8, "svc", SECRET))
            async with provider() as p:
                with pytest.raises(errors.PlanError, match="no owner given"):
                    await p.create_key(ApiKey(name="svc", workspace="Default Workspace"), DEFAULT)
            assert create.call_count == 0

    run(main())


def test_an_ambiguous_key_create_reaches_the_caller_as_such() -> None:
    async def main() -> int:
        with respx.mock(base_url=ADMIN, assert_all_called=False) as mock:
            serve_org(mock)
            route = mock.post("/api-keys").mock(side_effect=httpx.ReadTimeout("slow"))
            async with provider() as p:
                with pytest.raises(errors.AmbiguousCreate):
                    await p.create_key(ApiKey(name="svc", workspace="dev"), DEV)
            return route.call_count

    assert run(main()) == 1


class KeyPlatform:
    """``/api-keys`` with state, for respx: the first create is made and then refused."""

    SENT = dt.datetime(2026, 11, 27, 8, 0, tzinfo=dt.UTC)

    def __init__(self, *, made_before_429: bool) -> None:
        self.made_before_429 = made_before_429
        self.keys = [
            # the key being replaced: this name, this workspace, made long before
            api_key(1, "svc", workspace_uuid=DEV),
            # this name in another workspace
            {**api_key(2, "svc", workspace_uuid=ML), "created_at": "2026-11-27T08:00:01Z"},
        ]
        self.log: list[str] = []

    def route(self, mock: respx.MockRouter) -> None:
        mock.post("/api-keys").mock(side_effect=self.create)
        mock.get("/api-keys", params={"name": "svc"}).mock(side_effect=self.listing)
        mock.delete(url__regex=r"/api-keys/(?P<key_id>[^/]+)$").mock(side_effect=self.delete)

    def create(self, request: httpx.Request) -> httpx.Response:
        n = 10 + len([e for e in self.log if e.startswith("POST")])
        made = {**created_key(n, "svc", SECRET), "created_at": "2026-11-27T08:00:02Z"}
        first = not self.log
        self.log.append(f"POST -> {uid(n, 'b')[-2:]}")
        if first and not self.made_before_429:
            return httpx.Response(429, headers={"Retry-After": "2"}, json={"message": "slow"})
        listed = {**api_key(n, "svc", workspace_uuid=DEV), "created_at": made["created_at"]}
        self.keys.append(listed)
        if first:  # made, then refused: the answer with the secret never arrives
            return httpx.Response(429, headers={"Retry-After": "2"}, json={"message": "slow"})
        return httpx.Response(200, json=made)

    def listing(self, request: httpx.Request) -> httpx.Response:
        self.log.append("GET ?name=svc")
        return httpx.Response(200, json={"keys": [k for k in self.keys if k["name"] == "svc"]})

    def delete(self, request: httpx.Request, key_id: str) -> httpx.Response:
        self.log.append(f"DELETE {key_id[-2:]}")
        self.keys = [k for k in self.keys if k["key_id"] != key_id]
        return httpx.Response(200, json={"detail": "deleted"})


@pytest.mark.parametrize("made", [True, False], ids=["made-then-refused", "refused"])
def test_a_refused_key_create_is_sent_again_only_after_its_orphan_is_deleted(made: bool) -> None:
    """A 429 may come after the platform made the key: before the create goes again, a key
    of that name in that workspace made since the request went is deleted (nobody has its
    secret), so exactly one new key is left, the one whose secret came back."""
    platform = KeyPlatform(made_before_429=made)
    sleeps = Sleeps()

    async def main() -> CreatedKey:
        with respx.mock(base_url=ADMIN, assert_all_called=False) as mock:
            platform.route(mock)
            serve_org(mock)
            async with provider(sleeps, clock=lambda: KeyPlatform.SENT) as p:
                return await p.create_key(ApiKey(name="svc", workspace="dev"), DEV)

    created = run(main())
    assert created.secret.get_secret_value() == SECRET
    assert created.resent is True
    orphan = ["DELETE 10"] if made else []
    assert platform.log == ["POST -> 10", "GET ?name=svc", *orphan, "POST -> 11"]
    assert sleeps.delays == [2.0]
    assert sorted((k["key_id"], k["workspace_id"]) for k in platform.keys) == [
        (uid(1, "b"), DEV),  # the old key stays: made long before the create
        (uid(2, "b"), ML),  # another workspace's key stays
        (uid(11, "b"), DEV),  # the one new key, whose secret arrived
    ]
    assert created.key.id == uid(11, "b")


def test_a_key_seen_by_the_last_fetch_is_never_taken_for_an_orphan() -> None:
    """A key of that name made just before the create (within the clock skew) but already
    listed by the fetch the plan came from is not the refused request's."""
    platform = KeyPlatform(made_before_429=False)
    platform.keys[0]["created_at"] = "2026-11-27T07:58:00Z"

    async def main() -> None:
        with respx.mock(base_url=ADMIN, assert_all_called=False) as mock:
            platform.route(mock)
            serve_org(mock, keys=platform.keys)
            async with provider(clock=lambda: KeyPlatform.SENT) as p:
                await p.fetch()
                await p.create_key(ApiKey(name="svc", workspace="dev"), DEV)

    run(main())
    assert "DELETE 01" not in platform.log
    assert uid(1, "b") in {k["key_id"] for k in platform.keys}


@pytest.mark.parametrize(("status", "raised"), [(200, None), (404, None), (403, errors.Forbidden)])
def test_delete_key_treats_a_key_already_gone_as_done(
    status: int, raised: type[Exception] | None
) -> None:
    async def main() -> None:
        with respx.mock(base_url=ADMIN, assert_all_called=False) as mock:
            mock.delete(f"/api-keys/{uid(1, 'b')}").respond(status, json={"detail": "x"})
            async with provider() as p:
                if raised is None:
                    await p.delete_key(uid(1, "b"))
                else:
                    with pytest.raises(raised):
                        await p.delete_key(uid(1, "b"))

    run(main())


def test_find_keys_keeps_exact_name_matches_only() -> None:
    async def main() -> tuple[list[ApiKey], httpx.Request]:
        with respx.mock(base_url=ADMIN, assert_all_called=False) as mock:
            route = mock.get("/api-keys", params={"name": "dev-alice"}).mock(
                side_effect=keys_listing(
                    [
                        api_key(1, "dev-alice", created_by="alice@acme.example"),
                        api_key(5, "dev-alice-old"),
                        api_key(6, "DEV-ALICE"),
                    ]
                )
            )
            serve_org(mock)  # routes match in order: the filtered listing first
            async with provider() as p:
                found = await p.find_keys({"dev-alice"})
            return found, route.calls[0].request

    found, request = run(main())
    assert [(k.name, k.id, k.owner) for k in found] == [
        ("dev-alice", uid(1, "b"), "alice@acme.example")
    ]
    assert request.url.params["name"] == "dev-alice"


@pytest.mark.parametrize(("status", "works"), [(200, True), (401, False)])
def test_check_key_asks_models_with_the_new_key(status: int, works: bool) -> None:
    async def main() -> tuple[bool, str]:
        with respx.mock(base_url=API) as mock:
            route = mock.get("/models").respond(status, json={"data": []})
            async with provider() as p:
                result = await p.check_key(SecretStr(SECRET))
            return result, route.calls.last.request.headers["authorization"]

    assert run(main()) == (works, f"Bearer {SECRET}")


# --- organisation ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("limit", "body"),
    [
        (SpendLimit(amount=Decimal("5000")), {"amount": 5000, "no_monthly_limit": False}),
        (SpendLimit(amount=Decimal("5000.00")), {"amount": 5000, "no_monthly_limit": False}),
        (SpendLimit(amount=None), {"amount": 0, "no_monthly_limit": True}),
    ],
)
def test_set_organization_spend_limit(limit: SpendLimit, body: object) -> None:
    async def main() -> Any:
        with respx.mock(base_url=ADMIN, assert_all_called=False) as mock:
            route = mock.post("/spend-limit").respond(json=limits())
            async with provider() as p:
                await p.set_organization_spend_limit(limit)
            return sent(route)

    assert run(main()) == body


def test_a_fractional_spend_limit_is_refused_before_any_request() -> None:
    async def main() -> int:
        with respx.mock(base_url=ADMIN, assert_all_called=False) as mock:
            async with provider() as p:
                with pytest.raises(errors.PlanError, match="whole"):
                    await p.set_organization_spend_limit(SpendLimit(amount=Decimal("10.5")))
            return len(mock.calls)

    assert run(main()) == 0


def test_monthly_spend_sums_each_workspaces_usage_report() -> None:
    def usage(request: httpx.Request) -> httpx.Response:
        assert (request.url.params["month"], request.url.params["year"]) == ("11", "2026")
        tokens = {DEV: 2_000_000, ML: 10_000_000, DEFAULT: 0}[request.url.params["workspace_id"]]
        return httpx.Response(
            200,
            json=usage_report(
                {"mistral-small-2506": {"input": [{"value": tokens}]}},
                [
                    {
                        "event_type": "api_tokens",
                        "billing_metric": "mistral-small-2506",
                        "billing_group": "input",
                        "api_zone": "global",
                        "service_tier": "standard",
                        "price": "0.00000015",
                    }
                ],
            ),
        )

    async def main() -> dict[str, Decimal]:
        with respx.mock(base_url=ADMIN, assert_all_called=False) as mock:
            serve_org(mock)
            mock.get("/usage").mock(side_effect=usage)
            async with provider() as p:
                return await p.monthly_spend(dt.date(2026, 11, 27))

    assert run(main()) == {
        "Default Workspace": Decimal(0),
        "dev": Decimal("0.30"),
        "ml": Decimal("1.50"),
    }
