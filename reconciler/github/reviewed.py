"""The plan reviewers saw, found and fetched for the merge job.

On a push to the default branch, the commit is the merge of a pull request
(``GET /repos/{repo}/commits/{sha}/pulls``); the plan its plan job saved for its last head
commit is the artifact :func:`reconciler.github.provenance.artifact_name` names. A
dispatch names a run instead (a pull request's plan run, or the merge run that posted a
fresh plan), and the run's artifact for the directory is taken. The artifact's zip is
fetched from where GitHub redirects (storage that must not see the token, so without it),
and its ``plan.out`` written out. Whether that plan may still be applied is the apply's to
say (its fingerprints); this module only finds it, and says plainly when there is none.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reconciler import http
from reconciler.errors import ConfigError, RemoteError
from reconciler.github.client import SERVICE, GitHubClient
from reconciler.github.provenance import artifact_name, parse_artifact_name, short

PLAN_FILE = "plan.out"
MAX_PLAN_BYTES = 64 * 1024 * 1024  # a plan of 20,000 keys is a few MB; more is not ours
_REDIRECTS = frozenset({301, 302, 303, 307, 308})


@dataclass(frozen=True, slots=True)
class Lookup:
    """Where the reviewed plan is (``artifact``), or why there is none (``missing``)."""

    pull_request: int | None
    artifact: Mapping[str, Any] | None = None
    missing: str = ""

    @property
    def name(self) -> str:
        return str(self.artifact.get("name", "")) if self.artifact else ""


async def merged_pull_request(
    client: GitHubClient, repository: str, sha: str
) -> Mapping[str, Any] | None:
    """The pull request whose merge made commit ``sha``, or None (a direct push)."""
    pulls = await client.json(
        "GET", f"/repos/{repository}/commits/{sha}/pulls", permission="pull-requests: read"
    )
    for pr in pulls if isinstance(pulls, list) else []:
        if (
            isinstance(pr, Mapping)
            and pr.get("merged_at")
            and pr.get("merge_commit_sha") == sha
            and isinstance(pr.get("number"), int)
        ):
            return pr
    return None


def _newest(artifacts: Any, wanted: Callable[[str], bool]) -> Mapping[str, Any] | None:
    items = artifacts.get("artifacts") if isinstance(artifacts, Mapping) else None
    usable = [
        a
        for a in items or []
        if isinstance(a, Mapping)
        and isinstance(a.get("id"), int)
        and not a.get("expired")
        and wanted(str(a.get("name", "")))
    ]
    return max(usable, key=lambda a: (str(a.get("created_at", "")), int(a["id"])), default=None)


async def find_for_merge(
    client: GitHubClient, repository: str, sha: str, *, key: str | None
) -> Lookup:
    """The plan saved for the pull request merged as ``sha``, at its last head commit."""
    pr = await merged_pull_request(client, repository, sha)
    if pr is None:
        return Lookup(None, missing=f"commit {short(sha)} is not the merge of a pull request")
    number = int(pr["number"])
    head = pr.get("head")
    head_sha = head.get("sha") if isinstance(head, Mapping) else None
    if not isinstance(head_sha, str) or not head_sha:
        return Lookup(number, missing=f"GitHub did not say which commit #{number} ended at")
    name = artifact_name(key, number, head_sha)
    found = await client.json(
        "GET",
        f"/repos/{repository}/actions/artifacts",
        params={"name": name, "per_page": 100},
        permission="actions: read",
    )
    artifact = _newest(found, lambda n: n == name)
    if artifact is None:
        return Lookup(
            number,
            missing=(
                f"no saved plan of #{number} at its last commit {short(head_sha)} "
                f"(artifact {name}): it was never planned there, or the artifact expired"
            ),
        )
    return Lookup(number, artifact)


async def find_in_run(
    client: GitHubClient, repository: str, run_id: int, *, key: str | None
) -> Lookup:
    """The plan of directory ``key`` that run ``run_id`` saved."""
    found = await client.json(
        "GET",
        f"/repos/{repository}/actions/runs/{run_id}/artifacts",
        params={"per_page": 100},
        permission="actions: read",
    )
    artifact = _newest(found, lambda n: parse_artifact_name(n, key)[0])
    if artifact is None:
        return Lookup(None, missing=f"run {run_id} saved no plan for {key or 'this directory'}")
    return Lookup(parse_artifact_name(str(artifact["name"]), key)[1], artifact)


async def download_plan(
    client: GitHubClient, repository: str, artifact: Mapping[str, Any]
) -> bytes:
    """The artifact's ``plan.out``."""
    path = f"/repos/{repository}/actions/artifacts/{artifact['id']}/zip"
    response = await client.request("GET", path, permission="actions: read", redirect=True)
    data = response.content
    if response.status_code in _REDIRECTS:
        location = response.headers.get("location", "")
        if not location.startswith(("https://", "http://")):
            raise RemoteError(f"{SERVICE}: GET {path} redirected nowhere", service=SERVICE)
        # Signed storage URL: the token stays with the API.
        async with http.make_client("") as storage:
            got = await http.send(
                storage, "GET", location, service=f"{SERVICE} artifact storage", idempotent=True
            )
        data = got.content
    return _plan_from_zip(data, str(artifact.get("name", "")))


def _plan_from_zip(data: bytes, name: str) -> bytes:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            members = [i for i in archive.infolist() if Path(i.filename).name == PLAN_FILE]
            if len(members) != 1:
                raise ConfigError(f"artifact {name} holds no single {PLAN_FILE}")
            if members[0].file_size > MAX_PLAN_BYTES:
                raise ConfigError(f"artifact {name}: {PLAN_FILE} is too large to be a plan")
            return archive.read(members[0])
    except zipfile.BadZipFile as exc:
        raise ConfigError(f"artifact {name} is not a zip archive") from exc
