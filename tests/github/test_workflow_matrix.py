"""Several organisations in one repository: each reusable workflow first lists them
(``reconciler orgs --json``, with no secret), then plans, applies or checks drift in one
matrix job per organisation directory, each with its own comment, lock group and journal."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.example_dates import copy_example

from .test_action import run_action
from .workflows import REUSABLE, ROOT, holds_secret, jobs, our_step, workflow

COMMANDS = {
    "reusable-plan.yml": "plan",
    "reusable-apply.yml": "apply",
    "reusable-drift.yml": "drift",
}


@pytest.mark.parametrize("name", REUSABLE)
def test_one_job_per_organisation_listed_by_a_job_without_secrets(name: str) -> None:
    wf = jobs(workflow(name))
    orgs = wf["orgs"]
    assert not holds_secret(orgs)
    assert orgs["permissions"] == {"contents": "read"}
    assert our_step(orgs, "orgs")["with"]["directory"] == "${{ inputs.directory }}"
    assert orgs["outputs"]["organizations"] == "${{ steps.orgs.outputs.organizations }}"

    (job,) = [
        j
        for j in wf.values()
        if any(s.get("with", {}).get("command") == COMMANDS[name] for s in j.get("steps", []))
    ]
    assert "orgs" in ([job["needs"]] if isinstance(job["needs"], str) else job["needs"])
    assert job["strategy"] == {
        "fail-fast": False,  # one organisation's failure never cancels another's run
        "matrix": {"include": "${{ fromJSON(needs.orgs.outputs.organizations) }}"},
    }
    assert our_step(job, COMMANDS[name])["with"]["directory"] == "${{ matrix.directory }}"
    assert job["concurrency"]["group"].endswith("-${{ matrix.directory }}")
    text = json.dumps(job)
    assert "reconciler-state-${{ matrix.name }}-" in text  # a journal per organisation
    assert '${{ inputs.directory }}"' not in text.replace("/${{ inputs.directory }}/", "")


def test_the_orgs_command_hands_the_matrix_its_organisations(tmp_path: Path) -> None:
    work = tmp_path / "work"
    copy_example(work / "desired-state" / "acme-mistral")
    shutil.copytree(ROOT / "examples" / "acme-anthropic", work / "desired-state" / "acme-anthropic")
    done, outputs, _ = run_action(tmp_path, "orgs", args="")
    assert done.returncode == 0, done.stderr
    assert json.loads(outputs["organizations"]) == [
        {
            "name": "acme-anthropic",
            "directory": "desired-state/acme-anthropic",
            "provider": "anthropic",
        },
        {"name": "acme-mistral", "directory": "desired-state/acme-mistral", "provider": "mistral"},
    ]


def test_after_a_merge_each_organisation_s_plans_are_marked_stale() -> None:
    stale = jobs(workflow("reusable-apply.yml"))["stale"]
    assert stale["strategy"]["matrix"] == {
        "include": "${{ fromJSON(needs.orgs.outputs.organizations) }}"
    }
    assert our_step(stale, "stale")["with"]["directory"] == "${{ matrix.directory }}"
