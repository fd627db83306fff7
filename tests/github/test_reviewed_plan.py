"""Merge applies the plan reviewers saw, through the action's run.sh against the embedded
sandbox and the local GitHub fake: the pull request's plan job saves its plan as an
artifact named for the pull request's head and says so in the comment; the apply on
merge fetches that artifact and applies exactly it. A plan made stale by a change to the
organisation after review, or no saved plan at all, applies nothing: a fresh plan is
posted on the merged pull request with how to apply it, and the run fails. A merge marks
the other open pull requests' plans stale and plans them again."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from reconciler.plan import load
from tests.example_dates import copy_example

from .fake_github import FakeGitHub, serve
from .helpers import TOKEN_TEXT
from .test_action import run_action
from .workflows import ROOT

HEAD = "1" * 40  # the pull request's last commit
BASE = "b" * 40  # main when it was planned
MERGE = "c" * 40  # main after the merge
LATER = "d" * 40  # main after another merge
PLAN_RUN, MERGE_RUN, DISPATCH_RUN = 101, 202, 303
ARTIFACT = f"reconciler-plan-desired-state-pr12-{HEAD}"


def step(
    tmp_path: Path, github: FakeGitHub, command: str, *, args: str = "--sandbox", **env: str
) -> tuple[subprocess.CompletedProcess[str], dict[str, str]]:
    """One run of run.sh in the shared work tree (sandbox and vault carry over), with the
    action's ``args``."""
    (tmp_path / "outputs").unlink(missing_ok=True)
    extra = {
        "GITHUB_API_URL": github.url,
        "GITHUB_SERVER_URL": "https://github.test",
        "GITHUB_REF_NAME": "main",
        "GITHUB_WORKFLOW_REF": "acme/access/.github/workflows/reconciler-apply.yml@refs/heads/main",
        "GITHUB_WORKFLOW": "reconciler apply",
        **env,
    }
    done, outputs, _ = run_action(tmp_path, command, args=args, extra=extra)
    assert TOKEN_TEXT not in done.stdout + done.stderr
    return done, outputs


def plan_pr(
    tmp_path: Path, github: FakeGitHub, number: int = 12, base: str = BASE, args: str = "--sandbox"
) -> str:
    """The plan job of pull request ``number`` (head HEAD): comment, and save the artifact."""
    done, outputs = step(
        tmp_path,
        github,
        "plan",
        args=args,
        PR_NUMBER=str(number),
        HEAD_SHA=HEAD,
        BASE_SHA=base,
        GITHUB_RUN_ID=str(PLAN_RUN),
    )
    assert done.returncode == 0, done.stderr
    plan = Path(outputs["plan-file"]).read_bytes()
    github.add_artifact(outputs["plan-artifact"], PLAN_RUN, {"plan.out": plan})
    return outputs["plan-artifact"]


def merged(github: FakeGitHub, number: int = 12, sha: str = MERGE) -> None:
    github.merged[sha] = {
        "number": number,
        "merged_at": "2026-01-02T00:00:00Z",
        "merge_commit_sha": sha,
        "head": {"sha": HEAD, "repo": {"full_name": "acme/access"}},
    }


def sandbox_state(tmp_path: Path) -> dict[str, Any]:
    state = json.loads((tmp_path / "work" / ".sandbox" / "state.json").read_text())
    assert isinstance(state, dict)
    return state


