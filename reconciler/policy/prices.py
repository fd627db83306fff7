"""Model names and prices for the policy layer: alias resolution and exact cost arithmetic.

A :class:`PriceTable` answers two questions on the hot path with one dictionary lookup
each: which canonical model a name means (``mistral-small-latest`` and
``mistral-small-2506`` are the same model) and what one token of it costs.

Money is counted in integer **pico-dollars** (10^-12 USD) so that sums are exact, SQLite
can store them as INTEGER, and no float ever touches a budget: a price of 0.15 USD per
million tokens is 150,000 pUSD per token. A signed 64-bit counter holds 9.2 million USD.

The default table of a provider is built from its model catalog
(:func:`reconciler.desired.catalog.load_catalog`: what the provider ships, for La
Plateforme ``reconciler/data/models.json``, or a refreshed one); any catalog with the
same model entries, or another ``models.json`` file, can be used instead. A model the
table does not know, or knows without a price, costs the highest per-token price of any
priced model: budgets err on the side of caution.

Prompt caching (Anthropic's) has prices of its own: writing to the cache costs more than
input (1.25 times for five minutes, twice for an hour), reading from it a tenth. A call's
:class:`CachedTokens` say how many of its input tokens were which; a model's catalog entry
lists their prices (``cache_write_price``, ``cache_write_1h_price``, ``cache_read_price``).
A model whose entry lists none has its cache writes charged twice its input price and its
cache reads its input price: the dearest a provider documents, so a budget is never
spent past.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import ROUND_CEILING, Decimal
from pathlib import Path
from typing import Any, Protocol

from reconciler.errors import ConfigError
from reconciler.providers import get_provider

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


@dataclass(frozen=True, slots=True)
class CachedTokens:
    """The input tokens of one call that wrote to or read from the provider's prompt
    cache (Anthropic reports them beside its input); they are part of its input tokens."""

    writes: int = 0  # written for five minutes
    long_writes: int = 0  # written for an hour
    reads: int = 0

    def __post_init__(self) -> None:
        for count in (self.writes, self.long_writes, self.reads):
            if type(count) is not int or count < 0:
                raise ValueError(f"a count of cached tokens must be a whole number >= 0: {count!r}")

    @property
    def total(self) -> int:
        return self.writes + self.long_writes + self.reads


class CatalogModel(Protocol):
    """One entry of a model catalog (``reconciler.desired.catalog.ModelInfo``)."""

    @property
    def id(self) -> str: ...

    @property
    def aliases(self) -> tuple[str, ...]: ...

    @property
    def input_price(self) -> float | None: ...

    @property
    def output_price(self) -> float | None: ...

    @property
    def cache_write_price(self) -> float | None: ...

    @property
    def cache_write_1h_price(self) -> float | None: ...

    @property
    def cache_read_price(self) -> float | None: ...


class Catalog(Protocol):
    """What the policy layer reads from a model catalog: its models."""

    @property
    def models(self) -> tuple[CatalogModel, ...]: ...


@dataclass(frozen=True, slots=True)
class ModelPrice:
    """One model: canonical id, other names, USD per million tokens (None: unpriced; for
    the prompt cache's writes and reads, None: not listed, see the module's docstring)."""

    id: str
    aliases: tuple[str, ...] = ()
    input_usd_per_million: Decimal | None = Decimal(0)
    output_usd_per_million: Decimal | None = Decimal(0)
    cache_write_usd_per_million: Decimal | None = None
    cache_write_1h_usd_per_million: Decimal | None = None
    cache_read_usd_per_million: Decimal | None = None


class PriceTable:
    """Alias resolution and per-token prices, precomputed for constant-time lookups."""

    __slots__ = ("_cache_units", "_canonical", "_max_unit", "_prices", "_units")

    def __init__(self, models: Iterable[ModelPrice]) -> None:
        self._canonical: dict[str, str] = {}
        self._prices: dict[str, tuple[Decimal, Decimal] | None] = {}
        self._units: dict[str, tuple[int, int]] = {}
        self._cache_units: dict[str, tuple[int, int, int]] = {}  # writes, long writes, reads
        for model in models:
            for name in (model.id, *model.aliases):
                self._canonical.setdefault(name, model.id)
                self._canonical.setdefault(name.lower(), model.id)
            price_in, price_out = model.input_usd_per_million, model.output_usd_per_million
            if price_in is None or price_out is None:
                self._prices[model.id] = None
                continue
            self._prices[model.id] = (price_in, price_out)
            unit_in = price_per_token_units(price_in)
            self._units[model.id] = (unit_in, price_per_token_units(price_out))
            write, long_write, read = _unlisted_cache_units(unit_in)
            self._cache_units[model.id] = (
                _unit_or(model.cache_write_usd_per_million, write),
                _unit_or(model.cache_write_1h_usd_per_million, long_write),
                _unit_or(model.cache_read_usd_per_million, read),
            )
        self._max_unit = max((max(u) for u in self._units.values()), default=0)

    @classmethod
    def from_json(cls, path: Path | None = None, *, provider: str | None = None) -> PriceTable:
        """Read a ``models.json`` file (``path`` None: the one ``provider`` ships)."""
        try:
            if path is None:
                spec = get_provider(provider)
                text = spec.catalog()
                where = f"the model catalog of provider {spec.name}"
            else:
                text = path.read_text(encoding="utf-8")
                where = str(path)
            data = json.loads(text)
        except (OSError, ValueError) as exc:
            raise ConfigError(f"cannot read the model price table: {exc}") from exc
        return cls(_models_from_json(data, where))

    @classmethod
    def from_catalog(cls, catalog: Catalog) -> PriceTable:
        """A table from a model catalog such as :func:`reconciler.desired.load_catalog`'s."""
        return cls(
            ModelPrice(
                id=model.id,
                aliases=tuple(model.aliases),
                input_usd_per_million=_decimal(model.input_price),
                output_usd_per_million=_decimal(model.output_price),
                cache_write_usd_per_million=_decimal(model.cache_write_price),
                cache_write_1h_usd_per_million=_decimal(model.cache_write_1h_price),
                cache_read_usd_per_million=_decimal(model.cache_read_price),
            )
            for model in catalog.models
        )

    def resolve(self, model: str) -> str | None:
        """The canonical id for a model name or alias, or None when unknown."""
        found = self._canonical.get(model)
        if found is None:
            found = self._canonical.get(model.lower())
        return found

    def names(self) -> list[str]:
        """Every model id and alias :meth:`resolve` knows, sorted."""
        return sorted(self._canonical)

    def price(self, model: str) -> tuple[Decimal, Decimal] | None:
        """``(input, output)`` USD per million tokens; None if unknown or unpriced."""
        canonical = self.resolve(model)
        return None if canonical is None else self._prices[canonical]

    def unit_prices(self, canonical: str) -> tuple[int, int]:
        """``(input, output)`` pico-dollars per token; unknown or unpriced costs the most."""
        found = self._units.get(canonical)
        if found is None:
            return (self._max_unit, self._max_unit)
        return found

    def cache_units(self, canonical: str) -> tuple[int, int, int]:
        """Pico-dollars per token of the prompt cache's five-minute writes, hour writes
        and reads for ``canonical`` (unlisted or unknown: see the module's docstring)."""
        found = self._cache_units.get(canonical)
        return found or _unlisted_cache_units(self.unit_prices(canonical)[0])

    def cache_write_unit(self, canonical: str) -> int:
        """The dearest price, in pico-dollars, of writing one of ``canonical``'s input
        tokens to the prompt cache, as :meth:`cost_units` charges it."""
        write, long_write, _ = self.cache_units(canonical)
        return max(write, long_write)

    def cost_units(
        self,
        canonical: str,
        input_tokens: int,
        output_tokens: int,
        cached: CachedTokens | None = None,
    ) -> int:
        """Exact cost of a call in pico-dollars; ``cached``: which of its input tokens were
        the prompt cache's writes and reads (priced as the module's docstring says)."""
        price_in, price_out = self.unit_prices(canonical)
        cost = input_tokens * price_in + output_tokens * price_out
        if cached is None or not cached.total:
            return cost
        write, long_write, read = self.cache_units(canonical)
        # the cached tokens, counted in the input at its price, at the cache's prices instead
        cost -= min(cached.total, input_tokens) * price_in
        return cost + cached.writes * write + cached.long_writes * long_write + cached.reads * read

    def cost(
        self,
        model: str,
        input_tokens: int,
        output_tokens: int,
        cached: CachedTokens | None = None,
    ) -> Decimal:
        """Cost of a call in USD."""
        canonical = self.resolve(model) or model
        return units_to_usd(self.cost_units(canonical, input_tokens, output_tokens, cached))

    def models(self) -> list[str]:
        """Canonical ids known to this table, sorted."""
        return sorted(self._prices)


