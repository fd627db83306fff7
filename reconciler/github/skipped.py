"""Merges whose own apply never ran, found by the next apply and told so.

The apply workflow runs one apply at a time per directory, never cancelled midway, and
GitHub keeps one run waiting behind it: when a third merge queues while the first's apply
runs, the second's waiting run is cancelled before it starts. The second's changes are in
the desired state the third's apply reads, so they are planned and applied with it (its
reviewed plan, made before them, is then stale: a fresh plan of both is posted), but the
second pull request would be told nothing, and its author left to guess.

So each apply keeps, in its state directory (restored and saved with the journal), the
last merge it took up (:class:`Record`). The next one lists the commits between that merge
and its own (``GET compare``), the pull requests merged as each of them
(``commits/{sha}/pulls``), keeps those that changed its directory (``pulls/{n}/files``),
and posts on each, where its own apply would have, which later merge carries its changes
(:func:`skipped_note`). A history that was rewritten, or a run older than the record (a
re-run), tells nobody.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from reconciler.errors import ConfigError, NotFound
from reconciler.github.client import GitHubClient
from reconciler.github.provenance import short
from reconciler.github.reviewed import merged_pull_request
from reconciler.private_paths import private_folder, replace_file
from reconciler.textsafe import inline_code

RECORD_FILE = "github-merges.json"
RECORD_VERSION = 1
#: Merges looked at between two applies, at most (GitHub's compare lists 250 commits a
#: page); more than that many merges in one apply's time is not a queue any more.
MAX_MERGES = 50
#: Files of a pull request looked at for the directory, at most (GitHub lists 3,000).
MAX_FILES_PAGES = 30
#: Pages of 100 commits read between two applies, at most: past them, nobody is told.
MAX_COMMIT_PAGES = 5
_SHA = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")


@dataclass(frozen=True, slots=True)
class Skipped:
    """A pull request whose merge had no apply of its own."""

    number: int
    sha: str  # its merge commit


class Record:
    """The last merge each directory's apply took up, in ``<state dir>/github-merges.json``
    (0600, replaced whole, never written through a link)."""

    def __init__(self, state_dir: Path) -> None:
        self.path = state_dir / RECORD_FILE

    def last(self, key: str) -> str | None:
        """The merge the last apply of ``key`` took up; None without one (a first apply,
        or a record that cannot be read or names no commit: nobody is told rather than
        the wrong people)."""
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        merges = data.get("merges") if isinstance(data, dict) else None
        found = merges.get(key) if isinstance(merges, dict) else None
        return found if isinstance(found, str) and _SHA.fullmatch(found) else None

    def keep(self, key: str, sha: str) -> None:
        """Record ``sha`` as the merge ``key``'s apply took up."""
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            data = {}
        merges = data.get("merges") if isinstance(data, dict) else None
        merges = dict(merges) if isinstance(merges, dict) else {}
        merges[key] = sha
        text = json.dumps({"version": RECORD_VERSION, "merges": merges}, indent=2, sort_keys=True)
        try:
            private_folder(self.path.parent)
            replace_file(self.path, (text + "\n").encode())
        except OSError as exc:
            raise ConfigError(f"{self.path}: cannot record the merge ({exc.strerror})") from exc


Order = Literal["ahead", "same", "behind", "apart"]


async def skipped_merges(
    client: GitHubClient, repository: str, *, since: str, head: str, directory: str
) -> tuple[list[Skipped], Order]:
    """The pull requests merged after ``since`` and before ``head`` that changed
    ``directory``, oldest first; and how ``head`` stands to ``since``: ``ahead`` (after
    it), ``behind`` (before it: a re-run of an older run) or ``apart`` (the history was
    rewritten). Only ``ahead`` finds anyone."""
    url = f"/repos/{repository}/compare/{since}...{head}"
    commits: list[Mapping[str, object]] = []
    for page in range(1, MAX_COMMIT_PAGES + 1):
        try:
            compared = await client.json(
                "GET", url, params={"per_page": 100, "page": page}, permission="contents: read"
            )
        except NotFound:  # ``since`` is gone from the repository: a rewritten history
            return [], "apart"
        status = compared.get("status") if isinstance(compared, Mapping) else None
        if status != "ahead":
            return [], "behind" if status in ("behind", "identical") else "apart"
        listed = compared.get("commits") if isinstance(compared, Mapping) else None
        listed = [c for c in listed or () if isinstance(c, Mapping)]
        commits += listed
        total = compared.get("total_commits") if isinstance(compared, Mapping) else None
        if len(listed) < 100 or (isinstance(total, int) and len(commits) >= total):
            break
    found: list[Skipped] = []
    for sha in _merges(commits, since=since, head=head):
        pr = await merged_pull_request(client, repository, sha)
        if pr is None or not await _changes(client, repository, int(pr["number"]), directory):
            continue
        found.append(Skipped(int(pr["number"]), sha))
        if len(found) >= MAX_MERGES:
            break
    return found, "ahead"


