"""Malformed desired states: each fixture's problem is reported at the right place."""

from __future__ import annotations

import datetime as dt
import shutil
import traceback
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import time_machine

from reconciler.desired import Problem, Severity, check_desired_state, load_desired_state
from reconciler.errors import DesiredStateError

FIXTURES = Path(__file__).parent / "fixtures"
TODAY = dt.date(2026, 11, 27)
E, W = Severity.ERROR, Severity.WARNING

# fixture, file, line, column, field path, message fragment, severity, errors in total
# fmt: off
CASES = [
    ("bad-yaml-syntax", "workspaces/dev.yaml", 10, 8, "",
     "invalid YAML: did not find expected ',' or ']' (while parsing a flow sequence started "
     "on line 9)", E, 1),
    ("bad-multi-document", "roles.yaml", 10, 1, "", "expected a single YAML document", E, 1),
    ("bad-duplicate-key", "workspaces/dev.yaml", 11, 5, "workspace.policy.rpm",
     "duplicate key 'rpm' (first defined on line 10)", E, 1),
    ("bad-unknown-field", "workspaces/dev.yaml", 15, 7, "workspace.api_keys[0].experies",
     "unknown field 'experies' (did you mean 'expires'?); allowed: name, description, owner, "
     "expires, rotation_period_days, rotation_grace_hours, role, secret", E, 1),
    ("bad-negative-grace", "organization.yaml", 6, 10, "organization.keys.rotation_grace_hours",
     "must be >= 0, got -1", E, 1),
    ("bad-unknown-nested-field", "organization.yaml", 5, 27, "organization.vault.adress",
     "unknown field 'adress' (did you mean 'address'?)", E, 1),
    ("bad-unknown-tag", "workspaces/ml.yaml", 4, 10, "workspace.admin",
     "unsupported YAML tag !env", E, 1),
    ("bad-wrong-type", "workspaces/dev.yaml", 10, 5, "workspace.policy.rpm",
     "expected an integer, got the string 'sixty'", E, 1),
    ("bad-wrong-type-bool", "workspaces/dev.yaml", 12, 3, "workspace.protected",
     "expected true or false, got the string 'yes'", E, 1),
    ("bad-missing-field", "workspaces/dev.yaml", 17, 7, "workspace.api_keys[1].owner",
     "missing required field 'owner'", E, 1),
    ("bad-version-wrong", "roles.yaml", 1, 1, "version",
     "unsupported version 2 (this reconciler reads version 1)", E, 1),
    ("bad-version-missing", "organization.yaml", 1, 1, "",
     "missing required field 'version'", E, 1),
    ("bad-empty-file", "workspaces/ml.yaml", 1, 1, "",
     "file is empty: expected 'version: 1' and a 'workspace' section", E, 1),
    ("bad-not-a-mapping", "roles.yaml", 1, 1, "",
     "expected a mapping with 'version' and 'roles', got a list", E, 1),
    ("bad-missing-roles-file", "roles.yaml", 0, 0, "", "missing file", E, 1),
    ("bad-duplicate-workspace", "workspaces/dev.yaml", 3, 3, "workspace.name",
     "workspace 'dev' is already declared at {dir}/workspaces/dev-copy.yaml:3", E, 1),
    ("bad-duplicate-key-name", "workspaces/ml.yaml", 8, 7, "workspace.api_keys[0].name",
     "API key 'dev-alice' is already declared at {dir}/workspaces/dev.yaml:13", E, 1),
    ("bad-duplicate-member", "workspaces/dev.yaml", 8, 8, "workspace.members[1].email",
     "'Bob@acme.example' is listed twice (first at line 7)", E, 1),
    ("bad-duplicate-secret-path", "workspaces/dev.yaml", 18, 7, "workspace.api_keys[1]",
     "secret destination vault:dev/dev-bob (the default) is already used by API key "
     "'dev-alice' at {dir}/workspaces/dev.yaml:13", E, 1),
    ("bad-role-missing", "workspaces/dev.yaml", 16, 7, "workspace.api_keys[0].role",
     "role 'developr' does not exist in roles.yaml (did you mean 'developer'?)", E, 1),
    ("bad-role-star-in-limited-workspace", "workspaces/dev.yaml", 16, 7,
     "workspace.api_keys[0].role",
     "role 'admin' allows every model ('*'), but workspace 'dev' allows only "
     "mistral-small-latest, codestral-latest", E, 1),
    ("bad-role-wider-than-workspace", "workspaces/dev.yaml", 20, 7, "workspace.api_keys[1].role",
     "role 'developer' allows mistral-large-latest, which workspace 'dev' does not allow", E, 2),
    ("bad-unknown-model", "workspaces/dev.yaml", 9, 22, "workspace.policy.allowed_models[0]",
     "unknown model 'mistral-smal-latest' (did you mean 'mistral-small-latest'?)", E, 1),
    ("bad-star-with-others", "workspaces/ml.yaml", 6, 22, "workspace.policy.allowed_models[0]",
     "'*' allows every model: list it alone", E, 1),
    ("bad-deprecated-model", "roles.yaml", 11, 22, "roles.vision.allowed_models[0]",
     "model 'pixtral-large-latest' is deprecated; use 'mistral-large-latest' instead", W, 0),
    ("bad-expiry-past", "workspaces/dev.yaml", 15, 7, "workspace.api_keys[0].expires",
     "expired on 2025-01-31 (today is 2026-11-27): the key no longer works; give it a later "
     "date to replace it, or remove it", W, 0),
    ("bad-expiry-datetime", "workspaces/dev.yaml", 15, 7, "workspace.api_keys[0].expires",
     "expected a date like 2027-06-30, got '2027-06-30T10:00:00'", E, 1),
    ("bad-expiry-impossible-date", "workspaces/dev.yaml", 15, 7, "workspace.api_keys[0].expires",
     "expected a date like 2027-06-30, got '2027-02-30'", E, 1),
    ("bad-negative-rpm", "workspaces/dev.yaml", 10, 5, "workspace.policy.rpm",
     "must be >= 1, got -5", E, 1),
    ("bad-negative-budget", "workspaces/dev.yaml", 11, 5, "workspace.policy.monthly_budget_usd",
     "must be >= 0, got -10.5", E, 1),
    ("bad-negative-tokens", "roles.yaml", 7, 5, "roles.developer.daily_token_budget",
     "must be >= 0, got -1", E, 1),
    ("bad-secret-path-dotdot", "workspaces/dev.yaml", 17, 16, "workspace.api_keys[0].secret.path",
     "invalid path '../other-team/dev-alice': '..' and '.' segments are not allowed", E, 1),
    ("bad-secret-path-absolute", "workspaces/dev.yaml", 18, 9,
     "workspace.api_keys[0].secret.path",
     "invalid path '/etc/dev-alice': must be relative", E, 1),
    ("bad-secret-path-characters", "workspaces/dev.yaml", 17, 16,
     "workspace.api_keys[0].secret.path",
     "invalid path 'dev/alice key': segment 'alice key' may use only letters, digits", E, 1),
    ("bad-github-secret-name", "workspaces/ml.yaml", 11, 54, "workspace.api_keys[0].secret.path",
     "the GitHub secret name would be GITHUB_TOKEN, which GitHub refuses", E, 1),
    ("bad-vault-prefix-backslash", "organization.yaml", 5, 42, "organization.vault.path_prefix",
     "invalid path 'mistral\\test': backslashes are not allowed", E, 1),
    ("bad-email", "workspaces/dev.yaml", 5, 3, "workspace.admin",
     "not a valid email address: 'alice-at-acme.example'", E, 1),
    ("bad-platform-role-name", "workspaces/dev.yaml", 7, 41, "workspace.members[0].roles[0]",
     "the string 'admin' is not allowed here; expected one of: billing, user", E, 1),
    ("bad-spend-limit", "organization.yaml", 4, 3, "organization.spend_limit",
     "set amount (e.g. {amount: 5000, currency: USD}) or no_monthly_limit: true", E, 1),
    ("bad-github-secret", "workspaces/dev.yaml", 17, 7, "workspace.api_keys[0].secret",
     "the github backend needs 'repository: owner/name'", E, 1),
    ("bad-file-name-mismatch", "workspaces/development.yaml", 3, 3, "workspace.name",
     "workspace 'dev' is declared in development.yaml; name the file dev.yaml", W, 0),
    ("bad-owner-not-member", "workspaces/dev.yaml", 18, 7, "workspace.api_keys[1].owner",
     "owner 'carol@acme.example' is not a member of workspace 'dev'", W, 0),
    ("bad-negative-hourly-budget", "roles.yaml", 8, 5, "roles.developer.hourly_budget_usd",
     "must be >= 0, got -2", E, 1),
    ("bad-key-policy-unknown-field", "workspaces/dev.yaml", 18, 9,
     "workspace.api_keys[0].policy.rpms",
     "unknown field 'rpms' (did you mean 'rpm'?); allowed: allowed_models, rpm, "
     "max_tokens_per_request, daily_token_budget, hourly_budget_usd, daily_budget_usd, "
     "monthly_budget_usd", E, 1),
    ("bad-key-model-outside-role", "workspaces/dev.yaml", 22, 9,
     "workspace.api_keys[1].policy.allowed_models",
     "key 'dev-bob' allows mistral-large-latest, which role 'developer' does not allow (role "
     "'developer' allows: mistral-small-latest, codestral-latest)", E, 1),
    ("bad-key-limit-never-binds", "workspaces/dev.yaml", 17, 25,
     "workspace.api_keys[0].policy.daily_token_budget",
     "2,000,000 tokens a day is more than role 'developer' allows (1,000,000 tokens a day): "
     "the tightest limit binds, so this one never does", W, 0),
    ("bad-hourly-over-daily", "workspaces/dev.yaml", 11, 5, "workspace.policy.hourly_budget_usd",
     "$20 an hour is more than $5 a day, so it never binds: the daily budget is reached first",
     W, 0),
]
# fmt: on


