"""Policy.authorize: reasons, aliases, role x workspace, limits, reservations."""

from __future__ import annotations

import datetime as dt
import shutil
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reconciler.model import DesiredState
from reconciler.policy import Policy, Reason, SpendLimits, TokenEstimate
from tests.policy.conftest import CODE, LARGE, SMALL, FakeClock, demo_state, utc

REPO_DESIRED = Path(__file__).resolve().parents[2] / "desired-state"


@pytest.mark.parametrize(
    ("who", "model", "tokens", "reason"),
    [
        ("analyst", SMALL, 1500, Reason.ALLOWED),
        ("analyst", "mistral-small-2506", 1500, Reason.ALLOWED),
        ("analyst", CODE, 100, Reason.MODEL_NOT_ALLOWED),
        ("analyst", "codestral-2508", 100, Reason.MODEL_NOT_ALLOWED),
        ("analyst", SMALL, 2001, Reason.OVER_REQUEST_TOKEN_LIMIT),
        ("role.developer", CODE, 8000, Reason.ALLOWED),
        ("developer", LARGE, 10, Reason.MODEL_NOT_ALLOWED),
        ("admin", "some-future-model", 10, Reason.ALLOWED),
        ("senior", "no-such-model", 10, Reason.MODEL_NOT_ALLOWED),
        ("intern", SMALL, 10, Reason.UNKNOWN_ROLE),
        # keys: role AND workspace
        ("api_key.dev-bob", CODE, 10, Reason.ALLOWED),
        ("dev-henry-notebooks", CODE, 10, Reason.MODEL_NOT_ALLOWED),
        ("api_key.ml-dan", LARGE, 100_000, Reason.ALLOWED),
        ("api_key.ml-dan", LARGE, 128_001, Reason.OVER_REQUEST_TOKEN_LIMIT),
        ("api_key.prod-search-indexer", CODE, 10, Reason.MODEL_NOT_ALLOWED),
        ("api_key.nope", SMALL, 10, Reason.UNKNOWN_ROLE),
    ],
)
def test_authorize_reasons(
    policy: Policy, who: str, model: str, tokens: int, reason: Reason
) -> None:
    decision = policy.authorize(who, model, tokens)
    assert decision.reason is reason
    assert bool(decision) is (reason is Reason.ALLOWED)


def test_alias_and_pinned_id_are_the_same_model(policy: Policy) -> None:
    by_alias = policy.authorize("analyst", SMALL, 10, dry_run=True)
    by_id = policy.authorize("analyst", "mistral-small-2506", 10, dry_run=True)
    assert by_alias.model == by_id.model == "mistral-small-2506"
    assert by_alias.estimated_cost_usd == by_id.estimated_cost_usd


def test_workspace_narrows_a_role(state: DesiredState, clock: FakeClock) -> None:
    # ml-dan is admin ("*") but a key of workspace dev with role admin gets dev's models only
    from reconciler.model import ApiKey

    widened = state.model_copy(
        update={"keys": (*state.keys, ApiKey(name="dev-root", workspace="dev", role="admin"))}
    )
    policy = Policy(widened, clock=clock)
    denied = policy.authorize("dev-root", LARGE, 10)
    assert denied.reason is Reason.MODEL_NOT_ALLOWED
    assert "workspace dev allows mistral-small-latest, codestral-latest" in denied.message
    assert policy.authorize("dev-root", CODE, 10)


def test_model_denial_names_who_refused(policy: Policy) -> None:
    decision = policy.authorize("api_key.dev-henry-notebooks", CODE, 10)
    assert "role analyst allows mistral-small-latest" in decision.message
    assert "dev-henry-notebooks" in decision.message


def test_key_with_undeclared_role_is_unknown_role(state: DesiredState) -> None:
    from reconciler.model import ApiKey

    broken = state.model_copy(
        update={"keys": (ApiKey(name="stray", workspace="dev", role="wizard"),)}
    )
    decision = Policy(broken).authorize("api_key.stray", SMALL, 1)
    assert decision.reason is Reason.UNKNOWN_ROLE
    assert "wizard" in decision.message


