"""The workflows and the composite action: they parse, and say what they must (triggers,
permissions, concurrency, environment, journal, fork handling); the action's scripts run."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from .fake_github import serve
from .helpers import TOKEN_TEXT

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = ROOT / ".github" / "workflows"
ACTION_DIR = ROOT / ".github" / "actions" / "reconciler"
LOCAL_ACTION = "./.github/actions/reconciler"
OURS = ("reconciler-plan.yml", "reconciler-apply.yml", "reconciler-drift.yml")


def load(path: Path) -> dict[str, Any]:
    data = YAML(typ="safe").load(path.read_text())
    assert isinstance(data, dict), path
    return data


def steps(workflow: dict[str, Any]) -> list[dict[str, Any]]:
    (job,) = workflow["jobs"].values()
    return list(job["steps"])


def step_using(workflow: dict[str, Any], prefix: str) -> list[dict[str, Any]]:
    return [s for s in steps(workflow) if str(s.get("uses", "")).startswith(prefix)]


def ours(command: str, workflow: dict[str, Any]) -> dict[str, Any]:
    (step,) = [s for s in step_using(workflow, LOCAL_ACTION) if s["with"]["command"] == command]
    return step


# --- every workflow ------------------------------------------------------------------------


@pytest.mark.parametrize("path", sorted(WORKFLOWS.glob("*.yml")), ids=lambda p: p.name)
def test_no_workflow_runs_pull_request_code_with_secrets(path: Path) -> None:
    code = [line for line in path.read_text().splitlines() if not line.lstrip().startswith("#")]
    assert "pull_request_target" not in "\n".join(code)
    assert "pull_request_target" not in load(path)["on"]


@pytest.mark.parametrize("name", OURS)
def test_workflows_are_least_privilege_and_injection_safe(name: str) -> None:
    workflow = load(WORKFLOWS / name)
    assert workflow["permissions"]["contents"] == "read"
    (job,) = workflow["jobs"].values()
    assert job["timeout-minutes"] <= 30
    checkout = step_using(workflow, "actions/checkout@")
    assert checkout and checkout[0]["with"]["persist-credentials"] is False
    for step in steps(workflow):
        # Expressions only through env:, never pasted into a shell script.
        assert "${{" not in str(step.get("run", "")), step
        uses = str(step.get("uses", ""))
        assert uses.startswith(LOCAL_ACTION) or re.search(r"@v\d+$", uses) or not uses
    runs = [
        s
        for s in step_using(workflow, LOCAL_ACTION)
        if s["with"]["command"] in ("plan", "apply", "drift")
    ]
    assert runs
    for step in runs:
        assert step["env"]["MISTRAL_ADMIN_API_KEY"] == "${{ secrets.MISTRAL_ADMIN_API_KEY }}"
        assert step["env"]["VAULT_ADDR"] == "${{ vars.VAULT_ADDR }}"


# --- plan ----------------------------------------------------------------------------------


def test_plan_runs_on_pull_requests_touching_the_desired_state() -> None:
    workflow = load(WORKFLOWS / "reconciler-plan.yml")
    assert workflow["on"] == {"pull_request": {"paths": ["desired-state/**"]}}
    assert workflow["permissions"] == {
        "contents": "read",
        "pull-requests": "write",
        "id-token": "write",
    }
    plan = ours("plan", workflow)
    assert plan["id"] == "plan"
    assert plan["if"] == "steps.access.outputs.secrets == 'true'"
    upload = step_using(workflow, "actions/upload-artifact@")[0]
    assert "steps.plan.outputs.plan-file" in upload["with"]["path"]


def test_plan_detects_forks_and_explains_instead_of_failing() -> None:
    workflow = load(WORKFLOWS / "reconciler-plan.yml")
    (access,) = [s for s in steps(workflow) if s.get("id") == "access"]
    assert "github.event.pull_request.head.repo.full_name" in access["env"]["HEAD_REPOSITORY"]
    assert "secrets.MISTRAL_ADMIN_API_KEY" in access["env"]["HAS_ADMIN_KEY"]
    validate = ours("validate", workflow)
    assert validate["if"] == "steps.access.outputs.secrets != 'true'"
    assert "secrets." not in str(validate)
    notes = [s for s in steps(workflow) if "GITHUB_STEP_SUMMARY" in str(s.get("run", ""))]
    assert notes and notes[0]["if"] == "steps.access.outputs.secrets != 'true'"


@pytest.mark.parametrize(
    ("head", "has_key", "secrets", "why"),
    [
        ("someone/fork", "true", "false", "fork someone/fork"),
        ("acme/access", "false", "false", "MISTRAL_ADMIN_API_KEY is not available"),
        ("acme/access", "true", "true", None),
    ],
)
def test_the_access_check_script(
    tmp_path: Path, head: str, has_key: str, secrets: str, why: str | None
) -> None:
    (access,) = [
        s for s in steps(load(WORKFLOWS / "reconciler-plan.yml")) if s.get("id") == "access"
    ]
    out = tmp_path / "out"
    env = {
        "PATH": os.environ["PATH"],
        "GITHUB_REPOSITORY": "acme/access",
        "GITHUB_OUTPUT": str(out),
        "HEAD_REPOSITORY": head,
        "HAS_ADMIN_KEY": has_key,
    }
    subprocess.run(["bash", "-euo", "pipefail", "-c", access["run"]], env=env, check=True)
    text = out.read_text()
    assert f"secrets={secrets}\n" in text
    if why:
        assert why in text


# --- apply ---------------------------------------------------------------------------------


def test_apply_is_serialized_gated_and_keeps_its_journal() -> None:
    workflow = load(WORKFLOWS / "reconciler-apply.yml")
    assert workflow["on"]["push"] == {"branches": ["main"], "paths": ["desired-state/**"]}
    assert workflow["concurrency"] == {"group": "reconciler-apply", "cancel-in-progress": False}
    assert "pull-requests" not in workflow["permissions"]
    (job,) = workflow["jobs"].values()
    assert job["environment"] == "production"
    names = [str(s.get("uses", s.get("name"))) for s in steps(workflow)]
    restore = names.index("actions/cache/restore@v4")
    apply = names.index(LOCAL_ACTION)
    save = names.index("actions/cache/save@v4")
    assert restore < apply < save
    assert ours("apply", workflow)["with"]["directory"] == "desired-state"
    saved = steps(workflow)[save]
    restored = steps(workflow)[restore]
    assert saved["if"] == "always()"
    assert saved["with"]["path"] == restored["with"]["path"] == ".reconciler"
    assert saved["with"]["key"].startswith(restored["with"]["restore-keys"].strip())
    audit = step_using(workflow, "actions/upload-artifact@")[0]
    assert audit["if"] == "always()"
    assert audit["with"]["path"] == ".reconciler/logs/"
    assert job["env"]["RECONCILER_STATE_DIR"] == ".reconciler"


# --- drift ---------------------------------------------------------------------------------


def test_drift_runs_daily_and_on_demand_with_issue_rights() -> None:
    workflow = load(WORKFLOWS / "reconciler-drift.yml")
    assert set(workflow["on"]) == {"schedule", "workflow_dispatch"}
    cron = workflow["on"]["schedule"][0]["cron"].split()
    assert len(cron) == 5 and cron[2:] == ["*", "*", "*"]  # once a day
    assert workflow["permissions"]["issues"] == "write"
    assert "pull-requests" not in workflow["permissions"]
    assert ours("drift", workflow)["with"]["drift-label"] == "reconciler-drift"


# --- the composite action ------------------------------------------------------------------


def test_the_action_is_composite_and_each_run_step_names_its_shell() -> None:
    action = load(ACTION_DIR / "action.yml")
    assert action["runs"]["using"] == "composite"
    assert {"command", "directory", "python-version", "args", "ref"} <= set(action["inputs"])
    assert action["inputs"]["command"]["required"] is True
    for step in action["runs"]["steps"]:
        if "run" in step:
            assert step["shell"] == "bash"
            assert "${{" not in step["run"]
            script = re.search(r'"\$GITHUB_ACTION_PATH/([\w.]+)"', step["run"])
            assert script and (ACTION_DIR / script[1]).is_file()
    ids = {s.get("id") for s in action["runs"]["steps"]}
    for name, output in action["outputs"].items():
        step_id = re.fullmatch(r"\$\{\{ steps\.(\w+)\.outputs\.([\w-]+) \}\}", output["value"])
        assert step_id and step_id[1] in ids and step_id[2] == name


@pytest.mark.parametrize("script", ["install.sh", "run.sh"])
def test_the_action_scripts_parse(script: str) -> None:
    subprocess.run(["bash", "-n", str(ACTION_DIR / script)], check=True)


def run_action(
    tmp_path: Path, command: str, *, args: str = "--sandbox", extra: dict[str, str] | None = None
) -> tuple[subprocess.CompletedProcess[str], dict[str, str], Path]:
    """run.sh as the composite step runs it, against the embedded sandbox."""
    work = tmp_path / "work"
    if not work.exists():
        shutil.copytree(ROOT / "desired-state", work / "desired-state")
    outputs = tmp_path / "outputs"
    summary = tmp_path / "summary.md"
    env = {
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
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


@pytest.mark.e2e
def test_action_plan_comments_saves_and_summarises(tmp_path: Path) -> None:
    event = tmp_path / "event.json"
    event.write_text('{"pull_request": {"number": 12}}')
    with serve() as github:
        done, outputs, summary = run_action(
            tmp_path,
            "plan",
            extra={
                "GITHUB_API_URL": github.url,
                "PR_NUMBER": "12",
                "GITHUB_EVENT_PATH": str(event),
            },
        )
    assert done.returncode == 0, done.stderr
    assert outputs["exitcode"] == "2"
    assert outputs["has-changes"] == "true"
    assert Path(outputs["plan-file"]).is_file()
    assert "Plan:" in summary.read_text()
    (posted,) = github.calls("POST", r"^/repos/acme/access/issues/12/comments$")
    assert posted.body["body"].startswith("<!-- reconciler plan: desired-state -->\n")
    assert posted.authorization == f"Bearer {TOKEN_TEXT}"
    assert TOKEN_TEXT not in done.stdout + done.stderr


@pytest.mark.e2e
def test_action_plan_failure_replaces_the_comment_and_fails(tmp_path: Path) -> None:
    event = tmp_path / "event.json"
    event.write_text('{"pull_request": {"number": 12}}')
    work = tmp_path / "work"
    shutil.copytree(ROOT / "desired-state", work / "desired-state")
    org = work / "desired-state" / "organization.yaml"
    org.write_text(org.read_text().replace("version: 1", "version: 1\nbogus: true"))
    with serve() as github:
        done, outputs, _ = run_action(
            tmp_path,
            "plan",
            extra={
                "GITHUB_API_URL": github.url,
                "PR_NUMBER": "12",
                "GITHUB_EVENT_PATH": str(event),
            },
        )
    assert done.returncode == 1
    assert outputs["exitcode"] == "1"
    assert "plan-file" not in outputs
    (posted,) = github.calls("POST", r"/issues/12/comments$")
    assert "### reconciler plan failed for `desired-state`" in posted.body["body"]
    assert "organization.yaml:" in posted.body["body"]


@pytest.mark.e2e
def test_action_drift_opens_an_issue(tmp_path: Path) -> None:
    with serve() as github:
        done, outputs, summary = run_action(tmp_path, "drift", extra={"GITHUB_API_URL": github.url})
    assert done.returncode == 0, done.stderr
    assert outputs["exitcode"] == "2"
    assert Path(outputs["plan-json"]).is_file()
    (created,) = github.calls("POST", r"^/repos/acme/access/issues$")
    assert created.body["labels"] == ["reconciler-drift"]
    assert "Drift on sandbox" in done.stdout
    assert "### Missing" in summary.read_text()


def test_action_refuses_an_unknown_command(tmp_path: Path) -> None:
    done, _, _ = run_action(tmp_path, "destroy")
    assert done.returncode == 1
    assert "::error title=reconciler::command must be plan, apply, drift or validate" in done.stdout
