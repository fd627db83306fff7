"""Hostile live names, end to end: what the commands print, post and write.

The embedded sandbox is seeded with names no console would stop: a workspace and a key
named like the PR-comment injection, a key that clears the screen, a person whose email
sets the terminal's title and reverses the text after it. ``plan`` (three formats),
``apply``, ``budget`` and ``github comment|drift`` then run as a user or CI runs them;
no raw control character reaches their output, and the Markdown keeps its shape.
``validate`` gets the same treatment from hostile YAML keys and file names.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx
from typer.testing import CliRunner

from reconciler.cli.main import app
from reconciler.desired.yaml_loader import load_text
from reconciler.platform.sandbox import DEMO_SEED
from tests.e2e.conftest import run_cli
from tests.example_dates import copy_example
from tests.github.helpers import API, REPO, TOKEN_TEXT
from tests.hostile import INJECTION, assert_markdown_safe, assert_terminal_safe

EVIL_EMAIL = "eve\x1b]0;owned\x07\u202e@acme.example"
CLEAR = "clear\x1b[2J\x1b[Hscreen"
ALICE = "alice.martin@acme.example"


def hostile_seed() -> dict[str, Any]:
    seed: dict[str, Any] = load_text(DEMO_SEED.read_text(encoding="utf-8")).data
    seed["users"].append({"email": EVIL_EMAIL, "first_name": "\x1b[31mEve"})
    dev = next(w for w in seed["workspaces"] if w["name"] == "dev")
    dev["members"][EVIL_EMAIL] = "user"
    seed["workspaces"].append(
        {"name": INJECTION, "description": CLEAR, "members": {ALICE: "workspace_admin"}}
    )
    seed["keys"] += [
        {"name": INJECTION, "workspace": "dev", "owner": ALICE},
        {"name": CLEAR, "workspace": "dev", "owner": EVIL_EMAIL},
    ]
    seed["usage"].append(
        {"workspace": INJECTION, "model": "mistral-small-latest", "input_tokens": 10**8}
    )
    return seed


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A desired state that prunes dev's unmanaged keys, against the hostile sandbox."""
    root = tmp_path_factory.mktemp("hostile")
    copy_example(root / "desired-state")
    dev = root / "desired-state" / "workspaces" / "dev.yaml"
    dev.write_text(
        dev.read_text().replace("prune_unmanaged_keys: false", "prune_unmanaged_keys: true")
    )
    (root / "seed.json").write_text(json.dumps(hostile_seed()))
    reset = run_cli(["sandbox", "reset", "--seed", "seed.json"], cwd=root)
    assert reset.returncode == 0, reset.stderr
    return root


@pytest.fixture(scope="module")
def plans(project: Path) -> dict[str, str]:
    """``plan`` in each format: what it printed on stdout; stderr must be safe too."""
    outputs = {}
    for fmt in ("text", "markdown", "json"):
        result = run_cli(["plan", "--sandbox", "--format", fmt], cwd=project)
        assert result.returncode == 0, result.stderr
        assert_terminal_safe(result.stderr)
        outputs[fmt] = result.stdout
    return outputs


def test_plan_in_every_format(plans: dict[str, str]) -> None:
    outputs = plans
    for output in outputs.values():
        assert_terminal_safe(output)
    assert "api_key.x\\n```\\n</details>\\n## Injected" in outputs["text"]
    assert "member.dev/eve\\x1b]0;owned\\x07\\u202e@acme.example" in outputs["text"]
    assert_markdown_safe(outputs["markdown"], fences=2)  # the plan; the unmanaged objects
    names = {rc["name"] for rc in json.loads(outputs["json"])["resource_changes"]}
    assert {INJECTION, CLEAR} <= names


def test_budget_in_text_and_markdown(project: Path) -> None:
    for fmt in ("text", "markdown"):
        result = run_cli(["budget", "--sandbox", "--format", fmt], cwd=project)
        assert result.returncode in (0, 2), result.stderr
        assert_terminal_safe(result.stdout + result.stderr)
        assert "Injected" in result.stdout
        if fmt == "markdown":
            assert_markdown_safe(result.stdout, fences=0)