def _unlisted_cache_units(unit_in: int) -> tuple[int, int, int]:
    """The cache prices of a model whose entry lists none, from its input price: writes at
    twice it (the dearest a provider documents, an hour's), reads at it."""
    return 2 * unit_in, 2 * unit_in, unit_in


def _unit_or(usd_per_million: Decimal | None, otherwise: int) -> int:
    """A listed price in pico-dollars per token, or ``otherwise`` when not listed."""
    return otherwise if usd_per_million is None else price_per_token_units(usd_per_million)


def _decimal(value: Any) -> Decimal | None:
    return None if value is None else Decimal(str(value))


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
                    input_usd_per_million=_decimal(item.get("input_price")),
                    output_usd_per_million=_decimal(item.get("output_price")),
                    cache_write_usd_per_million=_decimal(item.get("cache_write_price")),
                    cache_write_1h_usd_per_million=_decimal(item.get("cache_write_1h_price")),
                    cache_read_usd_per_million=_decimal(item.get("cache_read_price")),
                )
            )
        except (KeyError, TypeError, AttributeError, ArithmeticError) as exc:
            raise ConfigError(f"{where}: models[{index}] is malformed ({exc!r})") from exc
    return out


_DEFAULTS: dict[str | None, PriceTable] = {}


def default_price_table(provider: str | None = None) -> PriceTable:
    """The model catalog of ``provider`` (None: the default one) as a price table (built
    once per process)."""
    table = _DEFAULTS.get(provider)
    if table is None:
        table = _from_project_catalog(provider) or PriceTable.from_json(provider=provider)
        _DEFAULTS[provider] = table
    return table


def _from_project_catalog(provider: str | None) -> PriceTable | None:
    try:
        from reconciler.desired.catalog import load_catalog
    except ImportError:  # a trimmed install without the desired-state layer
        return None
    return PriceTable.from_catalog(load_catalog(provider=provider))
