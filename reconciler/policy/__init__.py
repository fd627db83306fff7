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

With an official SDK (mistralai, anthropic, openai, groq, cohere), hand it a client that
enforces the policy: ``Mistral(client=http_client(policy, "api_key.dev-bob",
provider="mistral"))``; see :mod:`~reconciler.policy.sdk`.

Modules: ``policy`` (authorization), ``subjects`` (each caller's limits, from every
level), ``decision`` and ``denials`` (the answer), ``guard`` (hourly, daily and monthly
USD limits), ``windows`` (rolling hour and day, calendar month), ``store``, ``memory``,
``sql``, ``sqlite`` and ``postgres`` (usage in memory, shared by the processes of a host,
or by a fleet), ``shared`` (a store from its location), ``prices`` (aliases
and prices), ``tokens`` and ``tokenizers`` (estimates from a request body), ``metadata``
(a key's vault entry), ``hook`` (enforcement around one call, for any HTTP library),
``wire`` (each provider's request, usage and error shapes), ``httpx_like``,
``transport`` and ``httpx2_transport`` (the httpx and httpx2 adapters), ``sdk`` (clients
for the official SDKs), ``budget`` and ``budget_render`` (the monthly report).

The transports, ``PolicyDenied``, ``http_client``, ``async_http_client``,
``PostgresStore`` and ``open_store`` are imported on first use, so ``import
reconciler.policy`` stays light and needs neither httpx2, psycopg nor any SDK.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from reconciler.lazy import attributes
from reconciler.policy.decision import Decision, Reason
from reconciler.policy.guard import SpendCheck, SpendingGuard, SpendLimits
from reconciler.policy.memory import MemoryStore
from reconciler.policy.policy import Policy
from reconciler.policy.prices import CachedTokens, PriceTable, default_price_table
from reconciler.policy.sqlite import PolicyStoreError, SQLiteStore
from reconciler.policy.store import Reservation, UsageStore
from reconciler.policy.tokenizers import MistralCommonTokenizer, TiktokenTokenizer, Tokenizer
from reconciler.policy.tokens import TokenEstimate, TokenEstimator
from reconciler.policy.windows import Window

if TYPE_CHECKING:
    from reconciler.policy.httpx2_transport import (
        AsyncHttpx2PolicyTransport,
        Httpx2PolicyDenied,
        Httpx2PolicyTransport,
    )
    from reconciler.policy.postgres import PostgresStore
    from reconciler.policy.sdk import async_http_client, http_client
    from reconciler.policy.shared import open_store
    from reconciler.policy.transport import AsyncPolicyTransport, PolicyDenied, PolicyTransport

__all__ = [
    "AsyncHttpx2PolicyTransport",
    "AsyncPolicyTransport",
    "CachedTokens",
    "Decision",
    "Httpx2PolicyDenied",
    "Httpx2PolicyTransport",
    "MemoryStore",
    "MistralCommonTokenizer",
    "Policy",
    "PolicyDenied",
    "PolicyStoreError",
    "PolicyTransport",
    "PostgresStore",
    "PriceTable",
    "Reason",
    "Reservation",
    "SQLiteStore",
    "SpendCheck",
    "SpendLimits",
    "SpendingGuard",
    "TiktokenTokenizer",
    "TokenEstimate",
    "TokenEstimator",
    "Tokenizer",
    "UsageStore",
    "Window",
    "async_http_client",
    "default_price_table",
    "http_client",
    "open_store",
]

_LAZY = {
    "AsyncPolicyTransport": "transport",
    "PolicyDenied": "transport",
    "PolicyTransport": "transport",
    "AsyncHttpx2PolicyTransport": "httpx2_transport",
    "Httpx2PolicyDenied": "httpx2_transport",
    "Httpx2PolicyTransport": "httpx2_transport",
    "async_http_client": "sdk",
    "http_client": "sdk",
    "PostgresStore": "postgres",
    "open_store": "shared",
}


if not TYPE_CHECKING:  # so that the type checker still refuses a name that is not here
    __getattr__ = attributes(__name__, _LAZY)