@pytest.mark.e2e
def test_merge_applies_the_plan_the_pull_request_showed(tmp_path: Path) -> None:
    with serve() as github:
        assert plan_pr(tmp_path, github) == ARTIFACT
        (comment,) = github.comment_bodies(12)
        assert comment.startswith("<!-- reconciler plan: desired-state -->\n")
        assert "Planned `1111111` (head of #12) merged with base `bbbbbbb` in [this run](" in (
            comment
        )
        assert f"https://github.test/acme/access/actions/runs/{PLAN_RUN})" in comment
        assert f"Saved as `{ARTIFACT}`" in comment
        merged(github)
        done, _ = step(tmp_path, github, "apply", GITHUB_SHA=MERGE, GITHUB_RUN_ID=str(MERGE_RUN))
        assert done.returncode == 0, done.stderr
        (download,) = github.calls("GET", r"^/storage/")
        assert download.authorization == ""  # the token stays with the API
    assert f"Reviewed plan: {ARTIFACT}" in done.stderr
    reviewed_plan = load(tmp_path / "runner-temp" / "reviewed.out")
    counts = reviewed_plan.summary
    complete = (
        f"Apply complete! Resources: {counts.add} added, {counts.change} changed, "
        f"{counts.destroy} destroyed."
    )
    assert complete in done.stdout
    # The merged pull request is told, as Atlantis does, in a comment of its own.
    reviewed, applied = github.comment_bodies(12)
    assert reviewed == comment
    assert applied.startswith("<!-- reconciler plan: desired-state at merge -->\n")
    assert f"### reconciler: applied `desired-state` at `{MERGE[:7]}`" in applied
    assert f"**{complete}**" in applied  # outside the fold
    # the same checksum in the plan reviewers saw and in what was applied
    checksum = f"checksum `{reviewed_plan.checksum()}`"
    assert f"Saved as `{ARTIFACT}` ({checksum})" in comment
    assert f"the plan #12 showed (`{ARTIFACT}`, {checksum})" in applied
    assert "<details><summary>Show Output</summary>" in applied
    assert "workspace.dev: Modif" in applied or "Creation complete" in applied
    assert f"/actions/runs/{MERGE_RUN})" in applied
    assert applied.split("\n", 1)[1] in (tmp_path / "summary.md").read_text()


@pytest.mark.e2e
def test_planning_options_in_the_actions_args_shape_the_plan_and_the_apply_of_it(
    tmp_path: Path,
) -> None:
    """One ``args`` serves both jobs: the plan is made with ``--grace`` and
    ``--rotate-at-most``; apply of the reviewed plan leaves them out (the plan carries
    them, and apply of a saved plan refuses them) and applies it."""
    args = "--sandbox --grace 12 --rotate-at-most=3 --replace api_key.dev-alice"
    with serve() as github:
        plan_pr(tmp_path, github, args=args)  # --replace of a key the plan lacks: exit 1
        merged(github)
        done, _ = step(
            tmp_path, github, "apply", args=args, GITHUB_SHA=MERGE, GITHUB_RUN_ID=str(MERGE_RUN)
        )
    assert done.returncode == 0, done.stderr
    assert "Apply complete! Resources:" in done.stdout


@pytest.mark.e2e
def test_a_change_to_the_organisation_after_review_applies_nothing(tmp_path: Path) -> None:
    with serve() as github:
        plan_pr(tmp_path, github)
        merged(github)
        # After review, someone raises the organisation's spend limit in the console.
        state = sandbox_state(tmp_path)
        state["organization"]["spend_limit"] += 1000
        (tmp_path / "work" / ".sandbox" / "state.json").write_text(json.dumps(state))
        before = sandbox_state(tmp_path)
        done, outputs = step(
            tmp_path, github, "apply", GITHUB_SHA=MERGE, GITHUB_RUN_ID=str(MERGE_RUN)
        )
        assert done.returncode == 1
        assert sandbox_state(tmp_path) == before  # nothing applied
        assert "::error title=reconciler::Stale: not applied." in done.stdout
        fresh = f"reconciler-plan-desired-state-pr12-{MERGE}"
        assert outputs["plan-artifact"] == fresh
        _reviewed, posted = github.comment_bodies(12)
        assert posted.startswith("<!-- reconciler plan: desired-state at merge -->\n")
        assert "**Stale: not applied.**" in posted
        assert "the live state was changed by another operation" in posted
        assert f"gh workflow run reconciler-apply.yml --ref main -f plan-run={MERGE_RUN}" in posted
        assert "(**Actions → reconciler apply → Run workflow**)" in posted  # as the UI lists it
        assert "Plan: " in posted

        # Reviewed, then applied by hand: the dispatch names the run that saved the fresh plan.
        github.add_artifact(fresh, MERGE_RUN, {"plan.out": Path(outputs["plan-file"]).read_bytes()})
        done, _ = step(
            tmp_path,
            github,
            "apply",
            GITHUB_SHA=MERGE,
            PLAN_RUN=str(MERGE_RUN),
            GITHUB_RUN_ID=str(DISPATCH_RUN),
        )
        assert done.returncode == 0, done.stderr
    assert f"Reviewed plan: {fresh}" in done.stderr and "Apply complete!" in done.stdout


