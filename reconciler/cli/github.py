"""``reconciler github …``: post the plan on a pull request, keep drift issues, write the
Actions step summary and step outputs. Repository and pull request default from the
Actions run."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path

from reconciler.cli.common import err, run_async
from reconciler.env import GITHUB_ACTIONS, GITHUB_STEP_SUMMARY
from reconciler.errors import ConfigError
from reconciler.github import actions
from reconciler.github.summary import write_step_summary
from reconciler.textsafe import for_terminal, md_text


def read_text(file: Path | None, *, what: str) -> str:
    """``file``'s text, or standard input when ``file`` is None or ``-``."""
    if file is None or str(file) == "-":
        if sys.stdin.isatty():
            raise ConfigError(f"pass --file with {what}, or pipe it on standard input")
        return sys.stdin.read()
    try:
        return file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{file}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise ConfigError(f"cannot read {file}: {reason}") from None


def warnings_to_stderr() -> None:
    """Retries and rate-limit waits are shown on stderr; stdout holds only the result line."""
    from reconciler.logging import configure_logging

    configure_logging(level="WARNING")


def _annotate(env: Mapping[str, str], level: str, message: str) -> None:
    if env.get(GITHUB_ACTIONS) == "true":  # one line: nothing can start another command
        print(f"::{level} title=reconciler::{for_terminal(message)}")


def fork_note(fork: str) -> str:
    return (
        f"This pull request comes from {fork}. Pull requests from forks get no secrets and a "
        "read-only token, so reconciler cannot read the live organisation or comment here. "
        "A maintainer can push the change to a branch of this repository to get a plan."
    )


def comment_command(
    *,
    repo: str | None,
    pr: int | None,
    file: Path | None,
    key: str | None,
    author: str | None = None,
    commit: str | None = None,
    base: str | None = None,
    plan_file: Path | None = None,
    env: Mapping[str, str] | None = None,
) -> int:
    """Post the plan; with ``commit`` and ``base``, headed by where it came from and the
    artifact its saved plan is kept in (see :mod:`reconciler.github.provenance`), and with
    ``plan_file`` (that saved plan) its checksum."""
    from reconciler.github.client import GitHubClient
    from reconciler.github.comments import check_key, post_plan_comment

    env = os.environ if env is None else env
    event = actions.load_event(env)
    fork = actions.fork_of(event)
    if fork is not None and pr in (None, event["pull_request"].get("number")):
        note = fork_note(fork)
        err(f"Note: {note}")
        _annotate(env, "notice", note)
        write_step_summary(f"> [!NOTE]\n> {note}\n", env)
        return 0
    repository = actions.repository(repo, env)
    number = actions.pull_request_number(pr, event)
    key = check_key(key)
    markdown = read_text(file, what="the plan (reconciler plan --format markdown)")
    preface = _provenance(key, number, commit, base, env, plan_file)

    warnings_to_stderr()

    async def post() -> str:
        async with GitHubClient.from_env(env, purpose="reconciler github comment") as client:
            result = await post_plan_comment(
                client, repository, number, markdown, key=key, author=author, preface=preface
            )
        return result.describe()

    print(for_terminal(run_async(post())))
    return 0


def _provenance(
    key: str | None,
    number: int,
    commit: str | None,
    base: str | None,
    env: Mapping[str, str],
    plan_file: Path | None,
) -> str:
    from reconciler.github import provenance
    from reconciler.plan import load

    if not (commit or base):
        return ""
    if not (commit and base):
        raise ConfigError("--commit and --base go together: the commit planned, and its base")
    made = provenance.Provenance(
        commit=commit, base=base, pull_request=number, run_url=actions.run_url(env)
    )
    checksum = load(plan_file).checksum() if plan_file else None
    artifact = provenance.artifact_name(key, number, commit)
    return provenance.preface(made, artifact=artifact, checksum=checksum)


def drift_command(
    *,
    repo: str | None,
    plan_json: Path,
    label: str,
    unmanaged_is_drift: bool = False,
    author: str | None = None,
    env: Mapping[str, str] | None = None,
) -> int:
    from reconciler.github.client import GitHubClient
    from reconciler.github.drift import (
        issue_body,
        load_plan_document,
        report_from_document,
        sync_drift_issue,
    )

    env = os.environ if env is None else env
    repository = actions.repository(repo, env)
    source = str(plan_json)
    doc = load_plan_document(read_text(plan_json, what="the plan JSON"), source=source)
    report = report_from_document(doc, source=source, unmanaged_is_drift=unmanaged_is_drift)
    link = actions.run_url(env)

    warnings_to_stderr()

    async def sync() -> str:
        async with GitHubClient.from_env(env, purpose="reconciler github drift") as client:
            outcome = await sync_drift_issue(
                client, repository, report, label=label, run_url=link, author=author
            )
        return outcome.describe(report.target)

    line = run_async(sync())
    print(for_terminal(line))
    if report.has_drift:
        _annotate(env, "warning", line)
        write_step_summary(f"{md_text(line)}\n\n{issue_body(report, run_url=link)}", env)
    else:
        write_step_summary(md_text(line) + "\n", env)
    return 0


def summary_command(*, file: Path | None, env: Mapping[str, str] | None = None) -> int:
    env = os.environ if env is None else env
    markdown = read_text(file, what="the Markdown")
    if write_step_summary(markdown, env) is None:
        err(f"{GITHUB_STEP_SUMMARY} is not set (not in GitHub Actions): nothing written.")
    return 0


def outputs_command(
    *,
    plan_file: Path,
    key: str | None = None,
    pr: int | None = None,
    commit: str | None = None,
    env: Mapping[str, str] | None = None,
) -> int:
    """A saved plan's counts as step outputs: what apply would change through the Admin
    API, and what a person must change in the admin console. With ``commit`` (what was
    planned), also ``plan-artifact``: the name to save the plan under, so the merge job
    finds it (:func:`reconciler.github.provenance.artifact_name`)."""
    from reconciler.github.comments import check_key
    from reconciler.github.provenance import artifact_name
    from reconciler.plan import load

    env = os.environ if env is None else env
    plan = load(plan_file)
    values: dict[str, int | str] = {
        "api-changes": len(plan.actionable),
        "manual-changes": plan.summary.manual,
        "conflicts": plan.summary.conflicts,
        "plan-checksum": plan.checksum(),
    }
    if commit:
        values["plan-artifact"] = artifact_name(check_key(key), pr, commit)
    for name, value in values.items():
        print(f"{name}={value}")
    actions.set_outputs(values, env)
    return 0
