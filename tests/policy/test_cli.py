"""``reconciler policy check`` and ``reconciler budget`` as a user runs them."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from decimal import Decimal
from pathlib import Path

import pytest
import time_machine
from typer.testing import CliRunner, Result

from reconciler.cli import policy as policy_cli
from reconciler.cli.main import app
from reconciler.errors import Forbidden
from reconciler.model import LiveState, SpendLimit, Workspace

DESIRED = Path(__file__).resolve().parents[2] / "desired-state"
# The CLI reads the wall clock; these tests stop it here (a minute before a new day).
LATE = dt.datetime(2026, 11, 30, 23, 59, tzinfo=dt.UTC)

runner = CliRunner()


def _check(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, ["policy", "check", *args, "--desired", str(DESIRED)])
    return result.exit_code, result.stdout, result.stderr


@pytest.mark.parametrize(
    ("args", "code", "start"),
    [
        (["developer", "codestral-latest", "8000"], 0, "allowed: role.developer"),
        (["analyst", "mistral-small-2506", "2000"], 0, "allowed: role.analyst"),
        (["analyst", "codestral-latest", "10"], 2, "denied (model-not-allowed): role analyst"),
        (["analyst", "mistral-small-latest", "2001"], 2, "denied (over-request-token-limit)"),
        (["api_key.dev-henry-notebooks", "codestral-latest", "1"], 2, "denied (model-not-allowed)"),
        (["api_key.ml-dan", "mistral-large-latest", "100000"], 0, "allowed: api_key.ml-dan"),
    ],
)
def test_policy_check(args: list[str], code: int, start: str) -> None:
    exit_code, out, _ = _check(*args)
    assert exit_code == code
    assert out.startswith(start)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["develper", "mistral-small-latest", "1"],
            f"no role or key named 'develper' in the desired state in {DESIRED} "
            "(did you mean 'developer'?)",
        ),
        (
            ["api_key.dev-bobb", "codestral-latest", "1"],
            f"no role or key named 'api_key.dev-bobb' in the desired state in {DESIRED} "
            "(did you mean 'api_key.dev-bob'?)",
        ),
        (
            ["intern", "mistral-small-latest", "1"],
            f"no role or key named 'intern' in the desired state in {DESIRED} "
            "(roles: admin, analyst, developer, senior)",
        ),
        (
            ["developer", "mistral-smal-latest", "1"],
            "no model named 'mistral-smal-latest' in the mistral model catalog "
            "(did you mean 'mistral-small-latest'?)",
        ),
        (
            ["developer", "gpt-4o", "1", "--format", "json"],
            "no model named 'gpt-4o' in the mistral model catalog "
            "(reconciler catalog list names them)",
        ),
    ],
)
def test_policy_check_of_an_unknown_role_key_or_model_is_a_usage_error(
    args: list[str], message: str
) -> None:
    """A typo is not a denial: a shell or CI check reads exit 2 as "denied"."""
    exit_code, out, err = _check(*args)
    assert (exit_code, out) == (1, "")
    assert err == f"Error: {message}\n"


def test_policy_check_with_an_expired_key_in_the_desired_state(tmp_path: Path) -> None:
    desired = tmp_path / "desired-state"
    shutil.copytree(DESIRED, desired)
    dev = desired / "workspaces" / "dev.yaml"
    dev.write_text(dev.read_text().replace("expires: 2039-03-31", "expires: 2020-01-31"))
    result = runner.invoke(
        app, ["policy", "check", "dev-bob", "codestral-latest", "10", "--desired", str(desired)]
    )
    assert (result.exit_code, result.stderr) == (0, "")
    assert result.stdout.startswith("allowed: api_key.dev-bob")


def test_policy_check_json() -> None:
    exit_code, out, _ = _check("analyst", "codestral-latest", "10", "--format", "json")
    assert exit_code == 2
    doc = json.loads(out)
    assert doc["reason"] == "model-not-allowed"
    assert doc["allowed"] is False
    assert doc["status_code"] == 403
    assert doc["model"] == "codestral-2508"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["analyst", "mistral-small-latest", "lots"], "TOKENS must be a whole number"),
        (["analyst", "mistral-small-latest", "1.5"], "TOKENS must be a whole number"),
        (["analyst", "mistral-small-latest", "10", "--output-tokens", "20"], "cannot be more"),
    ],
)
def test_policy_check_bad_arguments_exit_1(args: list[str], message: str) -> None:
    exit_code, out, err = _check(*args)
    assert exit_code == 1
    assert message in err
    assert out == ""


def test_policy_check_takes_the_directory_as_every_other_command_does(tmp_path: Path) -> None:
    # positionally, after the request (as plan, audit and secret put take it)
    args = ["policy", "check", "analyst", "mistral-small-2506", "2000", str(DESIRED)]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("allowed: role.analyst")
    both = runner.invoke(app, [*args, "--desired", str(tmp_path)])
    assert both.exit_code == 1
    assert f"two desired-state directories: {DESIRED} and --desired {tmp_path}" in both.stderr


def test_policy_check_missing_directory(tmp_path: Path) -> None:
    result = runner.invoke(
        app, ["policy", "check", "analyst", "x", "1", "--desired", str(tmp_path / "nope")]
    )
    assert result.exit_code == 1
    assert "no desired-state directory" in result.stderr


def test_policy_check_reads_budgets_from_a_shared_store(tmp_path: Path) -> None:
    from reconciler.policy import Policy, SQLiteStore

    store_path = tmp_path / "usage.db"
    store = SQLiteStore(store_path)
    with time_machine.travel(LATE, tick=False):
        policy = Policy.from_directory(DESIRED, store=store)
        policy.record_usage("api_key.dev-henry-notebooks", "mistral-small-latest", 199_500, 0)
        store.close()
        exit_code, out, _ = _check(
            "api_key.dev-henry-notebooks",
            "mistral-small-latest",
            "1000",
            "--store",
            str(store_path),
        )
    assert exit_code == 2
    assert out.startswith("denied (over-daily-token-budget)")


class FakeProvider:
    def __init__(self, spend: dict[str, Decimal]) -> None:
        self.spend = spend
        self.asked: list[dt.date] = []
        self.closed = False
        self.limits: dict[str, SpendLimit] = {}  # each workspace's, set in the console
        self.fetch_error: Exception | None = None  # the organisation's read fails so
        self.fetched = 0

    async def monthly_spend(self, month: dt.date) -> dict[str, Decimal]:
        self.asked.append(month)
        return self.spend

    async def fetch(self, progress: object = None) -> LiveState:
        self.fetched += 1
        if self.fetch_error is not None:
            raise self.fetch_error
        return LiveState(
            target="test platform",
            workspaces=tuple(
                Workspace(name=name, id=f"ws-{name}", spend_limit=limit)
                for name, limit in self.limits.items()
            ),
        )

    async def aclose(self) -> None:
        self.closed = True


@pytest.fixture
def provider(monkeypatch: pytest.MonkeyPatch) -> FakeProvider:
    fake = FakeProvider({"dev": Decimal("45"), "ml": Decimal("100")})
    monkeypatch.setattr(policy_cli, "_open_provider", lambda options: fake)
    return fake


@pytest.mark.parametrize(
    ("fmt", "expect"),
    [
        ("text", "  ! workspace dev has used 90.0% of its $50.00 monthly budget"),
        ("markdown", "| `dev` | $45.00 | $50.00 | 90.0% | warning: over 80% |"),
        ("json", '"status": "warning"'),
    ],
)
def test_budget_formats(provider: FakeProvider, fmt: str, expect: str) -> None:
    result = runner.invoke(
        app, ["budget", str(DESIRED), "--sandbox", "--month", "2025-01", "--format", fmt]
    )
    assert result.exit_code == 0, result.stderr
    assert expect in result.stdout
    assert provider.asked == [dt.date(2025, 1, 1)]
    assert provider.closed


def dev_without_a_budget(tmp_path: Path) -> Path:
    """A copy of the example desired state whose dev workspace sets no monthly budget."""
    desired = tmp_path / "desired-state"
    shutil.copytree(DESIRED, desired)
    dev = desired / "workspaces" / "dev.yaml"
    dev.write_text(dev.read_text().replace("    monthly_budget_usd: 50\n", ""))
    return desired


def budget_rows(desired: Path) -> tuple[Result, dict[str, list[str]]]:
    """``budget`` for January 2025, and its table's rows (words) by workspace."""
    result = runner.invoke(app, ["budget", str(desired), "--month", "2025-01"])
    assert result.exit_code == 0, result.stderr
    return result, {line.split()[0]: line.split() for line in result.stdout.splitlines()[3:6]}


