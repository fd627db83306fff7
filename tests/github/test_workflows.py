"""The workflows say what they must: triggers, least privilege (OIDC only where Vault is
opened, one Vault role per job, apply only from main through ``production``), concurrency,
the journal, actions pinned by commit SHA, Dependabot, the release, and actionlint's
verdict. (Trusted code in jobs that hold a secret: ``test_trust.py``.)"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from .workflows import (
    ACTION_DIR,
    ALL,
    CALLERS,
    REUSABLE,
    ROOT,
    SHA_PIN,
    WORKFLOWS,
    is_ours,
    job_running,
    jobs,
    load,
    our_step,
    steps,
    the_job,
    triggers,
    uses_lines,
    workflow,
)

OPENS_VAULT = {"plan": "VAULT_ROLE_PLAN", "apply": "VAULT_ROLE_APPLY", "drift": "VAULT_ROLE_DRIFT"}
ADMIN_KEYS = ("MISTRAL_ADMIN_API_KEY", "ANTHROPIC_ADMIN_API_KEY")  # each provider's, optional


def step_using(job: dict[str, Any], prefix: str) -> list[dict[str, Any]]:
    return [s for s in steps(job) if str(s.get("uses", "")).startswith(prefix)]


# --- every workflow ------------------------------------------------------------------------


@pytest.mark.parametrize("name", ALL)
def test_no_expression_is_pasted_into_a_shell_script(name: str) -> None:
    for job in jobs(workflow(name)).values():
        for step in steps(job):
            assert "${{" not in str(step.get("run", "")), step


@pytest.mark.parametrize("name", [n for n in ALL if n != "ci.yml"])
def test_nothing_is_granted_at_the_top_only_per_job(name: str) -> None:
    wf = workflow(name)
    assert wf["permissions"] == {}
    for job in jobs(wf).values():
        assert job["permissions"].get("contents") in ("read", "write", None)
        if "steps" in job:
            assert job["timeout-minutes"] <= 30


@pytest.mark.parametrize("path", [WORKFLOWS / n for n in ALL] + [ACTION_DIR / "action.yml"])
def test_third_party_actions_are_pinned_by_commit_with_their_version(path: Path) -> None:
    found = list(uses_lines(path))
    assert found
    for uses in found:
        if uses.startswith("./"):
            continue  # this repository's own action or reusable workflow, same commit
        assert SHA_PIN.match(uses), f"{path.name}: {uses}"


def test_one_commit_per_action_everywhere() -> None:
    """The same action at the same version everywhere, so one Dependabot bump moves all."""
    pins: dict[str, set[str]] = {}
    for path in [*WORKFLOWS.glob("*.yml"), ACTION_DIR / "action.yml"]:
        for uses in uses_lines(path):
            if "@" in uses and not uses.startswith("./"):
                name, pin = uses.split("@", 1)
                pins.setdefault(name.split("/")[0] + "/" + name.split("/")[1], set()).add(pin)
    assert all(len(p) == 1 for p in pins.values()), pins


def test_dependabot_keeps_actions_and_python_dependencies_current() -> None:
    config = load(ROOT / ".github" / "dependabot.yml")
    by_ecosystem = {u["package-ecosystem"]: u for u in config["updates"]}
    assert set(by_ecosystem) == {"github-actions", "pip"}
    assert {"/", "/.github/actions/reconciler"} <= set(
        by_ecosystem["github-actions"]["directories"]
    )
    assert by_ecosystem["pip"]["directory"] == "/"


# --- OIDC and Vault: only where Vault is opened, one role per job -----------------------------


@pytest.mark.parametrize("name", REUSABLE)
def test_id_token_only_in_jobs_that_open_vault_with_their_own_role(name: str) -> None:
    for job in jobs(workflow(name)).values():
        opening = [s for s in steps(job) if is_ours(s) and s["with"]["command"] in OPENS_VAULT]
        assert ("id-token" in job["permissions"]) is bool(opening)
        for step in opening:
            role = OPENS_VAULT[step["with"]["command"]]
            assert step["env"]["VAULT_ROLE"] == f"${{{{ vars.{role} }}}}"
            assert step["env"]["VAULT_ADDR"] == "${{ vars.VAULT_ADDR }}"
            for key in ADMIN_KEYS:
                assert step["env"][key] == f"${{{{ secrets.{key} }}}}"


def test_each_caller_grants_only_what_its_reusable_workflow_s_jobs_use() -> None:
    for caller, reusable in zip(CALLERS, REUSABLE, strict=True):
        (call,) = jobs(workflow(caller)).values()
        assert call["uses"] == f"./.github/workflows/{reusable}"
        granted = set(call["permissions"].items())
        used: dict[str, str] = {}  # each scope at the most any job asks (write > read)
        for job in jobs(workflow(reusable)).values():
            for scope, level in job["permissions"].items():
                used[scope] = max(used.get(scope, level), level, key=("read", "write").index)
        assert granted == set(used.items()), (caller, granted ^ set(used.items()))
        assert call["secrets"] == {key: f"${{{{ secrets.{key} }}}}" for key in ADMIN_KEYS}


def test_the_vault_role_is_not_in_the_desired_state() -> None:
    text = (ROOT / "desired-state" / "organization.yaml").read_text()
    vault = text.split("  vault:\n", 1)[1].split("\n\n", 1)[0]
    assert not re.search(r"^\s+role:", vault, re.M), vault


# --- plan ------------------------------------------------------------------------------------


def test_plan_runs_on_pull_requests_touching_the_desired_state() -> None:
    wf = workflow("reconciler-plan.yml")
    assert wf["on"]["pull_request"] == {"paths": ["desired-state/**"]}
    # the apply workflow dispatches it to plan a pull request again after another merged
    assert set(wf["on"]["workflow_dispatch"]["inputs"]) == {"pull-request"}
    assert wf["jobs"]["plan"]["with"]["pull-request"] == (
        "${{ github.event.pull_request.number || inputs.pull-request }}"
    )
    plan = jobs(workflow("reusable-plan.yml"))
    assert plan["plan"]["permissions"] == {
        "contents": "read",
        "pull-requests": "write",
        "id-token": "write",
    }
    assert plan["plan"]["if"] == "needs.access.outputs.secrets == 'true'"
    assert plan["validate"]["if"] == "needs.access.outputs.secrets != 'true'"
    assert plan["access"]["permissions"] == {}
    assert plan["plan"]["concurrency"]["cancel-in-progress"] is True
    upload = step_using(plan["plan"], "actions/upload-artifact@")[0]
    assert "steps.plan.outputs.plan-file" in upload["with"]["path"]
    assert upload["with"]["name"] == "${{ steps.plan.outputs.plan-artifact }}"  # found on merge
    data = step_using(plan["plan"], "actions/checkout@")[0]["with"]
    assert "refs/pull/{0}/merge" in data["ref"] and data["fetch-depth"] == 2


def test_a_fork_is_validated_without_secrets_and_told_why() -> None:
    plan = jobs(workflow("reusable-plan.yml"))
    access = plan["access"]["steps"][0]
    assert "github.event.pull_request.head.repo.full_name" in access["env"]["HEAD_REPOSITORY"]
    validate = plan["validate"]
    assert our_step(validate, "validate")
    assert "secrets." not in str(validate) and "id-token" not in validate["permissions"]
    notes = [s for s in steps(validate) if "GITHUB_STEP_SUMMARY" in str(s.get("run", ""))]
    assert notes and notes[0]["env"]["WHY"] == "${{ needs.access.outputs.why }}"


@pytest.mark.parametrize(
    ("head", "has_key", "dispatched", "secrets", "why"),
    [
        ("someone/fork", "true", "", "false", "fork someone/fork"),
        ("acme/access", "false", "", "false", "MISTRAL_ADMIN_API_KEY or ANTHROPIC_ADMIN_API_KEY"),
        ("acme/access", "true", "", "true", None),
        ("", "true", "refs/heads/main", "true", None),
        ("", "true", "refs/heads/mine", "false", "runs only from main"),
        (
            "",
            "false",
            "refs/heads/main",
            "false",
            "MISTRAL_ADMIN_API_KEY or ANTHROPIC_ADMIN_API_KEY",
        ),
    ],
)
def test_the_access_check_script(
    tmp_path: Path, head: str, has_key: str, dispatched: str, secrets: str, why: str | None
) -> None:
    (access,) = jobs(workflow("reusable-plan.yml"))["access"]["steps"]
    out = tmp_path / "out"
    env = {
        "PATH": os.environ["PATH"],
        "GITHUB_REPOSITORY": "acme/access",
        "GITHUB_OUTPUT": str(out),
        "HEAD_REPOSITORY": head,
        "HAS_ADMIN_KEY": has_key,
        "DISPATCHED_REF": dispatched,
        "DEFAULT_REF": "refs/heads/main",
    }
    subprocess.run(["bash", "-euo", "pipefail", "-c", access["run"]], env=env, check=True)
    text = out.read_text()
    assert f"secrets={secrets}\n" in text
    if why:
        assert why in text


# --- apply and drift -------------------------------------------------------------------------


def test_apply_only_from_main_through_production_one_at_a_time() -> None:
    wf = workflow("reconciler-apply.yml")
    assert wf["on"]["push"] == {"branches": ["main"], "paths": ["desired-state/**"]}
    assert "workflow_dispatch" in wf["on"]
    job = job_running(workflow("reusable-apply.yml"), "apply")
    assert job["if"] == "github.ref == 'refs/heads/main'"  # a dispatch from a branch: skipped
    assert job["environment"] == "production"
    assert job["concurrency"] == {
        "group": "reconciler-apply-${{ matrix.directory }}",
        "cancel-in-progress": False,
    }
    assert job["permissions"] == {
        "contents": "read",
        "id-token": "write",
        "actions": "read",  # the reviewed plan, an artifact of another run
        "pull-requests": "write",  # the fresh plan, when nothing was applied
    }
    assert our_step(job, "apply")["with"]["plan-run"] == "${{ inputs.plan-run }}"
    dispatch = workflow("reconciler-apply.yml")["on"]["workflow_dispatch"]
    assert set(dispatch["inputs"]) == {"plan-run"}


def test_apply_saves_the_fresh_plan_when_nothing_was_applied() -> None:
    job = job_running(workflow("reusable-apply.yml"), "apply")
    (fresh,) = [
        s for s in step_using(job, "actions/upload-artifact@") if "plan-file" in s["with"]["path"]
    ]
    assert fresh["if"] == "failure() && steps.apply.outputs.plan-artifact != ''"
    assert fresh["with"]["name"] == "${{ steps.apply.outputs.plan-artifact }}"


def test_after_a_merge_other_plans_are_marked_stale_without_secrets() -> None:
    stale = job_running(workflow("reusable-apply.yml"), "stale")
    # the new plans read the organisation once applied; one job per organisation's comments
    assert stale["needs"] == ["orgs", "apply"]
    assert (
        stale["if"] == "always() && github.event_name == 'push' && github.ref == 'refs/heads/main'"
    )
    assert stale["permissions"] == {
        "contents": "read",
        "pull-requests": "write",
        "actions": "write",
    }
    assert "secrets." not in str(stale)
    assert our_step(stale, "stale")["with"]["replan-workflow"] == "${{ inputs.replan-workflow }}"
    caller = workflow("reconciler-apply.yml")["jobs"]["apply"]["with"]
    assert caller["replan-workflow"] == "reconciler-plan.yml"


def test_apply_keeps_its_journal_and_audit_log() -> None:
    job = job_running(workflow("reusable-apply.yml"), "apply")
    names = [str(s.get("uses", "")).split("@")[0] for s in steps(job)]
    restore = names.index("actions/cache/restore")
    apply = steps(job).index(our_step(job, "apply"))
    save = names.index("actions/cache/save")
    assert restore < apply < save
    saved, restored = steps(job)[save], steps(job)[restore]
    assert saved["if"] == "always()"
    assert saved["with"]["path"] == restored["with"]["path"] == ".reconciler"
    assert saved["with"]["key"].startswith(restored["with"]["restore-keys"].strip())
    (audit,) = [s for s in step_using(job, "actions/upload-artifact@") if s["if"] == "always()"]
    assert audit["with"]["path"] == ".reconciler/logs/"
    assert audit["with"]["include-hidden-files"] is True  # else .reconciler/ is left out
    assert job["env"]["RECONCILER_STATE_DIR"] == ".reconciler"


def test_drift_runs_daily_and_never_cancels_an_apply() -> None:
    wf = workflow("reconciler-drift.yml")
    assert triggers(wf) == {"schedule", "workflow_dispatch"}
    cron = wf["on"]["schedule"][0]["cron"].split()
    assert len(cron) == 5 and cron[2:] == ["*", "*", "*"]  # once a day
    drift = job_running(workflow("reusable-drift.yml"), "drift")
    apply = job_running(workflow("reusable-apply.yml"), "apply")
    # A concurrency group holds one running and one pending job; a job queued behind them
    # cancels the pending one. In the apply's group, a drift run would cancel a merge's
    # apply waiting there: the merge would never be applied.
    assert drift["concurrency"]["group"] != apply["concurrency"]["group"]
    assert drift["concurrency"] == {
        "group": "reconciler-drift-${{ matrix.directory }}",
        "cancel-in-progress": False,
    }
    assert drift["permissions"] == {"contents": "read", "issues": "write", "id-token": "write"}
    assert our_step(drift, "drift")["with"]["drift-label"] == "${{ inputs.drift-label }}"
    outputs = workflow("reusable-drift.yml")["on"]["workflow_call"]["outputs"]
    assert set(outputs) == {"organizations", "has-changes", "api-changes", "manual-changes"}
    assert {o["value"] for o in outputs.values()} == {
        f"${{{{ jobs.summary.outputs.{name} }}}}" for name in outputs
    }


def _step_named(job: dict[str, Any], prefix: str) -> dict[str, Any]:
    (found,) = [s for s in steps(job) if str(s.get("name", "")).startswith(prefix)]
    return found


def _run(step: dict[str, Any], cwd: Path, env: dict[str, str]) -> None:
    bash = shutil.which("bash")
    assert bash is not None
    subprocess.run([bash, "-e", "-c", step["run"]], cwd=cwd, env={**os.environ, **env}, check=True)


@pytest.mark.skipif(shutil.which("jq") is None, reason="jq is on GitHub's runners, not here")
def test_drift_outputs_are_per_organisation_and_combined_not_the_last_to_finish(
    tmp_path: Path,
) -> None:
    """Each organisation's job records its counts; the summary job's outputs hold every
    organisation's, the totals, and has-changes true when any organisation has changes."""
    wf = workflow("reusable-drift.yml")
    drift, summary = job_running(wf, "drift"), jobs(wf)["summary"]
    record = _step_named(drift, "Record this organisation's counts")
    upload = _step_named(drift, "Upload this organisation's counts")
    download = _step_named(summary, "Download every organisation's counts")
    assert summary["needs"] == "drift" and summary["if"] == "always()"
    assert upload["with"]["path"] == ".reconciler-counts/" == download["with"]["path"] + "/"
    assert upload["with"]["name"].replace("${{ matrix.name }}", "*") == download["with"]["pattern"]
    drifted = {"HAS_CHANGES": "true", "API_CHANGES": "3", "MANUAL_CHANGES": "1"}
    clean = {"HAS_CHANGES": "false", "API_CHANGES": "0", "MANUAL_CHANGES": "0"}
    for org, counts in (("acme-mistral", drifted), ("acme-anthropic", clean)):
        _run(record, tmp_path, {"ORGANIZATION": org, **counts})
    output = tmp_path / "github-output"
    _run(_step_named(summary, "Sum them up"), tmp_path, {"GITHUB_OUTPUT": str(output)})
    got = dict(line.split("=", 1) for line in output.read_text().splitlines())
    assert json.loads(got.pop("organizations")) == {
        "acme-anthropic": {"has-changes": False, "api-changes": 0, "manual-changes": 0},
        "acme-mistral": {"has-changes": True, "api-changes": 3, "manual-changes": 1},
    }
    assert got == {"has-changes": "true", "api-changes": "3", "manual-changes": "1"}
    assert set(summary["outputs"]) == set(wf["on"]["workflow_call"]["outputs"])
    for name in ("acme-anthropic", "acme-mistral"):  # no organisation recorded: false, none
        (tmp_path / ".reconciler-counts" / f"{name}.json").unlink()
    _run(_step_named(summary, "Sum them up"), tmp_path, {"GITHUB_OUTPUT": str(output)})
    assert output.read_text().splitlines()[-4:] == [
        "organizations={}",
        "has-changes=false",
        "api-changes=0",
        "manual-changes=0",
    ]


