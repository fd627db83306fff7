"""The day after keys of the example expire, its plans and applies still run: those keys
are left as they are and flagged, never rotated; the others go on as ever. Before, a past
expiry made the desired state invalid, so every plan, apply and drift check of the
organisation failed from that day on.

In process against the embedded sandbox (``--sandbox``), the clock moved with
time-machine: applied on 2038-12-01, planned and applied again on 2039-07-01, the day
after three of the example's keys expired (five more expired earlier in 2039).
"""

from __future__ import annotations

import datetime as dt
import re
import shutil
from pathlib import Path

import pytest
import time_machine
from typer.testing import CliRunner

from reconciler.cli.main import app
from tests.e2e.conftest import REPO

pytestmark = pytest.mark.e2e

APPLIED = dt.datetime(2038, 12, 1, 12, tzinfo=dt.UTC)
DAY_AFTER = dt.datetime(2039, 7, 1, 12, tzinfo=dt.UTC)
EXPIRED = ("dev-bob", "dev-carol", "ml-dan", "prod-checkout-service")  # 2039-05-31 and -06-30


def test_the_day_after_keys_expire_plan_and_apply_still_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shutil.copytree(REPO / "desired-state", tmp_path / "desired-state")
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    with time_machine.travel(APPLIED, tick=False):
        first = runner.invoke(app, ["apply", "--sandbox", "--auto-approve"])
    assert first.exit_code == 0, first.output

    with time_machine.travel(DAY_AFTER, tick=False):
        validated = runner.invoke(app, ["validate"])
        planned = runner.invoke(app, ["plan", "--sandbox", "--detailed-exitcode"])
        applied = runner.invoke(app, ["apply", "--sandbox", "--auto-approve"])

    assert validated.exit_code == 0, validated.output
    assert "expired on 2039-06-30 (today is 2039-07-01)" in validated.stderr
    assert planned.exit_code == 2, planned.output  # changes (rotations), not an error
    for name in EXPIRED:
        assert not re.search(rf'api_key "{name}"', planned.stdout), name  # left as it is
    assert "Refusing" not in planned.output and "before today" not in planned.output
    assert "Key audit: 8 keys expired (dev-alice, dev-bob, dev-carol" in planned.stdout
    assert "Key audit: 2 keys due for rotation (ml-eval-harness, ml-training-pipeline)" in (
        planned.stdout
    )
    assert applied.exit_code == 0, applied.output
