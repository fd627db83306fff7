"""Who may ask a :class:`~reconciler.policy.policy.Policy`: every role and key, precomputed.

A :class:`Subject` holds everything ``authorize`` needs about one caller: the models it may
use (a key: its role's **and** its workspace's, aliases resolved), its per-request token
cap and daily token budget (the role's), its rate limit and spending guard (the
workspace's, shared by all its keys), and a problem that denies every request (a key whose
role is not declared). :class:`Subjects` builds them once from the desired state, under
``role.<name>`` / ``api_key.<name>`` and the bare names (a role's name wins a tie).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from reconciler.model import UNLIMITED, ApiKey, DesiredState, Role, Workspace, WorkspacePolicy
from reconciler.policy.guard import SpendingGuard, SpendLimits
from reconciler.policy.prices import PriceTable
from reconciler.policy.store import Charge, Check, RateLimit, UsageStore
from reconciler.policy.windows import Window


@dataclass(frozen=True, slots=True)
class Subject:
    """Everything ``authorize`` needs about one caller, precomputed."""

    address: str
    label: str
    workspace: str | None
    role_name: str | None
    role_models: frozenset[str] | None  # canonical ids; None: any model
    role_models_text: str
    workspace_models_text: str
    allowed: frozenset[str] | None  # the intersection
    max_tokens: int | None
    daily_tokens: int | None
    token_counter: str
    rate: RateLimit | None
    guard: SpendingGuard
    problem: str | None = None  # set: every request is denied as unknown-role

    def checks(self, tokens: int, units: int, *, limits: bool = True) -> list[Check]:
        out: list[Check] = [
            Charge(
                self.token_counter,
                Window.DAY,
                tokens,
                self.daily_tokens if limits else None,
                "tokens",
            )
        ]
        if limits and self.rate is not None:
            out.append(self.rate)
        charges = self.guard.charges(units)
        if not limits:
            charges = [Charge(c.name, c.window, c.amount) for c in charges]
        out.extend(charges)
        return out


class Subjects:
    """Every subject of one desired state, and the spending guard of each workspace."""

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

    def _guard(self, workspace: Workspace | None, name: str | None) -> SpendingGuard:
        scope = f"workspace.{name}" if name else "unscoped"
        guard = self.guards.get(scope)
        if guard is None:
            extra = self._extra_limits.get(name or "", SpendLimits())
            budget = workspace.policy.monthly_budget_usd if workspace is not None else None
            limits = SpendLimits(
                hourly_usd=extra.hourly_usd,
                daily_usd=extra.daily_usd,
                monthly_usd=extra.monthly_usd if extra.monthly_usd is not None else budget,
            )
            guard = SpendingGuard(
                limits, scope=scope, store=self.store, prices=self.prices, clock=self.clock
            )
            self.guards[scope] = guard
        return guard

    def _build(self) -> None:
        everything = self._guard(None, None)
        for role in self.state.roles:
            models = self._resolve_models(role.allowed_models)
            subject = Subject(
                address=f"role.{role.name}",
                label=f"role {role.name}",
                workspace=None,
                role_name=role.name,
                role_models=models,
                role_models_text=models_text(role.allowed_models),
                workspace_models_text="*",
                allowed=models,
                max_tokens=role.max_tokens_per_request,
                daily_tokens=role.daily_token_budget,
                token_counter=f"role.{role.name}|tokens|day",
                rate=None,
                guard=everything,
            )
            self.by_name[subject.address] = subject
            self.by_name[role.name] = subject
        for key in self.state.keys:
            subject = self._key_subject(key)
            self.by_name[subject.address] = subject
            self.by_name.setdefault(key.name, subject)

    def _key_subject(self, key: ApiKey) -> Subject:
        workspace = self.state.workspace(key.workspace)
        policy = workspace.policy if workspace is not None else WorkspacePolicy()
        role: Role | None = self.state.role(key.role) if key.role else None
        problem = None
        if key.role and role is None:
            problem = f"key {key.name} has role {key.role!r}, which is not declared"
        role_models = self._resolve_models(role.allowed_models) if role else None
        ws_models = self._resolve_models(policy.allowed_models)
        if role_models is None:
            allowed = ws_models
        elif ws_models is None:
            allowed = role_models
        else:
            allowed = role_models & ws_models
        rate = None
        if policy.rpm is not None:
            rate = RateLimit(f"workspace.{key.workspace}", policy.rpm)
        role_text = f"role {key.role}" if key.role else "no role"
        return Subject(
            address=f"api_key.{key.name}",
            label=f"key {key.name} ({role_text}, workspace {key.workspace})",
            workspace=key.workspace,
            role_name=key.role,
            role_models=role_models,
            role_models_text=models_text(role.allowed_models) if role else "*",
            workspace_models_text=models_text(policy.allowed_models),
            allowed=allowed,
            max_tokens=role.max_tokens_per_request if role else None,
            daily_tokens=role.daily_token_budget if role else None,
            token_counter=f"api_key.{key.name}|tokens|day",
            rate=rate,
            guard=self._guard(workspace, key.workspace),
            problem=problem,
        )


def models_text(names: Iterable[str]) -> str:
    """A list of model names for a message."""
    return ", ".join(names) or "no models"
