"""The key audit's rules at their edges, with the clock passed in (no test reads today).

Every rule is "more than N days", counted in whole UTC calendar days from ``now``: a key is
flagged on day N + 1, never on day N.
"""

from __future__ import annotations

import datetime as dt
import os
import time
from collections.abc import Iterator

import pytest

from reconciler.audit import (
    Flag,
    KeyAudit,
    KeyOwnership,
    SecretFact,
    SecretState,
    audit_keys,
    latest_outside,
    parse_flags,
    unreadable_secrets,
)
from reconciler.model import ApiKey, Attribution, DesiredState, LiveState, Organization
from reconciler.plan.audit_lines import summary_lines

NOW = dt.datetime(2026, 3, 15, 9, 30, tzinfo=dt.UTC)
TODAY = NOW.date()


def days_ago(days: int) -> dt.datetime:
    return NOW - dt.timedelta(days=days)


def live_key(name: str = "k", **fields: object) -> ApiKey:
    values: dict[str, object] = {
        "workspace": "dev",
        "owner": "bob@acme.example",
        "id": f"id-{name}",
        "created_at": days_ago(1),
        "last_used": TODAY,
    }
    values.update(fields)
    return ApiKey.model_validate({"name": name, **values})


def desired_state(*keys: ApiKey, **org: object) -> DesiredState:
    return DesiredState(organization=Organization(name="Acme", **org), keys=keys)


def declared(name: str = "k", **fields: object) -> ApiKey:
    return ApiKey.model_validate({"name": name, "workspace": "dev", **fields})


def audit_one(key: ApiKey, *, now: dt.datetime = NOW, **org: object) -> KeyAudit:
    desired = desired_state(declared(key.name), **org)
    return audit_keys(desired, LiveState(keys=(key,)), now=now)


def flags_of(key: ApiKey, **kwargs: object) -> tuple[Flag, ...]:
    (finding,) = audit_one(key, **kwargs).keys  # type: ignore[arg-type]
    return finding.flags


# --- unused ---------------------------------------------------------------------------


@pytest.mark.parametrize(("idle", "flagged"), [(29, False), (30, False), (31, True)])
def test_unused_is_more_than_unused_after_days_since_last_use(idle: int, flagged: bool) -> None:
    key = live_key(created_at=days_ago(60), last_used=TODAY - dt.timedelta(days=idle))
    assert (Flag.UNUSED in flags_of(key)) is flagged


@pytest.mark.parametrize(("age", "flagged"), [(29, False), (30, False), (31, True)])
def test_a_key_never_used_counts_from_its_creation(age: int, flagged: bool) -> None:
    key = live_key(created_at=days_ago(age), last_used=None)
    (finding,) = audit_one(key).keys
    assert finding.idle_days == age
    assert (Flag.UNUSED in finding.flags) is flagged


def test_unused_after_days_comes_from_the_organisation() -> None:
    key = live_key(created_at=days_ago(60), last_used=TODAY - dt.timedelta(days=8))
    assert Flag.UNUSED in flags_of(key, key_unused_after_days=7)
    assert Flag.UNUSED not in flags_of(key, key_unused_after_days=8)


def test_days_are_utc_calendar_days() -> None:
    # 00:30 in Paris on 15 March is 23:30 UTC on 14 March: the key is 30 days old, not 31.
    paris = dt.timezone(dt.timedelta(hours=1))
    now = dt.datetime(2026, 3, 15, 0, 30, tzinfo=paris)
    key = live_key(created_at=dt.datetime(2026, 2, 12, 12, 0, tzinfo=dt.UTC), last_used=None)
    (finding,) = audit_one(key, now=now).keys
    assert finding.age_days == 30
    assert Flag.UNUSED not in finding.flags


# --- age and rotation -------------------------------------------------------------------


@pytest.mark.parametrize(("age", "flagged"), [(89, False), (90, False), (91, True)])
def test_old_is_more_than_max_age_days(age: int, flagged: bool) -> None:
    key = live_key(created_at=days_ago(age))
    assert (Flag.OLD in flags_of(key, rotation_period_days=400)) is flagged


@pytest.mark.parametrize(("age", "flagged"), [(89, False), (90, True), (91, True)])
def test_rotation_is_due_on_the_last_day_of_its_period(age: int, flagged: bool) -> None:
    key = live_key(created_at=days_ago(age))
    assert (Flag.ROTATION_DUE in flags_of(key, key_max_age_days=400)) is flagged


def test_a_keys_own_rotation_period_comes_before_the_organisations() -> None:
    keys = (
        live_key("short", created_at=days_ago(31)),
        live_key("default", created_at=days_ago(31)),
    )
    desired = desired_state(declared("short", rotation_period_days=30), declared("default"))
    audit = audit_keys(desired, LiveState(keys=keys), now=NOW)
    by_name = {k.name: k for k in audit.keys}
    assert by_name["short"].rotation_period_days == 30
    assert Flag.ROTATION_DUE in by_name["short"].flags
    assert by_name["default"].rotation_period_days == 90
    assert Flag.ROTATION_DUE not in by_name["default"].flags