def _check(fixture: str) -> tuple[str, list[Problem]]:
    directory = (FIXTURES / fixture).relative_to(Path.cwd())
    result = check_desired_state(directory, today=TODAY)
    return directory.as_posix(), list(result.problems)


@pytest.mark.parametrize(
    ("fixture", "file", "line", "column", "path", "fragment", "severity", "errors"),
    CASES,
    ids=[c[0] for c in CASES],
)
def test_problem_is_reported_at_its_place(
    fixture: str,
    file: str,
    line: int,
    column: int,
    path: str,
    fragment: str,
    severity: Severity,
    errors: int,
) -> None:
    directory, problems = _check(fixture)
    wanted = fragment.replace("{dir}", directory)
    matches = [
        p
        for p in problems
        if p.file == f"{directory}/{file}" and p.path == path and wanted in p.message
    ]
    assert matches, "\n".join(str(p) for p in problems)
    problem = matches[0]
    assert (problem.line, problem.column, problem.severity) == (line, column, severity)
    assert [p.is_error for p in problems].count(True) == errors, problems


def test_every_fixture_directory_has_a_case() -> None:
    on_disk = {p.name for p in FIXTURES.iterdir() if p.name.startswith("bad-")}
    covered = {c[0] for c in CASES} | {"bad-several-files"}
    assert on_disk == covered
    assert len(on_disk) >= 25