@pytest.mark.parametrize(
    ("who", "model", "tokens", "output"),
    [
        (None, SMALL, 10, None),
        (42, SMALL, 10, None),
        ("analyst", None, 10, None),
        ("analyst", "", 10, None),
        ("analyst", 7, 10, None),
        ("analyst", SMALL, -1, None),
        ("analyst", SMALL, 1.5, None),
        ("analyst", SMALL, "100", None),
        ("analyst", SMALL, True, None),
        ("analyst", SMALL, 10**30, None),
        ("analyst", SMALL, 10, 11),
        ("analyst", SMALL, 10, -1),
        ("analyst", SMALL, TokenEstimate(-5, 1), None),
    ],
)
def test_bad_input_is_a_denial_not_an_exception(
    policy: Policy, who: object, model: object, tokens: object, output: object
) -> None:
    decision = policy.authorize(who, model, tokens, output_tokens=output)  # type: ignore[arg-type]
    assert not decision
    assert decision.reason in (Reason.INVALID_REQUEST, Reason.UNKNOWN_ROLE)
    assert decision.message


_anything = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(),
    st.text(max_size=20),
    st.binary(max_size=5),
    st.lists(st.integers(), max_size=3),
    st.sampled_from(["analyst", "api_key.dev-bob", "admin", SMALL, CODE]),
)


@settings(max_examples=300, deadline=None)
@given(who=_anything, model=_anything, tokens=_anything, output=_anything)
def test_authorize_never_raises(who: object, model: object, tokens: object, output: object) -> None:
    policy = Policy(demo_state())
    decision = policy.authorize(who, model, tokens, output_tokens=output)  # type: ignore[arg-type]
    assert decision.reason in Reason
    assert bool(decision) is (decision.reason is Reason.ALLOWED)


def test_over_rpm_is_shared_by_the_workspace_and_rolls(policy: Policy, clock: FakeClock) -> None:
    for i in range(60):  # dev allows 60 requests per minute for all its keys together
        who = "api_key.dev-alice" if i % 2 else "api_key.dev-bob"
        assert policy.authorize(who, SMALL, 10), i
    denied = policy.authorize("api_key.dev-henry-notebooks", SMALL, 10)
    assert denied.reason is Reason.OVER_RPM
    assert denied.status_code == 429
    assert denied.retry_after == pytest.approx(60.0)
    assert policy.authorize("api_key.ml-dan", SMALL, 10)  # another workspace is unaffected
    clock.advance(30)
    assert policy.authorize("api_key.dev-bob", SMALL, 10).reason is Reason.OVER_RPM
    clock.advance(30.001)
    assert policy.authorize("api_key.dev-bob", SMALL, 10)


def test_roles_alone_have_no_rpm(policy: Policy) -> None:
    assert all(policy.authorize("developer", SMALL, 10) for _ in range(100))


def test_daily_token_budget_is_per_key_over_any_24_hours(policy: Policy, clock: FakeClock) -> None:
    clock.set(utc(2026, 11, 18, 23, 0))
    for _ in range(100):  # analyst: 200,000 tokens a day
        decision = policy.authorize("api_key.prod-search-indexer", SMALL, 2000)
        assert decision
        policy.record(decision, 1500, 500)
        clock.advance(1)
    denied = policy.authorize("api_key.prod-search-indexer", SMALL, 1)
    assert denied.reason is Reason.OVER_DAILY_TOKEN_BUDGET
    assert "200,000" in denied.message
    assert "in the last 24 hours" in denied.message
    # the first call's tokens leave the window 24 hours after it was recorded
    assert denied.retry_after == pytest.approx(86400 - 100)
    # the same role on another key has its own budget
    assert policy.authorize("api_key.dev-henry-notebooks", SMALL, 2000)
    clock.set(utc(2026, 11, 19, 0, 0))  # midnight resets nothing
    assert not policy.authorize("api_key.prod-search-indexer", SMALL, 2000)
    clock.set(utc(2026, 11, 19, 23, 0, 0, 1))  # the first call has left the window
    assert policy.authorize("api_key.prod-search-indexer", SMALL, 2000)
    assert not policy.authorize("api_key.prod-search-indexer", SMALL, 2000)