@pytest.mark.e2e
def test_no_saved_plan_for_the_merged_pull_request_applies_nothing(tmp_path: Path) -> None:
    with serve() as github:
        merged(github)
        step_env = {"GITHUB_SHA": MERGE, "GITHUB_RUN_ID": str(MERGE_RUN)}
        done, outputs = step(tmp_path, github, "apply", **step_env)
    assert done.returncode == 1
    assert "::error title=reconciler::No reviewed plan: not applied." in done.stdout
    assert f"no saved plan of #12 at its last commit 1111111 (artifact {ARTIFACT})" in done.stdout
    assert not github.calls("GET", r"^/storage/")
    (posted,) = github.comment_bodies(12)
    assert "**No reviewed plan: not applied.**" in posted and "-f plan-run=202" in posted
    assert outputs["api-changes"] == "23"  # the fresh plan: of the sandbox as seeded


@pytest.mark.e2e
def test_a_run_by_hand_without_plan_run_only_plans(tmp_path: Path) -> None:
    """Run by hand without ``plan-run`` on main, whose last commit merged #12: its reviewed
    plan is still fresh, but a run by hand applies only the plan a run named saved. It
    plans, saves that plan for a run with ``plan-run`` and applies nothing; #12 (applied or
    not, long ago) is told nothing."""
    with serve() as github:
        plan_pr(tmp_path, github)
        merged(github)
        before = sandbox_state(tmp_path)
        done, outputs = step(
            tmp_path,
            github,
            "apply",
            GITHUB_SHA=MERGE,
            GITHUB_RUN_ID=str(DISPATCH_RUN),
            GITHUB_EVENT_NAME="workflow_dispatch",
        )
        assert done.returncode == 1
        assert sandbox_state(tmp_path) == before  # nothing applied
        assert not github.calls("GET", r"/artifacts")  # no reviewed plan looked for
        assert len(github.comment_bodies(12)) == 1  # only the plan #12 showed
    assert "Apply complete!" not in done.stdout
    assert outputs["plan-artifact"] == f"reconciler-plan-desired-state-{MERGE}"
    summary = (tmp_path / "summary.md").read_text()
    assert f"-f plan-run={DISPATCH_RUN}" in summary and "Plan: " in summary


@pytest.mark.e2e
def test_an_apply_that_fails_says_so_on_the_merged_pull_request(tmp_path: Path) -> None:
    """Not stale, but failing (here the vault cannot hold prod's keys): the merged pull
    request learns that the apply failed, with the error, and the run fails."""
    with serve() as github:
        plan_pr(tmp_path, github)
        merged(github)
        vault = tmp_path / "work" / ".sandbox" / "vault"
        vault.mkdir(parents=True, exist_ok=True)
        (vault / "prod").write_text("not a directory\n")
        done, _ = step(tmp_path, github, "apply", GITHUB_SHA=MERGE, GITHUB_RUN_ID=str(MERGE_RUN))
        assert done.returncode == 1
        _reviewed, failed = github.comment_bodies(12)
    assert failed.startswith("<!-- reconciler plan: desired-state at merge -->\n")
    assert f"### reconciler: apply failed for `desired-state` at `{MERGE[:7]}`" in failed
    assert "> **Apply failed.**" in failed
    assert "Error: file vault at " in failed and "prod/" in failed
    assert "::error title=reconciler::Apply failed" in done.stdout
    assert "Apply failed" in (tmp_path / "summary.md").read_text()


