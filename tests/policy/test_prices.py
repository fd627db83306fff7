"""The price table: aliases, exact costs, caution for unknown or unpriced models."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from reconciler.desired import catalog_from_models_response
from reconciler.desired.catalog import ModelInfo
from reconciler.errors import ConfigError
from reconciler.policy import PriceTable, default_price_table
from reconciler.policy.prices import CachedTokens, ModelPrice, units_to_usd, usd_to_units


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


def test_prompt_cache_writes_and_reads_cost_what_the_catalog_lists() -> None:
    claude = default_price_table("anthropic")
    cached = CachedTokens(writes=1_000_000, long_writes=1_000_000, reads=1_000_000)
    # Haiku 4.5: input 1, 5-minute writes 1.25, 1-hour writes 2, reads 0.10 (USD/million)
    assert claude.cost("claude-haiku-4-5", 3_000_000, 0, cached) == Decimal("3.35")
    assert claude.cost("claude-haiku-4-5", 3_500_000, 0, cached) == Decimal("3.85")
    assert claude.cost("claude-haiku-4-5", 3_000_000, 0, CachedTokens()) == Decimal(3)


def test_la_plateformes_cached_prompt_tokens_cost_a_tenth_of_the_input() -> None:
    # mistral-small: input 0.15, output 0.60 USD per million
    cost = default_price_table().cost(
        "mistral-small-latest", 1_000_000, 0, CachedTokens(reads=800_000)
    )
    assert cost == Decimal("0.042")  # 200,000 at 0.15 and 800,000 at 0.015


def test_cache_prices_not_listed_cost_the_dearest_a_provider_documents() -> None:
    table = PriceTable([ModelPrice("m", input_usd_per_million=Decimal(1))])
    cached = CachedTokens(writes=1_000_000, long_writes=1_000_000, reads=1_000_000)
    assert table.cost("m", 3_000_000, 0, cached) == Decimal(5)  # writes twice, reads once
    unknown = table.cost("other", 3_000_000, 0, cached)  # the dearest model's price, as above
    assert unknown == Decimal(5)


@pytest.mark.parametrize("count", [-1, 1.5, "3", True])
def test_a_cached_count_must_be_a_whole_number(count: object) -> None:
    with pytest.raises(ValueError, match="cached tokens"):
        CachedTokens(reads=count)  # type: ignore[arg-type]


def test_a_catalog_entry_keeps_its_cache_prices() -> None:
    entry = {"id": "m", "input_price": 1.0, "output_price": 2.0, "cache_read_price": 0.1}
    model = ModelInfo.from_dict(entry)
    assert model.cache_read_price == 0.1 and model.cache_write_price is None
    assert ModelInfo.from_dict(model.to_dict()) == model
    assert "cache_write_price" not in model.to_dict()
