"""A key whose expiry passes: the day after, the organisation's plans and applies still
run. The key is left as it is (flagged ``expired``, never rotated, never replaced for its
secret: its replacement would have expired too), and only a key the plan would create with
an expiry already past is refused, that key alone.

Pure: the day is the injected ``now``, never today's.
"""

from __future__ import annotations

import datetime as dt

import pytest

from reconciler.audit import Flag
from reconciler.diff import Rotations
from reconciler.errors import PlanError
from reconciler.model import ApiKey, DesiredState
from reconciler.ownership import KeyFacts, SecretFinding, SecretProblem
from reconciler.plan import Plan, make_plan
from reconciler.rails import RefusalKind, enforce, narrowed
from reconciler.render.json import render_json
from reconciler.render.text import render_text
from tests.ledgers import STORE

from .states import desired, live_matching
from .test_diff_ownership import owning

EXPIRES = dt.date(2027, 6, 30)  # dev-alice's, in the desired and the live state
DAY_AFTER = dt.datetime(2027, 7, 1, 9, tzinfo=dt.UTC)


def rotating_every(days: int) -> DesiredState:
    state = desired()
    org = state.organization.model_copy(update={"rotation_period_days": days})
    return state.model_copy(update={"organization": org})


def plan_of(
    state: DesiredState,
    *,
    now: dt.datetime = DAY_AFTER,
    facts: KeyFacts | None = None,
    rotations: Rotations | None = None,
) -> Plan:
    return make_plan(
        state, live_matching(), provider="mistral", now=now, ownership=facts, rotations=rotations
    )


def test_the_day_after_a_key_expires_it_is_flagged_and_nothing_is_planned_or_refused() -> None:
    plan = plan_of(rotating_every(90))  # dev-alice is 426 days old: due, were it alive
    assert "api_key.dev-alice" not in {c.address for c in plan.changes}
    assert plan.refusals == ()
    alice = next(k for k in plan.key_findings if k.name == "dev-alice")
    assert Flag.EXPIRED in alice.flags and Flag.ROTATION_DUE not in alice.flags
    checkout = next(k for k in plan.key_findings if k.name == "prod-checkout")
    assert Flag.ROTATION_DUE in checkout.flags  # an unexpired key is rotated as ever
    assert "api_key.prod-checkout" in {c.address for c in plan.changes if c.is_replacement}
    enforce(plan.refusals)  # apply goes ahead


def test_on_its_last_day_a_key_due_for_rotation_is_still_rotated() -> None:
    plan = plan_of(rotating_every(90), now=DAY_AFTER - dt.timedelta(days=1))
    assert "api_key.dev-alice" in {c.address for c in plan.changes if c.is_replacement}


def test_an_expired_key_whose_secret_is_lost_is_not_replaced_for_it() -> None:
    lost = SecretProblem(SecretFinding.MISSING, STORE, "dev/dev-alice")
    facts = KeyFacts(owning(("k-alice", "dev-alice", "dev")), problems={"k-alice": lost})
    assert [c.address for c in plan_of(desired(), facts=facts).changes] == []
    before = plan_of(desired(), facts=facts, now=DAY_AFTER - dt.timedelta(days=1))
    assert [c.address for c in before.changes] == ["api_key.dev-alice"]  # the day before


def test_a_new_key_with_a_past_expiry_is_refused_alone() -> None:
    state = desired()
    late = ApiKey(
        name="dev-late", workspace="dev", owner="bob@acme.example", expires=dt.date(2027, 6, 1)
    )
    plan = plan_of(state.model_copy(update={"keys": (*state.keys, late)}))
    assert [(r.kind, r.subject) for r in plan.refusals] == [
        (RefusalKind.EXPIRED, "api_key.dev-late")
    ]
    message = plan.refusals[0].line()
    assert message.startswith("api_key.dev-late: its expiry 2027-06-01 is before today")
    assert "Give it a later expires, or remove it." in message
    with pytest.raises(PlanError, match=r"api_key\.dev-late: its expiry 2027-06-01"):
        enforce(plan.refusals, force=True)  # --force does not lift it
    assert "its expiry 2027-06-01 is before today (2027-07-01)" in render_text(plan)
    assert '"kind": "expired"' in render_json(plan)
    others = [c for c in plan.changes if c.address != "api_key.dev-late"]
    enforce(narrowed(plan.refusals, others, len(live_matching().keys), plan.delete_limit))


def test_replace_of_an_expired_key_is_planned_and_refused() -> None:
    plan = plan_of(desired(), rotations=Rotations(forced=frozenset({"api_key.dev-alice"})))
    assert "api_key.dev-alice" in {c.address for c in plan.changes if c.is_replacement}
    assert [(r.kind, r.subject) for r in plan.refusals] == [
        (RefusalKind.EXPIRED, "api_key.dev-alice")
    ]


def test_a_key_given_a_later_expiry_is_replaced_and_not_refused() -> None:
    state = desired()
    keys = tuple(
        k.model_copy(update={"expires": dt.date(2027, 12, 31)}) if k.name == "dev-alice" else k
        for k in state.keys
    )
    plan = plan_of(state.model_copy(update={"keys": keys}))
    replaced = next(c for c in plan.changes if c.address == "api_key.dev-alice")
    assert replaced.is_replacement and (replaced.after or {})["expires"] == "2027-12-31"
    assert plan.refusals == ()


def clamped_at(expires: dt.date, **changed: object) -> tuple[DesiredState, list[ApiKey]]:
    """dev-alice under a 90-day expiry policy: the live key was clamped to ``expires``
    (before its declared 2027-06-30) and its renewal never applied."""
    state = desired()
    org = state.organization.model_copy(update={"key_platform_max_expiry_days": 90})
    live = [
        k.model_copy(update={"expires": expires, **changed}) if k.name == "dev-alice" else k
        for k in live_matching().keys
    ]
    return state.model_copy(update={"organization": org}), live


def test_a_clamped_key_whose_renewal_was_missed_is_left_once_its_declared_expiry_passed() -> None:
    state, keys = clamped_at(
        dt.date(2027, 6, 16), created_at=dt.datetime(2027, 3, 18, tzinfo=dt.UTC)
    )
    live = live_matching().model_copy(update={"keys": tuple(keys)})
    plan = make_plan(state, live, provider="mistral", now=DAY_AFTER)
    assert "api_key.dev-alice" not in {c.address for c in plan.changes}
    assert plan.refusals == ()
    before = make_plan(state, live, provider="mistral", now=DAY_AFTER - dt.timedelta(days=2))
    assert "api_key.dev-alice" in {c.address for c in before.changes if c.is_replacement}


def test_an_expired_key_whose_owner_drifted_is_left_as_it_is() -> None:
    _, keys = clamped_at(EXPIRES, owner="bob@acme.example")
    live = live_matching().model_copy(update={"keys": tuple(keys)})
    plan = make_plan(desired(), live, provider="mistral", now=DAY_AFTER)
    assert "api_key.dev-alice" not in {c.address for c in plan.changes}
    assert plan.refusals == ()


def test_a_past_expiry_declared_for_a_live_key_that_has_not_expired_is_refused() -> None:
    _, keys = clamped_at(dt.date(2027, 12, 31))  # the YAML moved the date into the past
    live = live_matching().model_copy(update={"keys": tuple(keys)})
    plan = make_plan(desired(), live, provider="mistral", now=DAY_AFTER)
    assert [(r.kind, r.subject) for r in plan.refusals] == [
        (RefusalKind.EXPIRED, "api_key.dev-alice")
    ]
