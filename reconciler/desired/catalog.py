"""The model catalog: which model names exist, their aliases, prices and deprecation.

Each provider ships its catalog (:attr:`reconciler.providers.ProviderSpec.catalog`, for
La Plateforme ``reconciler/data/models.json``): :func:`load_catalog` reads the one of the
desired state's provider. A catalog can be rebuilt from a provider's model list
(:func:`catalog_from_models_response`) and written back with :meth:`Catalog.to_json`; the
file records its provider, so a catalog of one platform is never used for another. The
desired-state validator uses it to reject unknown model names and warn about deprecated
ones; the policy library uses :meth:`Catalog.resolve` (alias -> canonical id) and
:meth:`Catalog.price`.
"""

from __future__ import annotations

import datetime as dt
import difflib
import json
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from reconciler.env import RECONCILER_CATALOG
from reconciler.errors import ConfigError
from reconciler.providers import DEFAULT_PROVIDER, get_provider

FORMAT_VERSION = 1


@dataclass(frozen=True)
class ModelInfo:
    """One model: its canonical id, other names, price per million tokens, deprecation."""

    id: str
    aliases: tuple[str, ...] = ()
    input_price: float | None = None  # USD per million input tokens
    output_price: float | None = None  # USD per million output tokens
    # USD per million input tokens written to the prompt cache (for five minutes, for an
    # hour) and read from it; None: not listed (see reconciler.policy.prices)
    cache_write_price: float | None = None
    cache_write_1h_price: float | None = None
    cache_read_price: float | None = None
    max_context_length: int | None = None
    capabilities: Mapping[str, bool] = field(default_factory=dict, hash=False, compare=False)
    deprecated: bool = False
    deprecation_date: str | None = None  # ISO date the platform retires the model
    replacement: str | None = None  # the model to move to

    @property
    def names(self) -> tuple[str, ...]:
        return (self.id, *self.aliases)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id,
            "aliases": list(self.aliases),
            "input_price": self.input_price,
            "output_price": self.output_price,
        }
        for name in _CACHE_PRICES:  # listed only where known
            if getattr(self, name) is not None:
                out[name] = getattr(self, name)
        out["max_context_length"] = self.max_context_length
        out["capabilities"] = dict(self.capabilities)
        out["deprecated"] = self.deprecated
        if self.deprecation_date:
            out["deprecation"] = self.deprecation_date
        if self.replacement:
            out["deprecation_replacement_model"] = self.replacement
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ModelInfo:
        return cls(
            id=str(data["id"]),
            aliases=tuple(str(a) for a in data.get("aliases") or ()),
            input_price=_opt_float(data.get("input_price")),
            output_price=_opt_float(data.get("output_price")),
            cache_write_price=_opt_float(data.get("cache_write_price")),
            cache_write_1h_price=_opt_float(data.get("cache_write_1h_price")),
            cache_read_price=_opt_float(data.get("cache_read_price")),
            max_context_length=data.get("max_context_length"),
            capabilities={str(k): bool(v) for k, v in (data.get("capabilities") or {}).items()},
            deprecated=bool(data.get("deprecated", False)),
            deprecation_date=data.get("deprecation"),
            replacement=data.get("deprecation_replacement_model"),
        )


_CACHE_PRICES = ("cache_write_price", "cache_write_1h_price", "cache_read_price")


def _opt_float(value: Any) -> float | None:
    return None if value is None else float(value)


