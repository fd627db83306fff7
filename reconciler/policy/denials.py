"""How a :class:`~reconciler.policy.policy.Policy` says no: the denied decision and its
sentence, naming the limit that refused the request and whose it is.

A workspace's counters are named as the workspace's (all its keys together); a key's or a
role's as the caller's, with the level whose limit binds (``key dev-bob (limit of role
developer)``); amounts of money with every digit a limit under a cent needs.
"""

from __future__ import annotations

from decimal import Decimal

from reconciler.policy.decision import Decision, Reason
from reconciler.policy.guard import retry_after
from reconciler.policy.prices import units_to_usd
from reconciler.policy.store import RateLimit, Refusal
from reconciler.policy.subjects import Subject
from reconciler.policy.windows import Window


def model_denied(
    subject: Subject, model: str, canonical: str, tokens: int, known: bool
) -> Decision:
    """A model no level allows: the first level (role, workspace, key) that refuses it."""
    named = shown_model(model) if canonical == model else f"{shown_model(model)} ({canonical})"
    by = next(
        (
            f"{who} allows {text}"
            for who, models, text in subject.model_rules
            if models is not None and canonical not in models
        ),
        f"{subject.label} allows no model",
    )
    what = "model" if known else "unknown model"
    return deny(
        Reason.MODEL_NOT_ALLOWED,
        f"{subject.label} may not use {what} {named}: {by}",
        subject.address,
        subject.workspace,
        canonical,
        tokens,
    )


def unnamed_denied(subject: Subject, runs: str, tokens: int) -> Decision:
    """A call whose model the server picks (``runs``: ``agent ag_1``), for a caller
    restricted to some models: its model cannot be checked, so it is refused."""
    by = next(
        (f"{who} allows {text}" for who, models, text in subject.model_rules if models is not None),
        f"{subject.label} allows no model",
    )
    return deny(
        Reason.MODEL_NOT_ALLOWED,
        f"{subject.label} may not call {shown_model(runs)}: the model it runs is picked by "
        f"the server and cannot be checked before the call ({by}); only a role or key "
        'allowing every model (allowed_models: ["*"]) may make such calls',
        subject.address,
        subject.workspace,
        None,
        tokens,
    )


def refused(
    subject: Subject,
    refusal: Refusal,
    canonical: str,
    tokens: int,
    units: int,
    now: float,
) -> Decision:
    """A usage store's refusal as a denial: which limit, whose, how much is used, and when
    the request would fit again."""
    check = refusal.check
    cost = units_to_usd(units)
    if isinstance(check, RateLimit):
        reason = Reason.OVER_RPM
        retry = refusal.retry_after
        message = (
            f"{_owner(check.scope, subject, 'rpm')} allows {check.limit} requests per "
            f"minute and has had {refusal.used} in the last minute; retry in {retry or 0:.1f}s"
        )
    elif check.metric == "tokens":
        reason = Reason.OVER_DAILY_TOKEN_BUDGET
        retry = refusal.retry_after
        owner = subject.bound_by.get("daily_token_budget", subject.label)
        if check.name.startswith("workspace."):
            owner = f"workspace {subject.workspace}, all its keys"
        message = (
            f"{subject.label}: daily budget of {check.limit:,} tokens ({owner}) would be "
            f"exceeded: {refusal.used:,} used in the last 24 hours, this request needs "
            f"about {tokens:,}{_fits_in(retry)}"
        )
    else:
        reason = Reason.OVER_BUDGET
        retry = retry_after(refusal, now)
        owner = _owner(check.name, subject, f"{check.window.adjective}_budget_usd")
        limit = units_to_usd(check.limit or 0)
        if check.window.rolling:
            used = f"in the last {'hour' if check.window is Window.HOUR else '24 hours'}"
            when = _fits_in(retry)
        else:
            used = "this month"
            when = f"; resets at {check.window.label(check.window.bucket(now) + 1)}"
        message = (
            f"{owner} would exceed its {check.window.adjective} budget of "
            f"${_cents(limit)}: ${units_to_usd(refusal.used):.4f} used {used}, this request "
            f"needs about ${cost:.4f}{when}"
        )
    return Decision(
        False,
        reason,
        message,
        subject.address,
        canonical,
        tokens,
        cost,
        retry,
        subject.workspace,
    )


def deny(
    reason: Reason,
    message: str,
    subject: object,
    workspace: str | None = None,
    model: str | None = None,
    tokens: int = 0,
) -> Decision:
    """A denial that holds nothing (no store was asked)."""
    return Decision(
        False,
        reason,
        message,
        subject if isinstance(subject, str) else show(subject),
        model,
        max(tokens, 0),
        workspace=workspace,
    )


def _owner(counter: str, subject: Subject, limit: str) -> str:
    """Who a counter (``workspace.dev|usd|hour``, a rate scope) counts, for a message: the
    workspace (all its keys), or the caller with the level that set its limit."""
    scope = counter.split("|", 1)[0]
    if scope.startswith("workspace."):
        return f"workspace {scope.removeprefix('workspace.')}"
    if scope == "unscoped":
        return subject.label
    where = subject.bound_by.get(limit)
    name = scope.replace("api_key.", "key ", 1).replace("role.", "role ", 1)
    return name if where is None or where == name else f"{name} (limit of {where})"


def _cents(amount: Decimal) -> str:
    """``50.00``, or every digit of an amount finer than a cent (``0.0018``)."""
    if amount == amount.quantize(Decimal("0.01")):
        return f"{amount:.2f}"
    return f"{amount.normalize():f}"


def _fits_in(retry: float | None) -> str:
    return "" if retry is None else f"; it fits again in {retry:.0f}s"


def shown_model(model: str) -> str:
    """A model name from a request, for a message: as it is when it is plain, else its
    repr cut short (control characters escaped: a denial goes to logs and terminals)."""
    return model if model.isprintable() and len(model) <= 60 else show(model)


def show(value: object) -> str:
    """A value from a caller, for a message: its repr, cut short."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
