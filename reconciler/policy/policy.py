"""Authorization from the desired state: may this role or key call this model now?

A :class:`Policy` is built from a :class:`~reconciler.model.DesiredState` (the YAML under
``desired-state/``, reviewed in a pull request) or from one key's vault metadata, and
answers :meth:`Policy.authorize` with a :class:`~reconciler.policy.decision.Decision`.

Who is asking:

- ``"role.<name>"`` or a role's name: the role's own limits;
- ``"api_key.<name>"`` or a key's name (a role's name wins a tie): its workspace's, its
  role's and its own policy's limits, all of them (see :mod:`~reconciler.policy.subjects`).
  A model must be allowed at every level; each level may set requests per minute, the
  per-request token cap, the daily token budget and hourly, daily and monthly USD
  budgets. The workspace's count all its keys together, the role's and the key's count
  each key apart, so the tightest binds. A key without a role is governed by its
  workspace and its own policy.

A fresh store can start the month from the platform's spend
(:meth:`Policy.seed_from_platform`), so a new host does not grant a whole month again.

Checks, in order, each a reason: ``unknown-role``, ``invalid-request`` (a malformed call:
the method never raises on bad input), ``model-not-allowed`` (aliases resolve, so
``mistral-small-latest`` and ``mistral-small-2506`` are one model), ``over-request-token-
limit``, then atomically in the usage store ``over-daily-token-budget``, ``over-rpm`` and
``over-budget`` (hourly, daily or monthly USD limits of the spending guard). The daily
token budget and the hourly and daily USD limits are rolling windows (any 24 hours, any
60 minutes); the monthly budget is the calendar month. A call whose model the server
picks (an agent's, a conversation's) is asked with :meth:`Policy.authorize_unnamed`:
``model-not-allowed`` for a caller restricted to some models, else the same checks, priced
as an unknown model.

An allowed decision holds a reservation of its estimate; :meth:`Policy.record` replaces
it with the real usage after the call, :meth:`Policy.release` drops it if the call
failed. ``dry_run=True`` evaluates everything and reserves nothing.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Mapping
from dataclasses import replace
from decimal import Decimal
from pathlib import Path
from typing import Any

from reconciler.model import DesiredState
from reconciler.policy.decision import Decision, Reason
from reconciler.policy.denials import deny, model_denied, refused, show, unnamed_denied
from reconciler.policy.guard import SpendingGuard, SpendLimits
from reconciler.policy.memory import MemoryStore
from reconciler.policy.prices import (
    CachedTokens,
    PriceTable,
    default_price_table,
    units_to_usd,
)
from reconciler.policy.store import Charge, Refusal, UsageStore
from reconciler.policy.subjects import Subjects
from reconciler.policy.tokens import TokenEstimate
from reconciler.policy.windows import Window
from reconciler.policy.wire import MAX_TOKENS
from reconciler.provider import Provider

Clock = Callable[[], float]


class Policy:
    """Application-side enforcement of the desired state's roles and workspace policies."""

    def __init__(
        self,
        state: DesiredState,
        *,
        store: UsageStore | None = None,
        prices: PriceTable | None = None,
        clock: Clock = time.time,
        spend_limits: Mapping[str, SpendLimits] | None = None,
    ) -> None:
        """``spend_limits`` adds hourly/daily USD limits per workspace name (and may
        override the monthly one, which otherwise comes from the workspace's policy)."""
        self.state = state
        self.store: UsageStore = store if store is not None else MemoryStore()
        self.prices = prices if prices is not None else default_price_table(state.provider)
        self.clock = clock
        subjects = Subjects(
            state,
            store=self.store,
            prices=self.prices,
            clock=clock,
            spend_limits=spend_limits or {},
        )
        self._guards = subjects.guards
        self._subjects = subjects.by_name

    # --- construction ------------------------------------------------------------------

    @classmethod
    def from_desired_state(cls, state: DesiredState, **options: Any) -> Policy:
        """Same as the constructor (reads better at call sites)."""
        return cls(state, **options)

    @classmethod
    def from_directory(cls, directory: Path | str, **options: Any) -> Policy:
        """Load ``desired-state/`` with the project's loader and build a policy from it.

        Key expiry dates are not checked against today: the platform enforces expiry, and
        an application must go on enforcing its policy after one of the organisation's
        keys has expired (``reconciler validate`` reports that in review).
        """
        from reconciler.desired import load_desired_state

        return cls(load_desired_state(Path(directory), today=dt.date.min), **options)

    @classmethod
    def from_key_metadata(cls, metadata: Mapping[str, str] | Any, **options: Any) -> Policy:
        """A policy for one key from its vault entry's metadata (strings, as stored).

        Fields: ``key_name``, ``workspace``, ``role``, ``allowed_models`` (comma-separated
        or a JSON list; absent means any model, empty means none), ``max_tokens_per_request``,
        ``daily_token_budget``, ``rpm`` and ``monthly_budget_usd`` (absent or empty: no
        limit). Raises :class:`~reconciler.errors.ConfigError` naming a malformed field.
        """
        from reconciler.policy.metadata import state_from_key_metadata

        return cls(state_from_key_metadata(metadata), **options)

    # --- questions about the policy ------------------------------------------------------

    def subjects(self) -> list[str]:
        """Every address that ``authorize`` accepts (``role.*`` and ``api_key.*``)."""
        return sorted({s.address for s in self._subjects.values()})

    def names(self) -> list[str]:
        """Every name ``authorize`` accepts as ``who``: the addresses of :meth:`subjects`
        and the bare role and key names (``authorize`` denies any other as
        ``unknown-role``)."""
        return sorted(self._subjects)

    @property
    def single_key(self) -> str | None:
        """The address of the only key, for a policy built from one key's metadata."""
        keys = [k.name for k in self.state.keys]
        return f"api_key.{keys[0]}" if len(keys) == 1 else None

    def max_tokens_per_request(self, who: str) -> int | None:
        """The caller's per-request token cap, if any."""
        subject = self._subjects.get(who)
        return subject.max_tokens if subject is not None else None

    def guard(self, workspace: str) -> SpendingGuard:
        """The spending guard of a workspace (shared by all its keys)."""
        found = self._guards.get(f"workspace.{workspace}")
        if found is None:
            raise KeyError(f"no workspace named {workspace!r} in this policy")
        return found

    def seed_from_platform(
        self, spend: Mapping[str, Decimal], now: float | None = None
    ) -> dict[str, Decimal]:
        """Start each workspace's month from the platform's month-to-date spend (``spend``:
        USD per workspace name, as :meth:`Provider.monthly_spend` reports it), so a fresh
        host or store does not grant a whole month's budget again.

        Each workspace's monthly counter in the store becomes at least the platform's
        figure (see :meth:`SpendingGuard.seed_month`): idempotent, raised by a later and
        larger figure, never lowered below what the store recorded. Names the policy does
        not know are skipped (matched exactly, else ignoring case). Returns what was added
        per workspace.
        """
        at = self.clock() if now is None else now
        by_lower = {name.lower(): name for name in spend}
        added: dict[str, Decimal] = {}
        for workspace in self.state.workspaces:
            name = (
                workspace.name if workspace.name in spend else by_lower.get(workspace.name.lower())
            )
            if name is not None:
                added[workspace.name] = self.guard(workspace.name).seed_month(spend[name], at=at)
        return added

    async def seed_from_provider(
        self, provider: Provider, now: float | None = None
    ) -> dict[str, Decimal]:
        """Fetch this month's spend from ``provider``'s usage API and seed the policy with it
        (:meth:`seed_from_platform`)."""
        at = self.clock() if now is None else now
        month = dt.datetime.fromtimestamp(at, dt.UTC).date().replace(day=1)
        return self.seed_from_platform(await provider.monthly_spend(month), at)

    def tokens_today(self, who: str) -> int:
        """Tokens recorded in the last 24 hours (and reserved) against a caller's daily
        budget, a rolling window."""
        subject = self._subjects.get(who)
        if subject is None:
            return 0
        return self.store.read(subject.token_counter, Window.DAY, self.clock()).total

    # --- the hot path ------------------------------------------------------------------------

    def authorize(
        self,
        who: str,
        model: str,
        estimated_tokens: int | TokenEstimate,
        *,
        output_tokens: int | None = None,
        dry_run: bool = False,
    ) -> Decision:
        """May ``who`` send a request of about ``estimated_tokens`` (in + out) to ``model``?

        ``output_tokens`` says how many of the estimate are output, for pricing (or pass a
        :class:`TokenEstimate`); without it every token is priced at the model's higher
        rate. ``Decision.estimate_source`` says what counted the tokens (the estimate's
        source, or ``"caller"`` for a number). Never raises on bad input: it answers
        ``invalid-request`` instead. (A shared store that cannot be used raises
        :class:`~reconciler.policy.sqlite.PolicyStoreError`: that is not a denial.)
        """
        decision = self._decide(who, model, estimated_tokens, output_tokens, dry_run)
        if decision.allowed:
            return decision
        source = "caller"
        if isinstance(estimated_tokens, TokenEstimate):
            source = estimated_tokens.source
        return replace(decision, estimate_source=source)

    def authorize_unnamed(
        self,
        who: str,
        runs: str,
        estimated_tokens: int | TokenEstimate,
        *,
        dry_run: bool = False,
    ) -> Decision:
        """May ``who`` make a call whose model the server picks (``runs`` says what it
        runs: ``"agent ag_1"``, ``"conversation conv_1"``)?

        Its model cannot be checked before the call: only a caller allowed every model
        at every level (``allowed_models: ["*"]``) may, and its call is then decided as
        one to a model the catalog does not know (every limit, at the highest price);
        :meth:`record` prices its usage by the model the response names.
        """
        subject = self._subjects.get(who) if isinstance(who, str) else None
        if subject is None or subject.problem is not None or subject.allowed is None:
            return self.authorize(who, runs, estimated_tokens, dry_run=dry_run)
        tokens = max(_split(estimated_tokens, None)[0], 0)
        source = "caller"
        if isinstance(estimated_tokens, TokenEstimate):
            source = estimated_tokens.source
        return replace(unnamed_denied(subject, runs, tokens), estimate_source=source)

    def _decide(
        self,
        who: str,
        model: str,
        estimated_tokens: int | TokenEstimate,
        output_tokens: int | None,
        dry_run: bool,
    ) -> Decision:
        subject = self._subjects.get(who) if isinstance(who, str) else None
        if subject is None:
            return deny(Reason.UNKNOWN_ROLE, f"no role or key named {show(who)} in the policy", who)
        if subject.problem is not None:
            return deny(Reason.UNKNOWN_ROLE, subject.problem, subject.address, subject.workspace)
        tokens, out = _split(estimated_tokens, output_tokens)
        if tokens < 0:
            given = f"got {show(estimated_tokens)}"
            if output_tokens is not None:
                given += f" with output tokens {show(output_tokens)}"
            return deny(
                Reason.INVALID_REQUEST,
                f"estimated tokens must be a whole number from 0 to {MAX_TOKENS:,} (output "
                f"tokens at most that many), {given}",
                subject.address,
                subject.workspace,
            )
        if not isinstance(model, str) or not model:
            return deny(
                Reason.INVALID_REQUEST,
                f"the model must be a non-empty name, got {show(model)}",
                subject.address,
                subject.workspace,
            )
        canonical = self.prices.resolve(model)
        allowed = subject.allowed
        if canonical is None:
            canonical = model
        if allowed is not None and canonical not in allowed:
            return model_denied(
                subject, model, canonical, tokens, self.prices.resolve(model) is not None
            )
        if subject.max_tokens is not None and tokens > subject.max_tokens:
            return deny(
                Reason.OVER_REQUEST_TOKEN_LIMIT,
                f"{subject.label}: a request of about {tokens:,} tokens is over the "
                f"per-request limit of {subject.max_tokens:,} of "
                f"{subject.bound_by.get('max_tokens_per_request', subject.label)}",
                subject.address,
                subject.workspace,
                canonical,
                tokens,
            )
        price_in, price_out = self.prices.unit_prices(canonical)
        if isinstance(estimated_tokens, TokenEstimate) and estimated_tokens.cache_writes:
            price_in = max(price_in, self.prices.cache_write_unit(canonical))
        if out >= 0:
            units = (tokens - out) * price_in + out * price_out
        else:
            units = tokens * (price_in if price_in > price_out else price_out)
        now = self.clock()
        outcome = self.store.admit(subject.checks(tokens, units), now, reserve=not dry_run)
        if type(outcome) is Refusal:
            return refused(subject, outcome, canonical, tokens, units, now)
        return Decision(
            True,
            Reason.ALLOWED,
            "allowed",
            subject.address,
            canonical,
            tokens,
            units_to_usd(units),
            None,
            subject.workspace,
            outcome,  # type: ignore[arg-type]
            estimated_tokens.source if isinstance(estimated_tokens, TokenEstimate) else "caller",
        )

    def record(
        self,
        decision: Decision,
        input_tokens: int,
        output_tokens: int,
        *,
        model: str | None = None,
        cached: CachedTokens | None = None,
    ) -> Decimal:
        """Record a call's real usage after it returned; returns its cost in USD.

        Settles the decision's reservation (once: a second record of the same decision
        is ignored). A denied decision records nothing: its call was not to be sent.
        ``model`` overrides the decision's model for pricing (the response names the
        model that served the call). ``cached``: which of the input tokens wrote to or
        read from the provider's prompt cache, priced as such.
        """
        tokens_in, tokens_out = _count(input_tokens), _count(output_tokens)
        canonical = decision.model or ""
        if isinstance(model, str) and model:
            canonical = self.prices.resolve(model) or canonical or model
        units = self.prices.cost_units(canonical, tokens_in, tokens_out, cached)
        reservation = decision.reservation
        if not decision.allowed:
            return units_to_usd(units)
        if reservation is not None:
            if reservation.claim():
                total = tokens_in + tokens_out
                actual = [total if c.metric == "tokens" else units for c in reservation.charges]
                self.store.settle(reservation, actual, self.clock())
            return units_to_usd(units)
        subject = self._subjects.get(decision.subject)
        if subject is not None:
            charges = subject.checks(tokens_in + tokens_out, units, limits=False)
            self.store.add([c for c in charges if isinstance(c, Charge)], self.clock())
        return units_to_usd(units)

    def record_usage(self, who: str, model: str, input_tokens: int, output_tokens: int) -> Decimal:
        """Record usage that was not authorized first (for example a streamed call)."""
        canonical = self.prices.resolve(model) or model if isinstance(model, str) else None
        subject = self._subjects.get(who) if isinstance(who, str) else None
        decision = Decision(
            True, Reason.ALLOWED, "recorded", subject.address if subject else str(who), canonical
        )
        return self.record(decision, input_tokens, output_tokens)

    def release(self, decision: Decision) -> None:
        """Drop the reservation of a call that did not happen or was not charged (one
        released past the store's time-to-live was charged its estimate already: that
        stays)."""
        reservation = decision.reservation
        if reservation is not None and reservation.claim():
            self.store.settle(reservation, (), self.clock())


def _split(estimated: object, output: object) -> tuple[int, int]:
    """``(total, output)``; total -1 when malformed, output -1 when not given."""
    if isinstance(estimated, TokenEstimate):
        total, out = _whole(estimated.input_tokens), _whole(estimated.output_tokens)
        if total < 0 or out < 0:
            return -1, -1
        total += out
        return (total, out) if total <= MAX_TOKENS else (-1, -1)
    total = _whole(estimated)
    if total > MAX_TOKENS:
        total = -1
    if output is None:
        return total, -1
    out = _whole(output)
    if out < 0 or out > total:
        return -1, -1
    return total, out


def _whole(value: object) -> int:
    if type(value) is int:
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return int(value)
    return -1


def _count(value: object) -> int:
    """A token count from a response: a whole number from 0 to :data:`MAX_TOKENS`."""
    if type(value) is not int:
        value = _whole(value)
    return value if 0 <= value <= MAX_TOKENS else (0 if value < 0 else MAX_TOKENS)
