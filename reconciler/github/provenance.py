"""Where a plan comment's plan came from, and the name of the saved plan that goes with it.

A plan comment names the pull request's commit it planned, the base commit it was planned
against (the tip of the base branch GitHub merged the pull request with) and the run that
made it, once for reviewers and once, hidden, for the runs that come after::

    <!-- reconciler provenance: {"base": "9f3c…", "commit": "41d2…", "pull_request": 12} -->
    > Planned `41d2a7e` (head of #12) merged with base `9f3c0b1` in [run 4242](…). …

The plan job saves that plan as the artifact :func:`artifact_name` names (the directory's
key, the pull request and its head commit), so the merge job finds the plan reviewers saw
for exactly the commit that was merged. When the base moves on (another pull request
merged), :func:`stale_body` heads the comment with a warning naming both bases. Pure.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from reconciler.errors import ConfigError
from reconciler.textsafe import inline_code

ARTIFACT_PREFIX = "reconciler-plan-"
_HIDDEN = re.compile(r"^<!-- reconciler provenance: (?P<data>\{[^\n]*\}) -->$", re.M)
_STALE_START = "<!-- reconciler stale -->"
_STALE_END = "<!-- /reconciler stale -->"
_STALE = re.compile(re.escape(_STALE_START) + r".*?" + re.escape(_STALE_END) + r"\n", re.S)
_SHA = re.compile(r"^[0-9a-f]{7,64}$")


@dataclass(frozen=True, slots=True)
class Provenance:
    """What a plan was made from: the pull request's ``commit`` (its head) merged with the
    ``base`` commit, in the run at ``run_url``."""

    commit: str
    base: str
    pull_request: int | None = None
    run_url: str | None = None

    def __post_init__(self) -> None:
        check_sha(self.commit, what="commit")
        check_sha(self.base, what="base")


def check_sha(value: str, *, what: str) -> str:
    """``value`` if it is a commit SHA (hex), else a ConfigError naming ``what``."""
    if not _SHA.match(value):
        raise ConfigError(f"--{what} must be a commit SHA, got {value!r}")
    return value


def short(sha: str) -> str:
    return sha[:7]


def slug(key: str | None) -> str:
    """``key`` (a desired-state directory) as a piece of an artifact name."""
    return re.sub(r"[^A-Za-z0-9._-]+", "-", key or "").strip("-.") or "plan"


def artifact_name(key: str | None, pull_request: int | None, commit: str) -> str:
    """The artifact holding the plan of directory ``key`` for ``pull_request`` at ``commit``
    (its head), or, without a pull request, planned at ``commit`` (the merge job's fresh
    plan)."""
    where = f"pr{pull_request}-" if pull_request else ""
    return f"{ARTIFACT_PREFIX}{slug(key)}-{where}{check_sha(commit, what='commit')}"


def parse_artifact_name(artifact: str, key: str | None) -> tuple[bool, int | None]:
    """Whether ``artifact`` is named by :func:`artifact_name` for ``key``, and the pull
    request it is for (None: a plan made without one)."""
    found = re.fullmatch(
        re.escape(f"{ARTIFACT_PREFIX}{slug(key)}-") + r"(?:pr(?P<pr>[1-9][0-9]*)-)?[0-9a-f]+",
        artifact,
    )
    if found is None:
        return False, None
    return True, int(found["pr"]) if found["pr"] else None


def preface(p: Provenance, *, artifact: str | None = None, checksum: str | None = None) -> str:
    """The lines a plan comment starts with: the hidden record, then what reviewers read
    (with ``checksum``, the saved plan's, which the apply's comment names again)."""
    data = {"base": p.base, "commit": p.commit, "pull_request": p.pull_request}
    hidden = f"<!-- reconciler provenance: {json.dumps(data, sort_keys=True)} -->"
    head = f" (head of #{p.pull_request})" if p.pull_request else ""
    run = f" in [this run]({p.run_url})" if p.run_url else ""
    line = f"> Planned `{short(p.commit)}`{head} merged with base `{short(p.base)}`{run}."
    if artifact:
        summed = f" (checksum {inline_code(checksum)})" if checksum else ""
        line += (
            f" Saved as {inline_code(artifact)}{summed}: on merge, exactly this plan is applied, "
            "or nothing if the organisation or the base changed since."
        )
    return f"{hidden}\n{line}\n\n"


def parse(body: str) -> Provenance | None:
    """The provenance a comment records, or None (an older comment, or none of ours)."""
    found = _HIDDEN.search(body)
    if found is None:
        return None
    try:
        data = json.loads(found["data"])
        number = data.get("pull_request")
        return Provenance(
            commit=str(data["commit"]),
            base=str(data["base"]),
            pull_request=number if isinstance(number, int) else None,
        )
    except (ValueError, KeyError, TypeError, AttributeError):
        return None


def stale_body(
    body: str,
    *,
    base: str,
    branch: str,
    merged: int | None = None,
    replan: str | None = None,
) -> str:
    """``body`` (part 1 of a plan comment) headed by a warning that ``branch`` is now at
    ``base``; an earlier warning is replaced. ``replan`` says how a new plan comes."""
    planned = parse(body)
    was = f"base `{short(planned.base)}`" if planned else "an older base"
    by = f" (#{merged} merged)" if merged else ""
    then = replan or "push to this branch, or re-run the plan, to plan it again"
    warning = (
        f"{_STALE_START}\n"
        f"> [!WARNING]\n"
        f"> **Stale: this plan will not be applied.** It was planned against {was}; "
        f"{inline_code(branch)} is now at `{short(base)}`{by}. {then}\n"
        f"{_STALE_END}\n"
    )
    first, sep, rest = _STALE.sub("", body).partition("\n")
    return f"{first}{sep}{warning}{rest}" if sep else f"{first}\n{warning}"


def is_stale(body: str) -> bool:
    return _STALE.search(body) is not None