@pytest.mark.e2e
def test_no_reviewed_plan_and_no_fresh_one_still_says_so_on_the_pull_request(
    tmp_path: Path,
) -> None:
    """Merged without a saved plan (its plan job failed on invalid YAML), and main cannot be
    planned either: nothing is applied, and the merged pull request is told why."""
    work = tmp_path / "work"
    copy_example(work / "desired-state")
    dev = work / "desired-state" / "workspaces" / "dev.yaml"
    dev.write_text(dev.read_text() + "    - name: [unclosed\n")
    with serve() as github:
        merged(github)
        done, _ = step(tmp_path, github, "apply", GITHUB_SHA=MERGE, GITHUB_RUN_ID=str(MERGE_RUN))
        assert done.returncode == 1
        (posted,) = github.comment_bodies(12)
    assert "**No reviewed plan: not applied.**" in posted
    assert "dev.yaml:" in posted and "invalid YAML" in posted
    assert "plan-run" not in posted  # no fresh plan to apply
    assert "::error title=reconciler::No reviewed plan: not applied." in done.stdout


@pytest.mark.e2e
def test_a_merge_marks_the_other_pull_requests_plans_stale_and_plans_them_again(
    tmp_path: Path,
) -> None:
    def pull(number: int, head_repo: str) -> dict[str, Any]:
        return {
            "number": number,
            "base": {"ref": "main"},
            "head": {"repo": {"full_name": head_repo}},
        }

    with serve() as github:
        comment(tmp_path, github, 13, base=BASE)
        (planned,) = github.comment_bodies(13)
        merged(github, number=12, sha=LATER)
        github.pulls = [pull(13, "acme/access"), pull(14, "someone/fork")]
        extra = {
            "GITHUB_SHA": LATER,
            "GITHUB_RUN_ID": str(MERGE_RUN),
            "REPLAN_WORKFLOW": "reconciler-plan.yml",
        }
        done, _ = step(tmp_path, github, "stale", **extra)
        assert done.returncode == 0, done.stderr
        assert "Marked 1 plan comment(s) stale (#13); planning 1 again." in done.stdout
        (stale,) = github.comment_bodies(13)  # edited in place
        assert stale.startswith("<!-- reconciler plan: desired-state -->\n")
        assert (
            "> **Stale: this plan will not be applied.** It was planned against base `bbbbbbb`; "
            "`main` is now at `ddddddd` (#12 merged). A new plan follows in this comment"
        ) in stale
        warning = re.compile(r"<!-- reconciler stale -->\n.*<!-- /reconciler stale -->\n", re.S)
        assert warning.sub("", stale) == planned  # the plan itself is left as it was
        (dispatch,) = github.calls("POST", r"/actions/workflows/reconciler-plan.yml/dispatches$")
        assert dispatch.body == {"ref": "main", "inputs": {"pull-request": "13"}}

        # Marking again changes nothing; the new plan (against the new base) drops the warning.
        step(tmp_path, github, "stale", **extra)
        assert github.comment_bodies(13) == [stale]
        assert len(github.calls("POST", r"/dispatches$")) == 1
        comment(tmp_path, github, 13, base=LATER)
        (replanned,) = github.comment_bodies(13)
    assert "Stale" not in replanned and "merged with base `ddddddd`" in replanned