def test_budget_reports_a_workspace_without_a_budget_against_its_console_limit(
    provider: FakeProvider, tmp_path: Path
) -> None:
    desired = dev_without_a_budget(tmp_path)
    provider.limits = {
        "dev": SpendLimit(amount=Decimal(50)),
        "ml": SpendLimit(amount=Decimal(90)),  # the desired state's budget is reported
        "prod": SpendLimit(amount=Decimal(100), currency="EUR"),  # not in the report's USD
    }
    result, rows = budget_rows(desired)
    assert rows["dev"][:5] == ["dev", "$45.00", "$50.00", "(console)", "90.0%"]
    assert rows["ml"][:3] == ["ml", "$100.00", "$500.00"]
    assert rows["prod"][:3] == ["prod", "$0.00", "$2,000.00"]
    assert (
        "  ! workspace dev has used 90.0% of its $50.00 console spend limit ($45.00 spent; "
        "over 80%)."
    ) in result.stdout


def test_budget_reports_the_spend_when_the_organisation_cannot_be_read(
    provider: FakeProvider, tmp_path: Path
) -> None:
    # a key the usage endpoint answers but the workspaces' read refuses: the report the
    # budget gave before console limits, and a line on stderr saying what it leaves out
    desired = dev_without_a_budget(tmp_path)
    provider.fetch_error = Forbidden("403 Forbidden: GET /v1/workspaces")
    result, rows = budget_rows(desired)
    assert rows["dev"][:3] == ["dev", "$45.00", "-"]
    assert "console spend limits not read" in result.stderr
    assert "403 Forbidden" in result.stderr
    assert provider.closed


