"""Every limit from the YAML, at every level: a workspace's counts its keys together, a
role's and a key's count each key apart, and the tightest binds."""

from __future__ import annotations

import shutil
from decimal import Decimal
from pathlib import Path

import pytest

from reconciler.model import KeyPolicy
from reconciler.policy import MemoryStore, Policy, Reason
from tests.policy.conftest import SMALL, FakeClock, demo_state, utc

REPO_DESIRED = Path(__file__).resolve().parents[2] / "desired-state"
TOKENS = 1000  # every request: 1,000 output tokens of mistral-small = $0.0006
# each limit, its value, and the reason a request over it is denied: three requests fit
LIMITS = {
    "rpm": ("3", Reason.OVER_RPM),
    "daily_token_budget": ("3000", Reason.OVER_DAILY_TOKEN_BUDGET),
    "hourly_budget_usd": ("0.0018", Reason.OVER_BUDGET),
    "daily_budget_usd": ("0.0018", Reason.OVER_BUDGET),
    "monthly_budget_usd": ("0.0018", Reason.OVER_BUDGET),
}


def write_state(directory: Path, *, workspace: str = "", role: str = "", key: str = "") -> Path:
    """A desired state with one workspace, role ``capped`` and keys ``k1`` (with ``key`` as
    its own policy) and ``k2``; each level's limits as YAML flow-mapping entries."""
    (directory / "workspaces").mkdir(parents=True)
    (directory / "organization.yaml").write_text(
        "version: 1\norganization: {name: Limits, vault: {backend: file}}\n"
    )
    (directory / "roles.yaml").write_text(
        "version: 1\nroles:\n"
        f"  capped: {{allowed_models: [mistral-small-latest]{', ' + role if role else ''}}}\n"
    )
    own = f"\n      policy: {{{key}}}" if key else ""
    (directory / "workspaces" / "team.yaml").write_text(
        "version: 1\nworkspace:\n  name: team\n  admin: a@x.example\n"
        f"  policy: {{allowed_models: ['*']{', ' + workspace if workspace else ''}}}\n"
        "  api_keys:\n"
        f"    - {{name: k1, owner: a@x.example, role: capped}}{own}\n"
        "    - {name: k2, owner: a@x.example, role: capped}\n"
    )
    if own:  # the flow mapping of k1 is closed: its policy goes in block form
        text = (directory / "workspaces" / "team.yaml").read_text()
        text = text.replace(
            "    - {name: k1, owner: a@x.example, role: capped}\n      policy:",
            "    - name: k1\n      owner: a@x.example\n      role: capped\n      policy:",
        )
        (directory / "workspaces" / "team.yaml").write_text(text)
    return directory


def policy_for(directory: Path) -> Policy:
    return Policy.from_directory(
        directory, store=MemoryStore(), clock=FakeClock(utc(2026, 11, 18, 12))
    )


def ask(policy: Policy, who: str) -> Reason:
    decision = policy.authorize(f"api_key.{who}", SMALL, TOKENS, output_tokens=TOKENS)
    if decision:
        policy.record(decision, 0, TOKENS)
    return decision.reason


def test_every_limit_loads_at_every_level(tmp_path: Path) -> None:
    entries = (
        "rpm: 7, max_tokens_per_request: 900, daily_token_budget: 9000, "
        "hourly_budget_usd: 0.5, daily_budget_usd: 2, monthly_budget_usd: 30"
    )
    state = policy_for(write_state(tmp_path, workspace=entries, role=entries, key=entries)).state
    role, workspace = state.roles[0], state.workspaces[0]
    k1 = next(k for k in state.keys if k.name == "k1")
    for limits in (role, workspace.policy, k1.policy):
        assert limits is not None
        assert (limits.rpm, limits.max_tokens_per_request, limits.daily_token_budget) == (
            7,
            900,
            9000,
        )
        assert (limits.hourly_budget_usd, limits.daily_budget_usd, limits.monthly_budget_usd) == (
            Decimal("0.5"),
            Decimal(2),
            Decimal(30),
        )
    assert workspace.spend_limit is not None and workspace.spend_limit.amount == 30
    assert k1.policy == KeyPolicy(
        rpm=7,
        max_tokens_per_request=900,
        daily_token_budget=9000,
        hourly_budget_usd=Decimal("0.5"),
        daily_budget_usd=Decimal(2),
        monthly_budget_usd=Decimal(30),
    )


@pytest.mark.parametrize("field", LIMITS)
def test_a_workspace_limit_counts_all_its_keys_together(tmp_path: Path, field: str) -> None:
    value, reason = LIMITS[field]
    policy = policy_for(write_state(tmp_path, workspace=f"{field}: {value}"))
    assert [ask(policy, k) for k in ("k1", "k2", "k1", "k2")] == [Reason.ALLOWED] * 3 + [reason]
    denied = policy.authorize("api_key.k1", SMALL, TOKENS, output_tokens=TOKENS, dry_run=True)
    assert "workspace team" in denied.message
    if reason is Reason.OVER_BUDGET:
        assert "budget of $0.0018" in denied.message


