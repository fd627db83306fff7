"""The apply journal finds what an interrupted apply left behind."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import pytest

from reconciler.apply.journal import LOST_SECRET, Journal, journal_path
from reconciler.diff import Action, diff
from reconciler.errors import ReconcilerError
from reconciler.model import ApiKey, LiveState
from tests.core.states import desired

NOW = dt.datetime(2026, 11, 18, 9, 30, tzinfo=dt.UTC)


def journal(path: Path) -> Journal:
    """A journal whose records are stamped :data:`NOW`."""
    return Journal(path, clock=lambda: NOW)


def live(*keys: ApiKey) -> LiveState:
    return LiveState(target="t", keys=keys)


def key(key_id: str, name: str = "dev-bob", *, created: dt.datetime = NOW) -> ApiKey:
    return ApiKey(name=name, workspace="dev", id=key_id, created_at=created)


def test_journal_is_private_and_per_target(tmp_path: Path) -> None:
    a, b = journal_path(tmp_path, "sandbox"), journal_path(tmp_path, "https://api")
    assert a != b
    j = journal(a)
    j.record("apply-start", apply_id="1")
    assert oct(os.stat(a).st_mode & 0o777) == "0o600"


def test_the_journal_is_never_written_through_a_link(tmp_path: Path) -> None:
    """A link planted at the journal's name (a shared state directory) would have the
    apply append its records to the file it points at."""
    target = tmp_path / "elsewhere.txt"
    target.write_text("theirs\n")
    path = tmp_path / "state" / "journal.jsonl"
    path.parent.mkdir()
    path.symlink_to(target)
    with pytest.raises(ReconcilerError, match="is a link"):
        journal(path).record("apply-start", apply_id="1")
    assert target.read_text() == "theirs\n"


def test_the_state_directory_is_made_private_whatever_the_umask(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        journal(tmp_path / "state" / "journal.jsonl").record("apply-start", apply_id="1")
    finally:
        os.umask(old)
    assert oct(os.stat(tmp_path / "state").st_mode & 0o777) == "0o700"


def test_created_but_not_stored_is_abandoned(tmp_path: Path) -> None:
    j = journal(tmp_path / "j.jsonl")
    j.record("key-create-intent", intent="i1", name="dev-bob", workspace="dev")
    j.record("key-created", intent="i1", key_id="k1", name="dev-bob", workspace="dev")
    assert j.abandoned_keys(live(key("k1"))) == {"k1": LOST_SECRET}
    assert [p.key_id for p in j.pending_secrets()] == ["k1"]
    # the store turned out to hold it (crash between the write and its record)
    assert j.abandoned_keys(live(key("k1")), confirmed_stored=frozenset({"k1"})) == {}


def test_stored_or_deleted_keys_are_not_abandoned(tmp_path: Path) -> None:
    j = journal(tmp_path / "j.jsonl")
    j.record("key-created", intent="i1", key_id="k1", name="a", workspace="dev")
    j.record("secret-stored", key_id="k1")
    j.record("key-created", intent="i2", key_id="k2", name="b", workspace="dev")
    j.record("key-deleted", key_id="k2")
    assert j.abandoned_keys(live(key("k1", "a"), key("k2", "b"))) == {}


def test_unanswered_create_matches_keys_created_after_the_intent(tmp_path: Path) -> None:
    j = journal(tmp_path / "j.jsonl")
    j.record("key-create-intent", intent="i1", name="dev-bob", workspace="dev")
    old = key("k-old", created=NOW - dt.timedelta(days=30))
    new = key("k-new")
    other = key("k-other", name="dev-carol")
    assert j.abandoned_keys(live(old, new, other)) == {"k-new": LOST_SECRET}


def test_a_key_the_refused_request_made_is_abandoned_and_not_a_conflict(tmp_path: Path) -> None:
    """A 429 that came after the platform made the key, then a resend: two live keys of one
    name. The one made between the intent and the answer, other than the one the answer
    names, never had its secret received; it goes, and the plan holds no conflict."""
    j = journal(tmp_path / "j.jsonl")
    j.record("key-create-intent", intent="i1", name="dev-alice", workspace="dev", replaces="k-old")
    j.record(
        "key-created",
        intent="i1",
        key_id="k-new",
        name="dev-alice",
        workspace="dev",
        replaces="k-old",
        resent=True,
    )
    j.record("secret-stored", key_id="k-new")
    old = key("k-old", "dev-alice", created=NOW - dt.timedelta(days=30))
    keys = (old, key("k-orphan", "dev-alice"), key("k-new", "dev-alice"))
    abandoned = j.abandoned_keys(live(*keys))
    assert abandoned == {
        "k-orphan": LOST_SECRET,
        "k-old": "replaced by key k-new in an apply that did not finish",
    }
    changes = diff(desired(), live(*keys), abandoned_keys=abandoned)
    alice = [c for c in changes if c.name == "dev-alice"]
    assert not [c for c in alice if Action.CONFLICT in c.actions]
    assert {c.live_id for c in alice if c.recovery} == {"k-orphan", "k-old"}


def test_a_create_answered_once_has_no_orphan_to_look_for(tmp_path: Path) -> None:
    """Without a resend, a second key of the name is someone's, not this create's: a
    conflict for a person, never deleted from the journal."""
    j = journal(tmp_path / "j.jsonl")
    j.record("key-create-intent", intent="i1", name="dev-bob", workspace="dev")
    j.record("key-created", intent="i1", key_id="k-new", name="dev-bob", workspace="dev")
    j.record("secret-stored", key_id="k-new")
    assert j.abandoned_keys(live(key("k-new"), key("k-other"))) == {}


def test_after_a_resend_only_keys_made_before_the_answer_are_the_requests(
    tmp_path: Path,
) -> None:
    j = journal(tmp_path / "j.jsonl")
    j.record("key-create-intent", intent="i1", name="dev-bob", workspace="dev")
    j.record(
        "key-created", intent="i1", key_id="k-new", name="dev-bob", workspace="dev", resent=True
    )
    j.record("secret-stored", key_id="k-new")
    later = key("k-later", created=NOW + dt.timedelta(hours=1))
    earlier = key("k-earlier", created=NOW - dt.timedelta(hours=1))
    assert j.abandoned_keys(live(key("k-new"), later, earlier)) == {}


def test_replaced_key_never_deleted_is_abandoned(tmp_path: Path) -> None:
    j = journal(tmp_path / "j.jsonl")
    j.record(
        "key-created",
        intent="i1",
        key_id="k-new",
        replaces="k-old",
        name="dev-bob",
        workspace="dev",
    )
    j.record("secret-stored", key_id="k-new")
    result = j.abandoned_keys(live(key("k-old"), key("k-new")))
    assert result == {"k-old": "replaced by key k-new in an apply that did not finish"}


def test_torn_last_line_is_ignored(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    j = journal(path)
    j.record("key-created", intent="i1", key_id="k1", name="a", workspace="dev")
    with path.open("a") as fh:
        fh.write('{"event": "secret-sto')
    assert j.abandoned_keys(live(key("k1", "a"))) == {"k1": LOST_SECRET}


def test_compact_drops_a_resolved_journal(tmp_path: Path) -> None:
    j = journal(tmp_path / "j.jsonl")
    j.record("key-created", intent="i1", key_id="k1", name="a", workspace="dev")
    assert not j.compact(live(key("k1", "a")))
    assert j.path.exists()
    j.record("secret-stored", key_id="k1")
    assert j.compact(live(key("k1", "a")))
    assert not j.path.exists()
