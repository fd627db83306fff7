"""Usage limits that can never bind: warnings, each at the limit to change.

The same limits may be set on a workspace (all its keys together), a role and a key
(each key on its own), and every one of them holds, so the tightest binds. A key's limit
looser than its role's or its workspace's is then dead text in review, as is an hourly
budget above the daily one, or a daily one above the monthly one: the reader thinks a
key may spend more than it can. Neither is an error (the policy stays safe), both are
warnings that name the limit that binds instead.
"""

from __future__ import annotations

from decimal import Decimal
from itertools import pairwise

from reconciler.desired.problems import Loc, Severity
from reconciler.desired.schema import LimitsDoc
from reconciler.desired.sources import Reporter, Source

#: Each limit field, and how its value is shown.
FIELDS: dict[str, str] = {
    "rpm": "{:,} requests per minute",
    "max_tokens_per_request": "{:,} tokens per request",
    "daily_token_budget": "{:,} tokens a day",
    "hourly_budget_usd": "${} an hour",
    "daily_budget_usd": "${} a day",
    "monthly_budget_usd": "${} a month",
}
_SPEND = ("hourly_budget_usd", "daily_budget_usd", "monthly_budget_usd")


def shown(field: str, value: int | Decimal) -> str:
    """A limit's value for a message: ``8,000 tokens per request``, ``$5 a day``."""
    if isinstance(value, Decimal):
        value = value.normalize()
        return FIELDS[field].format(f"{value:f}")
    return FIELDS[field].format(value)


def check_limits(reporter: Reporter, source: Source, loc: Loc, doc: LimitsDoc) -> None:
    """Within one level: an hourly budget above the daily one, or a daily one above the
    monthly one (or an hourly one above the monthly one), never binds."""
    given = [(f, v) for f in _SPEND if (v := getattr(doc, f)) is not None]
    for (shorter, low), (longer, high) in pairwise(given):
        if low > high:
            reporter.add(
                source,
                (*loc, shorter),
                f"{shown(shorter, low)} is more than {shown(longer, high)}, so it never "
                f"binds: the {longer.split('_')[0]} budget is reached first",
                Severity.WARNING,
            )


def check_key_limits(
    reporter: Reporter,
    source: Source,
    loc: Loc,
    key: LimitsDoc,
    role: tuple[str | None, LimitsDoc | None],
    workspace: tuple[str, LimitsDoc],
) -> None:
    """A key's limit looser than its role's or its workspace's never binds."""
    role_name, role_doc = role
    ws_name, ws_doc = workspace
    ceilings: list[tuple[str, LimitsDoc]] = [(f"workspace '{ws_name}' (all its keys)", ws_doc)]
    if role_name is not None and role_doc is not None:
        ceilings.insert(0, (f"role '{role_name}'", role_doc))
    for field in FIELDS:
        value = getattr(key, field)
        if value is None:
            continue
        for owner, doc in ceilings:
            ceiling = getattr(doc, field)
            if ceiling is not None and value > ceiling:
                reporter.add(
                    source,
                    (*loc, field),
                    f"{shown(field, value)} is more than {owner} allows "
                    f"({shown(field, ceiling)}): the tightest limit binds, so this one never does",
                    Severity.WARNING,
                )
                break
