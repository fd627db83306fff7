"""What one month's ``GET /usage`` report (``UsageOUTJSON``) costs.

The report groups usage by category (``completion``, ``chat``, ``ocr``, ``connectors``,
``audio``, ``audio_characters``, ``libraries_api.*``, ``vibe_code.*``,
``fine_tuning.training``), then by model, then by billing group (for example ``input`` and
``output``), each holding a list of usage entries; ``prices`` lists unit prices by
``billing_metric`` / ``billing_group`` (and optionally ``event_type``, ``api_zone``,
``service_tier``).

The cost of one entry is, in order of preference:

1. its own ``cost`` (or ``amount``) field, when the server computed it;
2. otherwise quantity × unit price, where the quantity is ``value_paid`` (usage beyond any
   free allowance) or else ``value`` (or ``usage``/``quantity``/``tokens``), and the unit
   price is the entry's own ``price`` or else the ``prices`` row matching the entry's
   ``billing_metric`` (default: the model) and ``billing_group`` (default: the group key),
   and any of ``event_type``, ``api_zone``, ``service_tier`` both sides give. Prices are
   per unit of the billing metric (per token for tokens), as the report states them.

Entries with neither a cost nor a matching price cost nothing and are listed in
:attr:`UsageCost.unpriced`. Fine-tuning storage (no price in the report) and the legacy
``vibe_usage`` number (always 0) are not counted. Every category is summed once.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from reconciler.platform.mistral.wire import PriceData, UsageOut

COST_FIELDS = ("cost", "amount")
QUANTITY_FIELDS = ("value_paid", "value", "usage", "quantity", "tokens")
MATCH_FIELDS = ("event_type", "api_zone", "service_tier")


@dataclass(frozen=True, slots=True)
class UsageCost:
    """The month's cost in the report's currency, and what could not be priced."""

    total: Decimal
    currency: str
    unpriced: tuple[str, ...] = ()


def usage_cost(report: UsageOut) -> UsageCost:
    """Sum the cost of every usage entry in ``report`` (see the module docstring)."""
    total = Decimal(0)
    unpriced: list[str] = []
    prices = report.prices or []
    for category, models in report.categories().items():
        for model, groups in models.items():
            for group, entries in groups.items():
                for entry in entries:
                    cost = entry_cost(entry, model, group, prices)
                    if cost is None:
                        unpriced.append(f"{category}/{model}/{group}")
                    else:
                        total += cost
    return UsageCost(total=total, currency=report.currency or "USD", unpriced=tuple(unpriced))


def entry_cost(
    entry: Mapping[str, Any], model: str, group: str, prices: Iterable[PriceData]
) -> Decimal | None:
    """One entry's cost, or ``None`` when the report gives no way to price it."""
    for name in COST_FIELDS:
        cost = _decimal(entry.get(name))
        if cost is not None:
            return cost
    quantity = next(
        (q for q in (_decimal(entry.get(n)) for n in QUANTITY_FIELDS) if q is not None), None
    )
    if quantity is None:
        return Decimal(0)
    if quantity == 0:
        return Decimal(0)
    price = _decimal(entry.get("price"))
    if price is None:
        price = _find_price(entry, model, group, prices)
    if price is None:
        return None
    return quantity * price


def _find_price(
    entry: Mapping[str, Any], model: str, group: str, prices: Iterable[PriceData]
) -> Decimal | None:
    metric = str(entry.get("billing_metric") or model)
    billing_group = str(entry.get("billing_group") or group)
    for row in prices:
        if row.billing_metric != metric or row.billing_group != billing_group:
            continue
        if all(
            entry.get(f) in (None, "")
            or getattr(row, f) in (None, "")
            or str(entry.get(f)) == str(getattr(row, f))
            for f in MATCH_FIELDS
        ):
            return row.price
    return None


def _decimal(value: Any) -> Decimal | None:
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int | float | str | Decimal):
        try:
            result = Decimal(str(value))
        except InvalidOperation:
            return None
        return result if result.is_finite() else None
    return None