@pytest.mark.e2e
def test_a_look_alike_plan_comment_by_someone_else_does_not_keep_a_plan_from_going_stale(
    tmp_path: Path,
) -> None:
    """Anyone can comment on a pull request. A comment by another login, carrying the plan
    comment's marker and naming the new base, is not the plan: with the action's
    comment-author, the real plan is still marked stale and planned again."""
    with serve() as github:
        comment(tmp_path, github, 13, base=BASE)
        (planned,) = github.comment_bodies(13)
        forged = {
            "id": 0,  # older than the plan comment: it is taken for the plan
            "body": planned.replace(f"`{BASE[:7]}`", f"`{LATER[:7]}`").replace(BASE, LATER),
            "user": {"login": "mallory"},
        }
        github.comments[13].insert(0, forged)
        merged(github, number=12, sha=LATER)
        github.pulls = [{"number": 13, "base": {"ref": "main"}, "head": {"repo": {}}}]
        extra = {"GITHUB_SHA": LATER, "GITHUB_RUN_ID": str(MERGE_RUN)}

        fooled, _ = step(tmp_path, github, "stale", **extra)  # any author: the forgery counts
        assert "No plan comment of an open pull request to mark stale" in fooled.stdout

        done, _ = step(tmp_path, github, "stale", COMMENT_AUTHOR="bot", **extra)
        assert done.returncode == 0, done.stderr
        assert "Marked 1 plan comment(s) stale (#13)" in done.stdout
        forged_now, stale = github.comment_bodies(13)
    assert forged_now == forged["body"]  # left alone
    assert stale.startswith(planned.split("\n")[0]) and "**Stale: this plan will not" in stale


def comment(tmp_path: Path, github: FakeGitHub, number: int, *, base: str) -> None:
    """What the plan step posts, without planning again (see the first test for that)."""
    plan = tmp_path / f"plan-{base[0]}.md"
    plan.write_text("<!-- reconciler plan -->\n### Plan for `sandbox`\n\nPlan: 1 to add.\n")
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "GITHUB_TOKEN": TOKEN_TEXT,
        "GITHUB_API_URL": github.url,
        "GITHUB_REPOSITORY": "acme/access",
    }
    post = ["github", "comment", "--pr", str(number), "--file", str(plan)]
    post += ["--key", "desired-state", "--commit", HEAD, "--base", base]
    subprocess.run(
        [str(Path(sys.executable).parent / "reconciler"), *post],
        env=env,
        capture_output=True,
        check=True,
    )


@pytest.mark.e2e
def test_a_dispatched_plan_names_the_merge_s_parents(tmp_path: Path) -> None:
    """Dispatched, the plan job checks out GitHub's merge of the pull request two deep; the
    comment and the artifact name the merge's parents: the pull request's head and main."""
    work = tmp_path / "work"
    copy_example(work / "desired-state")

    def git(*args: str) -> str:
        identity = [
            "-c",
            "user.name=ci",
            "-c",
            "user.email=ci@acme.example",
            "-c",
            "commit.gpgsign=false",
        ]
        done = subprocess.run(
            ["git", *identity, *args], cwd=work, capture_output=True, text=True, check=True
        )
        return done.stdout.strip()

    git("init", "-q", "-b", "main")
    git("add", ".")
    git("commit", "-qm", "base")
    git("checkout", "-qb", "change")
    (work / "desired-state" / "README.md").write_text("edited\n")
    git("commit", "-qam", "change")
    head = git("rev-parse", "HEAD")
    git("checkout", "-q", "main")
    base = git("rev-parse", "HEAD")
    git("merge", "-q", "--no-ff", "-m", "merge", "change")
    with serve() as github:
        done, outputs = step(tmp_path, github, "plan", PR_NUMBER="13", GITHUB_RUN_ID="404")
        assert done.returncode == 0, done.stderr
        (comment,) = github.comment_bodies(13)
    assert f"Planned `{head[:7]}` (head of #13) merged with base `{base[:7]}`" in comment
    assert outputs["plan-artifact"] == f"reconciler-plan-desired-state-pr13-{head}"
