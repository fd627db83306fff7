"""Rotation in the plan: a managed key is rotated on the day its period is over, or when
``--replace`` names it; the grace comes from ``--grace``, the key, or the organisation.

Pure: times are fixed (``created_at`` against an injected ``now``), never today's.
"""

from __future__ import annotations

import datetime as dt
import json

import pytest

from reconciler.diff import Change, Rotations, diff
from reconciler.errors import ConfigError
from reconciler.model import DesiredState, LiveState, age_in_days, rotation_due
from reconciler.ownership import (
    CreateIntent,
    KeyFacts,
    Ledger,
    SecretFinding,
    SecretProblem,
    SecretState,
    settle,
)
from reconciler.plan import Plan, make_plan
from reconciler.render.json import render_json
from reconciler.render.markdown import render_markdown
from reconciler.render.text import render_text
from tests.ledgers import ORG, STORE, entry, location

from .states import CREATED, desired, live_matching

DAY = dt.timedelta(days=1)
HOUR = dt.timedelta(hours=1)


def due_in(period: int, **org: object) -> DesiredState:
    """The fixtures' desired state with a rotation period (and other key settings)."""
    state = desired()
    settings = {"rotation_period_days": period, **org}
    return state.model_copy(update={"organization": state.organization.model_copy(update=settings)})


def on_day(age: int, hour: int = 0) -> dt.datetime:
    """``age`` whole UTC days after the fixtures' keys were created, at ``hour``."""
    start = dt.datetime.combine(CREATED.date(), dt.time(hour), dt.UTC)
    return start + age * DAY


def rotated(
    state: DesiredState, now: dt.datetime, rotations: Rotations | None = None
) -> dict[str, Change]:
    found = diff(state, live_matching(), now=now, rotations=rotations or Rotations())
    return {c.address: c for c in found if c.is_replacement}


@pytest.mark.parametrize(("age", "due"), [(89, False), (90, True), (91, True)])
def test_a_key_is_due_on_the_day_its_period_is_over(age: int, due: bool) -> None:
    # created at noon: on day 90 at midnight the key is 89.5 days old, and due all the same
    found = rotated(due_in(90), on_day(age, hour=0))
    assert set(found) == ({"api_key.dev-alice", "api_key.prod-checkout"} if due else set())


def test_a_keys_own_period_comes_before_the_organisations() -> None:
    state = due_in(90)
    keys = tuple(
        k.model_copy(update={"rotation_period_days": 30}) if k.name == "dev-alice" else k
        for k in state.keys
    )
    found = rotated(state.model_copy(update={"keys": keys}), on_day(30))
    assert set(found) == {"api_key.dev-alice"}


def test_a_rotation_is_a_replacement_that_says_why_and_keeps_the_old_key_for_its_grace() -> None:
    alice = rotated(due_in(90), on_day(95))["api_key.dev-alice"]
    assert alice.reason == "rotation due: created 95 days ago, period 90 days"
    assert alice.grace_hours == 24 and alice.live_id == "k-alice"
    assert alice.before == alice.after  # nothing else differs


@pytest.mark.parametrize(
    ("org_grace", "key_grace", "flag", "expected"),
    [(24, None, None, 24), (6, None, None, 6), (6, 0, None, 0), (6, 12, 0, 0), (0, None, 3, 3)],
)
def test_the_grace_is_the_flags_else_the_keys_else_the_organisations(
    org_grace: int, key_grace: int | None, flag: int | None, expected: int
) -> None:
    state = due_in(90, rotation_grace_hours=org_grace)
    keys = tuple(k.model_copy(update={"rotation_grace_hours": key_grace}) for k in state.keys)
    state = state.model_copy(update={"keys": keys})
    found = rotated(state, on_day(90), Rotations(grace_hours=flag))
    assert {c.grace_hours for c in found.values()} == {expected}