def test_an_unmanaged_key_rotates_on_the_organisations_period() -> None:
    key = live_key("stray", created_at=days_ago(46))
    audit = audit_keys(desired_state(rotation_period_days=45), LiveState(keys=(key,)), now=NOW)
    assert audit.keys[0].rotation_period_days == 45
    assert audit.keys[0].flags == (Flag.ROTATION_DUE, Flag.UNMANAGED)


@pytest.fixture(params=["XST-9", "YST+10"])  # east and west of UTC (POSIX rules: no tz data)
def local_zone(request: pytest.FixtureRequest) -> Iterator[str]:
    """This machine's time zone, for one test."""
    before = os.environ.get("TZ")
    os.environ["TZ"] = request.param
    time.tzset()
    try:
        yield request.param
    finally:
        if before is None:
            del os.environ["TZ"]
        else:
            os.environ["TZ"] = before
        time.tzset()


@pytest.mark.parametrize("hour", [1, 23])
def test_a_creation_time_without_an_offset_is_utc_in_any_local_zone(
    local_zone: str, hour: int
) -> None:
    # the diff takes it as UTC (model.age_in_days): the audit counts the same days
    key = live_key(created_at=dt.datetime(2026, 3, 5, hour), last_used=None)
    (finding,) = audit_one(key, rotation_period_days=10).keys
    assert (finding.created, finding.age_days, finding.idle_days) == (dt.date(2026, 3, 5), 10, 10)
    assert Flag.ROTATION_DUE in finding.flags


# --- expiry -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("left", "expected"),
    [
        (15, ()),
        (14, (Flag.EXPIRING,)),
        (1, (Flag.EXPIRING,)),
        (0, (Flag.EXPIRING,)),  # expires today: still works, expiring
        (-1, (Flag.EXPIRED,)),
        (-30, (Flag.EXPIRED,)),
    ],
)
def test_expiring_within_the_warning_window_then_expired(
    left: int, expected: tuple[Flag, ...]
) -> None:
    key = live_key(expires=TODAY + dt.timedelta(days=left))
    (finding,) = audit_one(key).keys
    assert finding.expires_in_days == left
    assert finding.flags == expected


def test_the_expiry_window_comes_from_the_organisation() -> None:
    key = live_key(expires=TODAY + dt.timedelta(days=20))
    assert flags_of(key, key_expiry_warning_days=20) == (Flag.EXPIRING,)
    assert flags_of(key, key_expiry_warning_days=19) == ()


# --- managed, unmanaged, secrets ---------------------------------------------------------


def test_unmanaged_keys_are_the_ones_the_diff_says() -> None:
    keys = (live_key("a"), live_key("b"))
    desired = desired_state(declared("a"), declared("b"))
    audit = audit_keys(desired, LiveState(keys=keys), now=NOW, unmanaged={"id-b"})
    assert [(k.name, k.managed, k.flags) for k in audit.keys] == [
        ("a", True, ()),
        ("b", False, (Flag.UNMANAGED,)),
    ]


def test_without_the_diff_a_key_is_managed_when_a_desired_key_has_its_name() -> None:
    keys = (live_key("a"), live_key("stray"))
    audit = audit_keys(desired_state(declared("a")), LiveState(keys=keys), now=NOW)
    assert [(k.name, k.flags) for k in audit.keys] == [("a", ()), ("stray", (Flag.UNMANAGED,))]


@pytest.mark.parametrize(
    ("state", "expected"),
    [
        (SecretState.STORED, ()),
        (SecretState.MISSING, (Flag.SECRET_MISSING,)),
        (SecretState.MISMATCHED, (Flag.SECRET_MISMATCH,)),
        (SecretState.UNVERIFIED, ()),
        (SecretState.UNREADABLE, (Flag.SECRET_UNREADABLE,)),
    ],
)
def test_secret_flags_follow_what_the_store_holds(
    state: SecretState, expected: tuple[Flag, ...]
) -> None:
    key = live_key("a")
    fact = SecretFact(state, where="file vault: dev/a")
    audit = audit_keys(
        desired_state(declared("a")), LiveState(keys=(key,)), now=NOW, secrets={"id-a": fact}
    )
    assert audit.secrets_read
    assert audit.keys[0].flags == expected
    assert audit.keys[0].secret == fact


def test_an_unmanaged_keys_secret_is_never_looked_for() -> None:
    fact = SecretFact(SecretState.MISSING)
    audit = audit_keys(
        desired_state(),
        LiveState(keys=(live_key("stray"),)),
        now=NOW,
        secrets={"id-stray": fact},
    )
    assert audit.keys[0].secret is None
    assert audit.keys[0].flags == (Flag.UNMANAGED,)


