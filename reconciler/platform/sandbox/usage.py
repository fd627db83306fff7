"""``GET /usage`` (``UsageOUTJSON``) and the month's spend, from seeded token counts.

The spec leaves the inside of ``completion.models`` open (an object per model of arrays
of objects). The sandbox serves, per model id, ``{"input": [...], "output": [...]}`` with
one entry per workspace::

    {"usage_type": "input", "event_type": "api_tokens", "billing_metric": "<model id>",
     "billing_display_name": "<alias>", "billing_group": "input", "timestamp": "2026-11-01",
     "workspace_id": "<uuid>", "workspace_name": "dev", "api_zone": "global",
     "service_tier": "standard", "value": 1200000, "value_paid": 1200000,
     "price": "0.00000015", "amount": 0.18}

``prices[]`` lists a per-token price (a decimal string, in ``currency``) for each model's
``input`` and ``output`` billing group: cost = ``value_paid`` x ``price``; ``amount`` is
that product, rounded to cents.
"""

from __future__ import annotations

import calendar
import datetime as dt
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

from reconciler.platform.sandbox.catalog import Catalog, CatalogModel
from reconciler.platform.sandbox.records import UsageRecord

_MILLION = Decimal(1_000_000)
_SYMBOLS = {"USD": "$", "EUR": "€"}


def _empty() -> dict[str, Any]:
    return {"models": {}}


def per_token(price_per_million: float) -> Decimal:
    return Decimal(str(price_per_million)) / _MILLION


def cost(record: UsageRecord, catalog: Catalog) -> Decimal:
    """What a usage record costs, in the catalogue's currency."""
    model = catalog.resolve(record.model)
    if model is None:
        return Decimal(0)
    return record.input_tokens * per_token(model.input_price) + record.output_tokens * per_token(
        model.output_price
    )


def month_cost(records: Iterable[UsageRecord], catalog: Catalog) -> float:
    """Total cost of some usage records, rounded to cents."""
    total = sum((cost(r, catalog) for r in records), Decimal(0))
    return float(total.quantize(Decimal("0.01")))


def _month_label(year: int, month: int) -> str:
    return f"{year:04d}-{month:02d}"


def _entry(
    record: UsageRecord, model: CatalogModel, group: str, workspace_name: str | None
) -> dict[str, Any]:
    tokens = record.input_tokens if group == "input" else record.output_tokens
    price = per_token(model.input_price if group == "input" else model.output_price)
    return {
        "usage_type": group,
        "event_type": "api_tokens",
        "billing_metric": model.id,
        "billing_display_name": model.aliases[0] if model.aliases else model.id,
        "billing_group": group,
        "timestamp": dt.date(record.year, record.month, 1).isoformat(),
        "workspace_id": record.workspace_id,
        "workspace_name": workspace_name,
        "api_zone": "global",
        "service_tier": "standard",
        "value": tokens,
        "value_paid": tokens,
        "price": format(price.normalize(), "f"),
        "amount": float((tokens * price).quantize(Decimal("0.01"))),
    }


def usage_out(
    records: Iterable[UsageRecord],
    *,
    year: int,
    month: int,
    catalog: Catalog,
    currency: str,
    workspace_names: Mapping[str, str],
    api_zone: str | None,
) -> dict[str, Any]:
    """The ``UsageOUTJSON`` document for one month."""
    completion: dict[str, dict[str, list[dict[str, Any]]]] = {}
    if api_zone in (None, "global"):
        for record in records:
            model = catalog.resolve(record.model)
            if model is None:
                continue
            groups = completion.setdefault(model.id, {"input": [], "output": []})
            name = workspace_names.get(record.workspace_id)
            groups["input"].append(_entry(record, model, "input", name))
            groups["output"].append(_entry(record, model, "output", name))
    last_day = calendar.monthrange(year, month)[1]
    previous = (year, month - 1) if month > 1 else (year - 1, 12)
    following = (year, month + 1) if month < 12 else (year + 1, 1)
    prices = [
        {
            "event_type": "api_tokens",
            "billing_metric": model.id,
            "billing_group": group,
            "api_zone": "global",
            "service_tier": "standard",
            "price": format(
                per_token(
                    model.input_price if group == "input" else model.output_price
                ).normalize(),
                "f",
            ),
        }
        for model in catalog.models
        for group in ("input", "output")
    ]
    return {
        "completion": {"models": completion},
        "ocr": _empty(),
        "connectors": _empty(),
        "libraries_api": {"pages": _empty(), "tokens": _empty(), "audio_seconds": _empty()},
        "fine_tuning": {"training": {}, "storage": {}},
        "audio": _empty(),
        "audio_characters": _empty(),
        "vibe_usage": 0,
        "vibe_code": {
            "completion": _empty(),
            "ocr": _empty(),
            "connectors": _empty(),
            "audio": _empty(),
            "audio_characters": _empty(),
        },
        "chat": _empty(),
        "date": f"{year:04d}-{month:02d}-01T00:00:00.000Z",
        "previous_month": _month_label(*previous),
        "next_month": _month_label(*following),
        "start_date": f"{year:04d}-{month:02d}-01T00:00:00.000Z",
        "end_date": f"{year:04d}-{month:02d}-{last_day:02d}T23:59:59.999Z",
        "currency": currency,
        "currency_symbol": _SYMBOLS.get(currency),
        "prices": prices,
    }
