"""The model catalogue the sandbox serves: the shipped catalog, shaped for the wire.

The models themselves come from :func:`reconciler.desired.catalog.shipped_catalog` (the
one reader of the Mistral provider's ``reconciler/data/models.json``); this module adds
what the platform's ``GET /v1/models`` cards carry.

Used for ``GET /v1/models`` (one card per model id and one per alias, like the real
list), for the prices in ``GET /usage`` and for the default per-model token limits.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

from reconciler.desired.catalog import shipped_catalog
from reconciler.platform.vocabulary import NAME as MISTRAL_NAME

# ModelCapabilities flags in the public spec; anything else in models.json is dropped.
CAPABILITY_FLAGS = (
    "completion_chat",
    "function_calling",
    "reasoning",
    "completion_fim",
    "fine_tuning",
    "vision",
    "ocr",
    "classification",
    "moderation",
    "audio",
    "audio_transcription",
    "audio_transcription_realtime",
    "audio_speech",
    "unified_resources",
)
CREATED = 1_755_734_400  # 2025-08-21: the catalogue's date, as the cards' ``created``
DEPRECATION_DATE = "2026-12-31T00:00:00Z"  # models.json flags deprecation without a date


@dataclass(frozen=True, slots=True)
class CatalogModel:
    """One model: its id, aliases, prices (USD per million tokens) and capabilities."""

    id: str
    aliases: tuple[str, ...]
    input_price: float
    output_price: float
    max_context_length: int
    capabilities: dict[str, bool]
    deprecated: bool
    replacement: str | None

    def card(self, model_id: str) -> dict[str, Any]:
        """The ``BaseModelCard`` for this model listed under ``model_id``."""
        names = (self.id, *self.aliases)
        return {
            "id": model_id,
            "object": "model",
            "created": CREATED,
            "owned_by": "mistralai",
            "capabilities": {f: bool(self.capabilities.get(f, False)) for f in CAPABILITY_FLAGS},
            "name": self.id,
            "description": f"{self.id} ({', '.join(self.aliases)})" if self.aliases else self.id,
            "max_context_length": self.max_context_length,
            "aliases": [n for n in names if n != model_id],
            "deprecation": DEPRECATION_DATE if self.deprecated else None,
            "deprecation_replacement_model": self.replacement,
            "default_model_temperature": 0.3,
            "type": "base",
        }


@dataclass(frozen=True, slots=True)
class Catalog:
    """All models, resolvable by id or alias."""

    models: tuple[CatalogModel, ...]
    currency: str

    def resolve(self, name: str) -> CatalogModel | None:
        for model in self.models:
            if name == model.id or name in model.aliases:
                return model
        return None

    def cards(self) -> list[dict[str, Any]]:
        return [m.card(n) for m in self.models for n in (m.id, *m.aliases)]


@cache
def load_catalog() -> Catalog:
    """The packaged catalogue (read once per process)."""
    shipped = shipped_catalog(MISTRAL_NAME)
    models = tuple(
        CatalogModel(
            id=m.id,
            aliases=m.aliases,
            input_price=m.input_price or 0.0,
            output_price=m.output_price or 0.0,
            max_context_length=m.max_context_length or 32768,
            capabilities=dict(m.capabilities),
            deprecated=m.deprecated,
            replacement=m.replacement,
        )
        for m in shipped.models
    )
    return Catalog(models=models, currency=shipped.currency or "USD")
