"""The ownership record's operations and queries: each returns a new ledger, times given."""

from __future__ import annotations

import datetime as dt

import pytest
from pydantic import ValidationError

from reconciler.model import ApiKey, SecretBackend
from reconciler.ownership import (
    Ledger,
    LedgerError,
    Origin,
    Retiring,
    SecretLocation,
    SecretState,
)
from tests.ledgers import ORG, T0, entry, intent, location, many

MICRO = dt.timedelta(microseconds=1)
EMPTY = Ledger(organization=ORG)


def test_an_empty_ledger_owns_nothing() -> None:
    assert not EMPTY.owns("k1")
    assert EMPTY.entry("k1") is None
    assert EMPTY.retiring_due(T0) == []
    assert EMPTY.intents_older_than(T0) == ()


def test_with_intent_records_a_create_and_leaves_the_original_alone() -> None:
    ledger = EMPTY.with_intent(intent("dev-bob"))
    assert ledger.intents == (intent("dev-bob"),)
    assert EMPTY.intents == ()
    with pytest.raises(ValidationError):
        ledger.intents = ()  # type: ignore[misc]


def test_a_second_intent_for_one_key_keeps_the_earlier_since() -> None:
    """A key made by the first attempt must still be recognised after a retry's intent."""
    first = EMPTY.with_intent(intent("dev-bob", since=T0))
    retried = intent("dev-bob", since=T0 + dt.timedelta(hours=1)).model_copy(
        update={"path": "dev/bob-new"}
    )
    ledger = first.with_intent(retried)
    assert len(ledger.intents) == 1
    assert ledger.intents[0].since == T0
    assert ledger.intents[0].path == "dev/bob-new"
    earlier = ledger.with_intent(intent("dev-bob", since=T0 - dt.timedelta(hours=1)))
    assert earlier.intents[0].since == T0 - dt.timedelta(hours=1)


def test_intents_match_the_workspace_in_any_case_and_the_name_exactly() -> None:
    ledger = EMPTY.with_intent(intent("dev-bob", "Dev")).with_intent(intent("dev-bob", "dev"))
    assert len(ledger.intents) == 1
    ledger = ledger.with_intent(intent("Dev-Bob", "dev"))
    assert len(ledger.intents) == 2


def test_drop_intent_forgets_only_that_key_and_tolerates_absence() -> None:
    ledger = EMPTY.with_intent(intent("dev-bob")).with_intent(intent("dev-alice"))
    assert ledger.drop_intent("DEV", "dev-bob").intents == (intent("dev-alice"),)
    assert ledger.drop_intent("dev", "nobody") == ledger


def test_resolve_intent_records_the_key_and_drops_its_intent() -> None:
    ledger = EMPTY.with_intent(intent("dev-bob")).with_intent(intent("dev-alice"))
    resolved = ledger.resolve_intent("k-bob", entry("dev-bob"))
    assert resolved.owns("k-bob")
    assert resolved.entry("k-bob") == entry("dev-bob")
    assert resolved.intents == (intent("dev-alice"),)
    assert not ledger.owns("k-bob")
    # idempotent: resolving again (the change re-applied after a conflict) changes nothing
    assert resolved.resolve_intent("k-bob", entry("dev-bob")) == resolved


def test_adopt_records_an_imported_key_whose_secret_is_unknown() -> None:
    created = T0 - dt.timedelta(days=300)
    live = ApiKey(name="legacy", workspace="ml", id="k-legacy", created_at=created)
    ledger = EMPTY.adopt(live, location("ml", "legacy"))
    adopted = ledger.entry("k-legacy")
    assert adopted is not None
    assert adopted.origin is Origin.IMPORTED
    assert adopted.secret.state is SecretState.UNKNOWN
    assert adopted.secret.path == "ml/legacy"
    assert adopted.created == created
    assert (adopted.name, adopted.workspace, adopted.retiring) == ("legacy", "ml", None)


def test_adopt_needs_the_live_key_id_and_creation_time() -> None:
    with pytest.raises(LedgerError, match="cannot adopt key 'legacy'"):
        EMPTY.adopt(ApiKey(name="legacy", workspace="ml", created_at=T0), location())
    with pytest.raises(LedgerError, match="no id or date"):
        EMPTY.adopt(ApiKey(name="legacy", workspace="ml", id="k"), location())


def test_mark_stored_keeps_the_location_or_moves_it() -> None:
    ledger = EMPTY.resolve_intent("k", entry(state=SecretState.UNKNOWN))
    stored = ledger.mark_stored("k").entry("k")
    assert stored is not None
    assert stored.secret.state is SecretState.STORED
    assert stored.secret.path == "dev/dev-bob"
    github = SecretLocation(
        store="GitHub Actions secret of acme/app",
        backend=SecretBackend.GITHUB,
        path="dev/bob",
        repository="acme/app",
    )
    moved = ledger.mark_stored("k", github).entry("k")
    assert moved is not None
    assert (moved.secret.backend, moved.secret.repository) == (SecretBackend.GITHUB, "acme/app")
    assert moved.secret.state is SecretState.STORED


def test_changes_to_an_unknown_key_are_refused_with_its_id() -> None:
    with pytest.raises(LedgerError, match="key k-gone is not in the ownership record"):
        EMPTY.mark_stored("k-gone")
    with pytest.raises(LedgerError, match="key k-gone is not in the ownership record"):
        EMPTY.mark_retiring("k-gone", "k-new", T0)


