"""``reconciler policy check`` and ``reconciler budget``: the policy library from a shell.

``policy check ROLE MODEL TOKENS`` asks the desired state's policy whether a role (or a
key: ``api_key.<name>``) may send a request of about TOKENS tokens to MODEL, prints the
decision and its reason, and exits 0 when allowed, 2 when denied, 1 on an error. A role,
key or model the desired state and its catalog do not know is an error (a typo is not a
denial), with the closest known name; the library's ``authorize`` denies it. It is
a dry run: nothing is reserved or counted, and usage limits are read from ``--store``
(a shared usage database) when given, else start empty. The models and prices are the
desired state's provider's; ``--provider NAME`` says which provider's calls are checked,
and refuses a desired state of another one.

``policy seed --store STORE`` starts a shared usage store's month from the platform's:
it reads this month's spend per workspace from the usage endpoint and raises each
workspace's monthly counter to it (never lowering what the store recorded), so a new
host does not grant a whole month's budget again.

``budget`` reads this month's spend per workspace from the platform's usage endpoint
(or the sandbox's) and prints it against each workspace's monthly budget (or, where the
desired state sets none, the spend limit set in the console), with warnings at 50, 80
and 100%, as text, Markdown or JSON.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import difflib
import json
import sys
import time
from dataclasses import replace
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING

from reconciler.errors import ConfigError, ReconcilerError
from reconciler.model import DesiredState

if TYPE_CHECKING:
    from reconciler.provider import Provider
    from reconciler.session import TargetOptions

EXIT_ALLOWED = 0
EXIT_DENIED = 2


def load_state(directory: Path, provider: str | None = None) -> DesiredState:
    """The validated desired state (problems raise ``DesiredStateError``), of ``provider``
    when one is named (a desired state of another provider is a ``ConfigError``).

    As for :meth:`Policy.from_directory`, an expired key is not an error here.
    """
    from reconciler.desired import load_desired_state
    from reconciler.providers import get_provider

    if provider is not None:
        get_provider(provider)  # an unknown name says so, with the known ones
    if not directory.is_dir():
        raise ConfigError(f"no desired-state directory at {directory}")
    state = load_desired_state(directory, today=dt.date.min)
    if provider is not None and state.provider != provider:
        raise ConfigError(
            f"the desired state in {directory} is provider {state.provider}'s, not "
            f"{provider}'s: point --desired at a desired state whose organization.yaml says "
            f"provider: {provider}"
        )
    return state


def parse_count(value: str, name: str) -> int:
    """A whole number >= 0 from the command line, or a clear error."""
    text = value.strip().replace("_", "").replace(",", "")
    if not text.isdigit():
        raise ConfigError(f"{name} must be a whole number of tokens, got {value!r}")
    return int(text)


def check_command(
    directory: Path,
    who: str,
    model: str,
    tokens: str,
    *,
    output_tokens: str | None = None,
    store: str | None = None,
    fmt: str = "text",
    provider: str | None = None,
) -> int:
    """Print one authorization decision; return the exit code."""
    from reconciler.policy import Policy
    from reconciler.policy.shared import open_store

    estimated = parse_count(tokens, "TOKENS")
    out = None if output_tokens is None else parse_count(output_tokens, "--output-tokens")
    if out is not None and out > estimated:
        raise ConfigError(f"--output-tokens ({out}) cannot be more than TOKENS ({estimated})")
    state = load_state(directory, provider)
    policy = Policy(state, store=open_store(store) if store else None)
    roles = ", ".join(sorted(r.name for r in state.roles)) or "none"
    _known(
        who, policy.names(), "role or key", f"the desired state in {directory}", f"roles: {roles}"
    )
    if policy.prices.resolve(model) is None:
        catalog = f"the {state.provider} model catalog"
        _known(model, policy.prices.names(), "model", catalog, "reconciler catalog list names them")
    decision = policy.authorize(who, model, estimated, output_tokens=out, dry_run=True)
    if fmt == "json":
        sys.stdout.write(json.dumps(decision.to_dict(), indent=2) + "\n")
    elif decision:
        named = decision.model if decision.model == model else f"{model} ({decision.model})"
        sys.stdout.write(
            f"allowed: {decision.subject} may send about {estimated:,} tokens to {named} "
            f"(estimated cost ${decision.estimated_cost_usd:.6f})\n"
        )
    else:
        sys.stdout.write(f"denied ({decision.reason.value}): {decision.message}\n")
    return EXIT_ALLOWED if decision else EXIT_DENIED


def _known(name: str, known: list[str], what: str, where: str, otherwise: str) -> None:
    """A ConfigError when ``name`` is not one of ``known``: with the closest one, else
    with ``otherwise``."""
    if name in known:
        return
    hint = difflib.get_close_matches(name, known, n=1)
    said = f"did you mean {hint[0]!r}?" if hint else otherwise
    raise ConfigError(f"no {what} named {name!r} in {where} ({said})")


def parse_month(value: str | None, today: dt.date) -> dt.date:
    """``YYYY-MM`` (default: this month) as the month's first day; a month after
    ``today``'s has no spend to report yet (a ConfigError, not a table of zeros)."""
    if value is None:
        return today.replace(day=1)
    try:
        first = dt.datetime.strptime(value.strip(), "%Y-%m").date()
    except ValueError:
        raise ConfigError(f"--month must look like 2026-11, got {value!r}") from None
    if first > today:
        raise ConfigError(f"--month {value.strip()} has not begun (today is {today.isoformat()})")
    return first


