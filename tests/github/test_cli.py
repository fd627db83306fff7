"""``reconciler github comment|drift|summary`` end to end, in process, GitHub mocked by respx."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx
from typer.testing import CliRunner, Result

from reconciler.cli.main import app
from reconciler.logging import reset_logging
from reconciler.render.markdown import MARKER
from tests.e2e.conftest import run_cli
from tests.example_dates import copy_example

from .helpers import API, REPO, TOKEN_TEXT, assert_no_token

ROOT = Path(__file__).resolve().parents[2]
FIXTURE = Path(__file__).parent / "fixtures" / "plan-drift.json"
COMMENTS = f"{API}/repos/{REPO}/issues/12/comments"
ISSUES = f"{API}/repos/{REPO}/issues"
PLAN = f"{MARKER}\n**Plan: 1 to add, 0 to change, 0 to destroy.**\n"


@pytest.fixture
def actions_env(tmp_path: Path) -> dict[str, str | None]:
    """The variables a pull_request run sets, pointing at files under tmp_path."""
    event = tmp_path / "event.json"
    event.write_text(json.dumps(pr_event(fork=False)))
    return {
        "GITHUB_ACTIONS": "true",
        "GITHUB_TOKEN": TOKEN_TEXT,
        "GITHUB_API_URL": API,
        "GITHUB_REPOSITORY": REPO,
        "GITHUB_EVENT_PATH": str(event),
        "GITHUB_STEP_SUMMARY": str(tmp_path / "summary.md"),
        "GITHUB_SERVER_URL": "https://github.test",
        "GITHUB_RUN_ID": "77",
        "NO_COLOR": "1",
    }


def pr_event(*, fork: bool) -> dict[str, Any]:
    head = "someone/access" if fork else REPO
    return {
        "number": 12,
        "pull_request": {
            "number": 12,
            "head": {"repo": {"full_name": head}},
            "base": {"repo": {"full_name": REPO}},
        },
    }


def invoke(env: dict[str, str | None], *args: str, stdin: str | None = None) -> Result:
    return CliRunner().invoke(app, list(args), env=env, input=stdin)


def summary_of(env: dict[str, str | None]) -> str:
    path = Path(str(env["GITHUB_STEP_SUMMARY"]))
    return path.read_text() if path.exists() else ""


# --- comment -----------------------------------------------------------------------------


def test_comment_defaults_repo_and_pr_from_the_actions_run(
    actions_env: dict[str, str | None], tmp_path: Path
) -> None:
    plan = tmp_path / "plan.md"
    plan.write_text(PLAN)
    with respx.mock:
        respx.get(COMMENTS).respond(200, json=[])
        posted = respx.post(COMMENTS).respond(
            201, json={"id": 1, "html_url": "https://github.test/acme/access/pull/12#c1"}
        )
        result = invoke(actions_env, "github", "comment", "--file", str(plan))
    assert result.exit_code == 0, result.output
    assert json.loads(posted.calls.last.request.content)["body"] == PLAN
    assert result.stdout == (
        "Plan comment on acme/access#12 posted: https://github.test/acme/access/pull/12#c1\n"
    )


def test_a_retried_request_is_noted_on_stderr_and_stdout_holds_only_the_result(
    actions_env: dict[str, str | None],
) -> None:
    try:
        with respx.mock:
            respx.get(COMMENTS).mock(
                side_effect=[httpx.Response(502), httpx.Response(200, json=[])]
            )
            respx.post(COMMENTS).respond(
                201, json={"id": 1, "html_url": "https://github.test/acme/access/pull/12#c1"}
            )
            result = invoke(actions_env, "github", "comment", stdin=PLAN)
    finally:
        reset_logging()
    assert result.exit_code == 0, result.output
    assert result.stdout == (
        "Plan comment on acme/access#12 posted: https://github.test/acme/access/pull/12#c1\n"
    )
    assert "github.retry" in result.stderr
    assert "attempt=1" in result.stderr


def test_comment_reads_stdin_and_edits_the_keyed_comment_in_place(
    actions_env: dict[str, str | None],
) -> None:
    old = {"id": 55, "body": "<!-- reconciler plan: prod -->\nold\n", "html_url": "u"}
    page2 = f"{API}/repositories/1/issues/40/comments?page=2"
    with respx.mock:
        respx.get(f"{API}/repos/acme/other/issues/40/comments").respond(
            200,
            json=[{"id": n, "body": "hi"} for n in range(100)],
            headers={"Link": f'<{page2}>; rel="next"'},
        )
        respx.get(page2).respond(200, json=[old])
        edited = respx.patch(f"{API}/repos/acme/other/issues/comments/55").respond(200, json=old)
        result = invoke(
            actions_env,
            "github",
            "comment",
            "--repo",
            "acme/other",
            "--pr",
            "40",
            "--key",
            "prod",
            stdin=PLAN,
        )
    assert result.exit_code == 0, result.output
    body = json.loads(edited.calls.last.request.content)["body"]
    assert body == PLAN.replace(MARKER, "<!-- reconciler plan: prod -->")
    assert "updated" in result.stdout


def test_a_fork_pull_request_gets_a_note_not_a_failure(
    actions_env: dict[str, str | None], tmp_path: Path
) -> None:
    Path(str(actions_env["GITHUB_EVENT_PATH"])).write_text(json.dumps(pr_event(fork=True)))
    with respx.mock:  # no route: any request would fail the test
        result = invoke(actions_env, "github", "comment", stdin=PLAN)
    assert result.exit_code == 0, result.output
    assert "Note: This pull request comes from someone/access" in result.stderr
    assert "::notice title=reconciler::" in result.stdout
    assert "Pull requests from forks get no secrets" in summary_of(actions_env)


@pytest.mark.parametrize(
    ("unset", "args", "message"),
    [
        ("GITHUB_TOKEN", (), "reconciler github comment needs GITHUB_TOKEN"),
        ("GITHUB_REPOSITORY", (), "Pass --repo OWNER/NAME"),
        ("GITHUB_EVENT_PATH", (), "Pass --pr N"),
        (None, ("--repo", "nonsense"), "--repo must be OWNER/NAME"),
        (None, ("--key", "a-->b"), "--key 'a-->b'"),
        (None, ("--file", "missing.md"), "missing.md: no such file"),
    ],
)
def test_comment_usage_errors_exit_1_with_a_clear_message(
    actions_env: dict[str, str | None], unset: str | None, args: tuple[str, ...], message: str
) -> None:
    env = {**actions_env, **({unset: None} if unset else {})}
    with respx.mock:
        result = invoke(env, "github", "comment", *args, stdin=PLAN)
    assert result.exit_code == 1
    assert message in result.stderr


def test_a_rejected_token_is_a_one_line_error_without_the_token(
    actions_env: dict[str, str | None],
) -> None:
    with respx.mock:
        respx.get(COMMENTS).respond(401, json={"message": "Bad credentials"})
        result = invoke(actions_env, "github", "comment", stdin=PLAN)
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: GitHub: GET /repos/acme/access/issues/12/comments")
    assert "GITHUB_TOKEN was rejected" in result.stderr
    assert_no_token(result.stdout, result.stderr)


# --- drift -------------------------------------------------------------------------------


def test_drift_opens_an_issue_and_writes_the_summary(actions_env: dict[str, str | None]) -> None:
    with respx.mock:
        respx.get(ISSUES).respond(200, json=[])
        respx.get(f"{API}/repos/{REPO}/labels/reconciler-drift").respond(200, json={})
        created = respx.post(ISSUES).respond(
            201, json={"number": 4, "html_url": "https://github.test/acme/access/issues/4"}
        )
        result = invoke(actions_env, "github", "drift", "--plan-json", str(FIXTURE))
    assert result.exit_code == 0, result.output
    line = "Drift on sandbox (test): issue #4 created: https://github.test/acme/access/issues/4"
    assert line in result.stdout
    assert f"::warning title=reconciler::{line}" in result.stdout
    body = json.loads(created.calls.last.request.content)["body"]
    assert "[this run](https://github.test/acme/access/actions/runs/77)" in body
    assert "### Manual actions in the admin console" in summary_of(actions_env)


def test_bad_plan_json_changes_nothing(actions_env: dict[str, str | None], tmp_path: Path) -> None:
    bad = tmp_path / "plan.json"
    bad.write_text('{"format_version": "1.0",\n  oops}')
    with respx.mock:
        result = invoke(actions_env, "github", "drift", "--plan-json", str(bad))
    assert result.exit_code == 1
    assert f"{bad}:2:3: not valid JSON" in result.stderr


def test_plan_json_from_the_sandbox_to_a_drift_issue(
    actions_env: dict[str, str | None], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The scheduled job's two steps: plan --format json, then github drift."""
    copy_example(tmp_path / "desired-state")
    monkeypatch.chdir(tmp_path)
    planned = invoke(actions_env, "plan", "--sandbox", "--format", "json", "--detailed-exitcode")
    assert planned.exit_code == 2, planned.output
    Path("plan.json").write_text(planned.stdout)
    with respx.mock:
        respx.get(ISSUES).respond(200, json=[])
        respx.get(f"{API}/repos/{REPO}/labels/reconciler-drift").respond(200, json={})
        created = respx.post(ISSUES).respond(201, json={"number": 1})
        result = invoke(actions_env, "github", "drift", "--plan-json", "plan.json")
    assert result.exit_code == 0, result.output
    sent = json.loads(created.calls.last.request.content)
    assert sent["title"] == "Drift detected: sandbox (.sandbox/state.json)"
    summary = json.loads(planned.stdout)["summary"]
    expected = (
        f"**Plan: {summary['add']} to add, {summary['change']} to change, "
        f"{summary['destroy']} to destroy. Also: {summary['manual']} manual changes to make "
        "in the admin console.**"
    )
    assert expected in sent["body"]
    assert "### Manual actions in the admin console" in sent["body"]


