"""An organisation whose plan cannot write spend limits through the API (Anthropic's
early-access preview: a 403 ``spend_limits_admin_api_writes_not_enabled``), against the
sandbox served on 127.0.0.1: apply reports the limit as a manual action, not a failure,
and the plans after it say so up front, until the refusal is a month old."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

from reconciler.apply.console_only import REMEMBER, remember, remembered
from reconciler.platform.anthropic.sandbox.state import Organisation

from .conftest import run_against, serving

EXAMPLE = Path(__file__).parents[3] / "examples" / "acme-anthropic"
REFUSED = (
    "organization: this organisation cannot set spend limits through the API "
    "(permission_error: Spend limit writes through the Admin API are not enabled for this "
    "organization.); set the monthly limit to 1500 USD/month in the Console "
    "(https://console.anthropic.com/settings/limits) instead"
)


def test_a_refused_spend_limit_is_a_manual_action_at_apply_then_at_plan(tmp_path: Path) -> None:
    shutil.copytree(EXAMPLE, tmp_path / "desired")
    state = tmp_path / "a.json"
    org = Organisation.open(state)
    org.data["spend_limit_writes"] = False
    org.save()

    with serving(state) as served:
        applied = run_against(tmp_path, served, "apply", "--auto-approve")
        assert applied.exit_code == 0, applied.output
        assert "organization: left for the console: this organisation cannot set" in (
            applied.output
        )
        assert "Resources: 4 added, 1 changed, 0 destroyed." in applied.output  # not the limit
        assert (
            "Refused by the API for this organisation's plan, to make in the console:\n  "
            + (REFUSED)
            in applied.output
        )

        planned = run_against(tmp_path, served, "plan", "--detailed-exitcode")
    assert planned.exit_code == 2, planned.output  # a manual change is drift
    assert '  ! organization "Acme (sandbox)" {' in planned.output
    assert "    # " + REFUSED.removeprefix("organization: ") in planned.output
    assert "No changes to apply through the Admin API." in planned.output


def test_a_refusal_is_forgotten_after_a_month(tmp_path: Path) -> None:
    path = tmp_path / "console-only.json"
    then = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)
    remember(path, {"organization": "refused"}, then)
    assert remembered(path, then + REMEMBER - dt.timedelta(seconds=1)) == {
        "organization": "refused"
    }
    assert remembered(path, then + REMEMBER) == {}
