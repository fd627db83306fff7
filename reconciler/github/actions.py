"""What a GitHub Actions run tells a command about itself, from ``GITHUB_*`` variables and
the event payload at ``GITHUB_EVENT_PATH``: the repository, the pull request number,
whether that pull request comes from a fork, and a link to the run; and the step outputs
a command hands back (``$GITHUB_OUTPUT``)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from reconciler.env import (
    GITHUB_EVENT_PATH,
    GITHUB_OUTPUT,
    GITHUB_REPOSITORY,
    GITHUB_RUN_ID,
    GITHUB_SERVER_URL,
)
from reconciler.errors import ConfigError
from reconciler.github.client import check_repository


def load_event(env: Mapping[str, str]) -> dict[str, Any]:
    """The event payload, or ``{}`` outside Actions (or when the file is unreadable)."""
    path = env.get(GITHUB_EVENT_PATH)
    if not path:
        return {}
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def repository(explicit: str | None, env: Mapping[str, str]) -> str:
    """``--repo``, else ``GITHUB_REPOSITORY``, else a ConfigError saying what to pass."""
    value = explicit or env.get(GITHUB_REPOSITORY)
    if not value:
        raise ConfigError(
            f"which repository? Pass --repo OWNER/NAME (in Actions: {GITHUB_REPOSITORY})"
        )
    return check_repository(value, what="--repo")


def pull_request_number(explicit: int | None, event: Mapping[str, Any]) -> int:
    """``--pr``, else the number of the event's pull request (or issue comment's PR)."""
    if explicit is not None:
        return explicit
    for holder in (event.get("pull_request"), event.get("issue")):
        if isinstance(holder, Mapping) and isinstance(holder.get("number"), int):
            return int(holder["number"])
    number = event.get("number")
    if isinstance(number, int):
        return number
    raise ConfigError("which pull request? Pass --pr N (in Actions, run on a pull_request event)")


def fork_of(event: Mapping[str, Any]) -> str | None:
    """The fork's ``owner/name`` when the event's pull request comes from a fork."""
    pr = event.get("pull_request")
    if not isinstance(pr, Mapping):
        return None
    base = _full_name(pr.get("base"))
    head = pr.get("head")
    if base is None or not isinstance(head, Mapping):
        return None
    if head.get("repo") is None:
        return "a deleted fork"
    name = _full_name(head)
    return name if name is not None and name != base else None


def run_url(env: Mapping[str, str]) -> str | None:
    """A link to the current workflow run, when inside one."""
    server = env.get(GITHUB_SERVER_URL)
    repo = env.get(GITHUB_REPOSITORY)
    run_id = env.get(GITHUB_RUN_ID)
    if not (server and repo and run_id):
        return None
    return f"{server.rstrip('/')}/{repo}/actions/runs/{run_id}"


def _full_name(side: Any) -> str | None:
    if not isinstance(side, Mapping):
        return None
    repo = side.get("repo")
    if not isinstance(repo, Mapping):
        return None
    name = repo.get("full_name")
    return name if isinstance(name, str) else None


def set_outputs(values: Mapping[str, int | str], env: Mapping[str, str]) -> Path | None:
    """Append ``name=value`` lines to ``$GITHUB_OUTPUT``; None outside Actions."""
    path = env.get(GITHUB_OUTPUT)
    if not path:
        return None
    for name, value in values.items():
        if "\n" in f"{name}{value}" or "=" in name:
            raise ConfigError(f"step output {name!r}: one line, and no '=' in the name")
    with Path(path).open("a", encoding="utf-8") as out:
        out.writelines(f"{name}={value}\n" for name, value in values.items())
    return Path(path)