# --- reusable ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", REUSABLE)
def test_the_reusable_workflows_take_what_a_consumer_passes(name: str) -> None:
    call = workflow(name)["on"]["workflow_call"]
    assert set(triggers(workflow(name))) == {"workflow_call"}
    assert call["inputs"]["reconciler-repository"]["required"] is True
    assert call["inputs"]["reconciler-ref"]["required"] is True
    assert call["inputs"]["directory"]["default"] == "desired-state"
    assert set(call["secrets"]) == set(ADMIN_KEYS)


def test_the_readme_shows_the_three_files_a_consumer_writes() -> None:
    """As this repository's callers, but pinned to a release of OWNER/reconciler."""
    readme = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```yaml\n(# \.github/workflows/(\S+)\n.*?)```", readme, re.S)
    shown = {name: YAML(typ="safe").load(text) for text, name in blocks}
    assert sorted(shown) == sorted(CALLERS)
    for caller, reusable in zip(CALLERS, REUSABLE, strict=True):
        ours, theirs = workflow(caller), shown[caller]
        assert triggers(theirs) == triggers(ours) and theirs["permissions"] == {}
        (mine,), (job,) = jobs(ours).values(), jobs(theirs).values()
        assert job["uses"] == f"OWNER/reconciler/.github/workflows/{reusable}@COMMIT_SHA"
        assert job["permissions"] == mine["permissions"]
        assert job["secrets"] == mine["secrets"]
        pinned = {"reconciler-repository": "OWNER/reconciler", "reconciler-ref": "COMMIT_SHA"}
        expected = {**mine["with"], **pinned}
        del expected["directory"]  # the default
        assert job["with"] == expected


