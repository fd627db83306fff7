"""Where a plan comment's plan came from, its artifact's name, the stale warning, and
finding the reviewed plan among a repository's artifacts (respx for the wire)."""

from __future__ import annotations

import io
import stat
import zipfile
from pathlib import Path
from typing import Any

import pytest
import respx

from reconciler.cli.github_merge import reviewed_plan_command
from reconciler.errors import ConfigError
from reconciler.github import provenance
from reconciler.github.provenance import Provenance
from reconciler.github.reviewed import download_plan, find_for_merge, find_in_run

from .helpers import API, REPO, TOKEN_TEXT, client, run

HEAD, BASE, MAIN = "1" * 40, "b" * 40, "d" * 40
NAME = f"reconciler-plan-deploy-prod-pr12-{HEAD}"


def test_the_comment_names_the_commit_the_base_the_run_and_the_artifact() -> None:
    made = Provenance(commit=HEAD, base=BASE, pull_request=12, run_url="https://g.test/r/7")
    preface = provenance.preface(made, artifact=NAME)
    hidden, line, _, _ = preface.split("\n")
    assert hidden.startswith("<!-- reconciler provenance: ")
    assert line.startswith(
        "> Planned `1111111` (head of #12) merged with base `bbbbbbb` in [this run]"
        f"(https://g.test/r/7). Saved as `{NAME}`: on merge, exactly this plan is applied"
    )
    assert provenance.parse(f"<!-- reconciler plan -->\n{preface}Plan: ...") == Provenance(
        commit=HEAD, base=BASE, pull_request=12
    )
    assert provenance.parse("<!-- reconciler provenance: {not json} -->\n") is None


def test_the_comment_names_the_saved_plan_s_checksum() -> None:
    """What a reviewer can hold the apply to: the checksum of the saved plan's changes."""
    made = Provenance(commit=HEAD, base=BASE, pull_request=12)
    checksum = "sha256:" + "ab" * 32
    line = provenance.preface(made, artifact=NAME, checksum=checksum).split("\n")[1]
    assert f"Saved as `{NAME}` (checksum `{checksum}`): on merge, exactly this plan" in line


@pytest.mark.parametrize("bad", ["main", "1111111; rm -rf /", ""])
def test_a_commit_must_be_a_sha(bad: str) -> None:
    with pytest.raises(ConfigError, match="must be a commit SHA"):
        Provenance(commit=bad, base=BASE)


def test_the_artifact_name_carries_the_directory_the_pull_request_and_the_head() -> None:
    assert provenance.artifact_name("deploy/prod", 12, HEAD) == NAME
    assert provenance.parse_artifact_name(NAME, "deploy/prod") == (True, 12)
    fresh = provenance.artifact_name("deploy/prod", None, MAIN)
    assert provenance.parse_artifact_name(fresh, "deploy/prod") == (True, None)
    assert provenance.parse_artifact_name(NAME, "deploy/dev") == (False, None)


def test_the_stale_warning_replaces_an_earlier_one_and_leaves_the_plan() -> None:
    planned = Provenance(commit=HEAD, base=BASE, pull_request=13)
    body = f"<!-- reconciler plan -->\n{provenance.preface(planned)}Plan: 1 to add.\n"
    once = provenance.stale_body(body, base=MAIN, branch="main", merged=12)
    assert once.split("\n")[0] == "<!-- reconciler plan -->"
    assert "planned against base `bbbbbbb`; `main` is now at `ddddddd` (#12 merged)" in once
    assert provenance.is_stale(once) and not provenance.is_stale(body)
    again = provenance.stale_body(once, base="e" * 40, branch="main", merged=14)
    assert again.count("Stale:") == 1 and "`eeeeeee` (#14 merged)" in again
    assert again.endswith(f"{provenance.preface(planned)}Plan: 1 to add.\n")


def _zip(files: dict[str, bytes]) -> bytes:
    data = io.BytesIO()
    with zipfile.ZipFile(data, "w") as archive:
        for name, content in files.items():
            archive.writestr(name, content)
    return data.getvalue()