def test_replace_rotates_a_key_that_is_not_due() -> None:
    found = rotated(due_in(90), on_day(10), Rotations(forced=frozenset({"api_key.dev-alice"})))
    assert set(found) == {"api_key.dev-alice"}
    assert found["api_key.dev-alice"].reason == "replacement requested (--replace)"


def test_replace_of_an_address_that_names_no_live_key_is_one_clear_error() -> None:
    wrong = Rotations(forced=frozenset({"api_key.dev.dev-alice"}))
    with pytest.raises(ConfigError) as raised:
        make_plan(due_in(90), live_matching(), provider="mistral", now=on_day(1), rotations=wrong)
    assert str(raised.value) == (
        "--replace api_key.dev.dev-alice: no live key the desired state declares at that "
        "address (see the plan's api_key.NAME addresses)"
    )


def test_a_rotation_shows_in_every_format_and_counts_like_a_replacement() -> None:
    plan = make_plan(due_in(90), live_matching(), provider="mistral", now=on_day(95))
    assert plan.summary.sentence() == "Plan: 2 to add, 0 to change, 2 to destroy."
    assert plan.summary.replace == 2
    text = render_text(plan)
    assert '+/- api_key "dev-alice" {' in text
    assert "# (because rotation due: created 95 days ago, period 90 days)" in text
    assert "the old key is kept 24 h, then deleted" in text
    assert "rotation due: created 95 days ago, period 90 days" in render_markdown(plan)
    doc = json.loads(render_json(plan))
    alice = next(c for c in doc["resource_changes"] if c["address"] == "api_key.dev-alice")
    assert alice["change"]["actions"] == ["create", "delete"]
    assert alice["action_reason"] == "rotation due: created 95 days ago, period 90 days"
    assert alice["rotation"] == {"grace_hours": 24}


def test_a_saved_plan_keeps_each_rotations_grace() -> None:
    from reconciler.plan import from_dict, to_dict

    plan = make_plan(due_in(90), live_matching(), provider="mistral", now=on_day(95))
    again = from_dict(json.loads(json.dumps(to_dict(plan))))
    assert [c.grace_hours for c in again.changes] == [c.grace_hours for c in plan.changes]


def test_a_saved_plan_says_what_it_was_asked_to_rotate() -> None:
    from reconciler.diff.rotation import asked

    forced = Rotations(forced=frozenset({"api_key.dev-alice"}), grace_hours=0)
    plan = make_plan(
        due_in(365), live_matching(), provider="mistral", now=on_day(1), rotations=forced
    )
    assert asked(plan.changes) == forced
    due = make_plan(due_in(90), live_matching(), provider="mistral", now=on_day(95))
    assert asked(due.changes) == Rotations(grace_hours=24)
    assert asked(make_plan(desired(), live_matching(), provider="mistral").changes) == Rotations()


# --- --rotate-at-most ------------------------------------------------------------------


def alice_overdue_longer() -> DesiredState:
    """Both keys due on day 100 (period 90: 10 days over), dev-alice by a period of 30 (70)."""
    state = due_in(90)
    keys = tuple(
        k.model_copy(update={"rotation_period_days": 30}) if k.name == "dev-alice" else k
        for k in state.keys
    )
    return state.model_copy(update={"keys": keys})


def paced_plan(rotations: Rotations) -> Plan:
    """The plan on day 100 of two keys past their period (dev-alice the longer)."""
    return make_plan(
        alice_overdue_longer(),
        live_matching(),
        provider="mistral",
        now=on_day(100),
        rotations=rotations,
    )


