"""Application-side enforcement of the desired state: what the platform cannot hold.

La Plateforme has no per-key model allow-list, per-request token cap, daily token
budget, per-team requests-per-minute or per-workspace budget an application could rely
on, so applications enforce them with this package, from the same YAML that ``plan``
and ``apply`` use::

    from reconciler.policy import Policy, SQLiteStore

    policy = Policy.from_directory("desired-state", store=SQLiteStore("/var/tmp/usage.db"))
    decision = policy.authorize("api_key.dev-bob", "mistral-small-latest", 1800)
    if not decision:
        print(decision.reason, decision.message)       # e.g. over-rpm, over-budget
    else:
        ...                                            # call the API
        policy.record(decision, usage.prompt_tokens, usage.completion_tokens)

Modules: ``policy`` (authorization), ``decision`` (the answer), ``guard`` (hourly, daily
and monthly USD limits), ``windows`` (calendar buckets), ``store`` and ``sqlite`` (usage
counters in memory or shared by processes), ``prices`` (aliases and prices),
``tokens`` (estimates from a request body), ``metadata`` (a key's vault entry),
``transport`` (httpx integration), ``budget`` and ``budget_render`` (the monthly report).

``PolicyTransport``, ``AsyncPolicyTransport`` and ``PolicyDenied`` are imported on first
use, so ``import reconciler.policy`` stays light.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from reconciler.policy.decision import Decision, Reason
from reconciler.policy.guard import SpendCheck, SpendingGuard, SpendLimits
from reconciler.policy.memory import MemoryStore
from reconciler.policy.policy import Policy
from reconciler.policy.prices import PriceTable, default_price_table
from reconciler.policy.sqlite import PolicyStoreError, SQLiteStore
from reconciler.policy.store import Reservation, UsageStore
from reconciler.policy.tokens import TokenEstimate, TokenEstimator
from reconciler.policy.windows import Window

if TYPE_CHECKING:
    from reconciler.policy.transport import AsyncPolicyTransport, PolicyDenied, PolicyTransport

__all__ = [
    "AsyncPolicyTransport",
    "Decision",
    "MemoryStore",
    "Policy",
    "PolicyDenied",
    "PolicyStoreError",
    "PolicyTransport",
    "PriceTable",
    "Reason",
    "Reservation",
    "SQLiteStore",
    "SpendCheck",
    "SpendLimits",
    "SpendingGuard",
    "TokenEstimate",
    "TokenEstimator",
    "UsageStore",
    "Window",
    "default_price_table",
]

_LAZY = {"AsyncPolicyTransport", "PolicyDenied", "PolicyTransport"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from reconciler.policy import transport

        return getattr(transport, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
