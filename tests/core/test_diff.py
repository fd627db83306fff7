"""The pure diff: what each kind of difference between desired and live becomes."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest

from reconciler.diff import Action, Change, Kind, currency_notes
from reconciler.diff import diff as diff_at
from reconciler.model import (
    ApiKey,
    DesiredState,
    Group,
    LiveState,
    Organization,
    SpendLimit,
    Workspace,
)

from .states import CREATED, desired, desired_renamed, live_drifted, live_matching

# the tests' own moment, not today's: the fixtures' keys expire in 2027, and a key whose
# expiry has passed is left as it is
NOW = dt.datetime(2026, 11, 18, 9, 30, tzinfo=dt.UTC)


def diff(desired: DesiredState, live: LiveState, **options: Any) -> list[Change]:
    return diff_at(desired, live, **{"now": NOW, **options})


def by_address(changes: list[Change]) -> dict[str, Change]:
    return {c.address: c for c in changes}


def test_matching_states_have_no_changes() -> None:
    assert diff(desired(), live_matching()) == []


def test_every_kind_of_drift_is_classified() -> None:
    changes = by_address(diff(desired(), live_drifted()))
    assert changes["organization"].actions == (Action.UPDATE,)
    assert changes["organization"].fields[0].before == "3000 USD/month"
    assert changes["workspace.dev"].actions == (Action.UPDATE,)
    assert [f.path for f in changes["workspace.dev"].fields] == ["description"]
    assert changes["workspace.prod"].actions == (Action.CREATE,)
    assert changes["workspace.Default Workspace"].actions == (Action.UNMANAGED,)
    manual = changes["workspace_spend_limit.dev"]
    assert manual.actions == (Action.MANUAL,)
    assert "50 USD/month" in (manual.message or "")
    assert changes["member.dev/bob@acme.example"].actions == (Action.CREATE,)
    assert changes["member.dev/iris@acme.example"].actions == (Action.DELETE,)
    assert changes["member.prod/grace@acme.example"].actions == (Action.CREATE,)
    replaced = changes["api_key.dev-alice"]
    assert replaced.actions == (Action.CREATE, Action.DELETE)
    assert replaced.fields[0].path == "expires"
    assert replaced.fields[0].forces_replacement
    assert changes["api_key.iris-laptop"].actions == (Action.UNMANAGED,)
    assert changes["api_key.prod-checkout"].actions == (Action.CREATE,)


def test_workspace_spend_limit_only_reported_when_desired() -> None:
    ws = desired().workspaces[0].model_copy(update={"spend_limit": None})
    state = desired(workspaces=(ws, desired().workspaces[1]))
    live = live_matching()
    assert not [c for c in diff(state, live) if c.kind is Kind.WORKSPACE_SPEND_LIMIT]


def test_an_unset_workspace_spend_limit_reads_alike_before_and_after_the_workspace_exists() -> None:
    live = live_matching()
    unset = tuple(
        w.model_copy(update={"spend_limit": SpendLimit()}) if w.name == "dev" else w
        for w in live.workspaces
    )
    existing = live.model_copy(update={"workspaces": unset})
    to_create = live.model_copy(
        update={
            "workspaces": tuple(w for w in live.workspaces if w.name != "dev"),
            "members": tuple(m for m in live.members if m.workspace != "dev"),
            "keys": tuple(k for k in live.keys if k.workspace != "dev"),
        }
    )
    for state in (existing, to_create):
        limit = by_address(diff(desired(), state))["workspace_spend_limit.dev"]
        assert [(f.before, f.after) for f in limit.fields] == [("no monthly limit", "50 USD/month")]
        assert (limit.message or "").endswith("to 50 USD/month (now: no monthly limit).")


def test_unmanaged_keys_pruned_only_when_workspace_allows() -> None:
    live = live_matching().model_copy(
        update={
            "keys": (*live_matching().keys, ApiKey(name="stray", workspace="dev", id="k-stray"))
        }
    )
    kept = by_address(diff(desired(), live))["api_key.stray"]
    assert kept.actions == (Action.UNMANAGED,)
    dev = desired().workspaces[0].model_copy(update={"prune_unmanaged_keys": True})
    pruned = by_address(diff(desired(workspaces=(dev, desired().workspaces[1])), live))
    assert pruned["api_key.stray"].actions == (Action.DELETE,)


def test_two_live_keys_with_one_name_are_a_conflict_not_a_guess() -> None:
    dup = ApiKey(
        name="dev-alice",
        workspace="dev",
        owner="alice@acme.example",
        expires=dt.date(2027, 6, 30),
        id="k-alice-2",
        created_at=CREATED,
    )
    live = live_matching().model_copy(update={"keys": (*live_matching().keys, dup)})
    change = by_address(diff(desired(), live))["api_key.dev-alice"]
    assert change.actions == (Action.CONFLICT,)
    assert set(change.extra_ids) == {"k-alice", "k-alice-2"}
    assert "k-alice-2" in (change.message or "")


def test_key_moved_to_another_workspace_is_replaced() -> None:
    moved = desired().keys[0].model_copy(update={"workspace": "prod"})
    state = desired(keys=(moved, desired().keys[1]))
    change = by_address(diff(state, live_matching()))["api_key.dev-alice"]
    assert change.is_replacement
    assert {f.path for f in change.fields if f.forces_replacement} == {"workspace"}


@pytest.mark.parametrize("field_name", ["owner", "expires"])
def test_fields_the_api_cannot_update_force_replacement(field_name: str) -> None:
    value = "carol@acme.example" if field_name == "owner" else dt.date(2027, 12, 31)
    key = desired().keys[0].model_copy(update={field_name: value})
    change = by_address(diff(desired(keys=(key, desired().keys[1])), live_matching()))[
        "api_key.dev-alice"
    ]
    assert change.actions == (Action.CREATE, Action.DELETE)
    assert [f.path for f in change.fields] == [field_name]
    assert change.unchanged == 2


def test_abandoned_keys_are_deleted_and_never_matched() -> None:
    orphan = ApiKey(
        name="dev-alice",
        workspace="dev",
        owner="alice@acme.example",
        expires=dt.date(2027, 6, 30),
        id="k-orphan",
        created_at=CREATED,
    )
    live = live_matching().model_copy(update={"keys": (*live_matching().keys, orphan)})
    changes = diff(desired(), live, abandoned_keys={"k-orphan": "lost secret"})
    assert [c.address for c in changes] == ["api_key.dev-alice[k-orphan]"]
    assert changes[0].actions == (Action.DELETE,)
    assert changes[0].recovery


def test_archived_workspace_is_deleted_and_its_keys_go_first() -> None:
    dev = desired().workspaces[0].model_copy(update={"archived": True})
    state = desired(
        workspaces=(dev, desired().workspaces[1]),
        keys=(desired().keys[1],),
        members=desired().members[2:],
    )
    changes = by_address(diff(state, live_matching()))
    assert changes["workspace.dev"].actions == (Action.DELETE,)
    assert changes["api_key.dev-alice"].actions == (Action.DELETE,)
    assert "archived" in (changes["api_key.dev-alice"].reason or "")


def test_members_of_unmanaged_workspaces_are_ignored() -> None:
    live = live_drifted()
    other = Workspace(name="Default Workspace", id="ws-default")
    assert other.name in {w.name for w in live.workspaces}
    assert not [c for c in diff(desired(), live) if c.address.startswith("member.Default")]


def test_diff_is_linear_enough_for_large_equal_states() -> None:
    """20,000 equal keys diff without a field-by-field comparison (equal fields short-circuit)."""
    keys = tuple(
        ApiKey(name=f"k{i}", workspace="dev", owner="alice@acme.example", id=f"id{i}")
        for i in range(20_000)
    )
    state = desired(keys=keys)
    live = live_matching().model_copy(update={"keys": keys})
    assert [c for c in diff(state, live) if c.kind is Kind.API_KEY] == []


def test_a_workspace_named_in_another_case_is_renamed_in_place_with_its_members_and_keys() -> None:
    live = live_matching()
    renamed = live.model_copy(
        update={
            "workspaces": tuple(
                w.model_copy(update={"name": "Dev"}) if w.name == "dev" else w
                for w in live.workspaces
            ),
            "members": tuple(
                m.model_copy(update={"workspace": "Dev"}) if m.workspace == "dev" else m
                for m in live.members
            ),
            "keys": tuple(
                k.model_copy(update={"workspace": "Dev"}) if k.workspace == "dev" else k
                for k in live.keys
            ),
        }
    )
    changes = diff(desired(), renamed)
    assert [(c.address, c.actions) for c in changes] == [("workspace.dev", (Action.UPDATE,))]
    assert [(f.path, f.before, f.after) for f in changes[0].fields] == [("name", "Dev", "dev")]
    assert changes[0].live_id == "ws-dev"


def test_two_live_workspaces_equal_but_for_case_are_not_guessed() -> None:
    live = live_matching()
    twins = live.model_copy(
        update={
            "workspaces": (
                *(w for w in live.workspaces if w.name != "dev"),
                Workspace(name="Dev", id="ws-1"),
                Workspace(name="DEV", id="ws-2"),
            ),
            "members": tuple(m for m in live.members if m.workspace != "dev"),
            "keys": tuple(k for k in live.keys if k.workspace != "dev"),
        }
    )
    changes = by_address(diff(desired(), twins))
    assert changes["workspace.dev"].actions == (Action.CREATE,)
    assert changes["workspace.Dev"].actions == (Action.UNMANAGED,)
    assert changes["workspace.DEV"].actions == (Action.UNMANAGED,)


def test_a_key_found_only_in_an_unmanaged_workspace_is_created_and_the_other_left_alone() -> None:
    elsewhere = ApiKey(
        name="dev-alice",
        workspace="Default Workspace",
        owner="alice@acme.example",
        expires=dt.date(2027, 6, 30),
        id="k-default",
        created_at=CREATED,
    )
    live = live_matching().model_copy(
        update={
            "workspaces": (
                *live_matching().workspaces,
                Workspace(name="Default Workspace", id="ws-default"),
            ),
            "keys": (elsewhere, *(k for k in live_matching().keys if k.name != "dev-alice")),
        }
    )
    changes = by_address(diff(desired(), live))
    assert changes["api_key.dev-alice"].actions == (Action.CREATE,)
    left = changes["api_key.dev-alice[k-defaul]"]
    assert left.actions == (Action.UNMANAGED,)
    assert left.live_id == "k-default"
    assert not [c for c in changes.values() if Action.DELETE in c.actions]


def test_a_key_whose_owner_the_platform_does_not_name_is_not_replaced() -> None:
    live = live_matching()
    unknown = live.model_copy(
        update={"keys": tuple(k.model_copy(update={"owner": None}) for k in live.keys)}
    )
    assert diff(desired(), unknown) == []
    moved = desired().keys[0].model_copy(update={"workspace": "prod"})
    change = by_address(diff(desired(keys=(moved, desired().keys[1])), unknown))[
        "api_key.dev-alice"
    ]
    assert [f.path for f in change.fields] == ["workspace"]


TODAY = dt.date(2026, 6, 1)
CLAMPED = dt.date(2026, 5, 1) + dt.timedelta(days=90)  # CREATED + the platform's 90 days


@pytest.mark.parametrize(
    ("cap", "wanted", "today", "replaced"),
    [
        (None, dt.date(2027, 6, 30), TODAY, True),  # no policy known: looks like drift
        (90, dt.date(2027, 6, 30), TODAY, False),  # clamped: what the platform allows
        (90, None, TODAY, False),  # no expiry wanted, the platform clamps that too
        (90, dt.date(2026, 7, 15), TODAY, True),  # earlier than the clamp: a real change
        (30, dt.date(2027, 6, 30), TODAY, True),  # another policy: not this clamp
        (90, dt.date(2027, 6, 30), CLAMPED - dt.timedelta(days=5), True),  # due: renewed
    ],
)
def test_an_expiry_the_platforms_policy_clamped_is_not_a_change_until_due(
    cap: int | None, wanted: dt.date | None, today: dt.date, replaced: bool
) -> None:
    org = desired().organization.model_copy(update={"key_platform_max_expiry_days": cap})
    key = desired().keys[0].model_copy(update={"expires": wanted})
    state = desired(organization=org, keys=(key, desired().keys[1]))
    live = live_matching()
    clamped = live.model_copy(
        update={
            "keys": tuple(
                k.model_copy(update={"expires": CLAMPED}) if k.name == "dev-alice" else k
                for k in live.keys
            )
        }
    )
    changes = by_address(diff(state, clamped, today=today))
    assert ("api_key.dev-alice" in changes) is replaced
    if replaced:
        assert changes["api_key.dev-alice"].is_replacement


def _billed_in(currency: str, amount: int | None = 5000) -> LiveState:
    live = live_matching()
    return live.model_copy(
        update={
            "organization": Organization(
                spend_limit=SpendLimit(
                    amount=Decimal(amount) if amount is not None else None, currency=currency
                )
            ),
            "workspaces": tuple(
                w.model_copy(
                    update={"spend_limit": SpendLimit(amount=Decimal(50), currency=currency)}
                )
                if w.spend_limit
                else w
                for w in live.workspaces
            ),
        }
    )


def test_a_spend_limit_in_another_currency_than_the_billing_one_is_a_conflict() -> None:
    changes = by_address(diff(desired(), _billed_in("EUR")))
    conflict = changes["organization"]
    assert conflict.actions == (Action.CONFLICT,)
    assert "billed in EUR" in (conflict.message or "")
    assert "currency: EUR" in (conflict.message or "")
    # workspace limits are not compared across currencies: no manual step that can never end
    assert not [c for c in changes.values() if c.kind is Kind.WORKSPACE_SPEND_LIMIT]
    assert currency_notes(desired(), _billed_in("EUR")) == [
        "The organisation is billed in EUR: the workspace spend limits of dev were not "
        "compared with policy.monthly_budget_usd (nothing here converts currencies); check "
        "them in the admin console."
    ]
    assert currency_notes(desired(), live_matching()) == []


def test_a_spend_limit_in_the_billing_currency_is_compared_as_usual() -> None:
    org = Organization(name="Acme", spend_limit=SpendLimit(amount=Decimal(6000), currency="EUR"))
    change = by_address(diff(desired(organization=org), _billed_in("EUR")))["organization"]
    assert change.actions == (Action.UPDATE,)
    assert (change.fields[0].before, change.fields[0].after) == ("5000 EUR/month", "6000 EUR/month")


def test_no_monthly_limit_is_the_same_in_every_currency() -> None:
    org = Organization(name="Acme", spend_limit=SpendLimit(amount=None))
    changes = by_address(diff(desired(organization=org), _billed_in("EUR", None)))
    assert "organization" not in changes


def test_a_workspace_found_by_a_previous_name_is_renamed_in_place_with_members_and_keys() -> None:
    changes = diff(desired_renamed(), live_matching())
    assert [(c.address, c.actions) for c in changes] == [
        ("workspace.developers", (Action.UPDATE,)),
        ("api_key.developers-alice", (Action.CREATE, Action.DELETE)),
    ]
    ws, key = changes
    assert ws.reason == "renamed from 'dev'" and ws.live_id == "ws-dev"
    assert [(f.path, f.before, f.after) for f in ws.fields] == [("name", "dev", "developers")]
    assert key.reason == "renamed from 'dev-alice'; the platform cannot rename a key"
    assert key.live_id == "k-alice"
    assert [(f.path, f.forces_replacement) for f in key.fields] == [("name", True)]


def test_a_group_s_access_follows_a_workspace_renamed_by_a_previous_name() -> None:
    # bob reaches dev only through the group analysts: after dev is renamed developers
    # (and groups.yaml says so) the rename is the plan's only change to the workspace;
    # his membership is neither removed as undeclared nor the group's grant rewritten
    # (the platform's grants follow the workspace's id)
    analysts = Group(name="analysts", members=("bob@acme.example",), id="g-analysts")
    base = desired_renamed()
    want = base.model_copy(
        update={
            "members": tuple(m for m in base.members if m.email != "bob@acme.example"),
            "groups": (
                analysts.model_copy(update={"workspace_grants": {"developers": ("user",)}}),
            ),
        }
    )
    live = live_matching().model_copy(
        update={"groups": (analysts.model_copy(update={"workspace_grants": {"dev": ("user",)}}),)}
    )
    changes = [c for c in diff(want, live) if Action.NOOP not in c.actions]
    assert [(c.address, c.actions) for c in changes] == [
        ("workspace.developers", (Action.UPDATE,)),
        ("api_key.developers-alice", (Action.CREATE, Action.DELETE)),
    ]


def test_a_renamed_key_whose_other_fields_changed_too_lists_them_all() -> None:
    state = desired_renamed()
    keys = tuple(
        k.model_copy(update={"expires": dt.date(2028, 1, 31)}) if k.previous_names else k
        for k in state.keys
    )
    key = by_address(diff(state.model_copy(update={"keys": keys}), live_matching()))[
        "api_key.developers-alice"
    ]
    assert [(f.path, f.before, f.after) for f in key.fields] == [
        ("expires", "2027-06-30", "2028-01-31"),
        ("name", "dev-alice", "developers-alice"),
    ]
    assert key.reason == "renamed from 'dev-alice'; the platform cannot rename a key"


def test_a_live_object_with_the_current_name_wins_over_one_with_a_previous_name() -> None:
    live = live_matching()
    both = live.model_copy(
        update={
            "workspaces": (
                *live.workspaces,
                Workspace(
                    name="developers",
                    description="All developers",
                    spend_limit=SpendLimit(amount=Decimal(50)),
                    id="ws-new",
                ),
            ),
            "keys": (
                *live.keys,
                ApiKey(
                    name="developers-alice",
                    workspace="developers",
                    owner="alice@acme.example",
                    expires=dt.date(2027, 6, 30),
                    id="k-new",
                ),
            ),
        }
    )
    changes = by_address(diff(desired_renamed(), both))
    assert "workspace.developers" not in changes  # the live one of that name, unchanged
    assert changes["workspace.dev"].actions == (Action.UNMANAGED,)
    assert "api_key.developers-alice" not in changes
    assert changes["api_key.dev-alice"].actions == (Action.UNMANAGED,)


def test_two_live_keys_with_a_previous_name_are_a_conflict_naming_it() -> None:
    live = live_matching()
    twin = ApiKey(name="dev-alice", workspace="dev", owner="alice@acme.example", id="k-twin")
    changes = by_address(
        diff(desired_renamed(), live.model_copy(update={"keys": (*live.keys, twin)}))
    )
    conflict = changes["api_key.developers-alice"]
    assert conflict.actions == (Action.CONFLICT,)
    assert conflict.reason == "2 live keys named 'dev-alice' in workspace 'developers'"
    assert conflict.extra_ids == ("k-alice", "k-twin")
