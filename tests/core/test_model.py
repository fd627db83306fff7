"""Model lookups: by name, the first of a name, and never stale after a copy; times as the
output shows them."""

from __future__ import annotations

import datetime as dt

import pytest
from pydantic import ConfigDict, ValidationError, field_validator

from reconciler.compact import Compact
from reconciler.model import (
    ApiKey,
    DesiredState,
    Role,
    Workspace,
    age_in_days,
    minute_text,
    rotation_due,
    rotation_due_from,
)


def test_lookups_by_name_find_the_first_of_a_name_and_nothing_else() -> None:
    state = DesiredState(
        workspaces=(Workspace(name="dev", description="first"), Workspace(name="dev")),
        roles=(Role(name="analyst"),),
    )
    found = state.workspace("dev")
    assert found is not None and found.description == "first"
    assert state.workspace("prod") is None
    assert state.role("analyst") == Role(name="analyst")
    assert state.role("admin") is None


def test_a_copy_with_other_workspaces_finds_its_own() -> None:
    state = DesiredState(workspaces=(Workspace(name="dev"),))
    assert state.workspace("dev") is not None  # the index of the original is built
    copy = state.model_copy(update={"workspaces": (Workspace(name="ml"),)})
    assert copy.workspace("dev") is None
    assert copy.workspace("ml") == Workspace(name="ml")
    assert state == DesiredState(workspaces=(Workspace(name="dev"),))  # an index is no field
    assert state.model_dump() == DesiredState(workspaces=(Workspace(name="dev"),)).model_dump()


def test_a_time_to_the_minute_is_rounded_up_so_a_grace_has_ended_by_then() -> None:
    at = dt.datetime(2026, 12, 3, 10, 0, tzinfo=dt.UTC)
    assert minute_text(at) == "2026-12-03 10:00 UTC"
    assert minute_text(at + dt.timedelta(seconds=1)) == "2026-12-03 10:01 UTC"
    paris = dt.timezone(dt.timedelta(hours=1))
    assert minute_text(at.astimezone(paris)) == "2026-12-03 10:00 UTC"


def test_objects_given_the_same_fields_share_one_record_of_them_and_a_copy_does_not_leak() -> None:
    first = ApiKey(name="a", workspace="w", owner="x@example.com")
    second = ApiKey(name="b", workspace="w", owner="y@example.com")
    assert first.model_fields_set is second.model_fields_set  # one set, not one per key

    renamed = first.model_copy(update={"expires": dt.date(2027, 1, 1)})

    assert renamed.model_fields_set == {"name", "workspace", "owner", "expires"}
    assert first.model_fields_set == second.model_fields_set == {"name", "workspace", "owner"}
    assert first.model_dump(exclude_unset=True) == {
        "name": "a",
        "workspace": "w",
        "owner": "x@example.com",
    }
    assert ApiKey(name="c", workspace="w").model_fields_set == {"name", "workspace"}


def test_a_trusted_key_is_the_validated_key_field_for_field_and_refuses_what_is_not_one() -> None:
    values: dict[str, object] = {
        "name": "dev-bob",
        "workspace": "dev",
        "owner": "bob@example.com",
        "expires": dt.date(2027, 1, 31),
        "id": "k-1",
        "created_at": dt.datetime(2026, 11, 1, 9, 30, tzinfo=dt.UTC),
    }
    validated, trusted = ApiKey.model_validate(values), ApiKey.trusted(**values)

    assert trusted == validated
    assert list(trusted.__dict__.items()) == list(validated.__dict__.items())  # field order
    assert repr(trusted) == repr(validated)
    assert trusted.model_dump_json() == validated.model_dump_json()
    assert trusted.model_fields_set == validated.model_fields_set == set(values)
    assert trusted.model_copy(update={"name": "x"}).name == "x"
    with pytest.raises(ValidationError):
        trusted.name = "x"  # type: ignore[misc]  # still frozen
    with pytest.raises(TypeError, match=r"unknown fields \['colour'\], missing \[\]"):
        ApiKey.trusted(**values, colour="red")
    with pytest.raises(TypeError, match=r"missing \['workspace'\]"):
        ApiKey.trusted(name="dev-bob")
    with pytest.raises(TypeError, match="validates its fields"):
        Checked.trusted(name="x")


class Checked(Compact):
    model_config = ConfigDict(frozen=True)

    name: str

    @field_validator("name")
    @classmethod
    def _lower(cls, value: str) -> str:
        return value.lower()


def test_a_compact_model_must_be_frozen_and_never_shares_a_set_it_was_handed() -> None:
    with pytest.raises(TypeError, match="a Compact model must be frozen"):
        type("Loose", (Compact,), {"__annotations__": {"name": str}})
    mine = {"name", "workspace", "description"}
    made = ApiKey.model_construct(_fields_set=mine, name="a", workspace="w", description="d")
    mine.add("owner")  # the caller's set, changed afterwards
    assert made.model_fields_set == {"name", "workspace", "description"}
    later = ApiKey(name="b", workspace="w", description="e")
    assert later.model_fields_set == {"name", "workspace", "description"}


def test_a_maker_makes_what_trusted_makes_and_refuses_what_trusted_refuses() -> None:
    names = ("name", "workspace", "expires", "id")
    make = ApiKey.maker(*names)
    values = ("dev-bob", "dev", dt.date(2027, 1, 31), "k-1")

    made, trusted = make(*values), ApiKey.trusted(**dict(zip(names, values, strict=True)))
    assert made == trusted == ApiKey.model_validate(dict(zip(names, values, strict=True)))
    assert list(made.__dict__.items()) == list(trusted.__dict__.items())  # field order
    assert made.model_fields_set is trusted.model_fields_set  # the one shared record
    assert ApiKey.maker(*names) is make  # checked once, then reused
    with pytest.raises(ValueError):
        make("dev-bob", "dev")  # a value for every name
    with pytest.raises(TypeError, match=r"unknown fields \['colour'\], missing \[\]"):
        ApiKey.maker("name", "workspace", "colour")
    with pytest.raises(TypeError, match=r"missing \['workspace'\]"):
        ApiKey.maker("name")
    with pytest.raises(TypeError, match="named twice"):
        ApiKey.maker("name", "workspace", "name")


@pytest.mark.parametrize("period", [1, 2, 90, 365])
def test_rotation_due_from_is_rotation_due_as_one_day(period: int) -> None:
    today = dt.date(2026, 12, 2)
    due_from = rotation_due_from(today, period)
    assert due_from is not None
    for back in range(period + 3):
        created = today - dt.timedelta(days=back)
        now = dt.datetime.combine(today, dt.time(12), dt.UTC)
        age = age_in_days(dt.datetime.combine(created, dt.time(23, 59), dt.UTC), now)
        assert (created < due_from) == rotation_due(age, period)
    assert rotation_due_from(today, 10**9) is None  # past the calendar's first day: none due
