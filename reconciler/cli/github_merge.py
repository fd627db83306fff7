"""``reconciler github reviewed-plan`` and ``reconciler github mark-stale``: what the apply
workflow does around a merge. The first fetches the plan reviewers saw (the merged pull
request's, or a named run's) for ``reconciler apply FILE``; the second marks the other open
pull requests' plans stale and plans them again. Repository, commit and branch default
from the Actions run."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from reconciler.cli.common import err, run_async
from reconciler.cli.github import warnings_to_stderr
from reconciler.env import GITHUB_REF_NAME, GITHUB_SHA
from reconciler.errors import ConfigError
from reconciler.github import actions
from reconciler.textsafe import for_terminal


def _commit(sha: str | None, env: Mapping[str, str]) -> str:
    from reconciler.github.provenance import check_sha

    value = sha or env.get(GITHUB_SHA)
    if not value:
        raise ConfigError(f"which commit? Pass --sha (in Actions: {GITHUB_SHA})")
    return check_sha(value, what="sha")


def reviewed_plan_command(
    *,
    repo: str | None,
    key: str | None,
    out: Path,
    run_id: int | None = None,
    sha: str | None = None,
    env: Mapping[str, str] | None = None,
) -> int:
    """Write the reviewed plan to ``out`` and say so (``found=true``), or say why there is
    none (``found=false``, exit 0: the caller decides what a missing plan means)."""
    from reconciler.github.client import GitHubClient
    from reconciler.github.comments import check_key
    from reconciler.github.reviewed import Lookup, download_plan, find_for_merge, find_in_run
    from reconciler.plan import files

    env = os.environ if env is None else env
    repository = actions.repository(repo, env)
    key = check_key(key)
    commit = _commit(sha, env) if run_id is None else ""
    warnings_to_stderr()

    async def fetch() -> tuple[Lookup, bytes | None]:
        async with GitHubClient.from_env(env, purpose="reconciler github reviewed-plan") as client:
            if run_id is not None:
                lookup = await find_in_run(client, repository, run_id, key=key)
            else:
                lookup = await find_for_merge(client, repository, commit, key=key)
            if lookup.artifact is None:
                return lookup, None
            return lookup, await download_plan(client, repository, lookup.artifact)

    lookup, plan = run_async(fetch())
    if plan is not None:
        files.write(out, plan)
    values: dict[str, int | str] = {
        "found": "true" if lookup.artifact is not None else "false",
        "pull-request": lookup.pull_request or "",
    }
    if lookup.artifact is not None:
        values["reviewed-artifact"] = lookup.name
        err(f"Reviewed plan: {lookup.name}, written to {out}")
    else:
        values["reason"] = lookup.missing
        err(f"No reviewed plan: {lookup.missing}")
    for name, value in values.items():
        print(for_terminal(f"{name}={value}"))
    actions.set_outputs(values, env)
    return 0


def mark_stale_command(
    *,
    repo: str | None,
    key: str | None,
    sha: str | None = None,
    branch: str | None = None,
    workflow: str | None = None,
    author: str | None = None,
    env: Mapping[str, str] | None = None,
) -> int:
    """Mark the plans of the open pull requests into ``branch`` (now at ``sha``) stale, and
    dispatch ``workflow`` to plan each again (``author``: only plan comments by this login
    count)."""
    from reconciler.github.client import GitHubClient
    from reconciler.github.comments import check_key
    from reconciler.github.reviewed import merged_pull_request
    from reconciler.github.stale import Replan, describe, mark_stale_plans

    env = os.environ if env is None else env
    repository = actions.repository(repo, env)
    key = check_key(key)
    commit = _commit(sha, env)
    branch = branch or env.get(GITHUB_REF_NAME)
    if not branch:
        raise ConfigError(f"which branch? Pass --branch (in Actions: {GITHUB_REF_NAME})")
    replan = Replan(workflow=workflow, ref=branch) if workflow else None
    warnings_to_stderr()

    async def mark() -> str:
        async with GitHubClient.from_env(env, purpose="reconciler github mark-stale") as client:
            merged = await merged_pull_request(client, repository, commit)
            marked = await mark_stale_plans(
                client,
                repository,
                branch=branch,
                base=commit,
                key=key,
                merged=merged["number"] if merged else None,
                replan=replan,
                run_url=actions.run_url(env),
                author=author,
            )
        return describe(marked, base=commit)

    print(for_terminal(run_async(mark())))
    return 0


def skipped_merges_command(
    *,
    repo: str | None,
    key: str | None,
    state_dir: Path,
    directory: str | None = None,
    sha: str | None = None,
    author: str | None = None,
    env: Mapping[str, str] | None = None,
) -> int:
    """Tell each pull request merged since the last apply recorded in ``state_dir``, whose
    own apply never ran, that this merge's carries its changes; record this merge. Prints
    ``carried=`` (their numbers) and ``carried-note=`` (a line for this merge's comment)."""
    from reconciler.errors import ReconcilerError
    from reconciler.github.client import GitHubClient
    from reconciler.github.comments import check_key, find_plan_comments, post_plan_comment
    from reconciler.github.reviewed import merged_pull_request
    from reconciler.github.skipped import (
        Order,
        Record,
        Skipped,
        carried_note,
        describe,
        skipped_merges,
        skipped_note,
    )

    env = os.environ if env is None else env
    repository = actions.repository(repo, env)
    key = check_key(key)
    directory = directory or key
    if not directory:
        raise ConfigError("which directory? Pass --directory (or --key, the directory)")
    commit = _commit(sha, env)
    record = Record(state_dir)
    name = key or directory
    since = record.last(name)
    warnings_to_stderr()

    async def find() -> tuple[list[Skipped], Order | None, int | None]:
        if since is None:
            return [], None, None
        if since == commit:
            return [], "same", None  # this merge's own apply again: told already
        async with GitHubClient.from_env(env, purpose="reconciler github skipped-merges") as client:
            skipped, order = await skipped_merges(
                client, repository, since=since, head=commit, directory=directory
            )
            carrier = await merged_pull_request(client, repository, commit) if skipped else None
        return skipped, order, int(carrier["number"]) if carrier else None

    async def tell(skipped: list[Skipped], carrier: int | None) -> list[Skipped]:
        """Each of ``skipped`` told, but one whose merge comment is there already (its own
        apply said what it did, or it was told before); a failure skips that one alone."""
        told: list[Skipped] = []
        merge_key = f"{name} at merge"
        async with GitHubClient.from_env(env, purpose="reconciler github skipped-merges") as client:
            for merge in skipped:
                try:
                    found = await find_plan_comments(
                        client, repository, merge.number, key=merge_key, author=author
                    )
                    if found:
                        continue
                    note = skipped_note(
                        merge,
                        directory=directory,
                        head=commit,
                        carrier=carrier,
                        run_url=actions.run_url(env),
                    )
                    await post_plan_comment(
                        client, repository, merge.number, note, key=merge_key, author=author
                    )
                except ReconcilerError as exc:
                    err(f"Warning: #{merge.number} could not be told: {exc}")
                    continue
                told.append(merge)
        return told

    skipped, order, carrier = run_async(find())
    if order not in ("same", "behind"):  # a re-run of an older merge leaves the record
        # recorded before anyone is told: a telling that fails is never retried by a later
        # merge's apply, which would tell a merge whose own apply ran meanwhile
        record.keep(name, commit)
    told = run_async(tell(skipped, carrier)) if skipped else []
    for line in describe(told, order):
        err(line)
    values = {"carried": " ".join(str(s.number) for s in told), "carried-note": carried_note(told)}
    for field, value in values.items():
        print(for_terminal(f"{field}={value}"))
    actions.set_outputs(values, env)
    return 0
