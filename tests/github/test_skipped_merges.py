"""Three quick merges: GitHub keeps one apply waiting behind the running one and cancels
it when a later merge queues, so the middle merge's apply never runs. Through the
action's run.sh, against the embedded sandbox and the local GitHub fake: the next apply
tells that pull request which merge carries its changes, says on its own pull request
that it carries them, tells nobody else (a merge outside the directory, a re-run), and
records the merge it took up beside the journal."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import respx

from reconciler.github.skipped import Record, Skipped, skipped_merges
from tests.example_dates import copy_example

from .fake_github import FakeGitHub, serve
from .helpers import API, REPO, TOKEN_TEXT, client, run
from .test_reviewed_plan import MERGE, MERGE_RUN, merged, plan_pr, step
from .workflows import ROOT

M13, M15, M14 = "e" * 40, "f" * 40, "a" * 40  # merged in this order after MERGE (#12)
HEAD14 = "4" * 40  # pull request 14's last commit, planned before #13 was merged
PLAN14_RUN, APPLY14_RUN = 404, 505
BEFORE, C1, C2, C3, HEAD = "0" * 40, "1" * 40, "2" * 40, "3" * 40, "9" * 40


def merge_of(github: FakeGitHub, number: int, sha: str, head: str, files: list[str]) -> None:
    github.merged[sha] = {
        "number": number,
        "merged_at": "2026-01-03T00:00:00Z",
        "merge_commit_sha": sha,
        "head": {"sha": head, "repo": {"full_name": "acme/access"}},
    }
    github.files[number] = files
    github.history.append(sha)


def edit(tmp_path: Path, old: str, new: str) -> None:
    dev = tmp_path / "work" / "desired-state" / "workspaces" / "dev.yaml"
    text = dev.read_text()
    assert old in text
    dev.write_text(text.replace(old, new, 1))


@pytest.mark.e2e
def test_the_merge_whose_apply_never_ran_is_told_which_apply_carries_it(tmp_path: Path) -> None:
    with serve() as github:
        plan_pr(tmp_path, github)  # #12, applied on its merge: the last apply recorded
        merged(github)
        github.history.append(MERGE)
        done, _ = step(tmp_path, github, "apply", GITHUB_SHA=MERGE, GITHUB_RUN_ID=str(MERGE_RUN))
        assert done.returncode == 0, done.stderr
        assert "No earlier apply recorded here: nobody to tell." in done.stderr
        record = tmp_path / "work" / ".reconciler" / "github-merges.json"
        assert json.loads(record.read_text())["merges"] == {"desired-state": MERGE}
        assert record.stat().st_mode & 0o777 == 0o600

        # #14 is planned with its change; then #13 (another change), #15 (no desired state)
        # and #14 are merged in quick succession. #13's and #15's applies never run.
        edit(tmp_path, "Sandbox for all developers", "Sandbox for every developer")
        done, outputs = step(
            tmp_path,
            github,
            "plan",
            PR_NUMBER="14",
            HEAD_SHA=HEAD14,
            BASE_SHA=MERGE,
            GITHUB_RUN_ID=str(PLAN14_RUN),
        )
        assert done.returncode == 0, done.stderr
        plan = Path(outputs["plan-file"]).read_bytes()
        github.add_artifact(outputs["plan-artifact"], PLAN14_RUN, {"plan.out": plan})
        edit(tmp_path, "Sandbox for every developer", "Sandbox for every developer (shared)")
        merge_of(github, 13, M13, "3" * 40, ["desired-state/workspaces/dev.yaml"])
        merge_of(github, 15, M15, "5" * 40, ["README.md", "docs/desired-state-guide.md"])
        merge_of(github, 14, M14, HEAD14, ["desired-state/workspaces/dev.yaml"])

        done, _ = step(tmp_path, github, "apply", GITHUB_SHA=M14, GITHUB_RUN_ID=str(APPLY14_RUN))
        assert done.returncode == 1  # #14's reviewed plan is stale: #13 changed dev since
        assert "Told #13 (eeeeeee) that this run carries its changes." in done.stderr
        (told,) = github.comment_bodies(13)
        assert github.comment_bodies(15) == []  # it changed nothing under desired-state/
        (_, posted) = github.comment_bodies(14)

        # Run again (a re-run of the same merge's apply): nobody is told twice.
        done, _ = step(tmp_path, github, "apply", GITHUB_SHA=M14, GITHUB_RUN_ID=str(APPLY14_RUN))
        assert "This merge was taken up here already: nobody told again." in done.stderr
        assert github.comment_bodies(13) == [told]
        assert json.loads(record.read_text())["merges"] == {"desired-state": M14}

    assert told.startswith("<!-- reconciler plan: desired-state at merge -->\n")
    assert "### reconciler: `desired-state` at `eeeeeee`: no apply of its own" in told
    assert "**No apply ran for this merge.**" in told
    assert "the later merge `aaaaaaa` (#14)" in told
    assert f"[this run](https://github.test/acme/access/actions/runs/{APPLY14_RUN})" in told
    assert "#14 says what was applied, or posts the plan of all of them" in told
    assert "**Stale: not applied.**" in posted
    assert (
        "> This merge's apply also carries the changes of #13 (`eeeeeee`), whose own apply "
        "did not run; a plan reviewed before them is stale."
    ) in posted
    # the fresh plan, of #14's change and #13's on top of it
    assert '"Sandbox for all developers" -> "Sandbox for every developer (shared)"' in posted


@pytest.mark.e2e
def test_an_apply_older_than_the_one_recorded_tells_nobody(tmp_path: Path) -> None:
    """A re-run of an older merge's apply, after a later one ran: the range is backwards,
    and the record stays at the later merge."""
    copy_example(tmp_path / "work" / "desired-state")
    record = tmp_path / "work" / ".reconciler" / "github-merges.json"
    record.parent.mkdir()
    record.write_text(json.dumps({"version": 1, "merges": {"desired-state": M14}}))
    with serve() as github:
        merged(github)
        github.history += [MERGE, M13, M14]
        github.merged[M13] = {**github.merged[MERGE], "number": 13, "merge_commit_sha": M13}
        github.files[13] = ["desired-state/workspaces/dev.yaml"]
        env = {
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "GITHUB_TOKEN": TOKEN_TEXT,
            "GITHUB_API_URL": github.url,
            "GITHUB_REPOSITORY": "acme/access",
            "GITHUB_SHA": MERGE,
        }
        command = [str(Path(sys.executable).parent / "reconciler"), "github", "skipped-merges"]
        done = subprocess.run(
            [*command, "--key", "desired-state"],
            cwd=tmp_path / "work",
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        assert github.comment_bodies(13) == []
    assert "does not follow the one last applied here: nobody told" in done.stderr
    assert "carried=\n" in done.stdout
    assert json.loads(record.read_text())["merges"] == {"desired-state": M14}


def test_only_merges_into_the_directory_count_a_renamed_file_by_either_name() -> None:
    """Of the commits between two applies, a commit of a pull request merged with a merge
    commit is not its merge; a pull request counts when it changed a file under the
    directory, moved in or out of it included."""
    commits = [{"sha": s} for s in (C1, C2, C3, HEAD)]
    with respx.mock:
        respx.get(f"{API}/repos/{REPO}/compare/{BEFORE}...{HEAD}").respond(
            200, json={"status": "ahead", "commits": commits}
        )
        for sha, number, merge in ((C1, 21, C2), (C2, 21, C2), (C3, 22, C3)):
            pr = {"number": number, "merged_at": "2026-01-03T00:00:00Z", "merge_commit_sha": merge}
            respx.get(f"{API}/repos/{REPO}/commits/{sha}/pulls").respond(200, json=[pr])
        moved = {"filename": "old/dev.yaml", "previous_filename": "desired-state/dev.yaml"}
        respx.get(f"{API}/repos/{REPO}/pulls/21/files").respond(200, json=[moved])
        respx.get(f"{API}/repos/{REPO}/pulls/22/files").respond(
            200, json=[{"filename": "desired-state-old/x.yaml"}]
        )
        found, order = run(
            skipped_merges(client(), REPO, since=BEFORE, head=HEAD, directory="desired-state/")
        )
    assert order == "ahead"
    assert found == [Skipped(21, C2)]  # once, at its merge; #22's file is elsewhere


def test_a_rewritten_history_tells_nobody() -> None:
    with respx.mock:
        respx.get(f"{API}/repos/{REPO}/compare/{BEFORE}...{HEAD}").respond(
            404, json={"message": "Not Found"}
        )
        assert run(
            skipped_merges(client(), REPO, since=BEFORE, head=HEAD, directory="desired-state")
        ) == ([], "apart")
        respx.get(f"{API}/repos/{REPO}/compare/{HEAD}...{BEFORE}").respond(
            200, json={"status": "diverged", "commits": [{"sha": C1}]}
        )
        assert run(
            skipped_merges(client(), REPO, since=HEAD, head=BEFORE, directory="desired-state")
        ) == ([], "apart")


def test_a_record_that_names_no_commit_is_taken_for_none(tmp_path: Path) -> None:
    """What the record holds goes into a request's path: anything but a commit SHA is no
    record (a first apply: nobody is told)."""
    record = Record(tmp_path)
    record.keep("desired-state", HEAD)
    assert record.last("desired-state") == HEAD
    assert record.path.stat().st_mode & 0o777 == 0o600
    for bad in ("../../pulls/1/merge", "", "HEAD", HEAD + "0"):
        record.path.write_text(json.dumps({"version": 1, "merges": {"desired-state": bad}}))
        assert record.last("desired-state") is None
    record.path.write_text("not json")
    assert record.last("desired-state") is None
    record.keep("desired-state", HEAD)  # a broken record is replaced whole
    assert json.loads(record.path.read_text())["merges"] == {"desired-state": HEAD}
