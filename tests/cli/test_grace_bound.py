"""A rotation grace is bounded (a year) wherever it comes from: ``--grace``, a saved plan,
an ownership record written before the bound. ``--grace 100000000`` made the apply's
intent carry it into the ownership record, and from then on every plan, apply and audit
failed with ``OverflowError: date value out of range``."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from reconciler.errors import PlanError
from reconciler.model import MAX_GRACE_HOURS
from reconciler.ownership.ledger import CreateIntent
from reconciler.plan import load
from tests.e2e.conftest import run_cli
from tests.example_dates import copy_example


def test_grace_past_a_year_is_refused_before_anything_is_done(tmp_path: Path) -> None:
    copy_example(tmp_path / "desired-state")
    for hours in ("100000000", "99999999999", str(MAX_GRACE_HOURS + 1)):
        done = run_cli(
            [
                "apply",
                "--sandbox",
                "--auto-approve",
                "--replace",
                "api_key.dev-bob",
                "--grace",
                hours,
            ],
            cwd=tmp_path,
        )
        assert done.returncode == 1, done.stderr  # a usage error (2 means "changes")
        assert "--grace" in done.stderr and f"{MAX_GRACE_HOURS}" in done.stderr
        assert "Traceback" not in done.stderr
    assert not (tmp_path / ".sandbox").exists()  # nothing was read or written


def test_an_intent_recorded_with_a_larger_grace_is_read_within_the_bound() -> None:
    intent = CreateIntent(
        name="dev-bob",
        workspace="dev",
        path="dev/dev-bob",
        since=dt.datetime(2026, 12, 1, tzinfo=dt.UTC),
        grace_hours=100_000_000,
    )
    assert intent.grace_hours == MAX_GRACE_HOURS
    assert intent.since + dt.timedelta(hours=intent.grace_hours) > intent.since  # no overflow


def test_a_saved_plan_with_a_larger_grace_is_refused(tmp_path: Path) -> None:
    copy_example(tmp_path / "desired-state")
    applied = run_cli(["apply", "--sandbox", "--auto-approve"], cwd=tmp_path)
    assert applied.returncode == 0, applied.stderr
    made = run_cli(
        ["plan", "--sandbox", "--replace", "api_key.dev-bob", "--out", "p"], cwd=tmp_path
    )
    assert made.returncode == 0, made.stderr
    saved = json.loads((tmp_path / "p").read_text())
    rotations = [c for c in saved["changes"] if c.get("grace_hours") is not None]
    assert rotations
    rotations[0]["grace_hours"] = 100_000_000
    (tmp_path / "p").write_text(json.dumps(saved))
    with pytest.raises(PlanError, match="grace_hours is 100000000, over 8784"):
        load(tmp_path / "p")