def _artifact(artifact_id: int, name: str, **extra: Any) -> dict[str, Any]:
    return {"id": artifact_id, "name": name, "created_at": f"2026-01-0{artifact_id}", **extra}


@respx.mock
def test_the_merge_finds_the_newest_live_plan_of_the_pull_request_s_last_commit() -> None:
    respx.get(f"{API}/repos/{REPO}/commits/{MAIN}/pulls").respond(
        json=[
            {"number": 11, "merged_at": None, "merge_commit_sha": MAIN},  # only mentions it
            {"number": 12, "merged_at": "x", "merge_commit_sha": MAIN, "head": {"sha": HEAD}},
        ]
    )
    listed = respx.get(f"{API}/repos/{REPO}/actions/artifacts").respond(
        json={
            "artifacts": [
                _artifact(1, NAME),
                _artifact(2, NAME),
                _artifact(3, NAME, expired=True),
            ]
        }
    )
    found = run(find_for_merge(client(), REPO, MAIN, key="deploy/prod"))
    assert (found.pull_request, found.name, found.artifact and found.artifact["id"]) == (
        12,
        NAME,
        2,
    )
    assert listed.calls.last.request.url.params["name"] == NAME


@respx.mock
def test_no_plan_for_a_direct_push_or_an_unplanned_head_says_why() -> None:
    respx.get(f"{API}/repos/{REPO}/commits/{MAIN}/pulls").respond(json=[])
    direct = run(find_for_merge(client(), REPO, MAIN, key="deploy/prod"))
    assert direct.artifact is None
    assert direct.missing == "commit ddddddd is not the merge of a pull request"
    respx.get(f"{API}/repos/{REPO}/actions/runs/7/artifacts").respond(
        json={"artifacts": [_artifact(1, "reconciler-audit-7-1")]}
    )
    assert run(find_in_run(client(), REPO, 7, key="deploy/prod")).missing == (
        "run 7 saved no plan for deploy/prod"
    )


@respx.mock
def test_the_reviewed_plan_is_written_for_its_owner_only_through_no_planted_link(
    tmp_path: Path,
) -> None:
    # as plan --out writes it: it names every person, key and workspace
    respx.get(f"{API}/repos/{REPO}/actions/runs/7/artifacts").respond(
        json={"artifacts": [_artifact(5, NAME)]}
    )
    respx.get(f"{API}/repos/{REPO}/actions/artifacts/5/zip").respond(
        content=_zip({"plan.out": b"{}"})
    )
    victim = tmp_path / "victim"
    victim.write_text("keep")
    out = tmp_path / "reviewed.out"
    out.symlink_to(victim)
    (tmp_path / "reviewed.out.tmp").symlink_to(victim)
    env = {"GITHUB_TOKEN": TOKEN_TEXT, "GITHUB_API_URL": API, "GITHUB_REPOSITORY": REPO}
    assert reviewed_plan_command(repo=REPO, key="deploy/prod", out=out, run_id=7, env=env) == 0
    assert victim.read_text() == "keep"
    assert out.read_bytes() == b"{}" and stat.S_IMODE(out.lstat().st_mode) == 0o600


@respx.mock
def test_the_plan_is_fetched_from_storage_without_the_token() -> None:
    storage = "https://storage.test/blob?sig=abc"
    respx.get(f"{API}/repos/{REPO}/actions/artifacts/5/zip").respond(
        302, headers={"Location": storage}
    )
    blob = respx.get(storage).respond(content=_zip({"plan.out": b"{}", "plan.md": b"#"}))
    assert run(download_plan(client(), REPO, _artifact(5, NAME))) == b"{}"
    assert TOKEN_TEXT not in str(blob.calls.last.request.headers)

    blob.respond(content=_zip({"plan.md": b"#"}))
    with pytest.raises(ConfigError, match=f"artifact {NAME} holds no single plan.out"):
        run(download_plan(client(), REPO, _artifact(5, NAME)))
    blob.respond(content=b"not a zip")
    with pytest.raises(ConfigError, match="is not a zip archive"):
        run(download_plan(client(), REPO, _artifact(5, NAME)))
