"""The composite action's run.sh as the step runs it, against the embedded sandbox and the
local GitHub fake: plan comments, saves and summarises; drift opens an issue; both hand
back what apply would change through the API apart from what a person must change."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.command_shim import shim_dir
from tests.example_dates import copy_example

from .fake_github import serve
from .helpers import TOKEN_TEXT
from .workflows import ACTION_DIR, ROOT


def run_action(
    tmp_path: Path, command: str, *, args: str = "--sandbox", extra: dict[str, str] | None = None
) -> tuple[subprocess.CompletedProcess[str], dict[str, str], Path]:
    """run.sh as the composite step runs it, against the embedded sandbox."""
    work = tmp_path / "work"
    if not work.exists():
        copy_example(work / "desired-state")
    outputs = tmp_path / "outputs"
    summary = tmp_path / "summary.md"
    # reconciler forked from a process that has imported it (see tests/e2e/command_shim.py)
    shim = shim_dir()
    env = {
        "PATH": os.pathsep.join(
            [*([str(shim)] if shim else []), str(Path(sys.executable).parent), os.environ["PATH"]]
        ),
        "PYTHONPATH": str(ROOT),
        "HOME": str(tmp_path),
        "NO_COLOR": "1",
        "COMMAND": command,
        "DIRECTORY": "desired-state",
        "ARGS": args,
        "OUT": str(tmp_path / "runner-temp"),
        "GITHUB_OUTPUT": str(outputs),
        "GITHUB_STEP_SUMMARY": str(summary),
        "GITHUB_REPOSITORY": "acme/access",
        "GITHUB_TOKEN": TOKEN_TEXT,
        **(extra or {}),
    }
    done = subprocess.run(
        ["bash", str(ACTION_DIR / "run.sh")],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    values = dict(
        line.split("=", 1)
        for line in (outputs.read_text() if outputs.exists() else "").splitlines()
    )
    return done, values, summary


def plan_on_pull_request_12(
    tmp_path: Path, api_url: str, **env: str
) -> tuple[subprocess.CompletedProcess[str], dict[str, str], Path]:
    event = tmp_path / "event.json"
    event.write_text('{"pull_request": {"number": 12}}')
    extra = {"GITHUB_API_URL": api_url, "PR_NUMBER": "12", "GITHUB_EVENT_PATH": str(event), **env}
    return run_action(tmp_path, "plan", extra=extra)


@pytest.mark.slow
@pytest.mark.e2e
def test_action_plan_comments_saves_and_summarises(tmp_path: Path) -> None:
    with serve() as github:
        done, outputs, summary = plan_on_pull_request_12(tmp_path, github.url)
    assert done.returncode == 0, done.stderr
    assert outputs["exitcode"] == "2"
    assert outputs["has-changes"] == "true"
    # The example: 23 objects to change through the API (people included), 2 spend limits by hand.
    assert (outputs["api-changes"], outputs["manual-changes"], outputs["conflicts"]) == (
        "23",
        "2",
        "0",
    )
    assert Path(outputs["plan-file"]).is_file()
    assert "Plan:" in summary.read_text()
    (posted,) = github.calls("POST", r"^/repos/acme/access/issues/12/comments$")
    assert posted.body["body"].startswith("<!-- reconciler plan: desired-state -->\n")
    assert posted.authorization == f"Bearer {TOKEN_TEXT}"
    assert TOKEN_TEXT not in done.stdout + done.stderr


def _failed_plan(
    tmp_path: Path, problems: str, **commits: str
) -> tuple[subprocess.CompletedProcess[str], dict[str, str], str]:
    """The plan of pull request 12 with ``problems`` added to the example's
    organization.yaml: its result, outputs, and the comment it posted."""
    org = tmp_path / "work" / "desired-state" / "organization.yaml"
    copy_example(org.parent)
    org.write_text(org.read_text().replace("version: 1\n", "version: 1\n" + problems, 1))
    with serve() as github:
        done, outputs, _ = plan_on_pull_request_12(tmp_path, github.url, **commits)
    (posted,) = github.calls("POST", r"/issues/12/comments$")
    return done, outputs, str(posted.body["body"])


@pytest.mark.slow
@pytest.mark.e2e
def test_action_plan_failure_replaces_the_comment_and_fails(tmp_path: Path) -> None:
    commits = {"HEAD_SHA": "1" * 40, "BASE_SHA": "b" * 40}
    done, outputs, body = _failed_plan(tmp_path, "bogus: true\n", **commits)
    assert done.returncode == 1
    assert outputs["exitcode"] == "1"
    assert "plan-file" not in outputs and "api-changes" not in outputs
    assert "### reconciler plan failed for `desired-state`" in body
    assert "organization.yaml:" in body
    # which commit failed, and what that means for the merge
    assert "Planned `1111111` (head of #12) merged with base `bbbbbbb`" in body
    assert "merging it now applies nothing" in body


@pytest.mark.slow
@pytest.mark.e2e
def test_a_long_failure_says_its_comment_shows_the_last_lines_only(tmp_path: Path) -> None:
    bogus = "".join(f"bogus{n}: true\n" for n in range(80))  # a problem a line
    done, _, body = _failed_plan(tmp_path, bogus)
    assert done.returncode == 1
    assert re.search(r"\(the last 60 of its \d+ lines; the run's log has them all\)", body)


@pytest.mark.slow
@pytest.mark.e2e
def test_action_drift_opens_an_issue_and_tells_manual_changes_apart(tmp_path: Path) -> None:
    with serve() as github:
        done, outputs, summary = run_action(tmp_path, "drift", extra={"GITHUB_API_URL": github.url})
    assert done.returncode == 0, done.stderr
    assert outputs["exitcode"] == "2"
    assert (outputs["api-changes"], outputs["manual-changes"]) == ("23", "2")
    assert Path(outputs["plan-json"]).is_file() and Path(outputs["plan-file"]).is_file()
    (created,) = github.calls("POST", r"^/repos/acme/access/issues$")
    assert created.body["labels"] == ["reconciler-drift"]
    assert "Drift on sandbox" in done.stdout
    body = summary.read_text()
    assert "### Not applied yet: in the desired state, not on the platform" in body
    assert "deleted outside" not in body and "No changes." not in body
    assert "### Manual actions in the admin console" in body


def test_action_refuses_an_unknown_command(tmp_path: Path) -> None:
    done, _, _ = run_action(tmp_path, "destroy")
    assert done.returncode == 1
    expected = (
        "::error title=reconciler::command must be plan, apply, drift, validate, stale or orgs"
    )
    assert expected in done.stdout
