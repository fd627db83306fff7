"""Numbers the desired state takes are bounded where a later step does arithmetic with
them: a rotation grace of 100,000,000 hours, an expiry warning of 3,000,000 days or a rate
of 2**63 requests a minute passed validate, then every plan, apply or audit (and the
usage store) failed with a traceback, some of them for good (the grace went into the
ownership record). Each is refused by validate, at its line, saying the bound."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from reconciler.desired.load import check_desired_state
from tests.example_dates import copy_example


def problems(directory: Path) -> list[str]:
    return [p.render() for p in check_desired_state(directory).problems if p.is_error]


@pytest.mark.parametrize(
    ("file", "old", "new", "where", "bound"),
    [
        (
            "organization.yaml",
            "rotation_period_days: 90\n",
            "rotation_period_days: 90\n    rotation_grace_hours: 100000000\n",
            "rotation_grace_hours",
            "8784",
        ),
        (
            "organization.yaml",
            "expiry_warning_days: 14",
            "expiry_warning_days: 3000000",
            "expiry_warning_days",
            "36500",
        ),
        (
            "organization.yaml",
            "max_age_days: 90",
            "max_age_days: 999999999999",
            "max_age_days",
            "36500",
        ),
        (
            "organization.yaml",
            "rotation_period_days: 90",
            "rotation_period_days: 10000000",
            "rotation_period_days",
            "36500",
        ),
        ("workspaces/dev.yaml", "rpm: ", "rpm: 9223372036854775808 #", "rpm", "1000000000000000"),
    ],
)
def test_a_number_past_its_bound_is_refused_at_its_line(
    tmp_path: Path, file: str, old: str, new: str, where: str, bound: str
) -> None:
    directory = tmp_path / "desired-state"
    copy_example(directory)
    path = directory / file
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))
    (found,) = problems(directory)
    assert f"{file}:" in found and where in found
    assert bound in found.replace(",", "").replace("_", "")


def test_an_organisation_id_with_a_space_is_refused_in_words(tmp_path: Path) -> None:
    """pydantic's own message ("String should match pattern '^\\S+$'") reached the user."""
    directory = tmp_path / "desired-state"
    copy_example(directory)
    path = directory / "organization.yaml"
    path.write_text(re.sub(r"(?m)^  id: .*$", "  id: not a uuid", path.read_text()))
    (found,) = problems(directory)
    assert found.endswith(
        "organization.id: must be one word, with no space, got the string 'not a uuid'"
    )
