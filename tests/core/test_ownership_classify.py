"""Live keys against the ownership record: owned, retiring, unowned, or left by a create.

Times are injected: an intent's ``since`` is the applying machine's clock, a key's
``created_at`` the platform's, and the clock-skew allowance sits between them.
"""

from __future__ import annotations

import datetime as dt

import pytest

from reconciler.model import ApiKey, LiveState
from reconciler.ownership import CLOCK_SKEW, Claim, Ledger, Ownership, classify
from tests.ledgers import ORG, T0, entry, intent

MICRO = dt.timedelta(microseconds=1)


def live(*keys: ApiKey) -> LiveState:
    return LiveState(target="sandbox", keys=keys)


def key(
    key_id: str | None,
    name: str = "dev-bob",
    workspace: str = "dev",
    *,
    created_at: dt.datetime | None = T0,
) -> ApiKey:
    return ApiKey(id=key_id, name=name, workspace=workspace, created_at=created_at)


def test_each_live_key_gets_one_claim_explained_by_its_entry_or_intent() -> None:
    ledger = (
        Ledger(organization=ORG)
        .resolve_intent("k-owned", entry("dev-alice"))
        .resolve_intent("k-old", entry("dev-carol"))
        .mark_retiring("k-old", "k-new", T0 + dt.timedelta(days=1))
        .with_intent(intent("dev-bob", since=T0))
    )
    state = live(
        key("k-owned", "dev-alice"),
        key("k-old", "dev-carol"),
        key("k-new", "dev-carol", created_at=T0 + dt.timedelta(hours=1)),
        key("k-made", "dev-bob", created_at=T0 + dt.timedelta(seconds=3)),
        key("k-stray", "stray"),
        key(None, "no-id"),
    )
    claims = classify(ledger, state)
    assert claims == {
        "k-owned": Claim(Ownership.OWNED, entry=ledger.entry("k-owned")),
        "k-old": Claim(Ownership.RETIRING, entry=ledger.entry("k-old")),
        "k-new": Claim(Ownership.UNOWNED),  # the rotation never recorded it: not claimed here
        "k-made": Claim(Ownership.ABANDONED, intent=intent("dev-bob", since=T0)),
        "k-stray": Claim(Ownership.UNOWNED),
    }
    # kept apart: the claims neither owned nor unowned, which the diff looks for
    assert claims.unsettled == {"k-old": claims["k-old"], "k-made": claims["k-made"]}


@pytest.mark.parametrize(
    ("created_at", "ownership"),
    [
        (T0 + dt.timedelta(days=30), Ownership.ABANDONED),  # long after: still that create
        (T0, Ownership.ABANDONED),
        (T0 - CLOCK_SKEW, Ownership.ABANDONED),  # the platform's clock behind by the allowance
        (T0 - CLOCK_SKEW - MICRO, Ownership.UNOWNED),  # older than the intent: someone else's
        (T0 - dt.timedelta(days=1), Ownership.UNOWNED),
    ],
)
def test_a_key_is_the_intents_only_if_created_after_since_minus_the_skew(
    created_at: dt.datetime, ownership: Ownership
) -> None:
    ledger = Ledger(organization=ORG).with_intent(intent("dev-bob", since=T0))
    claims = classify(ledger, live(key("k", created_at=created_at)))
    assert claims["k"].ownership is ownership


def test_the_clock_skew_allowance_is_a_parameter() -> None:
    ledger = Ledger(organization=ORG).with_intent(intent("dev-bob", since=T0))
    early = live(key("k", created_at=T0 - MICRO))
    assert classify(ledger, early, clock_skew=dt.timedelta(0))["k"].ownership is Ownership.UNOWNED
    assert classify(ledger, early)["k"].ownership is Ownership.ABANDONED
    wide = live(key("k", created_at=T0 - dt.timedelta(minutes=30)))
    claim = classify(ledger, wide, clock_skew=dt.timedelta(hours=1))["k"]
    assert claim.ownership is Ownership.ABANDONED


def test_a_key_without_a_timezone_is_read_as_utc() -> None:
    ledger = Ledger(organization=ORG).with_intent(intent("dev-bob", since=T0))
    naive = (T0 - CLOCK_SKEW).replace(tzinfo=None)
    assert classify(ledger, live(key("k", created_at=naive)))["k"].ownership is Ownership.ABANDONED
    too_old = naive - MICRO
    assert classify(ledger, live(key("k", created_at=too_old)))["k"].ownership is Ownership.UNOWNED


def test_a_key_without_a_creation_time_is_never_taken_for_the_intents() -> None:
    ledger = Ledger(organization=ORG).with_intent(intent("dev-bob", since=T0))
    assert classify(ledger, live(key("k", created_at=None)))["k"].ownership is Ownership.UNOWNED


def test_an_intent_matches_its_name_exactly_and_its_workspace_in_any_case() -> None:
    ledger = Ledger(organization=ORG).with_intent(intent("dev-bob", "Dev", since=T0))
    claims = classify(
        ledger,
        live(key("k1", "dev-bob", "dev"), key("k2", "Dev-Bob", "dev"), key("k3", "dev-bob", "ml")),
    )
    assert [claims[k].ownership for k in ("k1", "k2", "k3")] == [
        Ownership.ABANDONED,
        Ownership.UNOWNED,
        Ownership.UNOWNED,
    ]


def test_every_key_a_resent_create_made_is_abandoned() -> None:
    """A create resent after a lost answer can leave two keys; neither secret was stored."""
    ledger = Ledger(organization=ORG).with_intent(intent("dev-bob", since=T0))
    state = live(key("k1", created_at=T0), key("k2", created_at=T0 + dt.timedelta(seconds=1)))
    claims = classify(ledger, state)
    assert {k: c.ownership for k, c in claims.items()} == {
        "k1": Ownership.ABANDONED,
        "k2": Ownership.ABANDONED,
    }


def test_a_recorded_key_stays_owned_even_while_an_intent_for_its_name_is_open() -> None:
    """A rotation's create: the old key (recorded) is never taken for the new one."""
    ledger = (
        Ledger(organization=ORG)
        .resolve_intent("k-old", entry("dev-bob", created=T0))
        .with_intent(intent("dev-bob", since=T0 - dt.timedelta(hours=1)))
    )
    claims = classify(ledger, live(key("k-old"), key("k-new", created_at=T0 + MICRO)))
    assert claims["k-old"].ownership is Ownership.OWNED
    assert claims["k-new"].ownership is Ownership.ABANDONED


def test_a_key_whose_secret_the_store_holds_is_unrecorded_not_abandoned() -> None:
    """An apply stopped between the secret write and the ledger update: keep the key."""
    ledger = Ledger(organization=ORG).with_intent(intent("dev-bob", since=T0))
    state = live(key("k-stored"), key("k-lost", created_at=T0 + MICRO), key("k-other", "x"))
    claims = classify(ledger, state, confirmed_stored={"k-stored", "k-other"})
    assert claims["k-stored"] == Claim(Ownership.UNRECORDED, intent=intent("dev-bob", since=T0))
    assert claims["k-lost"].ownership is Ownership.ABANDONED
    assert claims["k-other"].ownership is Ownership.UNOWNED  # no intent made it
    assert set(claims.unsettled) == {"k-stored", "k-lost"}


def test_without_a_record_every_live_key_with_an_id_is_unowned() -> None:
    claims = classify(Ledger(organization=ORG), live(key("k1"), key("k2", "other"), key(None)))
    assert claims == {"k1": Claim(Ownership.UNOWNED), "k2": Claim(Ownership.UNOWNED)}
    assert not claims.unsettled