def test_an_ownership_record_decides_managed_and_secret_unknown() -> None:
    # The ledger: an imported key is managed though the desired state has no such name
    # yet, and its secret is unknown, not missing; a recorded key it disowns is unmanaged.
    keys = (live_key("imported"), live_key("a"))
    owned = {
        "id-imported": KeyOwnership(managed=True, secret_known=False),
        "id-a": KeyOwnership(managed=False),
    }
    missing = {"id-imported": SecretFact(SecretState.MISSING, where="vault: dev/imported")}
    audit = audit_keys(
        desired_state(declared("a")),
        LiveState(keys=keys),
        now=NOW,
        secrets=missing,
        ownership=owned,
    )
    by_name = {k.name: k for k in audit.keys}
    imported = by_name["imported"]
    assert imported.managed and imported.flags == ()
    assert imported.secret == SecretFact(SecretState.UNKNOWN, where="vault: dev/imported")
    assert by_name["a"].flags == (Flag.UNMANAGED,)


def test_keys_are_listed_by_workspace_then_name_with_their_facts() -> None:
    keys = (
        live_key("z", workspace="ml", created_at=days_ago(3), last_used=None),
        live_key("b", workspace="dev", expires=TODAY + dt.timedelta(days=40)),
        live_key("a", workspace="dev", owner=None, created_by="admin-key:ops"),
    )
    audit = audit_keys(desired_state(), LiveState(keys=keys), now=NOW, unmanaged=set())
    assert [(k.workspace, k.name) for k in audit.keys] == [("dev", "a"), ("dev", "b"), ("ml", "z")]
    a, b, z = audit.keys
    assert a.owner == "admin-key:ops"  # the platform's creator when no user owns it
    assert (b.expires, b.expires_in_days) == (TODAY + dt.timedelta(days=40), 40)
    assert (z.created, z.age_days, z.last_used, z.idle_days) == (
        TODAY - dt.timedelta(3),
        3,
        None,
        3,
    )
    assert audit.flagged == ()
    assert audit.counts() == dict.fromkeys(Flag, 0)


# --- attributions, flags, summaries ----------------------------------------------------------


def _change(address: str, day: int, *, outside: bool = True, actor: str = "dan") -> Attribution:
    return Attribution(
        address=address,
        actor=actor,
        at=dt.datetime(2026, 3, day, tzinfo=dt.UTC),
        event="workspace.update",
        outside=outside,
    )


def test_the_latest_change_outside_reconciler_is_kept_per_address() -> None:
    changes = [
        _change("workspace.dev", 1, actor="bob"),
        _change("workspace.dev", 5, actor="dan"),
        _change("workspace.ml", 2, actor="erin"),
        _change("workspace.ml", 3, outside=False),  # reconciler changed it afterwards
        _change("workspace.ops", 4, outside=False),
    ]
    latest = latest_outside(changes)
    assert list(latest) == ["workspace.dev"]
    assert latest["workspace.dev"].actor == "dan"
    assert latest["workspace.dev"].describe() == ("changed outside reconciler by dan on 2026-03-05")


def test_a_keys_attribution_goes_with_its_finding() -> None:
    created = Attribution(
        address="api_key.k", actor="iris@acme.example", at=days_ago(200), event="api_key.create"
    )
    audit = audit_keys(
        desired_state(declared("k")),
        LiveState(keys=(live_key(),)),
        now=NOW,
        attributions={"api_key.k": created},
    )
    assert audit.keys[0].attribution == created
    assert created.describe() == "created outside reconciler by iris@acme.example on 2025-08-27"


def test_parse_flags() -> None:
    assert parse_flags("unused, EXPIRED,unused") == (Flag.UNUSED, Flag.EXPIRED)
    with pytest.raises(ValueError, match="unknown flag stale; use one or more of: unused, old"):
        parse_flags("unused,stale")
    with pytest.raises(ValueError, match=r"unknown flag \(none given\)"):
        parse_flags(" , ")


def test_summary_lines_count_each_flag_and_name_the_first_keys() -> None:
    keys = tuple(live_key(f"k{i}", created_at=days_ago(100), last_used=TODAY) for i in range(5))
    audit = audit_keys(desired_state(), LiveState(keys=keys), now=NOW, unmanaged={"id-k4"})
    assert summary_lines(audit) == [
        "Key audit: 5 keys older than 90 days (k0, k1, k2 and 2 more)",
        "Key audit: 5 keys due for rotation (k0, k1, k2 and 2 more)",
        "Key audit: 1 key not in the desired state (k4)",
    ]
    assert audit.present([Flag.EXPIRED, Flag.OLD, Flag.UNMANAGED]) == [Flag.OLD, Flag.UNMANAGED]
    assert summary_lines(audit_keys(desired_state(), LiveState(), now=NOW)) == []


def test_unreadable_secrets_are_one_warning_naming_the_first() -> None:
    facts = {
        "a": SecretFact(SecretState.STORED),
        "b": SecretFact(SecretState.UNREADABLE, where="vault at x: dev/b", error="sealed"),
        "c": SecretFact(SecretState.UNREADABLE, where="vault at x: dev/c", error="sealed"),
    }
    assert unreadable_secrets(facts) == [
        "2 secret(s) could not be read (vault at x: dev/b: sealed)"
    ]
    assert unreadable_secrets({"a": SecretFact(SecretState.MISSING)}) == []