@pytest.mark.parametrize(
    ("at_most", "forced", "rotated_now", "note"),
    [
        (None, (), {"dev-alice", "prod-checkout"}, None),
        (2, (), {"dev-alice", "prod-checkout"}, None),
        (
            1,
            (),
            {"dev-alice"},
            "--rotate-at-most 1: 1 of the 2 keys due for rotation is rotated now, the "
            "most overdue first; 1 waits for a later apply (prod-checkout).",
        ),
        (
            0,
            ("api_key.prod-checkout",),
            {"prod-checkout"},  # asked for: never held back, nor counted
            "--rotate-at-most 0: 0 of the 1 keys due for rotation are rotated now, the "
            "most overdue first; 1 waits for a later apply (dev-alice).",
        ),
    ],
)
def test_rotate_at_most_rotates_the_most_overdue_keys_and_says_how_many_wait(
    at_most: int | None, forced: tuple[str, ...], rotated_now: set[str], note: str | None
) -> None:
    asked_for = Rotations(forced=frozenset(forced), at_most=at_most)
    plan = paced_plan(asked_for)
    assert {c.name for c in plan.changes if c.is_replacement} == rotated_now
    assert [w for w in plan.warnings if "--rotate-at-most" in w] == ([note] if note else [])
    assert plan.summary.replace == len(rotated_now)
    waiting = {"dev-alice", "prod-checkout"} - rotated_now
    flagged = {k.name for k in plan.key_findings if "rotation-due" in [f.value for f in k.flags]}
    assert waiting <= flagged  # still due, and the audit says so
    if note:
        assert note in render_text(plan)


def test_a_saved_plan_keeps_its_rotate_at_most_and_refuses_a_wrong_one() -> None:
    from reconciler.errors import PlanError
    from reconciler.plan import from_dict, to_dict

    plan = paced_plan(Rotations(at_most=1))
    saved = json.loads(json.dumps(to_dict(plan)))
    assert saved["rotate_at_most"] == 1
    assert from_dict(saved).rotate_at_most == 1
    assert "rotate_at_most" not in to_dict(
        make_plan(desired(), live_matching(), provider="mistral")
    )
    for wrong in (-1, "1", True):
        with pytest.raises(PlanError, match="rotate_at_most is"):
            from_dict({**saved, "rotate_at_most": wrong})


def test_a_plan_holding_every_due_rotation_back_does_not_say_the_configuration_matches() -> None:
    from reconciler.plan import from_dict, to_dict

    plan = paced_plan(Rotations(at_most=0))
    assert plan.rotations_held == 2
    held = "No changes planned now; 2 rotations are held back by --rotate-at-most."
    saved = from_dict(json.loads(json.dumps(to_dict(plan))))
    for shown in (plan, saved):  # a saved plan says so too
        assert render_text(shown).splitlines()[-1] == held
        assert "matches the configuration" not in render_text(shown)
    one = paced_plan(Rotations(forced=frozenset({"api_key.prod-checkout"}), at_most=0))
    assert (one.rotations_held, one.summary.replace) == (1, 1)  # changes: the usual headline
    assert "Plan: 1 to add, 0 to change, 1 to destroy." in render_text(one).splitlines()
    assert "held back" not in render_text(one)


# --- an apply stopped in the middle of a rotation --------------------------------------


def interrupted(
    since: dt.datetime, grace: int, *, adopted: bool = False
) -> tuple[LiveState, KeyFacts]:
    """The state an apply left when it stopped right after storing a rotation's new key:
    the ledger holds the old key (``adopted``: its secret never known) and the open
    intent; the store names the new key."""
    live = live_matching()
    alice = next(k for k in live.keys if k.id == "k-alice")
    new = alice.model_copy(update={"id": "k-alice-2", "created_at": since})
    live = live.model_copy(update={"keys": (*live.keys, new)})
    state = SecretState.UNKNOWN if adopted else SecretState.STORED
    ledger = Ledger(organization=ORG).resolve_intent(
        "k-alice", entry("dev-alice", "dev", state=state)
    )
    ledger = ledger.with_intent(
        CreateIntent(
            name="dev-alice", workspace="dev", path="dev/dev-alice", since=since, grace_hours=grace
        )
    )
    moved = SecretProblem(SecretFinding.OTHER_KEY, STORE, "dev/dev-alice")
    return live, KeyFacts(ledger, verified=frozenset({"k-alice-2"}), problems={"k-alice": moved})


