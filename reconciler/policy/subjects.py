"""Who may ask a :class:`~reconciler.policy.policy.Policy`: every role and key, precomputed.

A :class:`Subject` holds everything ``authorize`` needs about one caller: the models it may
use, its per-request token cap, the token counters, rate limits and spending guards a
request of it is charged to, and a problem that denies every request (a key whose role is
not declared). :class:`Subjects` builds them once from the desired state, under
``role.<name>`` / ``api_key.<name>`` and the bare names (a role's name wins a tie).

The same limits may be set at three levels (:class:`~reconciler.model.Limits`), and every
one holds, so the tightest binds:

- a **workspace**'s count all its keys together: one rate window, one daily token
  counter, one spending guard (``workspace.<name>``) shared by its keys;
- a **role**'s and a **key**'s count each key on its own (``api_key.<name>``), so for one
  key the smaller of the two applies;
- a key's models are those its role, its workspace and its own policy all allow
  (aliases resolved); its per-request cap is the smallest of the three levels'.

A key's own counters exist for the limits set on it: a key whose role and policy set no
USD limit has no spending guard of its own (its spend is counted in its workspace's).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from reconciler.model import UNLIMITED, ApiKey, DesiredState, Limits, Workspace, WorkspacePolicy
from reconciler.policy.guard import SpendingGuard, SpendLimits
from reconciler.policy.prices import PriceTable
from reconciler.policy.store import Charge, Check, RateLimit, UsageStore
from reconciler.policy.windows import Window

_DAY = Window.DAY

#: One level's model allow-list: who sets it, its canonical ids (None: any), as written.
ModelRule = tuple[str, frozenset[str] | None, str]


@dataclass(frozen=True, slots=True)
class Subject:
    """Everything ``authorize`` needs about one caller, precomputed."""

    address: str
    label: str
    workspace: str | None
    role_name: str | None
    model_rules: tuple[ModelRule, ...]  # role, workspace, key: each must allow the model
    allowed: frozenset[str] | None  # the intersection; None: any model
    max_tokens: int | None
    token_counter: str  # the caller's own tokens per rolling day
    tokens: tuple[tuple[str, int | None], ...]  # (counter, limit), own counter first
    rates: tuple[RateLimit, ...]
    guards: tuple[SpendingGuard, ...]
    # for messages: which level set each limit ("role developer", "key dev-bob", ...)
    bound_by: Mapping[str, str] = field(default_factory=dict)
    problem: str | None = None  # set: every request is denied as unknown-role
    # every guard's (counter, window, limit), for the charges of each request
    spend: tuple[tuple[str, Window, int | None], ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        spend = tuple(counter for guard in self.guards for counter in guard.counters)
        object.__setattr__(self, "spend", spend)

    def checks(self, tokens: int, units: int, *, limits: bool = True) -> list[Check]:
        """What a request of ``tokens`` costing ``units`` (pico-dollars) is charged to, in
        order: token counters, rate windows, spending guards (without limits: the
        charges alone, for usage recorded unasked)."""
        if not limits:
            return [
                *(Charge(name, _DAY, tokens, None, "tokens") for name, _ in self.tokens),
                *(Charge(name, window, units) for name, window, _ in self.spend),
            ]
        out: list[Check] = [
            Charge(name, _DAY, tokens, limit, "tokens") for name, limit in self.tokens
        ]
        out += self.rates
        out += [Charge(name, window, units, limit) for name, window, limit in self.spend]
        return out


class Subjects:
    """Every subject of one desired state, and the spending guard of each scope."""

    def __init__(
        self,
        state: DesiredState,
        *,
        store: UsageStore,
        prices: PriceTable,
        clock: Callable[[], float],
        spend_limits: Mapping[str, SpendLimits],
    ) -> None:
        self.state = state
        self.store = store
        self.prices = prices
        self.clock = clock
        self._extra_limits = dict(spend_limits)
        self.guards: dict[str, SpendingGuard] = {}
        self.by_name: dict[str, Subject] = {}
        self._build()

    def _resolve_models(self, names: Iterable[str]) -> frozenset[str] | None:
        names = tuple(names)
        if UNLIMITED in names:
            return None
        return frozenset(self.prices.resolve(n) or n for n in names)

    def _guard(self, scope: str, limits: SpendLimits) -> SpendingGuard:
        guard = self.guards.get(scope)
        if guard is None:
            guard = SpendingGuard(
                limits, scope=scope, store=self.store, prices=self.prices, clock=self.clock
            )
            self.guards[scope] = guard
        return guard

    def _workspace_guard(self, workspace: Workspace | None, name: str | None) -> SpendingGuard:
        if not name:
            return self._guard("unscoped", self._extra_limits.get("", SpendLimits()))
        policy = workspace.policy if workspace is not None else WorkspacePolicy()
        extra = self._extra_limits.get(name, SpendLimits())
        limits = SpendLimits(
            hourly_usd=_first(extra.hourly_usd, policy.hourly_budget_usd),
            daily_usd=_first(extra.daily_usd, policy.daily_budget_usd),
            monthly_usd=_first(extra.monthly_usd, policy.monthly_budget_usd),
        )
        return self._guard(f"workspace.{name}", limits)

    def _build(self) -> None:
        for role in self.state.roles:
            address = f"role.{role.name}"
            levels = [(f"role {role.name}", role)]
            models = self._resolve_models(role.allowed_models)
            own = _own_guard_limits(levels)
            guard = (
                self._guard(address, own) if own is not None else self._workspace_guard(None, None)
            )
            subject = Subject(
                address=address,
                label=f"role {role.name}",
                workspace=None,
                role_name=role.name,
                model_rules=((f"role {role.name}", models, models_text(role.allowed_models)),),
                allowed=models,
                max_tokens=role.max_tokens_per_request,
                token_counter=f"{address}|tokens|day",
                tokens=((f"{address}|tokens|day", role.daily_token_budget),),
                rates=(RateLimit(address, role.rpm),) if role.rpm is not None else (),
                guards=(guard,),
                bound_by=_bound_by(levels),
            )
            self.by_name[subject.address] = subject
            self.by_name[role.name] = subject
        for key in self.state.keys:
            subject = self._key_subject(key)
            self.by_name[subject.address] = subject
            self.by_name.setdefault(key.name, subject)

    def _key_subject(self, key: ApiKey) -> Subject:
        address = f"api_key.{key.name}"
        workspace = self.state.workspace(key.workspace)
        policy = workspace.policy if workspace is not None else WorkspacePolicy()
        role = self.state.role(key.role) if key.role else None
        problem = None
        if key.role and role is None:
            problem = f"key {key.name} has role {key.role!r}, which is not declared"
        # the key's own limits: its role's and its policy's, each key counted on its own
        levels: list[tuple[str, Limits]] = []
        rules: list[ModelRule] = []
        if role is not None:
            levels.append((f"role {role.name}", role))
            rules.append((f"role {role.name}", *self._rule(role.allowed_models)))
        rules.append((f"workspace {key.workspace}", *self._rule(policy.allowed_models)))
        if key.policy is not None:
            levels.append((f"key {key.name}", key.policy))
            if key.policy.allowed_models is not None:
                rules.append((f"key {key.name}", *self._rule(key.policy.allowed_models)))
        allowed: frozenset[str] | None = None
        for _, models, _ in rules:
            if models is not None:
                allowed = models if allowed is None else allowed & models
        own_rpm = _tightest(levels, "rpm")
        rates = [RateLimit(address, own_rpm)] if own_rpm is not None else []
        if policy.rpm is not None:
            rates.append(RateLimit(f"workspace.{key.workspace}", policy.rpm))
        tokens: list[tuple[str, int | None]] = [
            (f"{address}|tokens|day", _tightest(levels, "daily_token_budget"))
        ]
        if policy.daily_token_budget is not None:
            tokens.append((f"workspace.{key.workspace}|tokens|day", policy.daily_token_budget))
        guards = [self._workspace_guard(workspace, key.workspace)]
        own = _own_guard_limits(levels)
        if own is not None:
            guards.insert(0, self._guard(address, own))
        role_text = f"role {key.role}" if key.role else "no role"
        return Subject(
            address=address,
            label=f"key {key.name} ({role_text}, workspace {key.workspace})",
            workspace=key.workspace,
            role_name=key.role,
            model_rules=tuple(rules),
            allowed=allowed,
            max_tokens=_tightest(
                [*levels, (f"workspace {key.workspace}", policy)], "max_tokens_per_request"
            ),
            token_counter=f"{address}|tokens|day",
            tokens=tuple(tokens),
            rates=tuple(rates),
            guards=tuple(guards),
            bound_by=_bound_by([*levels, (f"workspace {key.workspace}", policy)]),
            problem=problem,
        )

    def _rule(self, names: tuple[str, ...]) -> tuple[frozenset[str] | None, str]:
        return self._resolve_models(names), models_text(names)


def _first(*values: Decimal | None) -> Decimal | None:
    return next((v for v in values if v is not None), None)


def _tightest(levels: Iterable[tuple[str, Limits]], name: str) -> Any:
    """The smallest value of the limit ``name`` over ``levels``; None when none sets it."""
    return min(
        (v for _, limits in levels if (v := getattr(limits, name)) is not None), default=None
    )


def _bound_by(levels: Sequence[tuple[str, Limits]]) -> dict[str, str]:
    """For each limit set at some level, the level whose value binds (the first of equals)."""
    out: dict[str, str] = {}
    for name in Limits.model_fields:
        found = [(v, who) for who, limits in levels if (v := getattr(limits, name)) is not None]
        if found:
            out[name] = min(found, key=lambda pair: pair[0])[1]
    return out


def _own_guard_limits(levels: Sequence[tuple[str, Limits]]) -> SpendLimits | None:
    """The USD limits counted on the caller alone, or None when no level sets one."""
    limits = SpendLimits(
        hourly_usd=_tightest(levels, "hourly_budget_usd"),
        daily_usd=_tightest(levels, "daily_budget_usd"),
        monthly_usd=_tightest(levels, "monthly_budget_usd"),
    )
    return None if limits == SpendLimits() else limits


def models_text(names: Iterable[str]) -> str:
    """A list of model names for a message."""
    return ", ".join(names) or "no models"