class Catalog:
    """A set of models, looked up by id or alias."""

    def __init__(
        self,
        models: Iterable[ModelInfo],
        *,
        provider: str = "",
        source: str = "",
        fetched: str = "",
        currency: str = "USD",
        price_unit: str = "per 1M tokens",
    ) -> None:
        self.models: tuple[ModelInfo, ...] = tuple(models)
        self.provider = provider  # the platform whose models these are; "": not recorded
        self.source = source
        self.fetched = fetched
        self.currency = currency
        self.price_unit = price_unit
        self._by_name: dict[str, ModelInfo] = {}
        for model in self.models:
            for name in model.names:
                self._by_name.setdefault(name, model)

    def __contains__(self, model: object) -> bool:
        return isinstance(model, str) and model in self._by_name

    def __len__(self) -> int:
        return len(self.models)

    def get(self, model: str) -> ModelInfo | None:
        """The model called ``model`` (by id or alias), if any."""
        return self._by_name.get(model)

    def resolve(self, model: str) -> str | None:
        """The canonical id of ``model`` (an id or an alias), or ``None`` if unknown."""
        info = self._by_name.get(model)
        return info.id if info is not None else None

    def price(self, model: str) -> tuple[float, float]:
        """``(input, output)`` USD per million tokens; ``KeyError`` if unknown or unpriced."""
        info = self._by_name.get(model)
        if info is None:
            raise KeyError(f"unknown model '{model}'")
        if info.input_price is None or info.output_price is None:
            raise KeyError(f"no price known for model '{model}'")
        return (info.input_price, info.output_price)

    def is_deprecated(self, model: str) -> bool:
        info = self._by_name.get(model)
        return info is not None and info.deprecated

    def names(self) -> list[str]:
        """Every id and alias, sorted."""
        return sorted(self._by_name)

    def suggest(self, model: str) -> str | None:
        """The known name closest to a misspelt ``model``, if one is close enough."""
        matches = difflib.get_close_matches(model, self.names(), n=1, cutoff=0.6)
        return matches[0] if matches else None

    def to_dict(self) -> dict[str, Any]:
        provider = {"provider": self.provider} if self.provider else {}
        return {
            "format_version": FORMAT_VERSION,
            **provider,
            "source": self.source,
            "fetched": self.fetched,
            "currency": self.currency,
            "price_unit": self.price_unit,
            "models": [m.to_dict() for m in self.models],
        }

    def to_json(self) -> str:
        """The catalog file's text: a header, then one model per line (reviewable diffs)."""
        head = self.to_dict()
        models = head.pop("models")
        lines = ["{"]
        lines += [
            f"  {json.dumps(k)}: {json.dumps(v, ensure_ascii=False)}," for k, v in head.items()
        ]
        lines.append('  "models": [')
        rows = [f"    {json.dumps(m, ensure_ascii=False)}" for m in models]
        lines.append(",\n".join(rows))
        lines += ["  ]", "}"]
        return "\n".join(line for line in lines if line) + "\n"

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Catalog:
        version = data.get("format_version", FORMAT_VERSION)
        if version != FORMAT_VERSION:
            raise ValueError(f"unsupported model catalog format_version {version!r}")
        return cls(
            (ModelInfo.from_dict(m) for m in data.get("models", [])),
            provider=str(data.get("provider", "")),
            source=str(data.get("source", "")),
            fetched=str(data.get("fetched", "")),
            currency=str(data.get("currency", "USD")),
            price_unit=str(data.get("price_unit", "per 1M tokens")),
        )

    @classmethod
    def from_json(cls, text: str) -> Catalog:
        return cls.from_dict(json.loads(text))


@cache
def shipped_catalog(provider: str | None = None) -> Catalog:
    """The catalog ``provider`` (default: the default provider) ships (read once per process)."""
    spec = get_provider(provider)
    catalog = Catalog.from_json(spec.catalog())
    catalog.provider = catalog.provider or spec.name
    return catalog