def test_budget_reads_no_organisation_when_every_workspace_sets_a_budget(
    provider: FakeProvider,
) -> None:
    result = runner.invoke(app, ["budget", str(DESIRED), "--month", "2025-01"])
    assert result.exit_code == 0, result.stderr
    assert provider.fetched == 0


def test_budget_defaults_to_this_month(provider: FakeProvider) -> None:
    with time_machine.travel(LATE, tick=False):
        result = runner.invoke(app, ["budget", str(DESIRED), "--format", "json"])
    assert result.exit_code == 0, result.stderr
    assert provider.asked == [dt.date(2026, 11, 1)]
    assert json.loads(result.stdout)["as_of"] == "2026-11-30"


def test_budget_of_a_month_not_begun_is_refused(provider: FakeProvider) -> None:
    with time_machine.travel(LATE, tick=False):
        result = runner.invoke(app, ["budget", str(DESIRED), "--month", "2026-12"])
    assert result.exit_code == 1
    assert result.stderr == "Error: --month 2026-12 has not begun (today is 2026-11-30)\n"
    assert provider.asked == []


def test_budget_bad_month(provider: FakeProvider) -> None:
    result = runner.invoke(app, ["budget", str(DESIRED), "--month", "November"])
    assert result.exit_code == 1
    assert "--month must look like 2026-11" in result.stderr
    assert provider.asked == []


def test_budget_bad_format() -> None:
    result = runner.invoke(app, ["budget", str(DESIRED), "--format", "yaml"])
    assert result.exit_code == 1
    assert "must be text, markdown or json" in result.stderr


def test_budget_against_the_embedded_sandbox(tmp_path: Path) -> None:
    from reconciler.platform.sandbox import DEFAULT_ADMIN_KEY
    from reconciler.policy.budget import status_for

    result = runner.invoke(
        app,
        [
            "budget",
            str(DESIRED),
            "--sandbox",
            "--sandbox-state",
            str(tmp_path / "state.json"),
            "--format",
            "json",
        ],
    )
    assert result.exit_code == 0, result.stderr
    assert DEFAULT_ADMIN_KEY not in result.stdout + result.stderr
    doc = json.loads(result.stdout)
    managed = [w["name"] for w in doc["workspaces"] if w["managed"]]
    assert managed == ["dev", "ml", "prod"]
    total = sum(Decimal(w["spent_usd"]) for w in doc["workspaces"])
    assert Decimal(doc["total"]["spent_usd"]) == total
    for line in doc["workspaces"]:
        if line["managed"]:
            budget = Decimal(line["budget_usd"])
            assert status_for(Decimal(line["spent_usd"]), budget)[1].value == line["status"]
