"""The model catalog: aliases, prices, deprecation, and rebuilding from GET /v1/models."""

from __future__ import annotations

import datetime as dt
import json
from importlib import resources
from typing import Any

import pytest

from reconciler.desired import Catalog, ModelInfo, catalog_from_models_response, load_catalog


@pytest.mark.parametrize(
    ("name", "canonical"),
    [
        ("mistral-small-latest", "mistral-small-2506"),
        ("mistral-small-2506", "mistral-small-2506"),
        ("codestral-latest", "codestral-2508"),
        ("mistral-medium", "mistral-medium-2508"),
        ("gpt-4o", None),
        ("*", None),
    ],
)
def test_resolve_aliases(name: str, canonical: str | None) -> None:
    assert load_catalog().resolve(name) == canonical


def test_price_per_million_tokens_by_any_name() -> None:
    catalog = load_catalog()
    assert catalog.price("mistral-small-latest") == (0.15, 0.6)
    assert catalog.price("mistral-small-2506") == catalog.price("mistral-small-latest")
    with pytest.raises(KeyError, match="unknown model 'nope'"):
        catalog.price("nope")


def test_deprecation_and_suggestion() -> None:
    catalog = load_catalog()
    assert catalog.is_deprecated("pixtral-large-latest")
    assert not catalog.is_deprecated("mistral-large-latest")
    assert catalog.suggest("mistral-larg-latest") == "mistral-large-latest"
    assert catalog.suggest("completely-different") is None


def test_shipped_file_round_trips_byte_for_byte() -> None:
    text = resources.files("reconciler.data").joinpath("models.json").read_text("utf-8")
    assert load_catalog().to_json() == text


def _response() -> dict[str, Any]:
    """A /v1/models body that lists a model under its dated id and again under its alias."""
    return {
        "object": "list",
        "data": [
            {
                "id": "mistral-small-2506",
                "object": "model",
                "aliases": ["mistral-small-latest"],
                "deprecation": None,
                "max_context_length": 131072,
                "capabilities": {"completion_chat": True, "vision": True},
            },
            {
                "id": "mistral-small-latest",
                "object": "model",
                "aliases": ["mistral-small-2506"],
                "deprecation": None,
                "max_context_length": 131072,
                "capabilities": {"completion_chat": True, "vision": True},
            },
            {
                "id": "pixtral-large-2411",
                "aliases": ["pixtral-large-latest"],
                "deprecation": "2026-12-31T00:00:00Z",
                "deprecation_replacement_model": "mistral-large-latest",
                "max_context_length": 131072,
                "capabilities": {"completion_chat": True},
            },
            {"id": "brand-new-2611", "aliases": [], "capabilities": {}},
        ],
    }


def test_catalog_from_models_response_merges_duplicates_and_keeps_prices() -> None:
    catalog = catalog_from_models_response(_response(), fetched=dt.date(2026, 11, 27))
    assert [m.id for m in catalog.models] == [
        "brand-new-2611",
        "mistral-small-2506",
        "pixtral-large-2411",
    ]
    assert catalog.resolve("mistral-small-latest") == "mistral-small-2506"
    assert catalog.price("mistral-small-latest") == (0.15, 0.6)  # from the shipped catalog
    pixtral = catalog.get("pixtral-large-latest")
    assert pixtral is not None
    assert (pixtral.deprecated, pixtral.deprecation_date, pixtral.replacement) == (
        True,
        "2026-12-31",
        "mistral-large-latest",
    )
    with pytest.raises(KeyError, match="no price known"):
        catalog.price("brand-new-2611")
    assert catalog.fetched == "2026-11-27"


def test_refreshed_catalog_writes_and_reads_back() -> None:
    catalog = catalog_from_models_response(_response(), fetched=dt.date(2026, 11, 27))
    text = catalog.to_json()
    again = Catalog.from_json(text)
    assert again.models == catalog.models
    assert json.loads(text)["format_version"] == 1
    assert again.to_json() == text


def test_not_a_model_list_is_rejected() -> None:
    with pytest.raises(ValueError, match="'data' array"):
        catalog_from_models_response({"object": "error", "message": "Unauthorized"})


def test_a_custom_catalog_changes_what_validates() -> None:
    catalog = Catalog([ModelInfo(id="only-model-2601", aliases=("only-model-latest",))])
    assert catalog.resolve("only-model-latest") == "only-model-2601"
    assert "mistral-small-latest" not in catalog
