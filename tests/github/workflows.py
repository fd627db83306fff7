"""Reading the workflows and the composite action for the tests: files, jobs, steps, and
which job holds a secret and what code it runs."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = ROOT / ".github" / "workflows"
ACTION_DIR = ROOT / ".github" / "actions" / "reconciler"
TOOL = ".reconciler-tool"  # where the reusable workflows check out reconciler itself
TOOL_ACTION = f"./{TOOL}/.github/actions/reconciler"
CALLERS = ("reconciler-plan.yml", "reconciler-apply.yml", "reconciler-drift.yml")
REUSABLE = ("reusable-plan.yml", "reusable-apply.yml", "reusable-drift.yml")
ALL = sorted(p.name for p in WORKFLOWS.glob("*.yml"))
SHA_PIN = re.compile(r"^[\w.-]+/[\w.-]+(?:/[\w./-]+)?@[0-9a-f]{40} # v\d+\.\d+\.\d+$")
# A run step that starts a program from the workspace, or installs one.
RUNS_CODE = re.compile(r"\b(?:pip|python3?|bash|sh|source|make|npm|npx|node|uv)\b|\./|\.sh\b")


def load(path: Path) -> dict[str, Any]:
    data = YAML(typ="safe").load(path.read_text())
    assert isinstance(data, dict), path
    return data


def workflow(name: str) -> dict[str, Any]:
    return load(WORKFLOWS / name)


def triggers(wf: dict[str, Any]) -> set[str]:
    on = wf["on"]
    return {on} if isinstance(on, str) else {str(t) for t in on}


def jobs(wf: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return dict(wf["jobs"])


def steps(job: dict[str, Any]) -> list[dict[str, Any]]:
    return list(job.get("steps", []))


def the_job(name: str) -> dict[str, Any]:
    (job,) = jobs(workflow(name)).values()
    return job


def job_running(wf: dict[str, Any], command: str) -> dict[str, Any]:
    """The job whose step runs the reconciler action with ``command``."""
    (job,) = [j for j in jobs(wf).values() if any(is_ours(s, command) for s in steps(j))]
    return job


def is_ours(step: dict[str, Any], command: str | None = None) -> bool:
    uses = str(step.get("uses", ""))
    if not uses.endswith("/.github/actions/reconciler"):
        return False
    return command is None or step.get("with", {}).get("command") == command


def our_step(job: dict[str, Any], command: str) -> dict[str, Any]:
    (step,) = [s for s in steps(job) if is_ours(s, command)]
    return step


def holds_secret(job: dict[str, Any]) -> bool:
    """A job that can read a secret or get an OIDC token (and so log in to Vault)."""
    permissions = job.get("permissions") or {}
    return "secrets." in str(job) or (
        isinstance(permissions, dict) and permissions.get("id-token") == "write"
    )


def uses_lines(path: Path) -> Iterator[str]:
    """Every ``uses:`` value as written, comment included."""
    for line in path.read_text().splitlines():
        found = re.match(r"^\s*(?:- )?uses: (.+)$", line)
        if found:
            yield found[1].strip()