def test_monthly_budget_is_the_workspaces(state: DesiredState, clock: FakeClock) -> None:
    policy = Policy(state, clock=clock)
    # dev has $50 a month; codestral costs 0.3/0.9 per million; spend $49.995 first
    guard = policy.guard("dev")
    guard.record(CODE, 0, 55_550_000)
    assert guard.spent() == Decimal("49.995")
    denied = policy.authorize("api_key.dev-bob", CODE, 8000, output_tokens=8000)
    assert denied.reason is Reason.OVER_BUDGET
    assert "monthly budget of $50.00" in denied.message
    assert denied.error_body() == {
        "object": "error",
        "message": denied.message,
        "type": "rate_limit_error",
        "param": None,
        "code": "over-budget",
    }
    assert denied.retry_after == pytest.approx(utc(2026, 12, 1).timestamp() - clock.now)
    assert policy.authorize("api_key.dev-bob", CODE, 100, output_tokens=50)  # small one fits
    assert policy.authorize("api_key.ml-dan", LARGE, 8000)  # other workspaces unaffected


def test_hourly_limit_from_spend_limits(state: DesiredState, clock: FakeClock) -> None:
    policy = Policy(
        state, clock=clock, spend_limits={"ml": SpendLimits(hourly_usd=Decimal("0.01"))}
    )
    # large: 0.5/1.5 per million; 6,000 output tokens = $0.009
    first = policy.authorize("api_key.ml-dan", LARGE, 6000, output_tokens=6000)
    assert first
    second = policy.authorize("api_key.ml-dan", LARGE, 6000, output_tokens=6000)
    assert second.reason is Reason.OVER_BUDGET
    assert "hourly budget" in second.message
    # never recorded (its caller died, say): its estimate is held for the store's 15
    # minutes, then spent as they end (14:45), and leaves the hour at 15:45
    clock.set(utc(2026, 11, 18, 15, 44, 59))
    assert not policy.authorize("api_key.ml-dan", LARGE, 6000, output_tokens=6000)
    clock.set(utc(2026, 11, 18, 15, 45))
    assert policy.authorize("api_key.ml-dan", LARGE, 6000, output_tokens=6000)


def test_reservation_is_replaced_by_actual_usage(policy: Policy) -> None:
    decision = policy.authorize("api_key.dev-bob", SMALL, 5000, output_tokens=4000)
    assert policy.tokens_today("api_key.dev-bob") == 5000  # held while the call runs
    cost = policy.record(decision, 300, 200)
    assert cost == Decimal("0.000165")  # 300*0.15e-6 + 200*0.6e-6
    assert policy.tokens_today("api_key.dev-bob") == 500
    assert policy.guard("dev").spent() == Decimal("0.000165")
    policy.record(decision, 300, 200)  # recording twice counts once
    assert policy.guard("dev").spent() == Decimal("0.000165")


def test_release_drops_the_reservation(policy: Policy) -> None:
    decision = policy.authorize("api_key.dev-bob", SMALL, 5000)
    policy.release(decision)
    assert policy.tokens_today("api_key.dev-bob") == 0
    assert policy.guard("dev").spent() == 0
    assert policy.guard("dev").remaining() == Decimal(50)


def test_dry_run_reserves_and_counts_nothing(policy: Policy) -> None:
    for _ in range(100):
        assert policy.authorize("api_key.dev-bob", SMALL, 5000, dry_run=True)
    assert policy.tokens_today("api_key.dev-bob") == 0
    assert policy.authorize("api_key.dev-bob", SMALL, 10)  # RPM untouched too


