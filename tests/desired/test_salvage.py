"""A shape error in a file does not hide that file's other problems, nor invent new ones."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from reconciler.desired import check_desired_state

TODAY = dt.date(2026, 11, 27)

ORGANIZATION = """\
version: 1
organization:
  name: Test
  vault: {backend: vault, mount: secret, path_prefix: mistral/test}
"""
ROLES = """\
version: 1
roles:
  developer:
    allowed_models: [mistral-small-latest, codestral-latest]
    max_tokens_per_request: 8000
"""
ML = """\
version: 1
workspace:
  name: ml
  admin: dan@acme.example
  api_keys:
    - name: ml-dan
      owner: dan@acme.example
"""


def _problems(tmp_path: Path, dev: str, ml: str = ML) -> list[tuple[str, int, int, str, str]]:
    (tmp_path / "workspaces").mkdir()
    (tmp_path / "organization.yaml").write_text(ORGANIZATION)
    (tmp_path / "roles.yaml").write_text(ROLES)
    (tmp_path / "workspaces" / "dev.yaml").write_text(dev)
    (tmp_path / "workspaces" / "ml.yaml").write_text(ml)
    result = check_desired_state(tmp_path, today=TODAY)
    assert result.state is None
    return [
        (Path(p.file).name, p.line, p.column, p.path, p.message)
        for p in result.problems
        if p.is_error
    ]


def test_every_problem_of_a_file_with_an_unknown_field_is_reported(tmp_path: Path) -> None:
    dev = """\
version: 1
workspace:
  name: dev
  admin: alice@acme.example
  policy: {allowed_models: [mistral-small-latest], rpm: sixty, colour: blue}
  api_keys:
    - name: dev-alice
      owner: alice@acme.example
      expires: 2025-01-31
      role: developr
    - name: ml-dan
      owner: alice@acme.example
      role: developer
"""
    assert _problems(tmp_path, dev) == [
        ("dev.yaml", 5, 52, "workspace.policy.rpm", "expected an integer, got the string 'sixty'"),
        (
            "dev.yaml",
            5,
            64,
            "workspace.policy.colour",
            "unknown field 'colour'; allowed: allowed_models, rpm, max_tokens_per_request, "
            "daily_token_budget, hourly_budget_usd, daily_budget_usd, monthly_budget_usd",
        ),
        (
            "dev.yaml",
            10,
            7,
            "workspace.api_keys[0].role",
            "role 'developr' does not exist in roles.yaml (did you mean 'developer'?)",
        ),
        (
            "dev.yaml",
            13,
            7,
            "workspace.api_keys[1].role",
            "role 'developer' allows codestral-latest, which workspace 'dev' does not allow "
            "(workspace allows: mistral-small-latest)",
        ),
        (
            "ml.yaml",
            6,
            7,
            "workspace.api_keys[0].name",
            f"API key 'ml-dan' is already declared at {tmp_path}/workspaces/dev.yaml:11 "
            "(key names are unique in the organisation)",
        ),
    ]


@pytest.mark.parametrize(
    ("secret", "message"),
    [
        (
            "{backend: githb, repository: acme/app}",
            "the string 'githb' is not allowed here; expected one of: vault, file or github",
        ),
        ("{backend: github, repository: not a repo}", "not a GitHub repository"),
        ("{path: ../ml/ml-dan}", "invalid path '../ml/ml-dan'"),
    ],
)
def test_a_refused_secret_adds_no_problem_of_its_own(
    tmp_path: Path, secret: str, message: str
) -> None:
    # Left to defaults, the secret would go to vault:dev/dev-alice (taken by dev-bob's
    # explicit path) or claim that 'repository' needs the github backend: neither is said.
    dev = f"""\
version: 1
workspace:
  name: dev
  admin: alice@acme.example
  api_keys:
    - name: dev-alice
      owner: alice@acme.example
      role: developr
      secret: {secret}
    - name: dev-bob
      owner: alice@acme.example
      secret: {{path: dev/dev-alice}}
"""
    problems = _problems(tmp_path, dev)  # the key's other checks still run
    assert [p[3] for p in problems] == [
        "workspace.api_keys[0].role",
        problems[1][3],
    ]
    assert problems[1][3].startswith("workspace.api_keys[0].secret")
    assert message in problems[1][4]


def test_a_refused_role_is_reported_once(tmp_path: Path) -> None:
    dev = """\
version: 1
workspace:
  name: dev
  admin: alice@acme.example
  api_keys:
    - name: dev-alice
      owner: alice@acme.example
      role: [developer]
      expires: 2025-01-31
"""
    assert [p[3:] for p in _problems(tmp_path, dev)] == [
        ("workspace.api_keys[0].role", "expected a string, got a list"),
    ]


def test_a_missing_required_field_stops_the_checks_of_that_file_only(tmp_path: Path) -> None:
    # Without an owner the key cannot be checked without guessing; ml.yaml still is.
    dev = """\
version: 1
workspace:
  name: dev
  admin: alice@acme.example
  api_keys:
    - name: dev-alice
      role: developr
"""
    ml = ML.replace("ml-dan\n", "ml-dan\n      role: developr\n")
    assert [p[0::3] for p in _problems(tmp_path, dev, ml)] == [
        ("dev.yaml", "workspace.api_keys[0].owner"),
        ("ml.yaml", "workspace.api_keys[0].role"),
    ]


def test_two_workspaces_whose_names_differ_only_in_case_are_one_too_many(tmp_path: Path) -> None:
    ml_upper = ML.replace("name: ml", "name: ML").replace("ml-dan", "ml-dan-2")
    problems = _problems(tmp_path, ml_upper)
    assert problems == [
        (
            "ml.yaml",
            3,
            3,
            "workspace.name",
            f"workspace 'ml' is already declared at {tmp_path}/workspaces/dev.yaml:3 as 'ML' "
            "(workspace names ignore case)",
        )
    ]
