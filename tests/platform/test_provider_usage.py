"""What a month's usage report costs (reconciler.platform.mistral.usage)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from reconciler.platform.mistral.usage import usage_cost
from reconciler.platform.mistral.wire import UsageOut

SMALL_IN = "0.00000015"  # mistral-small: 0.15 USD per million input tokens
SMALL_OUT = "0.0000006"


def price(metric: str, group: str, value: str, **extra: str) -> dict[str, Any]:
    return {
        "event_type": extra.get("event_type", "api_tokens"),
        "billing_metric": metric,
        "billing_group": group,
        "api_zone": extra.get("api_zone", "global"),
        "service_tier": "standard",
        "price": value,
    }


def report(**fields: Any) -> UsageOut:
    return UsageOut.model_validate({"currency": "USD", **fields})


def test_tokens_times_the_matching_unit_price_summed_over_groups_and_models() -> None:
    usage = report(
        completion={
            "models": {
                "mistral-small-2506": {
                    "input": [{"value": 2_000_000}, {"value": 1_000_000}],
                    "output": [{"value": 1_000_000}],
                },
                "codestral-2508": {"input": [{"value": 1_000_000}]},
            }
        },
        prices=[
            price("mistral-small-2506", "input", SMALL_IN),
            price("mistral-small-2506", "output", SMALL_OUT),
            price("codestral-2508", "input", "0.0000003"),
        ],
    )
    cost = usage_cost(usage)
    # 3M in × 0.15/M + 1M out × 0.6/M + 1M × 0.3/M
    assert cost.total == Decimal("0.45") + Decimal("0.6") + Decimal("0.3")
    assert cost.unpriced == ()
    assert cost.currency == "USD"


def test_every_category_is_counted_including_nested_ones() -> None:
    one = {"m": {"g": [{"cost": "1.25"}]}}
    usage = report(
        completion={"models": one},
        ocr={"models": one},
        libraries_api={"tokens": {"models": one}},
        vibe_code={"audio": {"models": one}},
        fine_tuning={"training": one, "storage": {"m": 123}},
        vibe_usage=0,
    )
    assert usage_cost(usage).total == 5 * Decimal("1.25")  # storage has no price: not counted


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        ({"cost": 2.5, "value": 10**9}, Decimal("2.5")),  # the server's own cost wins
        ({"amount": "0.75"}, Decimal("0.75")),
        ({"value": 1000, "value_paid": 400}, Decimal("0.00024")),  # billed beyond free usage
        ({"value": 1000, "price": "0.001"}, Decimal("1.000")),  # a price on the entry itself
        ({"value": 0}, Decimal(0)),
        ({"timestamp": "2026-11-01"}, Decimal(0)),  # no quantity at all
    ],
)
def test_how_one_entry_is_costed(entry: dict[str, Any], expected: Decimal) -> None:
    usage = report(
        completion={"models": {"mistral-small-2506": {"output": [entry]}}},
        prices=[price("mistral-small-2506", "output", SMALL_OUT)],
    )
    assert usage_cost(usage).total == expected


def test_an_entry_naming_its_metric_and_event_type_uses_the_matching_price() -> None:
    usage = report(
        completion={
            "models": {
                "mistral-small-latest::mistral-small-2506": {
                    "input": [
                        {
                            "value": 1_000_000,
                            "billing_metric": "mistral-small-2506",
                            "billing_group": "input",
                            "event_type": "api_tokens",
                        }
                    ]
                }
            }
        },
        prices=[
            price("mistral-small-2506", "input", "9", event_type="deployment_tokens"),
            price("mistral-small-2506", "input", SMALL_IN, event_type="api_tokens"),
        ],
    )
    assert usage_cost(usage).total == Decimal("0.15")


def test_entries_without_a_price_cost_nothing_and_are_listed() -> None:
    usage = report(
        completion={"models": {"mystery-model": {"input": [{"value": 5}]}}},
        prices=[price("mistral-small-2506", "input", SMALL_IN)],
    )
    cost = usage_cost(usage)
    assert cost.total == 0
    assert cost.unpriced == ("completion/mystery-model/input",)