def target_options(sandbox: bool, sandbox_state: Path, concurrency: int) -> TargetOptions:
    """The same target options ``plan`` takes (no secret store is needed here)."""
    from reconciler.session import TargetOptions

    return TargetOptions(sandbox=sandbox, sandbox_state=sandbox_state, concurrency=concurrency)


def _open_provider(options: TargetOptions) -> Provider:
    from reconciler.session import open_provider

    return open_provider(options)


async def fetch_spend(options: TargetOptions, month: dt.date) -> dict[str, Decimal]:
    """This month's spend per workspace name, from the target's usage endpoint."""
    provider = _open_provider(options)
    try:
        return await provider.monthly_spend(month)
    finally:
        await provider.aclose()


async def fetch_spend_and_limits(
    options: TargetOptions, month: dt.date, state: DesiredState
) -> tuple[dict[str, Decimal], dict[str, Decimal]]:
    """This month's spend per workspace name, and, when a workspace of ``state`` sets no
    budget, the spend limits only the console sets (from the organisation as ``plan``
    reads it, fetched beside the spend). The spend is the report: an organisation that
    cannot be read (a key the usage endpoint answers but the workspaces' read refuses)
    leaves the limits out, said on stderr, instead of failing the report."""
    from reconciler.policy.budget import console_limits
    from reconciler.textsafe import for_terminal

    async def limits(provider: Provider) -> dict[str, Decimal]:
        if all(w.archived or w.policy.monthly_budget_usd is not None for w in state.workspaces):
            return {}
        try:
            live = await provider.fetch()
        except ReconcilerError as exc:
            print(for_terminal(f"budget: console spend limits not read ({exc})"), file=sys.stderr)
            return {}
        return console_limits(state, live.workspaces)

    provider = _open_provider(options)
    reading = asyncio.ensure_future(limits(provider))
    try:
        spend = await provider.monthly_spend(month)
        found = await reading
    finally:
        reading.cancel()  # the spend failed: its error is the one to report
        await asyncio.gather(reading, return_exceptions=True)
        await provider.aclose()
    return spend, found


async def budget_command(
    directory: Path,
    options: TargetOptions,
    *,
    month: str | None = None,
    fmt: str = "text",
    today: dt.date | None = None,
) -> int:
    """Print the budget report; return the exit code."""
    from reconciler.policy.budget import build_budget_report
    from reconciler.policy.budget_render import render

    current = today or dt.datetime.now(dt.UTC).date()
    first = parse_month(month, current)
    state = load_state(directory)
    target = replace(options, provider=state.provider)
    spend, limits = await fetch_spend_and_limits(target, first, state)
    report = build_budget_report(state, spend, first, as_of=current, console_limits=limits)
    sys.stdout.write(render(report, fmt))
    return 0


async def seed_command(
    directory: Path, options: TargetOptions, store: str, *, now: float | None = None
) -> int:
    """Seed ``store`` with this month's spend from the target; print what changed."""
    from reconciler.policy import Policy
    from reconciler.policy.shared import describe_store, open_store
    from reconciler.textsafe import for_terminal

    state = load_state(directory)
    policy = Policy(state, store=open_store(store))
    try:
        at = time.time() if now is None else now
        month = dt.datetime.fromtimestamp(at, dt.UTC).date().replace(day=1)
        spend = await fetch_spend(replace(options, provider=state.provider), month)
        before = {w.name: policy.guard(w.name).spent(at=at) for w in state.workspaces}
        added = policy.seed_from_platform(spend, at)
    finally:
        policy.store.close()
    out = [f"{describe_store(store)}: this month ({month:%Y-%m}) from the platform's spend"]
    for name, was in before.items():
        if name not in added:
            out.append(f"  {name}: no spend on the platform; the store has ${was:.2f}")
        elif added[name]:
            out.append(f"  {name}: +${added[name]:.2f}, to the platform's ${was + added[name]:.2f}")
        else:
            out.append(f"  {name}: unchanged at ${was:.2f} (the platform has no more)")
    known = {n.lower() for n in before}
    for name in sorted(n for n in spend if n.lower() not in known):
        out.append(f"  {for_terminal(name)}: ${spend[name]:.2f}, not in the desired state")
    sys.stdout.write("\n".join(out) + "\n")
    return 0