def test_mark_retiring_and_retiring_due_at_the_edge_of_the_grace_period() -> None:
    grace_end = T0 + dt.timedelta(hours=24)
    ledger = EMPTY.resolve_intent("k-old", entry()).mark_retiring("k-old", "k-new", grace_end)
    old = ledger.entry("k-old")
    assert old is not None
    assert old.retiring == Retiring(replaced_by="k-new", delete_after=grace_end)
    assert ledger.retiring_due(grace_end - MICRO) == []
    assert ledger.retiring_due(grace_end) == [("k-old", old)]


def test_a_grace_period_of_zero_is_due_at_once() -> None:
    ledger = EMPTY.resolve_intent("k-old", entry()).mark_retiring("k-old", "k-new", T0)
    assert [k for k, _ in ledger.retiring_due(T0)] == ["k-old"]


def test_retiring_due_lists_the_soonest_first() -> None:
    ledger = EMPTY
    for key_id, hours in (("k-c", 3), ("k-a", 5), ("k-b", 1)):
        ledger = ledger.resolve_intent(key_id, entry(key_id)).mark_retiring(
            key_id, f"{key_id}-new", T0 + dt.timedelta(hours=hours)
        )
    ledger = ledger.resolve_intent("k-kept", entry("kept"))
    due = ledger.retiring_due(T0 + dt.timedelta(hours=4))
    assert [k for k, _ in due] == ["k-b", "k-c"]


def test_a_key_cannot_replace_itself() -> None:
    ledger = EMPTY.resolve_intent("k", entry())
    with pytest.raises(LedgerError, match="cannot replace itself"):
        ledger.mark_retiring("k", "k", T0)


def test_forget_removes_the_key_and_tolerates_absence() -> None:
    ledger = EMPTY.resolve_intent("k1", entry("a")).resolve_intent("k2", entry("b"))
    assert list(ledger.forget("k1").keys) == ["k2"]
    assert ledger.forget("k-gone") == ledger
    assert ledger.owns("k1")


def test_intents_older_than_a_cutoff() -> None:
    ledger = EMPTY.with_intent(intent("old", since=T0 - dt.timedelta(hours=2))).with_intent(
        intent("new", since=T0)
    )
    assert [i.name for i in ledger.intents_older_than(T0)] == ["old"]
    assert [i.name for i in ledger.intents_older_than(T0 + MICRO)] == ["old", "new"]


def test_times_are_kept_in_utc_and_must_say_their_zone() -> None:
    paris = dt.timezone(dt.timedelta(hours=1))
    at_paris = intent(since=dt.datetime(2026, 3, 1, 10, 30, tzinfo=paris))
    assert at_paris.since == T0
    assert at_paris.since.utcoffset() == dt.timedelta(0)
    with pytest.raises(ValidationError, match="timezone"):
        intent(since=dt.datetime(2026, 3, 1, 9, 30))


def test_a_ledger_with_two_intents_for_one_key_is_invalid() -> None:
    with pytest.raises(ValidationError, match="two create intents for key 'dev-bob'"):
        Ledger(organization=ORG, intents=(intent("dev-bob", "dev"), intent("dev-bob", "DEV")))


def test_a_live_key_the_document_cannot_hold_is_refused_clearly() -> None:
    """Whatever the platform sends, the ledger never holds what it could not read back."""
    surrogate = ApiKey(name="a\ud800", workspace="ml", id="k", created_at=T0)
    with pytest.raises(LedgerError, match="cannot adopt key"):
        EMPTY.adopt(surrogate, location())
    spaced = ApiKey(name="ok", workspace="ml", id="k 1", created_at=T0)
    with pytest.raises(LedgerError, match="key id 'k 1' cannot be recorded"):
        EMPTY.adopt(spaced, location())
    with pytest.raises(LedgerError, match="cannot be recorded"):
        EMPTY.resolve_intent("\x1b[2J", entry())
    ledger = EMPTY.resolve_intent("k", entry())
    with pytest.raises(LedgerError, match="cannot be recorded"):
        ledger.mark_retiring("k", "", T0)


def test_a_large_ledger_shows_only_its_size_in_a_repr() -> None:
    assert (
        repr(many(51))
        == "Ledger(organization='org-3f9c2a', keys=<51 entries>, intents=<0 intents>)"
    )
    assert "key-000049" in repr(many(50))


def test_many_intents_and_outcomes_are_recorded_in_one_step_each() -> None:
    """A phase's creates: their intents in one change (a retried one keeps its earlier
    since), then what became of them and of the keys deleted in another."""
    before = EMPTY.with_intent(intent("dev-bob", since=T0)).with_keys({"k-old": entry("old")})
    later = T0 + dt.timedelta(minutes=5)
    opened = before.with_intents(intent(n, since=later) for n in ("dev-bob", "a", "b", "c"))
    assert [(i.name, i.since) for i in opened.intents] == [
        ("dev-bob", T0),
        ("a", later),
        ("b", later),
        ("c", later),
    ]
    settled = opened.with_outcomes(
        {"k-bob": entry("dev-bob"), "k-a": entry("a")}, dropped=[("DEV", "b")], gone=["k-old"]
    )
    assert set(settled.keys) == {"k-bob", "k-a"}
    assert [i.name for i in settled.intents] == ["c"]  # never answered: still open
    assert set(opened.keys) == {"k-old"}  # the original is left alone
