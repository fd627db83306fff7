"""Model names and prices for the policy layer: alias resolution and exact cost arithmetic.

A :class:`PriceTable` answers two questions on the hot path with one dictionary lookup
each: which canonical model a name means (``mistral-small-latest`` and
``mistral-small-2506`` are the same model) and what one token of it costs.

Money is counted in integer **pico-dollars** (10^-12 USD) so that sums are exact, SQLite
can store them as INTEGER, and no float ever touches a budget: a price of 0.15 USD per
million tokens is 150,000 pUSD per token. A signed 64-bit counter holds 9.2 million USD.

The table is read from ``reconciler/data/models.json``, or wraps any catalog object that
offers ``resolve(name) -> str | None`` and ``price(name) -> (input, output)`` per million.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import ROUND_CEILING, Decimal
from importlib import resources
from pathlib import Path
from typing import Any, Protocol

from reconciler.errors import ConfigError

UNITS_PER_USD = 10**12  # pico-dollars
_PER_MILLION = Decimal(UNITS_PER_USD) / Decimal(1_000_000)


def usd_to_units(amount: Decimal | int | float | str) -> int:
    """An amount in USD as integer pico-dollars (rounded down: a limit never grows)."""
    return int(Decimal(str(amount)) * UNITS_PER_USD)


def units_to_usd(units: int) -> Decimal:
    """Integer pico-dollars back to a USD :class:`~decimal.Decimal` (exact)."""
    return Decimal(units) / UNITS_PER_USD


def price_per_token_units(usd_per_million: Decimal) -> int:
    """A price in USD per million tokens as pico-dollars per token (rounded up)."""
    return int((usd_per_million * _PER_MILLION).to_integral_value(rounding=ROUND_CEILING))


class Catalog(Protocol):
    """What the policy layer needs from a model catalog."""

    def resolve(self, model: str) -> str | None: ...

    def price(self, model: str) -> Any: ...


@dataclass(frozen=True, slots=True)
class ModelPrice:
    """One model: canonical id, the other names it answers to, prices per million tokens."""

    id: str
    aliases: tuple[str, ...] = ()
    input_usd_per_million: Decimal = Decimal(0)
    output_usd_per_million: Decimal = Decimal(0)


class PriceTable:
    """Alias resolution and per-token prices, precomputed for constant-time lookups."""

    __slots__ = ("_canonical", "_fallback", "_max_unit", "_prices", "_units")

    def __init__(self, models: Iterable[ModelPrice], *, fallback: Catalog | None = None) -> None:
        self._canonical: dict[str, str] = {}
        self._prices: dict[str, tuple[Decimal, Decimal]] = {}
        self._units: dict[str, tuple[int, int]] = {}
        self._fallback = fallback
        for model in models:
            self._add(model)
        self._max_unit = max((max(u) for u in self._units.values()), default=0)

    def _add(self, model: ModelPrice) -> None:
        for name in (model.id, *model.aliases):
            self._canonical[name] = model.id
            self._canonical.setdefault(name.lower(), model.id)
        prices = (model.input_usd_per_million, model.output_usd_per_million)
        self._prices[model.id] = prices
        self._units[model.id] = (price_per_token_units(prices[0]), price_per_token_units(prices[1]))

    @classmethod
    def from_json(cls, path: Path | None = None, *, fallback: Catalog | None = None) -> PriceTable:
        """Read ``models.json`` (the packaged copy when ``path`` is None)."""
        try:
            if path is None:
                text = resources.files("reconciler.data").joinpath("models.json").read_text()
                where = "reconciler/data/models.json"
            else:
                text = path.read_text(encoding="utf-8")
                where = str(path)
            data = json.loads(text)
        except (OSError, ValueError) as exc:
            raise ConfigError(f"cannot read the model price table: {exc}") from exc
        return cls(_models_from_json(data, where), fallback=fallback)

    @classmethod
    def from_catalog(cls, catalog: Catalog) -> PriceTable:
        """The packaged table, consulting ``catalog`` for names the table does not know."""
        return cls.from_json(fallback=catalog)

    def resolve(self, model: str) -> str | None:
        """The canonical id for a model name or alias, or None when unknown."""
        found = self._canonical.get(model)
        if found is not None:
            return found
        found = self._canonical.get(model.lower())
        if found is not None or self._fallback is None:
            return found
        return self._learn(model)

    def _learn(self, model: str) -> str | None:
        assert self._fallback is not None
        canonical = self._fallback.resolve(model)
        if canonical is None:
            return None
        if canonical not in self._units:
            raw = self._fallback.price(canonical)
            pair = (Decimal(0), Decimal(0)) if raw is None else _price_pair(raw)
            self._add(ModelPrice(canonical, (), pair[0], pair[1]))
            self._max_unit = max(self._max_unit, *self._units[canonical])
        self._canonical[model] = canonical
        return canonical

    def price(self, model: str) -> tuple[Decimal, Decimal] | None:
        """``(input, output)`` USD per million tokens, or None for an unknown model."""
        canonical = self.resolve(model)
        return None if canonical is None else self._prices[canonical]

    def unit_prices(self, canonical: str) -> tuple[int, int]:
        """``(input, output)`` pico-dollars per token; an unknown model costs the most."""
        found = self._units.get(canonical)
        if found is None:
            return (self._max_unit, self._max_unit)
        return found

    def cost_units(self, canonical: str, input_tokens: int, output_tokens: int) -> int:
        """Exact cost of a call in pico-dollars."""
        price_in, price_out = self.unit_prices(canonical)
        return input_tokens * price_in + output_tokens * price_out

    def cost(self, model: str, input_tokens: int, output_tokens: int) -> Decimal:
        """Cost of a call in USD (unknown models are priced at the most expensive rate)."""
        canonical = self.resolve(model) or model
        return units_to_usd(self.cost_units(canonical, input_tokens, output_tokens))

    def models(self) -> list[str]:
        """Canonical ids known to this table, sorted."""
        return sorted(self._prices)


def _price_pair(raw: Any) -> tuple[Decimal, Decimal]:
    if isinstance(raw, Mapping):
        raw = (raw.get("input", 0), raw.get("output", 0))
    first, second = raw
    return Decimal(str(first)), Decimal(str(second))


def _models_from_json(data: Any, where: str) -> list[ModelPrice]:
    if not isinstance(data, Mapping) or not isinstance(data.get("models"), list):
        raise ConfigError(f"{where}: expected an object with a 'models' list")
    out: list[ModelPrice] = []
    for index, item in enumerate(data["models"]):
        try:
            out.append(
                ModelPrice(
                    id=str(item["id"]),
                    aliases=tuple(str(a) for a in item.get("aliases", ())),
                    input_usd_per_million=Decimal(str(item.get("input_price", 0))),
                    output_usd_per_million=Decimal(str(item.get("output_price", 0))),
                )
            )
        except (KeyError, TypeError, ArithmeticError) as exc:
            raise ConfigError(f"{where}: models[{index}] is malformed ({exc!r})") from exc
    return out


_DEFAULT: PriceTable | None = None


def default_price_table() -> PriceTable:
    """The project's model catalog when available, else the packaged ``models.json``."""
    global _DEFAULT
    if _DEFAULT is None:
        _DEFAULT = _from_project_catalog() or PriceTable.from_json()
    return _DEFAULT


def _from_project_catalog() -> PriceTable | None:
    try:
        from reconciler.desired import catalog as project_catalog
    except ImportError:
        return None
    loader = getattr(project_catalog, "load_catalog", None)
    if loader is None:
        return None
    return PriceTable.from_catalog(loader())
