"""What only some providers have, checked by file and line: a key's ``status`` (Anthropic:
active, inactive, archived) and a workspace's ``rate_limits`` (Anthropic's limit types);
La Plateforme has neither."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from reconciler.desired.load import check_desired_state

ROOT = Path(__file__).parents[2]
ANTHROPIC = ROOT / "examples" / "acme-anthropic"
MISTRAL = ROOT / "desired-state"
RESEARCH_KEY = "      role: service\n"
DEV_KEY = "      role: developer\n"


@pytest.mark.parametrize(
    ("example", "file", "after", "added", "where", "message"),
    [
        (
            ANTHROPIC,
            "research",
            RESEARCH_KEY,
            "      status: paused\n",
            "research.yaml:13:",
            "'paused' is not allowed here; expected one of: active, inactive, archived "
            "(archived is final)",
        ),
        (
            MISTRAL,
            "dev",
            DEV_KEY,
            "      status: inactive\n",
            "dev.yaml:",
            "La Plateforme keys have no status the API can set",
        ),
        (
            ANTHROPIC,
            "research",
            None,
            "  rate_limits:\n    Claude Sonnet: {requests_per_hour: 100}\n",
            "research.yaml:14:",
            "'requests_per_hour' is not allowed here; expected one of: requests_per_minute,",
        ),
        (
            MISTRAL,
            "dev",
            None,
            "  rate_limits: {small: {requests_per_minute: 5}}\n",
            "dev.yaml:",
            "La Plateforme workspaces have no rate limits the API can set",
        ),
    ],
    ids=["anthropic-status", "mistral-status", "anthropic-rate-limit", "mistral-rate-limit"],
)
def test_a_provider_s_own_fields_are_checked_by_file_and_line(
    tmp_path: Path,
    example: Path,
    file: str,
    after: str | None,
    added: str,
    where: str,
    message: str,
) -> None:
    shutil.copytree(example, tmp_path / "desired")
    path = tmp_path / "desired" / "workspaces" / f"{file}.yaml"
    text = path.read_text()
    path.write_text(text.replace(after, after + added, 1) if after else text + added)

    errors = check_desired_state(tmp_path / "desired").errors

    assert len(errors) == 1, errors
    assert where in str(errors[0]) and message in str(errors[0])