def _comment_and_drift(project: Path, markdown: str, plan_json: str) -> None:
    summary = project / "summary.md"
    env = {
        "GITHUB_ACTIONS": "true",
        "GITHUB_TOKEN": TOKEN_TEXT,
        "GITHUB_API_URL": API,
        "GITHUB_REPOSITORY": REPO,
        "GITHUB_STEP_SUMMARY": str(summary),
        "NO_COLOR": "1",
    }
    (project / "plan.json").write_text(plan_json)
    comments = f"{API}/repos/{REPO}/issues/12/comments"
    issues = f"{API}/repos/{REPO}/issues"
    url = f"https://github.test/{REPO}/issues/4"
    with respx.mock:
        respx.get(comments).respond(200, json=[])
        posted = respx.post(comments).mock(return_value=httpx.Response(201, json={"id": 1}))
        respx.get(issues).respond(200, json=[])
        respx.get(f"{issues.replace('/issues', '/labels')}/reconciler-drift").respond(200, json={})
        opened = respx.post(issues).respond(201, json={"number": 4, "html_url": url})
        runner = CliRunner()
        comment = runner.invoke(app, ["github", "comment", "--pr", "12"], env=env, input=markdown)
        drift = runner.invoke(
            app, ["github", "drift", "--plan-json", str(project / "plan.json")], env=env
        )
    for result in (comment, drift):
        assert result.exit_code == 0, result.output
        assert_terminal_safe(result.stdout + result.stderr)
    body = json.loads(posted.calls.last.request.content)["body"]
    assert_markdown_safe(body, fences=2)
    issue = json.loads(opened.calls.last.request.content)
    assert_terminal_safe(issue["title"] + issue["body"])
    assert_markdown_safe(issue["body"], fences=0)
    assert_markdown_safe(summary.read_text(), fences=0, links=(url,))


def test_comment_and_drift_issue(project: Path, plans: dict[str, str]) -> None:
    _comment_and_drift(project, plans["markdown"], plans["json"])


def test_apply_progress_and_report(project: Path, plans: dict[str, str]) -> None:
    """After the plans (``plans``): it changes the sandbox (the hostile member and keys go)."""
    # --force: the hostile keys and the departed employee go together, over the delete share
    result = run_cli(["apply", "--sandbox", "--auto-approve", "--force"], cwd=project)
    assert result.returncode == 0, result.stderr
    assert_terminal_safe(result.stdout + result.stderr)
    progress = [line for line in result.stdout.splitlines() if line.endswith("ing...")]
    assert "api_key.clear\\x1b[2J\\x1b[Hscreen: Destroying..." in progress
    assert "member.dev/eve\\x1b]0;owned\\x07\\u202e@acme.example: Removing..." in progress
    assert any(line.startswith("api_key.x\\n```\\n</details>") for line in progress)


def test_validate_escapes_hostile_keys_and_file_names(tmp_path: Path) -> None:
    copy_example(tmp_path / "desired-state")
    workspaces = tmp_path / "desired-state" / "workspaces"
    text = (workspaces / "dev.yaml").read_text()
    (workspaces / "dev.yaml").write_text(
        text.replace("  protected: false", '  protected: false\n  "\\e[2J\\e]0;x\\a\\u202e": 1')
    )
    (workspaces / "evil\x1b[2J.yaml").write_text('version: 1\nworkspace: {name: "\\e[31m"}\n')
    result = run_cli(["validate", "--today", "2026-12-01"], cwd=tmp_path)
    assert result.returncode == 1
    assert_terminal_safe(result.stdout + result.stderr)
    assert 'workspace["\\x1b[2J\\x1b]0;x\\x07\\u202e"]: unknown field' in result.stderr
    assert "desired-state/workspaces/evil\\x1b[2J.yaml:" in result.stderr