@pytest.mark.parametrize("field", LIMITS)
@pytest.mark.parametrize("level", ["role", "key"])
def test_a_role_or_key_limit_counts_each_key_apart(tmp_path: Path, field: str, level: str) -> None:
    value, reason = LIMITS[field]
    policy = policy_for(write_state(tmp_path, **{level: f"{field}: {value}"}))
    assert [ask(policy, "k1") for _ in range(4)] == [Reason.ALLOWED] * 3 + [reason]
    denied = policy.authorize("api_key.k1", SMALL, TOKENS, output_tokens=TOKENS, dry_run=True)
    assert "key k1" in denied.message
    # k2 has its own allowance of the role's limit, and none of k1's own
    expected = [Reason.ALLOWED] * 3 + [reason if level == "role" else Reason.ALLOWED]
    assert [ask(policy, "k2") for _ in range(4)] == expected


@pytest.mark.parametrize("level", ["workspace", "role", "key"])
def test_the_per_request_cap_of_each_level(tmp_path: Path, level: str) -> None:
    policy = policy_for(write_state(tmp_path, **{level: "max_tokens_per_request: 1000"}))
    assert policy.authorize("api_key.k1", SMALL, 1000)
    over = policy.authorize("api_key.k1", SMALL, 1001)
    assert over.reason is Reason.OVER_REQUEST_TOKEN_LIMIT
    assert f"limit of 1,000 of {level}" in over.message
    assert policy.max_tokens_per_request("api_key.k1") == 1000
    assert bool(policy.authorize("api_key.k2", SMALL, 1001)) is (level == "key")


def test_the_tightest_of_the_three_levels_binds(tmp_path: Path) -> None:
    policy = policy_for(
        write_state(
            tmp_path,
            workspace="rpm: 6, max_tokens_per_request: 3000",
            role="rpm: 3, max_tokens_per_request: 2000",
            key="rpm: 2, max_tokens_per_request: 4000",  # a looser cap than the role's
        )
    )
    assert [ask(policy, "k1") for _ in range(3)] == [Reason.ALLOWED] * 2 + [Reason.OVER_RPM]
    assert "key k1 allows 2 requests per minute" in policy.authorize("api_key.k1", SMALL, 1).message
    assert [ask(policy, "k2") for _ in range(4)] == [Reason.ALLOWED] * 3 + [Reason.OVER_RPM]
    denied = policy.authorize("api_key.k2", SMALL, 1)
    assert "key k2 (limit of role capped) allows 3 requests per minute" in denied.message
    assert policy.max_tokens_per_request("api_key.k1") == 2000  # the role's, not the key's
    # the role's own limits when asked as the role
    assert policy.max_tokens_per_request("role.capped") == 2000


def test_a_key_may_narrow_its_models(tmp_path: Path) -> None:
    directory = write_state(tmp_path, key="allowed_models: [mistral-small-2506]")
    policy = policy_for(directory)
    assert policy.authorize("api_key.k1", "mistral-small-latest", 10)  # an alias of it
    role_wider = directory / "roles.yaml"
    role_wider.write_text(role_wider.read_text().replace("[mistral-small-latest]", "['*']"))
    policy = policy_for(directory)
    denied = policy.authorize("api_key.k1", "codestral-latest", 10)
    assert denied.reason is Reason.MODEL_NOT_ALLOWED
    assert denied.message.endswith("key k1 allows mistral-small-2506")
    assert policy.authorize("api_key.k2", "codestral-latest", 10)


def test_the_example_table_is_enforced_as_before(tmp_path: Path) -> None:
    # the repository's roles and workspace policies give the seed's table, unchanged
    shutil.copytree(REPO_DESIRED, tmp_path / "desired")
    from_yaml = policy_for(tmp_path / "desired")
    from_code = Policy(demo_state(), clock=FakeClock(utc(2026, 11, 18, 12)))
    for who in ("api_key.dev-bob", "api_key.ml-dan", "api_key.prod-search-indexer"):
        assert from_yaml.max_tokens_per_request(who) == from_code.max_tokens_per_request(who)
        for model in ("mistral-small-latest", "mistral-large-latest", "codestral-latest"):
            expected = from_code.authorize(who, model, 1000, dry_run=True).reason
            assert from_yaml.authorize(who, model, 1000, dry_run=True).reason is expected
    for workspace in ("dev", "ml", "prod"):
        assert from_yaml.guard(workspace).limits == from_code.guard(workspace).limits
