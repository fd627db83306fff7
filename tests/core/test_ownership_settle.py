"""The ledger brought up to date before an apply: claimed keys recorded, gone keys
forgotten, spent create intents dropped. Pure; times fixed."""

from __future__ import annotations

import datetime as dt

from reconciler.model import ApiKey, LiveState
from reconciler.ownership import (
    Claimed,
    Ledger,
    Origin,
    SecretLocation,
    SecretState,
    settle,
)
from tests.ledgers import ORG, T0, entry, intent, location

LATER = T0 + dt.timedelta(hours=1)


def key(key_id: str, name: str, *, created_at: dt.datetime | None = T0) -> ApiKey:
    return ApiKey(id=key_id, name=name, workspace="dev", created_at=created_at)


def claimed(live: ApiKey, *, stored: bool = False, created: bool = False) -> Claimed:
    return Claimed(key=live, location=location("dev", live.name), stored=stored, created=created)


def test_an_organisation_without_a_ledger_adopts_the_keys_both_desired_and_live() -> None:
    alice, bob = key("k-alice", "dev-alice"), key("k-bob", "dev-bob")
    state = LiveState(keys=(alice, bob, key("k-stray", "stray")))
    ledger = settle(Ledger(organization=ORG), state, [claimed(alice, stored=True), claimed(bob)])
    assert set(ledger.keys) == {"k-alice", "k-bob"}  # the stray key is not claimed
    assert ledger.keys["k-alice"].origin is Origin.IMPORTED
    assert ledger.keys["k-alice"].secret.state is SecretState.STORED  # found in the store
    assert ledger.keys["k-bob"].secret.state is SecretState.UNKNOWN
    assert ledger.keys["k-bob"].created == T0
    assert SecretLocation(**ledger.keys["k-bob"].secret.model_dump(exclude={"state"})) == (
        location("dev", "dev-bob")
    )


def test_a_key_an_unresolved_create_made_and_stored_is_recorded_as_created() -> None:
    made = key("k-new", "dev-bob", created_at=LATER)
    ledger = Ledger(organization=ORG).with_intent(intent("dev-bob", since=LATER))
    settled = settle(ledger, LiveState(keys=(made,)), [claimed(made, stored=True, created=True)])
    assert settled.keys["k-new"].origin is Origin.CREATED
    assert settled.keys["k-new"].secret.state is SecretState.STORED
    assert settled.intents == ()


def test_keys_gone_are_forgotten_and_spent_intents_dropped_but_live_ones_kept() -> None:
    ghost = key("k-ghost", "dev-carol", created_at=LATER)  # made by an intent, not stored
    ledger = (
        Ledger(organization=ORG)
        .resolve_intent("k-gone", entry("dev-old"))
        .resolve_intent("k-alice", entry("dev-alice"))
        .with_intent(intent("dev-carol", since=LATER))  # made k-ghost: kept
        .with_intent(intent("dev-dan", since=LATER))  # made nothing: dropped
    )
    state = LiveState(keys=(key("k-alice", "dev-alice"), ghost))
    settled = settle(ledger, state, [])
    assert set(settled.keys) == {"k-alice"}
    assert [i.name for i in settled.intents] == ["dev-carol"]
    assert settle(settled, state, []) == settled  # a retried write changes nothing more


def test_a_key_without_a_creation_time_or_already_recorded_is_left_as_it_is() -> None:
    undated = key("k-undated", "dev-eve", created_at=None)
    recorded = key("k-alice", "dev-alice")
    ledger = Ledger(organization=ORG).resolve_intent("k-alice", entry("dev-alice"))
    settled = settle(
        ledger,
        LiveState(keys=(undated, recorded)),
        [claimed(undated), claimed(recorded, stored=False)],
    )
    assert settled == ledger


def test_a_key_a_rename_made_retires_the_key_its_intent_names_not_the_namesake() -> None:
    """A rename's create (dev-bob renamed dev-robert, stopped before it was recorded)
    retires the key it replaced, whose name differs, due its grace after the intent."""
    old, other = key("k-bob", "dev-bob"), key("k-robert-0", "dev-robert")
    made = key("k-robert", "dev-robert", created_at=LATER)
    renaming = intent("dev-robert", since=LATER).model_copy(
        update={"grace_hours": 24, "replaces": "k-bob"}
    )
    ledger = (
        Ledger(organization=ORG)
        .resolve_intent("k-bob", entry("dev-bob"))
        .resolve_intent("k-robert-0", entry("dev-robert"))
        .with_intent(renaming)
    )
    state = LiveState(keys=(old, other, made))
    settled = settle(ledger, state, [claimed(made, stored=True, created=True)])
    retiring = {k: e.retiring for k, e in settled.keys.items() if e.retiring is not None}
    assert list(retiring) == ["k-bob"]  # not k-robert-0, which only shares the new name
    assert retiring["k-bob"].delete_after == LATER + dt.timedelta(hours=24)
