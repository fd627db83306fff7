"""The plan comment on a pull request, edited in place instead of posted again.

Every comment this module writes starts with a hidden marker line::

    <!-- reconciler plan -->                      part 1, no key
    <!-- reconciler plan: desired-state/prod -->  part 1 of the plan keyed "desired-state/prod"
    <!-- reconciler plan: KEY (part 2) -->        a continuation

so the next run finds its own comments (on any page of the PR's comments) and edits them.
A key keeps two plans on one PR (two directories, two targets) from overwriting each other.
A body over GitHub's limit is split (:mod:`reconciler.github.split`); when a later plan
needs fewer parts, the surplus old parts are deleted (or, if the token may not delete,
blanked), so a PR never shows half of a stale plan. A plan needing more than ten
comments is cut after the tenth, which says where the full plan is.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from reconciler.errors import ConfigError, Forbidden, NotFound
from reconciler.github.client import GitHubClient, check_repository
from reconciler.github.split import CONTINUED, MAX_COMMENT_CHARS, split_markdown

PERMISSION = "pull-requests: write"
MAX_PARTS = 10  # about 650,000 characters; more would trip GitHub's secondary rate limits
CUT = (
    "_Plan cut here: it needs more than {parts} comments. The full plan is in the run's artifacts._"
)
SUPERSEDED = "_Superseded: the plan now fits in fewer comments._"
_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/@:+= -]{0,99}$")
_MARKER = re.compile(
    r"^<!-- reconciler plan(?:: (?P<key>[A-Za-z0-9][A-Za-z0-9._/@:+= -]*?))?"
    r"(?: \(part (?P<part>[1-9][0-9]{0,3})\))? -->[ \t]*$"
)


def check_key(key: str | None) -> str | None:
    """A usable key (letters, digits, ``._/@:+= -``, at most 100), None, or a ConfigError."""
    if key is None or not key.strip():
        return None
    key = key.strip()
    if not _KEY.match(key):
        raise ConfigError(
            f"--key {key!r}: use letters, digits and . _ / @ : + = - or space (at most 100), "
            "e.g. the desired-state directory"
        )
    return key


def marker(key: str | None = None, part: int = 1) -> str:
    """The hidden first line of part ``part`` of the plan comment keyed ``key``."""
    label = "reconciler plan" + (f": {key}" if key else "")
    if part > 1:
        label += f" (part {part})"
    return f"<!-- {label} -->"


def parse_marker(body: str) -> tuple[str | None, int] | None:
    """``(key, part)`` when ``body`` is one of our plan comments, else None."""
    first = body.split("\n", 1)[0].rstrip("\r")
    match = _MARKER.match(first)
    if match is None:
        return None
    return match["key"], int(match["part"] or 1)


def _strip_marker(markdown: str) -> str:
    """The plan without a marker line of its own (``reconciler plan --format markdown``)."""
    first, sep, rest = markdown.partition("\n")
    return rest if sep and parse_marker(first) is not None else markdown


def comment_bodies(
    markdown: str,
    *,
    key: str | None = None,
    limit: int = MAX_COMMENT_CHARS,
    max_parts: int = MAX_PARTS,
    preface: str = "",
) -> list[str]:
    """The comment bodies for one plan: marker line, then a part of the split plan
    (``preface`` first: where the plan came from, :mod:`reconciler.github.provenance`).

    A plan needing more than ``max_parts`` comments is cut after the last one, which says so.
    """
    key = check_key(key)
    cut = CUT.format(parts=max_parts)
    reserve = len(marker(key, 9999)) + 1 + max(0, len(cut) - len(CONTINUED))
    parts = split_markdown(preface + _strip_marker(markdown), limit - reserve)
    bodies = [f"{marker(key, n)}\n{part.text}" for n, part in enumerate(parts, start=1)]
    if len(parts) > max_parts:
        last = parts[max_parts - 1]
        text = dataclasses.replace(last, suffix=last.suffix.replace(CONTINUED, cut)).text
        bodies = [*bodies[: max_parts - 1], f"{marker(key, max_parts)}\n{text}"]
    return bodies


@dataclass(frozen=True, slots=True)
class PostedPart:
    part: int
    comment_id: int
    url: str
    action: str  # created | updated | unchanged


@dataclass(frozen=True, slots=True)
class CommentResult:
    repository: str
    number: int
    parts: tuple[PostedPart, ...]
    deleted: tuple[int, ...] = ()
    blanked: tuple[int, ...] = ()

    @property
    def url(self) -> str:
        return self.parts[0].url if self.parts else ""

    def describe(self) -> str:
        actions = {p.action for p in self.parts}
        if actions == {"unchanged"}:
            verb = "is already up to date"
        elif actions == {"created"}:
            verb = "posted"
        else:
            verb = "updated"
        text = f"Plan comment on {self.repository}#{self.number} {verb}"
        if len(self.parts) > 1:
            text += f" ({len(self.parts)} parts)"
        removed = len(self.deleted) + len(self.blanked)
        if removed:
            text += f"; {removed} old part(s) removed"
        return text + (f": {self.url}" if self.url else "")


async def find_plan_comments(
    client: GitHubClient,
    repository: str,
    number: int,
    *,
    key: str | None = None,
    author: str | None = None,
) -> dict[int, list[Mapping[str, Any]]]:
    """Our plan comments for ``key`` on the PR, by part number, oldest first."""
    comments = await client.paginate(
        f"/repos/{repository}/issues/{number}/comments", permission=PERMISSION
    )
    found: dict[int, list[Mapping[str, Any]]] = {}
    for comment in comments:
        if not isinstance(comment, Mapping) or not isinstance(comment.get("id"), int):
            continue
        body = comment.get("body")
        parsed = parse_marker(body) if isinstance(body, str) else None
        if parsed is None or parsed[0] != key:
            continue
        if author is not None and login_of(comment) != author:
            continue
        found.setdefault(parsed[1], []).append(comment)
    for group in found.values():
        group.sort(key=lambda c: int(c["id"]))
    return found


async def post_plan_comment(
    client: GitHubClient,
    repository: str,
    number: int,
    markdown: str,
    *,
    key: str | None = None,
    author: str | None = None,
    limit: int = MAX_COMMENT_CHARS,
    preface: str = "",
) -> CommentResult:
    """Create the plan comment, or edit the previous one in place; drop surplus old parts.
    ``preface`` goes before the plan (see :func:`comment_bodies`)."""
    repository = check_repository(repository, what="--repo")
    if number < 1:
        raise ConfigError(f"--pr must be a pull request number, got {number}")
    key = check_key(key)
    if not markdown.strip():
        raise ConfigError("the plan to post is empty")
    bodies = comment_bodies(markdown, key=key, limit=limit, preface=preface)
    existing = await find_plan_comments(client, repository, number, key=key, author=author)
    posted: list[PostedPart] = []
    surplus: list[tuple[int, Mapping[str, Any]]] = []
    for part, body in enumerate(bodies, start=1):
        olds = existing.pop(part, [])
        surplus.extend((part, old) for old in olds[1:])
        if olds:
            old = olds[0]
            if old.get("body") == body:
                posted.append(PostedPart(part, int(old["id"]), _url(old), "unchanged"))
                continue
            data = await client.json(
                "PATCH",
                f"/repos/{repository}/issues/comments/{old['id']}",
                json={"body": body},
                permission=PERMISSION,
            )
            posted.append(PostedPart(part, int(old["id"]), _url(data, old), "updated"))
        else:
            data = await client.json(
                "POST",
                f"/repos/{repository}/issues/{number}/comments",
                json={"body": body},
                permission=PERMISSION,
            )
            new_id = data.get("id") if isinstance(data, Mapping) else None
            new_id = new_id if isinstance(new_id, int) else 0
            posted.append(PostedPart(part, new_id, _url(data), "created"))
            check_author(data, author, what=f"comment {_url(data) or new_id}")
    for part, olds in sorted(existing.items()):
        surplus.extend((part, old) for old in olds)
    deleted: list[int] = []
    blanked: list[int] = []
    for part, old in surplus:
        comment_id = int(old["id"])
        path = f"/repos/{repository}/issues/comments/{comment_id}"
        try:
            await client.request("DELETE", path, permission=PERMISSION)
        except NotFound:
            pass  # already gone
        except Forbidden:
            blank = f"{marker(key, part)}\n{SUPERSEDED}\n"
            if old.get("body") != blank:
                await client.request("PATCH", path, json={"body": blank}, permission=PERMISSION)
            blanked.append(comment_id)
            continue
        deleted.append(comment_id)
    return CommentResult(repository, number, tuple(posted), tuple(deleted), tuple(blanked))


def check_author(posted: Any, author: str | None, *, what: str) -> None:
    """ConfigError when what the token just posted is not by ``author``: with a wrong
    author, the next run would not find it and would post another, every run."""
    login = login_of(posted)
    if author is not None and login is not None and login != author:
        raise ConfigError(
            f"the token posts as {login!r}, not as the author given ({author!r}): {what} "
            f"will not be found by the next run, which would post another. Set the action's "
            f"comment-author (or --author) to {login!r}"
        )


def login_of(item: Any) -> str | None:
    """The login of who posted ``item`` (a comment or an issue as GitHub lists it)."""
    user = item.get("user") if isinstance(item, Mapping) else None
    login = user.get("login") if isinstance(user, Mapping) else None
    return login if isinstance(login, str) else None


def _url(*candidates: Any) -> str:
    for data in candidates:
        if isinstance(data, Mapping) and isinstance(data.get("html_url"), str):
            return str(data["html_url"])
    return ""