# --- the composite action ------------------------------------------------------------------


def test_the_action_installs_pinned_hash_checked_dependencies_and_caches_them() -> None:
    action = load(ACTION_DIR / "action.yml")
    assert action["runs"]["using"] == "composite"
    assert "ref" not in action["inputs"]  # a git install would skip the hash check
    install = (ACTION_DIR / "install.sh").read_text()
    assert '--require-hashes --no-deps --only-binary :all: -r "$root/requirements/ci.txt"' in (
        install
    )
    assert '--no-deps --no-build-isolation --no-index "$root"' in install
    runs = action["runs"]["steps"]
    (cache,) = [s for s in runs if str(s.get("uses", "")).startswith("actions/cache@")]
    assert "${{ steps.lock.outputs.digest }}" in cache["with"]["key"]
    (installing,) = [s for s in runs if "install.sh" in str(s.get("run", ""))]
    assert installing["env"]["PIP_CACHE_DIR"] == cache["with"]["path"]
    assert runs.index(cache) < runs.index(installing)


def test_the_pip_cache_key_is_the_lock_s_digest(tmp_path: Path) -> None:
    out = tmp_path / "out"
    env = {
        "PATH": os.environ["PATH"],
        "GITHUB_ACTION_PATH": str(ACTION_DIR),
        "GITHUB_OUTPUT": str(out),
        "HOME": str(tmp_path),
    }
    subprocess.run(["bash", str(ACTION_DIR / "lock.sh")], env=env, check=True)
    values = dict(line.split("=", 1) for line in out.read_text().splitlines())
    lock = ROOT / "requirements" / "ci.txt"
    assert values["lock"] == str(lock)
    assert values["digest"] == hashlib.sha256(lock.read_bytes()).hexdigest()
    assert values["cache-dir"] == f"{tmp_path}/.cache/reconciler-pip"