def _merges(commits: Sequence[Mapping[str, object]], *, since: str, head: str) -> list[str]:
    """The commits the default branch went through from ``since`` to ``head``, oldest
    first, ``head`` left out: ``head``'s first parent, its first parent's, and so on (a
    merged branch's own commits are not the branch's merges, and are not looked up).
    Empty when the listing does not reach back from ``head`` to ``since`` (more commits
    than :data:`MAX_COMMIT_PAGES` pages hold)."""
    first_parent: dict[str, str | None] = {}
    for commit in commits:
        sha, parents = commit.get("sha"), commit.get("parents")
        if not isinstance(sha, str):
            continue
        first = parents[0] if isinstance(parents, list) and parents else None
        first_parent[sha] = first.get("sha") if isinstance(first, Mapping) else None
    chain: list[str] = []
    at: str | None = first_parent.get(head) if head in first_parent else None
    while at is not None and at != since:
        if at not in first_parent or at in chain or len(chain) > len(first_parent):
            return []  # the listing stops short of ``since``
        chain.append(at)
        at = first_parent[at]
    return list(reversed(chain)) if at == since else []


async def _changes(client: GitHubClient, repository: str, number: int, directory: str) -> bool:
    """Whether pull request ``number`` changed a file under ``directory`` (its files as
    GitHub lists them, renamed ones by both names)."""
    prefix = directory.strip("/") + "/"
    path = f"/repos/{repository}/pulls/{number}/files"
    for page in range(1, MAX_FILES_PAGES + 1):
        files = await client.json(
            "GET",
            path,
            params={"per_page": 100, "page": page},
            permission="pull-requests: read",
        )
        if not isinstance(files, list):
            return False
        for item in files:
            if not isinstance(item, Mapping):
                continue
            names = (item.get("filename"), item.get("previous_filename"))
            if any(isinstance(n, str) and n.startswith(prefix) for n in names):
                return True
        if len(files) < 100:
            return False
    return False


def skipped_note(
    skipped: Skipped, *, directory: str, head: str, carrier: int | None, run_url: str | None
) -> str:
    """What a pull request whose merge had no apply of its own is told (Markdown)."""
    by = f"`{short(head)}`" + (f" (#{carrier})" if carrier else "")
    run = f"[this run]({run_url})" if run_url else "its apply"
    return (
        f"### reconciler: {inline_code(directory)} at `{short(skipped.sha)}`: no apply of its "
        "own\n\n"
        "> [!NOTE]\n"
        "> **No apply ran for this merge.** It was cancelled before it started, or never\n"
        "> ran: GitHub keeps one apply waiting behind the running one, and cancels it when\n"
        "> a later merge queues.\n\n"
        f"This pull request's changes are in the desired state of the later merge {by}: "
        f"{run} takes them up with that merge's own. "
        + (f"#{carrier}" if carrier else "That run")
        + " says what was applied, or posts the plan of all of them to review and apply.\n"
    )


def carried_note(skipped: Sequence[Skipped]) -> str:
    """The line the merge that carries them adds to what it says (Markdown; empty when it
    carries none)."""
    if not skipped:
        return ""
    named = ", ".join(f"#{s.number} (`{short(s.sha)}`)" for s in skipped)
    return (
        f"This merge's apply also carries the changes of {named}, whose own apply did not "
        "run; a plan reviewed before them is stale."
    )


def describe(told: Sequence[Skipped], order: Order | None) -> list[str]:
    """What the command prints: one line per pull request told, or why none was
    (``order`` None: no earlier apply is recorded)."""
    if order is None:
        return ["No earlier apply recorded here: nobody to tell."]
    if order == "same":
        return ["This merge was taken up here already: nobody told again."]
    if order != "ahead":
        return ["This merge does not follow the one last applied here: nobody told."]
    if not told:
        return ["Every earlier merge had an apply of its own."]
    return [f"Told #{s.number} ({short(s.sha)}) that this run carries its changes." for s in told]
