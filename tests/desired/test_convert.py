"""YAML documents -> core model: defaults and merges a reader of the YAML expects."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest
from pydantic import BaseModel

from reconciler.desired import check_desired_state, load_desired_state
from reconciler.model import SecretBackend, SpendLimit

TODAY = dt.date(2026, 11, 27)

ROLES = """\
version: 1
roles:
  developer:
    allowed_models: [mistral-small-latest]
"""

WORKSPACE = """\
version: 1
workspace:
  name: team
  admin: Lead@Acme.Example
  members:
    - {email: lead@acme.example, roles: [billing]}
    - email: dev@acme.example
  api_keys:
    - name: team-dev
      owner: DEV@acme.example
      role: developer
"""


def write(root: Path, organization: str, workspace: str = WORKSPACE) -> Path:
    (root / "workspaces").mkdir(parents=True)
    (root / "organization.yaml").write_text(organization)
    (root / "roles.yaml").write_text(ROLES)
    (root / "workspaces" / "team.yaml").write_text(workspace)
    return root


def test_admin_roles_merge_and_emails_are_lower_cased(tmp_path: Path) -> None:
    org = "version: 1\norganization: {name: Org}\n"
    state = load_desired_state(write(tmp_path, org), today=TODAY)
    assert [(m.email, m.roles) for m in state.members] == [
        ("lead@acme.example", ("billing", "workspace_admin")),
        ("dev@acme.example", ("user",)),
    ]
    assert state.keys[0].owner == "dev@acme.example"
    assert state.workspaces[0].admin == "lead@acme.example"


def test_defaults_when_the_organisation_says_little(tmp_path: Path) -> None:
    org = "version: 1\norganization: {name: Org}\n"
    state = load_desired_state(write(tmp_path, org), today=TODAY)
    assert state.organization.spend_limit is None  # not managed
    assert state.organization.vault.path_prefix == "mistral"
    team = state.workspaces[0]
    assert team.spend_limit is None  # no monthly budget
    assert team.policy.allows_any_model()
    key = state.keys[0]
    assert key.secret is not None
    assert (key.secret.backend, key.secret.path) == (SecretBackend.VAULT, "team/team-dev")
    assert (key.rotation_period_days, key.expires) == (90, None)


def test_key_defaults_follow_the_organisation(tmp_path: Path) -> None:
    org = """\
version: 1
organization:
  name: Org
  spend_limit: {no_monthly_limit: true}
  keys: {rotation_period_days: 30}
  vault: {backend: file, path_prefix: local/keys}
"""
    state = load_desired_state(write(tmp_path, org), today=TODAY)
    assert state.organization.spend_limit == SpendLimit(amount=None)
    key = state.keys[0]
    assert key.secret is not None
    assert (key.secret.backend, key.rotation_period_days) == (SecretBackend.FILE, 30)


@pytest.mark.parametrize(
    ("budget", "expected"), [("50", Decimal(50)), ("12.5", Decimal("12.5")), ("0", Decimal(0))]
)
def test_monthly_budget_is_exact(tmp_path: Path, budget: str, expected: Decimal) -> None:
    org = "version: 1\norganization: {name: Org}\n"
    workspace = WORKSPACE.replace(
        "  api_keys:", f"  policy: {{monthly_budget_usd: {budget}}}\n  api_keys:"
    )
    state = load_desired_state(write(tmp_path, org, workspace), today=TODAY)
    assert state.workspaces[0].spend_limit == SpendLimit(amount=expected)
    assert state.workspaces[0].policy.monthly_budget_usd == expected


def test_archived_workspace_cannot_hold_keys(tmp_path: Path) -> None:
    org = "version: 1\norganization: {name: Org}\n"
    workspace = WORKSPACE.replace("  admin:", "  archived: true\n  admin:")
    result = check_desired_state(write(tmp_path, org, workspace), today=TODAY)
    assert [(p.line, p.path) for p in result.errors] == [(9, "workspace.api_keys")]
    assert "is archived: it cannot hold API keys" in result.errors[0].message


def test_budgets_over_the_organisation_limit_warn(tmp_path: Path) -> None:
    org = "version: 1\norganization:\n  name: Org\n  spend_limit: {amount: 40}\n"
    workspace = WORKSPACE.replace("  api_keys:", "  policy: {monthly_budget_usd: 50}\n  api_keys:")
    result = check_desired_state(write(tmp_path, org, workspace), today=TODAY)
    assert result.ok
    assert [(p.file.endswith("organization.yaml"), p.line, p.message) for p in result.warnings] == [
        (
            True,
            4,
            "workspace budgets add up to 50 USD/month, more than the organisation's spend "
            "limit of 40 USD",
        )
    ]


def test_keys_made_alike_stay_apart_when_one_is_copied(tmp_path: Path) -> None:
    """Keys share what pydantic records of the fields they were given; a copy with an
    update (as the plan makes) changes that copy alone, and each key still says which
    fields it was given."""
    two_keys = WORKSPACE + "    - {name: team-ops, owner: dev@acme.example}\n"
    org = "version: 1\norganization: {name: Org}\n"
    first, second = load_desired_state(write(tmp_path, org, two_keys), today=TODAY).keys
    copied = first.model_copy(update={"id": "key-1"})
    assert copied.id == "key-1" and "id" in copied.model_fields_set
    assert "id" not in first.model_fields_set | second.model_fields_set
    assert first.model_fields_set == second.model_fields_set >= {"name", "owner", "secret"}
    assert second.model_dump(exclude_unset=True)["name"] == "team-ops"


def test_the_longest_warning_window_warns_about_a_key_a_century_out(tmp_path: Path) -> None:
    """The window is bounded (a hundred years: a longer one overflowed the dates a plan
    counts with, see tests/desired/test_bounds.py); at its bound it still warns."""
    org = "version: 1\norganization: {name: Org, keys: {expiry_warning_days: 36500}}\n"
    expires = TODAY + dt.timedelta(days=36_000)
    dated = WORKSPACE + f"      expires: {expires.isoformat()}\n"
    result = check_desired_state(write(tmp_path, org, dated), today=TODAY)
    assert result.ok
    assert [p.message for p in result.warnings] == [
        f"expires in 36000 day(s), on {expires.isoformat()}"
    ]


def test_objects_made_without_validation_are_as_validation_makes_them() -> None:
    """Keys, their secret targets and memberships are built from validated documents
    without validating them again: each equals itself validated, field by field and type
    by type (a string where an enum belongs would slip through unnoticed otherwise)."""
    example = Path(__file__).resolve().parents[2] / "desired-state"
    state = load_desired_state(example, today=TODAY)
    made: list[BaseModel] = [*state.keys, *state.members]
    made += [k.secret for k in state.keys if k.secret is not None]
    assert {type(m).__name__ for m in made} == {"ApiKey", "Member", "SecretTarget"}
    for obj in made:
        again = type(obj).model_validate(dict(obj))
        assert again == obj
        assert [type(v) for v in dict(again).values()] == [type(v) for v in dict(obj).values()]