def test_the_action_outputs_api_and_manual_changes_apart() -> None:
    outputs = load(ACTION_DIR / "action.yml")["outputs"]
    assert {"api-changes", "manual-changes", "conflicts", "has-changes"} <= set(outputs)


def test_each_action_run_step_calls_a_script_and_names_its_shell() -> None:
    action = load(ACTION_DIR / "action.yml")
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


def test_the_lock_pins_every_dependency_and_the_build_backend_with_hashes() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    wanted = [*pyproject["project"]["dependencies"], *pyproject["build-system"]["requires"]]
    names = {re.split(r"[<>=;\[ ]", d, maxsplit=1)[0].lower().replace(".", "-") for d in wanted}
    text = (ROOT / "requirements" / "ci.txt").read_text()
    pinned: dict[str, int] = {}
    for block in re.split(r"\n(?=[a-z0-9])", text.split("\n\n", 1)[-1]):
        head = re.match(r"^([a-z0-9._-]+)==[\w.]+( ;[^\\]+)? \\", block)
        if head:
            pinned[head[1].replace(".", "-")] = block.count("--hash=sha256:")
    assert names <= set(pinned), names - set(pinned)
    assert all(count >= 1 for count in pinned.values()), pinned
    requirements = re.findall(r"^[a-z0-9]\S*", text, re.M)
    assert len(requirements) == len(pinned), requirements  # nothing unpinned or unhashed
    assert "bash scripts/lock.sh" in text.splitlines()[4]


