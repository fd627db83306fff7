"""What the drift job says on a drift issue as it closes or reopens it.

:mod:`.drift` closes a target's issue when a check finds no drift (with :func:`no_drift_note`)
and closes the duplicates a race left behind. When drift is found and the issue is closed,
it reopens it, and :func:`reopen_note` says why from the job's own notes on it: the drift is
back (the last of them closed it), or it never went (a person closed the issue while it
remained), which only a change to the live organisation or to the desired state ends.
"""

from __future__ import annotations

from collections.abc import Mapping

from reconciler.github.client import GitHubClient

PERMISSION = "issues: write"
_CLOSED = "No drift found on"
_BACK = "Drift is back on"
_REMAINED = "Closed while the drift remained"


def no_drift_note(when: str) -> str:
    """The note that closes an issue: ``when`` is the time and the run that found no drift."""
    return f"{_CLOSED} {when}: closing."


async def close_issue(client: GitHubClient, base: str, number: int, note: str, reason: str) -> None:
    """Comment ``note`` on issue ``number`` (under ``base``, the repository's issues), then
    close it with ``reason``."""
    await client.request(
        "POST", f"{base}/{number}/comments", json={"body": note}, permission=PERMISSION
    )
    await client.request(
        "PATCH",
        f"{base}/{number}",
        json={"state": "closed", "state_reason": reason},
        permission=PERMISSION,
    )


async def reopen_note(client: GitHubClient, base: str, number: int, when: str) -> str:
    """The note that reopens closed issue ``number``: drift back after this job closed it,
    or drift still there when a person closed it."""
    comments = await client.paginate(f"{base}/{number}/comments", permission=PERMISSION)
    ours = [
        body
        for comment in comments
        if isinstance(comment, Mapping)
        and isinstance(body := comment.get("body"), str)
        and body.startswith((_CLOSED, _BACK, _REMAINED))
    ]
    if ours and ours[-1].startswith(_CLOSED):
        return f"{_BACK} {when}: reopened."
    return (
        f"{_REMAINED}; still there on {when}: reopened. To keep it closed, resolve the drift, "
        "or change the desired state to accept what is live."
    )
