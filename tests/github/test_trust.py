"""Pull request code never runs with the admin key: a job that holds a secret (``secrets.*``
or ``id-token: write``) in a workflow a pull request can start installs and runs reconciler
only from a trusted checkout (the base commit, or the release the caller pins), and reads
the pull request's tree only as data (its desired-state directory, sparse, no token).

:func:`pull_request_code` is the check; the last tests show it catches each way of
breaking the rule, on altered copies of the real workflows.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from .workflows import (
    ALL,
    CALLERS,
    REUSABLE,
    RUNS_CODE,
    TOOL,
    WORKFLOWS,
    holds_secret,
    jobs,
    steps,
    triggers,
    workflow,
)

# The base commit; a dispatched plan (no pull_request event) runs the default branch's
# commit, and the access job refuses a dispatch from any other branch (test_workflows).
PLAN_REF = "${{ github.event.pull_request.base.sha || github.sha }}"
TRUSTED_REFS = {
    "${{ inputs.reconciler-ref }}",  # what the caller pins (checked in the callers below)
    "${{ github.event.pull_request.base.sha }}",
    PLAN_REF,
}
PR_TRIGGERS = {"pull_request", "pull_request_target", "workflow_call"}


def _checkouts(job: dict[str, Any]) -> list[dict[str, Any]]:
    return [s for s in steps(job) if str(s.get("uses", "")).startswith("actions/checkout@")]


def _job_problems(name: str, job: dict[str, Any]) -> list[str]:
    problems: list[str] = []
    trusted: list[str] = []
    data_checked_out = False
    for step in _checkouts(job):
        options = step.get("with") or {}
        path = str(options.get("path", "."))
        if options.get("ref") in TRUSTED_REFS:
            trusted.append(path)
            continue
        if trusted and path == ".":
            problems.append(f"{name}: a pull request checkout over the trusted one at '.'")
        data_checked_out = True
        sparse = str(options.get("sparse-checkout", "")).strip()
        if not (
            options.get("persist-credentials") is False
            and sparse.startswith("/")
            and sparse.endswith("/")
            and "\n" not in sparse
            and options.get("sparse-checkout-cone-mode") is False
        ):
            problems.append(
                f"{name}: checks out the pull request's code, not just its desired state "
                f"(sparse, no cone, no credentials): {options}"
            )
    for step in steps(job):
        uses = str(step.get("uses", ""))
        if uses.startswith("./") and not any(
            p != "." and uses.startswith(f"./{p.removeprefix('./')}/") for p in trusted
        ):
            problems.append(f"{name}: runs the local action {uses} from an untrusted checkout")
        run = str(step.get("run", ""))
        if run and data_checked_out and RUNS_CODE.search(run):
            problems.append(f"{name}: a run step may start workspace code: {run[:80]!r}")
        if run and not trusted and RUNS_CODE.search(run) and _checkouts(job):
            problems.append(f"{name}: runs code with no trusted checkout: {run[:80]!r}")
    return problems


def pull_request_code(wf: dict[str, Any]) -> list[str]:
    """Each way a job of ``wf`` holding a secret could run the pull request's code."""
    if not triggers(wf) & PR_TRIGGERS:
        return []  # push, schedule, tags: the checkout is the repository's own code
    problems: list[str] = []
    for name, job in jobs(wf).items():
        called = str(job.get("uses", ""))
        if called:  # a caller: the reusable workflow runs reconciler at the ref it passes
            ref = (job.get("with") or {}).get("reconciler-ref")
            if "pull_request" in triggers(wf) and ref not in TRUSTED_REFS:
                problems.append(f"{name}: passes reconciler-ref {ref!r}, not the base commit")
        elif holds_secret(job):
            problems.extend(_job_problems(name, job))
    return problems


@pytest.mark.parametrize("name", ALL)
def test_no_job_holding_a_secret_runs_pull_request_code(name: str) -> None:
    assert pull_request_code(workflow(name)) == []


