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

M13, M15, M16, M14 = "e" * 40, "f" * 40, "b" * 39 + "c", "a" * 40  # merged in this order
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
        # #16's own apply ran, and said so (a record restored from an older cache, say)
        merge_of(github, 16, M16, "6" * 40, ["desired-state/workspaces/prod.yaml"])
        own = "<!-- reconciler plan: desired-state at merge -->\n### reconciler: applied"
        github.comments[16] = [{"id": 9000, "body": own, "user": {"login": "bot"}}]
        merge_of(github, 14, M14, HEAD14, ["desired-state/workspaces/dev.yaml"])

        done, _ = step(tmp_path, github, "apply", GITHUB_SHA=M14, GITHUB_RUN_ID=str(APPLY14_RUN))
        assert done.returncode == 1  # #14's reviewed plan is stale: #13 changed dev since
        assert "Told #13 (eeeeeee) that this run carries its changes." in done.stderr
        (told,) = github.comment_bodies(13)
        assert github.comment_bodies(15) == []  # it changed nothing under desired-state/
        assert github.comment_bodies(16) == [own]  # its own apply's report is left as it is
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
    """Of the commits between two applies, only those the default branch went through
    (first parents back from the head) are looked up: a merged branch's own commit (C1)
    costs no request. A pull request counts when it changed a file under the directory,
    moved in or out of it included."""

    def commit(sha: str, *parents: str) -> dict[str, object]:
        return {"sha": sha, "parents": [{"sha": p} for p in parents]}

    # C2 merges a branch holding C1; C3 is a squash; the listing is oldest first
    commits = [commit(C1, BEFORE), commit(C2, BEFORE, C1), commit(C3, C2), commit(HEAD, C3)]
    with respx.mock:
        respx.get(f"{API}/repos/{REPO}/compare/{BEFORE}...{HEAD}").respond(
            200, json={"status": "ahead", "commits": commits, "total_commits": 4}
        )
        branch = respx.get(f"{API}/repos/{REPO}/commits/{C1}/pulls").respond(200, json=[])
        for sha, number in ((C2, 21), (C3, 22)):
            pr = {"number": number, "merged_at": "2026-01-03T00:00:00Z", "merge_commit_sha": sha}
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
    assert found == [Skipped(21, C2)]  # #22's file is elsewhere
    assert not branch.called


def test_a_listing_that_stops_short_of_the_last_apply_tells_nobody() -> None:
    """More commits between two applies than the pages read: the chain from the head does
    not reach the last merge taken up, and no one is told on a guess."""
    commits = [{"sha": HEAD, "parents": [{"sha": C3}]}]  # C3 not listed
    with respx.mock:
        respx.get(f"{API}/repos/{REPO}/compare/{BEFORE}...{HEAD}").respond(
            200, json={"status": "ahead", "commits": commits, "total_commits": 900}
        )
        assert run(
            skipped_merges(client(), REPO, since=BEFORE, head=HEAD, directory="desired-state")
        ) == ([], "ahead")


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


def test_a_telling_that_fails_skips_that_pull_request_alone_and_the_merge_is_recorded(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A refused comment on one pull request (a locked conversation, say) left every later
    apply failing there, the record never moving: then, once it cleared, merges whose own
    apply ran were told it had not. Now the others are told and this merge is recorded."""
    from reconciler.cli.github_merge import skipped_merges_command

    Record(tmp_path).keep("desired-state", BEFORE)

    def commit(sha: str, parent: str) -> dict[str, object]:
        return {"sha": sha, "parents": [{"sha": parent}]}

    commits = [commit(C2, BEFORE), commit(C3, C2), commit(HEAD, C3)]
    env = {"GITHUB_TOKEN": TOKEN_TEXT, "GITHUB_API_URL": API, "GITHUB_REPOSITORY": REPO}
    with respx.mock:
        respx.get(f"{API}/repos/{REPO}/compare/{BEFORE}...{HEAD}").respond(
            200, json={"status": "ahead", "commits": commits, "total_commits": 3}
        )
        for sha, number in ((C2, 21), (C3, 22), (HEAD, 23)):
            pr = {"number": number, "merged_at": "2026-01-03T00:00:00Z", "merge_commit_sha": sha}
            respx.get(f"{API}/repos/{REPO}/commits/{sha}/pulls").respond(200, json=[pr])
            respx.get(f"{API}/repos/{REPO}/pulls/{number}/files").respond(
                200, json=[{"filename": "desired-state/workspaces/dev.yaml"}]
            )
            respx.get(f"{API}/repos/{REPO}/issues/{number}/comments").respond(200, json=[])
        respx.post(f"{API}/repos/{REPO}/issues/21/comments").respond(
            403, json={"message": "Unable to create comment because issue is locked."}
        )
        posted = respx.post(f"{API}/repos/{REPO}/issues/22/comments").respond(
            201, json={"id": 7, "body": "x", "user": {"login": "github-actions[bot]"}}
        )
        code = skipped_merges_command(
            repo=None, key="desired-state", state_dir=tmp_path, sha=HEAD, env=env
        )
    out = capsys.readouterr()
    assert code == 0
    assert posted.called
    assert "carried=22\n" in out.out
    assert "Warning: #21 could not be told:" in out.err
    assert Record(tmp_path).last("desired-state") == HEAD
    assert TOKEN_TEXT not in out.out + out.err