def test_denied_decision_records_nothing(policy: Policy) -> None:
    denied = policy.authorize("api_key.dev-henry-notebooks", CODE, 10)
    policy.record(denied, 1000, 1000)
    assert policy.tokens_today("api_key.dev-henry-notebooks") == 0


def test_record_usage_without_authorize(policy: Policy) -> None:
    cost = policy.record_usage("api_key.ml-dan", LARGE, 1_000_000, 1_000_000)
    assert cost == Decimal("2.0")
    assert policy.guard("ml").spent() == Decimal("2.0")
    assert policy.tokens_today("api_key.ml-dan") == 2_000_000


def test_int_estimate_is_priced_at_the_higher_rate(policy: Policy) -> None:
    whole = policy.authorize("admin", SMALL, 100_000, dry_run=True)
    split = policy.authorize("admin", SMALL, TokenEstimate(100_000, 0), dry_run=True)
    assert whole.estimated_cost_usd == Decimal("0.06")
    assert split.estimated_cost_usd == Decimal("0.015")


def test_subjects_lists_roles_and_keys(policy: Policy) -> None:
    subjects = policy.subjects()
    assert "role.analyst" in subjects
    assert "api_key.dev-bob" in subjects
    assert policy.single_key is None


def test_from_directory_enforces_the_repository_yaml() -> None:
    policy = Policy.from_directory(REPO_DESIRED, clock=FakeClock(utc(2026, 11, 18)))
    assert policy.authorize("api_key.dev-henry-notebooks", SMALL, 2000)
    assert policy.authorize("api_key.dev-henry-notebooks", CODE, 10).reason is (
        Reason.MODEL_NOT_ALLOWED
    )
    assert policy.authorize("api_key.prod-checkout-service", "codestral-2508", 8000)
    assert policy.guard("prod").limits.monthly_usd == Decimal(2000)


def test_an_anthropic_organisations_roles_drive_enforcement_of_its_keys() -> None:
    example = REPO_DESIRED.parent / "examples" / "acme-anthropic"
    policy = Policy.from_directory(example, clock=FakeClock(utc(2026, 11, 18)))
    # support-bot holds the analyst role: Haiku only, 4,000 tokens a request
    assert policy.authorize("api_key.support-bot", "claude-haiku-4-5", 2000)
    assert policy.authorize("api_key.support-bot", "claude-sonnet-4-5", 10).reason is (
        Reason.MODEL_NOT_ALLOWED
    )
    assert not policy.authorize("api_key.support-bot", "claude-haiku-4-5", 5000)


def test_windows_use_the_injected_clock_for_reservations(
    state: DesiredState, clock: FakeClock
) -> None:
    policy = Policy(state, clock=clock)
    clock.set(utc(2026, 11, 30, 23, 59, 59))
    decision = policy.authorize("api_key.ml-dan", LARGE, 1000, output_tokens=1000)
    clock.set(utc(2026, 12, 1, 0, 0, 5))
    policy.record(decision, 0, 1000)
    # settled into November, where the estimate was held
    guard = policy.guard("ml")
    assert guard.spent(at=utc(2026, 11, 15).timestamp()) == Decimal("0.0015")
    assert guard.spent() == 0
    assert dt.datetime.fromtimestamp(clock.now, dt.UTC).month == 12


def test_an_expired_key_does_not_stop_the_policy_from_loading(tmp_path: Path) -> None:
    # The day one key of the organisation expires, every application must go on enforcing.
    desired = tmp_path / "desired-state"
    shutil.copytree(REPO_DESIRED, desired)
    dev = desired / "workspaces" / "dev.yaml"
    dev.write_text(dev.read_text().replace("expires: 2039-03-31", "expires: 2020-01-31"))
    policy = Policy.from_directory(desired)
    assert policy.authorize("api_key.dev-henry-notebooks", SMALL, 2000)
    assert policy.authorize("api_key.dev-henry-notebooks", CODE, 10).reason is (
        Reason.MODEL_NOT_ALLOWED
    )