@pytest.mark.parametrize("name", ALL)
def test_no_workflow_runs_on_pull_request_target(name: str) -> None:
    text = "\n".join(
        line
        for line in (WORKFLOWS / name).read_text().splitlines()
        if not line.lstrip().startswith("#")
    )
    assert "pull_request_target" not in text


def test_the_check_looks_at_the_jobs_that_hold_the_key() -> None:
    plan = jobs(workflow("reusable-plan.yml"))
    assert holds_secret(plan["plan"]) and holds_secret(plan["access"])
    assert not holds_secret(plan["validate"])
    assert "workflow_call" in triggers(workflow("reusable-plan.yml"))


def test_the_trusted_checkout_comes_after_the_data_one_and_holds_the_action() -> None:
    for name in REUSABLE:
        for job in jobs(workflow(name)).values():
            checkouts = _checkouts(job)
            if not checkouts:
                continue
            *data_only, tool = checkouts  # a job reading no desired state has only the tool
            for data in data_only:
                assert "path" not in data["with"] and data["with"]["persist-credentials"] is False
                assert steps(job).index(data) < steps(job).index(tool)  # root checkout cleans
            assert len(data_only) <= 1
            assert tool["with"] == {
                "repository": "${{ inputs.reconciler-repository }}",
                "ref": "${{ inputs.reconciler-ref }}",
                "path": TOOL,
                "persist-credentials": False,
            }


def test_the_callers_pass_their_own_trusted_commit() -> None:
    refs = {
        name: next(iter(jobs(workflow(name)).values()))["with"]["reconciler-ref"]
        for name in CALLERS
    }
    assert refs == {
        "reconciler-plan.yml": PLAN_REF,
        "reconciler-apply.yml": "${{ github.sha }}",
        "reconciler-drift.yml": "${{ github.sha }}",
    }


# --- the check catches each way of breaking the rule ----------------------------------------


def _plan_job(wf: dict[str, Any]) -> dict[str, Any]:
    return dict(wf["jobs"]["plan"])


def _tool_ref_from_the_pr(wf: dict[str, Any]) -> None:
    _checkouts(_plan_job(wf))[1]["with"]["ref"] = "${{ github.event.pull_request.head.sha }}"


def _whole_pr_checked_out(wf: dict[str, Any]) -> None:
    del _checkouts(_plan_job(wf))[0]["with"]["sparse-checkout"]


def _pr_checkout_keeps_the_token(wf: dict[str, Any]) -> None:
    _checkouts(_plan_job(wf))[0]["with"]["persist-credentials"] = True


def _action_from_the_pr(wf: dict[str, Any]) -> None:
    for step in steps(_plan_job(wf)):
        if str(step.get("uses", "")).startswith("./"):
            step["uses"] = "./.github/actions/reconciler"


def _installs_from_the_workspace(wf: dict[str, Any]) -> None:
    _plan_job(wf)["steps"].append({"run": "pip install . && reconciler plan"})


def _caller_passes_the_head(wf: dict[str, Any]) -> None:
    wf["jobs"]["plan"]["with"]["reconciler-ref"] = "${{ github.sha }}"


@pytest.mark.parametrize(
    ("name", "alter", "expected"),
    [
        ("reusable-plan.yml", _tool_ref_from_the_pr, "checks out the pull request's code"),
        ("reusable-plan.yml", _whole_pr_checked_out, "checks out the pull request's code"),
        ("reusable-plan.yml", _pr_checkout_keeps_the_token, "checks out the pull request's"),
        ("reusable-plan.yml", _action_from_the_pr, "from an untrusted checkout"),
        ("reusable-plan.yml", _installs_from_the_workspace, "may start workspace code"),
        ("reconciler-plan.yml", _caller_passes_the_head, "not the base commit"),
    ],
    ids=lambda v: getattr(v, "__name__", "")[1:] if callable(v) else "",
)
def test_the_check_catches_pull_request_code(
    name: str, alter: Callable[[dict[str, Any]], None], expected: str
) -> None:
    wf = copy.deepcopy(workflow(name))
    alter(wf)
    problems = pull_request_code(wf)
    assert any(expected in p for p in problems), problems