def test_markdown_plan_from_the_sandbox_to_a_pr_comment(
    actions_env: dict[str, str | None], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The pull request job's two steps: plan --format markdown, then github comment."""
    copy_example(tmp_path / "desired-state")
    monkeypatch.chdir(tmp_path)
    # In a process of its own: plan's progress line binds the stderr of the first in-process
    # run.
    planned = run_cli(
        ["plan", "--sandbox", "--format", "markdown"], cwd=tmp_path, env={"NO_COLOR": "1"}
    )
    assert planned.returncode == 0, planned.stderr
    with respx.mock:
        respx.get(COMMENTS).respond(200, json=[])
        posted = respx.post(COMMENTS).mock(
            side_effect=lambda request: httpx.Response(201, json={"id": 1})
        )
        result = invoke(
            actions_env, "github", "comment", "--key", "desired-state", stdin=planned.stdout
        )
    assert result.exit_code == 0, result.output
    body = json.loads(posted.calls.last.request.content)["body"]
    assert body.startswith("<!-- reconciler plan: desired-state -->\n### Plan for `sandbox")
    assert "<details><summary>Show Output</summary>" in body


# --- summary -----------------------------------------------------------------------------


def test_summary_appends_to_the_step_summary(actions_env: dict[str, str | None]) -> None:
    Path(str(actions_env["GITHUB_STEP_SUMMARY"])).write_text("earlier step\n")
    result = invoke(actions_env, "github", "summary", stdin=PLAN)
    assert result.exit_code == 0
    assert summary_of(actions_env) == "earlier step\n" + PLAN


def test_summary_outside_actions_says_so(actions_env: dict[str, str | None]) -> None:
    result = invoke({**actions_env, "GITHUB_STEP_SUMMARY": None}, "github", "summary", stdin=PLAN)
    assert result.exit_code == 0
    assert "GITHUB_STEP_SUMMARY is not set" in result.stderr