@pytest.mark.parametrize("script", sorted(p.name for p in ACTION_DIR.glob("*.sh")))
def test_the_action_scripts_parse(script: str) -> None:
    subprocess.run(["bash", "-n", str(ACTION_DIR / script)], check=True)


# --- release -------------------------------------------------------------------------------


def test_a_tag_releases_the_wheel_with_only_contents_write() -> None:
    wf = workflow("release.yml")
    assert wf["on"] == {"push": {"tags": ["v*.*.*"]}}
    job = the_job("release.yml")
    assert job["permissions"] == {"contents": "write"}
    text = "\n".join(str(s.get("run", "")) for s in steps(job))
    assert "--require-hashes" in text and "hatchling build -t sdist -t wheel" in text
    assert 'gh release create "$TAG" dist/*' in text


@pytest.mark.parametrize(("tag", "ok"), [("v0.1.0", True), ("v9.9.9", False)])
def test_the_release_checks_the_tag_and_takes_the_changelog_s_notes(
    tmp_path: Path, tag: str, ok: bool
) -> None:
    (check,) = [s for s in steps(the_job("release.yml")) if "CHANGELOG" in str(s.get("run"))]
    env = {"PATH": os.environ["PATH"], "TAG": tag, "RUNNER_TEMP": str(tmp_path)}
    done = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", check["run"]],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert (done.returncode == 0) is ok, done.stdout + done.stderr
    if ok:
        notes = (tmp_path / "notes.md").read_text()
        assert notes.lstrip().startswith("### Added") and "## [" not in notes
    else:
        assert "::error title=release::tag v9.9.9 is not v0.1.0" in done.stdout


# --- actionlint ----------------------------------------------------------------------------

ACTIONLINT = shutil.which("actionlint", path=f"{Path(sys.executable).parent}{os.pathsep}")


@pytest.mark.skipif(
    ACTIONLINT is None,
    reason="actionlint is not installed (pip install -e '.[test]' brings it, with shellcheck)",
)
def test_actionlint_finds_nothing() -> None:
    assert ACTIONLINT is not None
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    done = subprocess.run(
        [ACTIONLINT, "-no-color", "-pyflakes="],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
