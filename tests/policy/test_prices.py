"""The price table: aliases, exact costs, caution for unknown or unpriced models."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from reconciler.desired import catalog_from_models_response
from reconciler.errors import ConfigError
from reconciler.policy import PriceTable, default_price_table
from reconciler.policy.prices import ModelPrice, units_to_usd, usd_to_units


@pytest.mark.parametrize(
    ("name", "canonical"),
    [
        ("mistral-small-latest", "mistral-small-2506"),
        ("mistral-small-2506", "mistral-small-2506"),
        ("Mistral-Small-Latest", "mistral-small-2506"),
        ("mistral-medium", "mistral-medium-2508"),
        ("codestral-latest", "codestral-2508"),
        ("gpt-4", None),
    ],
)
def test_resolve(name: str, canonical: str | None) -> None:
    assert default_price_table().resolve(name) == canonical


def test_the_project_catalog_and_the_json_file_agree() -> None:
    from_json = PriceTable.from_json()
    shipped = default_price_table()
    assert from_json.models() == shipped.models()
    for model in shipped.models():
        assert from_json.price(model) == shipped.price(model)
        assert from_json.cost(model, 1234, 567) == shipped.cost(model, 1234, 567)


def test_costs_are_exact() -> None:
    table = default_price_table()
    assert table.cost("mistral-small-latest", 1_000_000, 1_000_000) == Decimal("0.75")
    assert table.cost("ministral-3b-latest", 1, 0) == Decimal("0.0000001")
    total = sum((table.cost("mistral-small-latest", 1, 1) for _ in range(1000)), Decimal(0))
    assert total == Decimal("0.00075")


def test_unknown_and_unpriced_models_cost_the_most() -> None:
    table = PriceTable(
        [
            ModelPrice("cheap", ("cheap-latest",), Decimal("0.1"), Decimal("0.2")),
            ModelPrice("dear", (), Decimal("3"), Decimal("9")),
            ModelPrice("mystery", (), None, None),
        ]
    )
    assert table.price("mystery") is None
    assert table.cost("mystery", 1_000_000, 0) == Decimal(9)
    assert table.cost("never-heard-of", 0, 1_000_000) == Decimal(9)
    assert table.cost("cheap-latest", 1_000_000, 0) == Decimal("0.1")


def test_a_catalog_refreshed_from_the_models_endpoint() -> None:
    refreshed = catalog_from_models_response(
        {
            "object": "list",
            "data": [
                {"id": "mistral-small-2506", "aliases": ["mistral-small-latest"]},
                {"id": "mistral-small-2609", "aliases": []},
            ],
        }
    )
    table = PriceTable.from_catalog(refreshed)
    assert table.resolve("mistral-small-latest") == "mistral-small-2506"
    assert table.price("mistral-small-2506") == (Decimal("0.15"), Decimal("0.6"))
    assert table.price("mistral-small-2609") is None  # new, no known price yet


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("not json", "cannot read the model price table"),
        ('{"models": 3}', "expected an object with a 'models' list"),
        ('{"models": [{"aliases": []}]}', r"models\[0\] is malformed"),
        ('{"models": [{"id": "x", "input_price": "free"}]}', r"models\[0\] is malformed"),
    ],
)
def test_bad_models_file(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "models.json"
    path.write_text(content)
    with pytest.raises(ConfigError, match=message):
        PriceTable.from_json(path)


def test_units_round_trip() -> None:
    assert usd_to_units(Decimal("50")) == 50 * 10**12
    assert units_to_usd(usd_to_units("12.345678901234")) == Decimal("12.345678901234")