@pytest.mark.parametrize("adopted", [False, True])
def test_the_old_key_of_an_interrupted_rotation_lives_on_through_its_grace(adopted: bool) -> None:
    since = on_day(95, hour=10)
    live, facts = interrupted(since, grace=24, adopted=adopted)
    found = diff(desired(), live, ownership=facts, now=since + 23 * dt.timedelta(hours=1))
    keys = {c.address: c for c in found if c.kind.value == "api_key"}
    assert keys == {}  # neither deleted nor in conflict with its successor
    later = diff(desired(), live, ownership=facts, now=since + DAY)
    assert [(c.address, c.actions[0].value) for c in later if c.kind.value == "api_key"] == [
        ("api_key.dev-alice[k-alice]", "delete")
    ]


def test_the_next_apply_records_the_old_key_retiring_from_the_intents_time() -> None:
    from reconciler.ownership import Claimed

    since = on_day(95, hour=10)
    live, facts = interrupted(since, grace=24)
    new = next(k for k in live.keys if k.id == "k-alice-2")
    found = Claimed(key=new, location=location("dev", "dev-alice"), stored=True, created=True)
    settled = settle(facts.ledger, live, [found])
    old = settled.entry("k-alice")
    assert old is not None and old.retiring is not None
    assert old.retiring.replaced_by == "k-alice-2"
    assert old.retiring.delete_after == since + DAY
    assert settled.owns("k-alice-2") and not settled.intents


@pytest.mark.parametrize(
    "zone",
    [None, dt.UTC, dt.timezone(dt.timedelta(hours=5, minutes=30)), dt.timezone(-11 * HOUR)],
)
def test_a_key_is_due_when_its_utc_calendar_age_reaches_the_period_in_any_time_zone(
    zone: dt.tzinfo | None,
) -> None:
    # the plan compares each key's creation with one cutoff per period; around the UTC
    # midnight that decides it, in the zone the platform wrote, it agrees with the age
    now = dt.datetime(2026, 12, 2, 0, 30, tzinfo=dt.UTC)
    state = due_in(3)
    for minutes in range(-26 * 60, 26 * 60, 37):
        created = dt.datetime(2026, 11, 29, tzinfo=dt.UTC) + dt.timedelta(minutes=minutes)
        written = created.replace(tzinfo=None) if zone is None else created.astimezone(zone)
        live = live_matching()
        keys = tuple(k.model_copy(update={"created_at": written}) for k in live.keys)
        found = diff(state, live.model_copy(update={"keys": keys}), now=now)
        due = rotation_due(age_in_days(written, now), 3)
        replaced = [c for c in found if c.is_replacement]
        assert len(replaced) == (len(keys) if due else 0), created


def test_a_plan_deleting_an_interrupted_rotations_old_key_does_not_warn_of_its_secret() -> None:
    """An apply stopped in a rotation with no grace: the next plan deletes the old key,
    whose path now holds its successor's secret. The plan says what it does to the key;
    a warning that its stored secret is another key's would ask for a fix the plan makes.
    The audit, which changes nothing, still flags it."""
    from reconciler.audit import Flag
    from reconciler.audit import SecretFact as Fact
    from reconciler.audit import SecretState as Stored

    since = on_day(95, hour=10)
    live, facts = interrupted(since, grace=0)
    mismatch = Fact(Stored.MISMATCHED, where="file vault: dev/dev-alice", stored_key_id="k-alice-2")
    plan = make_plan(
        desired(),
        live,
        provider="mistral",
        ownership=facts,
        now=since + HOUR,
        secrets={"k-alice": mismatch, "k-alice-2": Fact(Stored.STORED)},
    )
    deleted = [c.address for c in plan.changes if c.actions[0].value == "delete"]
    assert deleted == ["api_key.dev-alice[k-alice]"]
    assert not [w for w in plan.warnings if "another key's" in w]
    assert [k.key_id for k in plan.key_findings if Flag.SECRET_MISMATCH in k.flags] == ["k-alice"]
