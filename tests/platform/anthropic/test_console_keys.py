"""Keys Anthropic's API cannot create: a manual action in the plan, adopted once made."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from reconciler.diff import Action
from reconciler.model import ApiKey, DesiredState, LiveState, Workspace
from reconciler.plan import make_plan
from reconciler.platform.anthropic.plugin import ANTHROPIC

NOW = dt.datetime(2026, 11, 2, 12, tzinfo=dt.UTC)
DESIRED = DesiredState(
    provider="anthropic",
    workspaces=(Workspace(name="dev"),),
    keys=(ApiKey(name="dev-ci", workspace="dev", owner="ada@example.org"),),
)
LIVE = LiveState(target="t", workspaces=(Workspace(name="dev", id="wrkspc_dev"),))


def test_a_desired_key_that_does_not_exist_is_a_console_action_not_a_create() -> None:
    assert not ANTHROPIC.can_create_keys

    plan = make_plan(
        DESIRED, LIVE, provider="anthropic", now=NOW, key_console=ANTHROPIC.key_console
    )

    change = plan.by_address("api_key.dev-ci")
    assert change is not None and change.actions == (Action.MANUAL,)
    assert change.message == (
        f"In the console ({ANTHROPIC.key_console}), create an API key named 'dev-ci' in "
        "workspace 'dev', as ada@example.org. The next plan adopts it; store its secret with "
        "`reconciler secret put api_key.dev-ci` (read from standard input)."
    )
    assert (plan.summary.add, plan.summary.manual) == (0, 1)
    assert not plan.actionable


def test_once_made_in_the_console_the_key_is_adopted_by_name() -> None:
    made = ApiKey(
        name="dev-ci",
        workspace="dev",
        owner="ada@example.org",
        id="apikey_1",
        created_at=NOW - dt.timedelta(hours=1),
    )
    live = LIVE.model_copy(update={"keys": (made,)})

    plan = make_plan(
        DESIRED, live, provider="anthropic", now=NOW, key_console=ANTHROPIC.key_console
    )

    assert plan.actionable == () and plan.summary.manual == 0


def test_a_provider_that_creates_keys_still_plans_a_create() -> None:
    plan = make_plan(DESIRED, LIVE, provider="mistral", now=NOW)

    change = plan.by_address("api_key.dev-ci")
    assert change is not None and change.actions == (Action.CREATE,)


def test_the_target_is_named_without_opening_it_as_an_opened_provider_names_it(
    tmp_path: Path,
) -> None:
    import asyncio

    from reconciler.env import ANTHROPIC_BASE_URL
    from reconciler.providers import Target

    live = Target(env={ANTHROPIC_BASE_URL: "https://anthropic.example/"})
    sandbox = Target(env={}, sandbox_state=tmp_path / "state.json")

    assert ANTHROPIC.name_target(live, sandbox=False) == "https://anthropic.example"
    opened = ANTHROPIC.open_target(sandbox, sandbox=True)
    try:
        assert ANTHROPIC.name_target(sandbox, sandbox=True) == opened.target
    finally:
        asyncio.run(opened.aclose())
