"""Groq and Cohere: no admin API, so a desired state naming them is policy only.

It validates against their catalogs, plan, apply and budget say they cannot reach the
platform, ``policy check --provider`` answers, and their SDKs enforce it in apps, priced
from their catalogs.
"""

from __future__ import annotations

import asyncio
import dataclasses
from decimal import Decimal
from pathlib import Path

import pytest
from typer.testing import CliRunner

from reconciler.cli.main import app
from reconciler.desired import check_desired_state, load_catalog
from reconciler.policy import Policy, default_price_table
from reconciler.providers import get_provider
from tests.policy.conftest import FakeClock, utc
from tests.policy.sdk_drivers import COMPLETION, DRIVERS, PROMPT

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")
runner = CliRunner()
# provider: (a model the role allows, one it does not, its prices per 1M tokens in and out)
MODELS = {
    "groq": ("llama-3.1-8b-instant", "llama-3.3-70b-versatile", ("0.05", "0.08")),
    "cohere": ("command-r-08-2024", "command-a-03-2025", ("0.15", "0.6")),
}


def write_state(directory: Path, provider: str, model: str | None = None) -> Path:
    """A team's desired state on a provider without an admin API."""
    allowed = model or MODELS[provider][0]
    (directory / "workspaces").mkdir(parents=True)
    (directory / "organization.yaml").write_text(
        f"version: 1\norganization:\n  name: Acme\n  provider: {provider}\n"
    )
    (directory / "roles.yaml").write_text(
        "version: 1\nroles:\n"
        f"  app: {{allowed_models: [{allowed}], max_tokens_per_request: 4000}}\n"
    )
    (directory / "workspaces" / "search.yaml").write_text(
        "version: 1\nworkspace:\n  name: search\n  admin: lead@acme.example\n"
        "  members: [{email: dev@acme.example}]\n"
        "  policy: {rpm: 30, daily_budget_usd: 5, monthly_budget_usd: 100}\n"
        "  api_keys:\n    - {name: search-app, owner: dev@acme.example, role: app}\n"
    )
    return directory


@pytest.mark.parametrize("name", MODELS)
def test_a_policy_only_provider_has_a_priced_catalog_and_no_admin_api(name: str) -> None:
    spec = get_provider(name)
    assert (spec.open, spec.sandbox, spec.list_models) == (None, None, None)
    catalog = load_catalog(provider=name)
    assert catalog.provider == name
    assert catalog.fetched and "edit" in catalog.source  # dated, and marked as a reference
    assert all(m.input_price is not None and m.output_price is not None for m in catalog.models)
    allowed, _, (price_in, price_out) = MODELS[name]
    assert default_price_table(name).price(allowed) == (Decimal(price_in), Decimal(price_out))


@pytest.mark.parametrize("name", MODELS)
def test_its_desired_state_validates_against_its_own_catalog(tmp_path: Path, name: str) -> None:
    result = check_desired_state(write_state(tmp_path / "ok", name))
    assert result.state is not None and result.state.provider == name
    assert result.problems == ()
    other = check_desired_state(write_state(tmp_path / "bad", name, "mistral-small-latest"))
    assert [(p.path, p.message) for p in other.errors] == [
        (
            "roles.app.allowed_models[0]",
            "unknown model 'mistral-small-latest' (not in the model catalog)",
        )
    ]


@pytest.mark.parametrize(
    "command", [["plan"], ["plan", "--sandbox"], ["apply", "--auto-approve"], ["budget"]]
)
def test_plan_apply_and_budget_say_it_has_no_admin_api(tmp_path: Path, command: list[str]) -> None:
    result = runner.invoke(app, [*command, str(write_state(tmp_path, "groq"))])
    assert result.exit_code == 1
    assert "provider groq (Groq) has no admin API (policy only)" in result.stderr
    assert "reconciler policy check" in result.stderr


def test_policy_check_answers_for_the_named_provider(tmp_path: Path) -> None:
    desired = str(write_state(tmp_path, "groq"))

    def check(*args: str) -> tuple[int, str]:
        result = runner.invoke(app, ["policy", "check", *args, "--desired", desired])
        return result.exit_code, result.stdout + result.stderr

    code, out = check("--provider", "groq", "app", "llama-3.1-8b-instant", "1000")
    assert (code, out) == (
        0,
        "allowed: role.app may send about 1,000 tokens to llama-3.1-8b-instant (estimated cost "
        "$0.000080)\n",
    )
    code, out = check("api_key.search-app", "llama-3.3-70b-versatile", "10")  # its provider
    assert code == 2
    assert out.startswith("denied (model-not-allowed): key search-app")
    code, out = check("--provider", "cohere", "app", "llama-3.1-8b-instant", "10")
    assert code == 1
    assert "is provider groq's, not cohere's" in out
    code, out = check("--provider", "grok", "app", "llama-3.1-8b-instant", "10")
    assert (code, "unknown provider 'grok' (did you mean 'groq'?)" in out) == (1, True)


@pytest.mark.parametrize("sync", [True, False], ids=["sync", "async"])
@pytest.mark.parametrize("name", MODELS)
def test_its_sdk_enforces_the_desired_state(tmp_path: Path, name: str, sync: bool) -> None:
    allowed, denied, (price_in, price_out) = MODELS[name]
    driver = next(d for d in DRIVERS if d.provider == name)
    driver = dataclasses.replace(driver, allowed=allowed, denied=denied)
    policy = Policy.from_directory(
        write_state(tmp_path, name), clock=FakeClock(utc(2026, 11, 18, 12))
    )
    upstream = driver.upstream()

    def call(model: str) -> None:
        client = driver.client(policy, "api_key.search-app", upstream, sync=sync)
        result = driver.call(client, model, stream=False, max_tokens=500)
        if not sync:
            asyncio.run(result)

    with pytest.raises(driver.exception("forbidden")):
        call(denied)
    assert upstream.bodies == []  # a denied call sends nothing
    call(allowed)
    assert len(upstream.bodies) == 1
    assert policy.tokens_today("api_key.search-app") == PROMPT + COMPLETION
    spent = (PROMPT * Decimal(price_in) + COMPLETION * Decimal(price_out)) / 10**6
    assert policy.guard("search").spent() == spent  # at the provider's catalog prices