def test_problems_in_several_files_are_all_reported() -> None:
    directory, problems = _check("bad-several-files")
    assert [str(p) for p in problems] == [
        f"{directory}/organization.yaml:3:3: organization.name: expected a string, "
        "got the number 42",
        f"{directory}/roles.yaml:6:5: roles.developer.max_tokens_per_request: must be >= 1, got 0",
        f"{directory}/workspaces/dev.yaml:10:5: workspace.policy.rpm: must be >= 1, got -5",
        f"{directory}/workspaces/ml.yaml:10:7: workspace.api_keys[0].role: role 'nobody' does "
        "not exist in roles.yaml; roles: developer, admin",
    ]


def test_a_roles_file_that_cannot_be_read_does_not_make_every_role_missing(
    tmp_path: Path,
) -> None:
    # A role left empty makes roles.yaml unusable: the keys' roles are then not checked at
    # all, rather than every one of them reported as missing.
    shutil.copytree(FIXTURES / "bad-several-files", tmp_path / "state")
    roles = tmp_path / "state" / "roles.yaml"
    roles.write_text(roles.read_text().replace('    allowed_models: ["*"]\n', ""))
    problems = check_desired_state(tmp_path / "state", today=TODAY).problems
    assert not any("role" in p.path and "does not exist" in p.message for p in problems)
    assert [(Path(p.file).name, p.line, p.path, p.message) for p in problems] == [
        ("organization.yaml", 3, "organization.name", "expected a string, got the number 42"),
        ("roles.yaml", 6, "roles.developer.max_tokens_per_request", "must be >= 1, got 0"),
        ("roles.yaml", 8, "roles.admin", "expected a mapping, got null"),
        ("dev.yaml", 10, "workspace.policy.rpm", "must be >= 1, got -5"),
    ]


