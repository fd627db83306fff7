"""When one pull request merges, the other open ones' plans are stale: mark them, plan again.

A plan comment records the base it was planned against
(:mod:`reconciler.github.provenance`). After a merge moves the base branch to a new commit,
every other open pull request into that branch whose plan comment (for the same key) was
planned against another base gets a warning at the top of that comment, edited in place,
and, as Atlantis plans again when a pull request changes, a new plan: the plan workflow
is dispatched for it (``workflow_dispatch`` with input ``pull-request``; a dispatch is
the one event a workflow's own token may start). That run edits the same comment again,
which drops the warning. A pull request from a fork is only marked: its plan runs without
secrets, so it has no plan to make again.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from reconciler.github.client import GitHubClient
from reconciler.github.comments import PERMISSION, find_plan_comments
from reconciler.github.provenance import parse, short, stale_body


@dataclass(frozen=True, slots=True)
class Replan:
    """Dispatch ``workflow`` (its file name) at ``ref`` to plan a pull request again."""

    workflow: str
    ref: str


@dataclass(frozen=True, slots=True)
class Marked:
    pull_request: int
    comment_id: int
    replanned: bool


def describe(marked: list[Marked], *, base: str) -> str:
    if not marked:
        return f"No plan comment of an open pull request to mark stale at {short(base)}."
    numbers = ", ".join(f"#{m.pull_request}" for m in marked)
    again = sum(m.replanned for m in marked)
    return f"Marked {len(marked)} plan comment(s) stale ({numbers}); planning {again} again."


async def mark_stale_plans(
    client: GitHubClient,
    repository: str,
    *,
    branch: str,
    base: str,
    key: str | None,
    merged: int | None = None,
    replan: Replan | None = None,
    run_url: str | None = None,
    author: str | None = None,
) -> list[Marked]:
    """Mark the plan comments of open pull requests into ``branch`` planned against another
    commit than ``base`` (its tip now), and dispatch ``replan`` for each. ``author``: only
    comments by this login are plan comments (anyone can post one that looks like it, naming
    the new base, to keep a pull request from being planned again)."""
    pulls = await client.paginate(
        f"/repos/{repository}/pulls",
        params={"state": "open", "base": branch},
        permission="pull-requests: read",
    )
    marked: list[Marked] = []
    for pr in pulls:
        number = pr.get("number") if isinstance(pr, Mapping) else None
        if not isinstance(number, int) or number == merged:
            continue
        found = await find_plan_comments(client, repository, number, key=key, author=author)
        if not found.get(1):
            continue
        first = found[1][0]
        body = str(first.get("body", ""))
        planned = parse(body)
        if planned is not None and planned.base == base:
            continue  # already planned against the new base
        again = replan is not None and _same_repository(pr, repository)
        body_now = stale_body(
            body, base=base, branch=branch, merged=merged, replan=_how(again, run_url)
        )
        if body_now == body:
            continue  # marked for this base already, and planned again then
        await client.json(
            "PATCH",
            f"/repos/{repository}/issues/comments/{first['id']}",
            json={"body": body_now},
            permission=PERMISSION,
        )
        if again and replan is not None:
            await client.request(
                "POST",
                f"/repos/{repository}/actions/workflows/{replan.workflow}/dispatches",
                json={"ref": replan.ref, "inputs": {"pull-request": str(number)}},
                permission="actions: write",
            )
        marked.append(Marked(number, int(first["id"]), again))
    return marked


def _how(replanned: bool, run_url: str | None) -> str:
    if not replanned:
        return "Push to this branch to plan it again."
    where = f" ([started here]({run_url}))" if run_url else ""
    return f"A new plan follows in this comment{where}."


def _same_repository(pr: Mapping[str, Any], repository: str) -> bool:
    head = pr.get("head")
    repo = head.get("repo") if isinstance(head, Mapping) else None
    return isinstance(repo, Mapping) and repo.get("full_name") == repository