def load_catalog(path: Path | None = None, *, provider: str | None = None) -> Catalog:
    """The model catalog of ``provider`` (default: the default provider): ``path``, else the
    file ``RECONCILER_CATALOG`` names (written by ``reconciler catalog refresh``), else the
    one the provider ships. A file recording another provider is a :class:`ConfigError`.
    """
    named = os.environ.get(RECONCILER_CATALOG)
    chosen = path or (Path(named) if named else None)
    if chosen is None:
        return shipped_catalog(provider)
    try:
        catalog = Catalog.from_json(chosen.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"model catalog {chosen}: {exc.strerror or exc}") from exc
    except (ValueError, KeyError, TypeError) as exc:
        raise ConfigError(f"model catalog {chosen}: not a catalog file ({exc})") from exc
    wanted = provider or DEFAULT_PROVIDER
    if catalog.provider and catalog.provider != wanted:
        raise ConfigError(
            f"model catalog {chosen} lists {catalog.provider}'s models, but the desired state's "
            f"provider is {wanted}"
        )
    return catalog


_VERSIONED = re.compile(r"-\d{4}$")


def _canonical(names: Iterable[str]) -> str:
    """Prefer a dated id (``mistral-small-2506``) over ``-latest`` and bare aliases."""
    return sorted(
        names,
        key=lambda n: (not _VERSIONED.search(n), n.endswith("-latest"), n),
    )[0]


def catalog_from_models_response(
    payload: Mapping[str, Any],
    *,
    prices: Catalog | None = None,
    fetched: dt.date | None = None,
) -> Catalog:
    """Build a catalog from a ``GET /v1/models`` body (``{"object":"list","data":[...]}``).

    The API lists some models twice (``mistral-small-2506`` with alias
    ``mistral-small-latest``, and ``mistral-small-latest`` with alias
    ``mistral-small-2506``): entries sharing a name are merged into one model whose id is
    the dated name. The API gives no prices, so they are carried over from ``prices``
    (default: the shipped catalog), matching any shared name.
    """
    entries = payload.get("data")
    if not isinstance(entries, list):
        raise ValueError("not a model list: expected a 'data' array")
    priced = prices if prices is not None else load_catalog()
    groups: list[tuple[set[str], list[Mapping[str, Any]]]] = []
    for entry in entries:
        if not isinstance(entry, Mapping) or not isinstance(entry.get("id"), str):
            continue
        names = {entry["id"], *(a for a in entry.get("aliases") or () if isinstance(a, str))}
        joined = [g for g in groups if g[0] & names]
        merged_names, merged_entries = set(names), [entry]
        for g in joined:
            merged_names |= g[0]
            merged_entries = g[1] + merged_entries
            groups.remove(g)
        groups.append((merged_names, merged_entries))
    models = [_model_from_group(names, group, priced) for names, group in groups]
    return Catalog(
        sorted(models, key=lambda m: m.id),
        provider=priced.provider,
        source="GET /v1/models" + (" and prices from " + priced.source if priced.source else ""),
        fetched=(fetched or dt.date.today()).isoformat(),
        currency=priced.currency,
        price_unit=priced.price_unit,
    )


def _model_from_group(
    names: set[str], group: list[Mapping[str, Any]], priced: Catalog
) -> ModelInfo:
    canonical = _canonical(names)
    main = next((e for e in group if e["id"] == canonical), group[0])
    known = next((m for n in sorted(names) if (m := priced.get(n)) is not None), None)
    deprecation = next((e.get("deprecation") for e in group if e.get("deprecation")), None)
    replacement = next(
        (
            e.get("deprecation_replacement_model")
            for e in group
            if e.get("deprecation_replacement_model")
        ),
        None,
    )
    capabilities = main.get("capabilities") or {}
    return ModelInfo(
        id=canonical,
        aliases=tuple(sorted(names - {canonical})),
        input_price=known.input_price if known else None,
        output_price=known.output_price if known else None,
        cache_write_price=known.cache_write_price if known else None,
        cache_write_1h_price=known.cache_write_1h_price if known else None,
        cache_read_price=known.cache_read_price if known else None,
        max_context_length=main.get("max_context_length"),
        capabilities={str(k): v for k, v in capabilities.items() if isinstance(v, bool)},
        deprecated=deprecation is not None,
        deprecation_date=str(deprecation)[:10] if deprecation else None,
        replacement=str(replacement) if replacement else None,
    )