def test_load_raises_with_every_problem() -> None:
    directory = FIXTURES / "bad-several-files"
    with pytest.raises(DesiredStateError) as caught:
        load_desired_state(directory, today=TODAY)
    assert len(caught.value.problems) == 4
    assert all(isinstance(p, Problem) for p in caught.value.problems)


def test_a_load_that_fails_lists_its_warnings_too(tmp_path: Path) -> None:
    """As validate shows them (a load that succeeds looks for none)."""
    directory = tmp_path / "ds"
    shutil.copytree(FIXTURES / "bad-owner-not-member", directory)
    roles = directory / "roles.yaml"
    roles.write_text(roles.read_text().replace("roles:", "roles:\n  broken: 42", 1))
    with pytest.raises(DesiredStateError) as caught:
        load_desired_state(directory, today=TODAY)
    validated = check_desired_state(directory, today=TODAY).problems
    assert caught.value.problems == list(validated)
    assert {p.severity for p in validated} == {Severity.ERROR, Severity.WARNING}


def test_warnings_alone_do_not_stop_the_load() -> None:
    state = load_desired_state(FIXTURES / "bad-owner-not-member", today=TODAY)
    assert [k.owner for k in state.keys if k.name == "dev-bob"] == ["carol@acme.example"]


def test_problem_str_and_render() -> None:
    problem = Problem("d/w.yaml", 3, 7, "workspace.api_keys[2].expires", "in the past")
    assert str(problem) == "d/w.yaml:3:7: workspace.api_keys[2].expires: in the past"
    assert problem.render() == "d/w.yaml:3:7: error: workspace.api_keys[2].expires: in the past"
    whole = Problem("d/roles.yaml", 0, 0, "", "missing file", Severity.WARNING)
    assert str(whole) == "d/roles.yaml: missing file"
    assert whole.render() == "d/roles.yaml: warning: missing file"


def test_absolute_directory_is_shown_relative_to_the_working_directory() -> None:
    _, problems = _check("bad-negative-rpm")
    absolute = check_desired_state((FIXTURES / "bad-negative-rpm").resolve(), today=TODAY)
    assert [p.file for p in absolute.problems] == [p.file for p in problems]
    assert not absolute.problems[0].file.startswith("/")


def test_expiry_soon_is_a_warning_using_the_organisation_setting() -> None:
    # dev-alice expires 2027-06-30; 10 days before, within the default 14-day warning
    result = check_desired_state(FIXTURES / "valid", today=dt.date(2027, 6, 20))
    assert result.ok
    assert [(p.path, p.message) for p in result.warnings][:1] == [
        ("workspace.api_keys[0].expires", "expires in 10 day(s), on 2027-06-30")
    ]


def test_today_is_the_utc_day_as_a_plan_counts_it() -> None:
    # 19:00 on 30 June in Los Angeles is 1 July in UTC: the key has expired for a plan,
    # so for validate too
    evening = dt.datetime(2027, 6, 30, 19, tzinfo=ZoneInfo("America/Los_Angeles"))
    assert evening.astimezone(dt.UTC).date() == dt.date(2027, 7, 1)
    with time_machine.travel(evening, tick=False):
        result = check_desired_state(FIXTURES / "valid")
    found = [p.message for p in result.problems if p.path.endswith("].expires")]
    assert found[:1] == [
        "expired on 2027-06-30 (today is 2027-07-01): the key no longer works; give it a "
        "later date to replace it, or remove it"
    ]


@pytest.mark.parametrize(
    ("today", "expected"),
    [
        (dt.date(2027, 6, 15), []),  # 15 days left: one past the warning window
        (dt.date(2027, 6, 16), [(W, "expires in 14 day(s), on 2027-06-30")]),
        (dt.date(2027, 6, 30), [(W, "expires in 0 day(s), on 2027-06-30")]),
        (
            dt.date(2027, 7, 1),
            [
                (
                    W,
                    "expired on 2027-06-30 (today is 2027-07-01): the key no "
                    "longer works; give it a later date to replace it, or remove it",
                )
            ],
        ),
    ],
)
def test_expiry_is_warned_about_from_the_last_day_of_the_window(
    today: dt.date, expected: list[tuple[Severity, str]]
) -> None:
    result = check_desired_state(FIXTURES / "valid", today=today)
    found = [(p.severity, p.message) for p in result.problems if p.path.endswith("].expires")]
    assert found[:1] == expected


@pytest.mark.parametrize(
    ("written", "got"),
    [('"50"', "the string '50'"), ('"$50"', "the string '$50'"), ("[50]", "a list")],
)
def test_a_budget_that_is_not_a_number_is_asked_for_as_one(
    tmp_path: Path, written: str, got: str
) -> None:
    shutil.copytree(FIXTURES / "valid", tmp_path / "state")
    dev = tmp_path / "state" / "workspaces" / "dev.yaml"
    dev.write_text(
        dev.read_text().replace("monthly_budget_usd: 50", f"monthly_budget_usd: {written}")
    )
    problems = check_desired_state(tmp_path / "state", today=TODAY).problems
    assert [(p.line, p.path, p.message) for p in problems] == [
        (11, "workspace.policy.monthly_budget_usd", f"expected a number, got {got}")
    ]


@pytest.mark.parametrize(
    ("moved_to", "warned_at", "says"),
    [
        ("workspaces/team/ml.yaml", "workspaces/team", "each workspace is one file directly in"),
        ("workspace/ml.yaml", "workspace", "the desired state is organization.yaml, roles.yaml"),
    ],
)
def test_a_workspace_file_in_a_folder_that_is_not_read_is_warned_of(
    tmp_path: Path, moved_to: str, warned_at: str, says: str
) -> None:
    # Before, a workspace file one folder too deep, or in a misspelt folder, was silently
    # left out: the plan then took its workspace for one to leave alone.
    state = tmp_path / "state"
    shutil.copytree(FIXTURES / "valid", state)
    (state / moved_to).parent.mkdir(parents=True, exist_ok=True)
    (state / "workspaces" / "ml.yaml").rename(state / moved_to)
    result = check_desired_state(state, today=TODAY)
    assert [(p.file, p.severity) for p in result.problems] == [(f"{state}/{warned_at}", W)]
    assert f"not read: {says}" in result.problems[0].message
    assert result.state is not None
    assert [w.name for w in result.state.workspaces] == ["dev"]


def test_the_load_error_names_each_problem_where_an_application_logs_it() -> None:
    # Policy.from_directory in an application: its log's traceback says which file and line
    directory, problems = _check("bad-several-files")
    with pytest.raises(DesiredStateError) as failed:
        load_desired_state(Path(directory), today=TODAY)
    assert str(failed.value) == "4 problem(s) in the desired state"  # the CLI's summary line
    logged = "".join(traceback.format_exception(failed.value))
    assert [p.render() for p in problems] == failed.value.__notes__
    assert f"{directory}/roles.yaml:6:5: error: roles.developer.max_tokens_per_request" in logged
