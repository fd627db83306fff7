"""``reconciler catalog``: show the model catalog, and refresh it from the platform.

Each provider ships its catalog (model ids, aliases, prices, deprecations); validation
and the policy library read the one of the desired state's provider. ``refresh`` builds a
new one from the platform's model list, keeping the shipped prices (the API publishes
none), and writes it to a file that ``RECONCILER_CATALOG`` then points every command at.
"""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

from reconciler.cli.common import err
from reconciler.desired.catalog import Catalog, catalog_from_models_response, load_catalog
from reconciler.desired.load import provider_name
from reconciler.env import RECONCILER_CATALOG
from reconciler.errors import ConfigError
from reconciler.providers import get_provider
from reconciler.session import TargetOptions, open_provider


def list_command(desired: Path) -> int:
    catalog = load_catalog(provider=provider_name(desired))
    for model in catalog.models:
        price = (
            f"${model.input_price:g} in / ${model.output_price:g} out per 1M tokens"
            if model.input_price is not None and model.output_price is not None
            else "no published price"
        )
        flag = "  (deprecated)" if model.deprecated else ""
        aliases = f" [{', '.join(model.aliases)}]" if model.aliases else ""
        print(f"{model.id}{aliases}: {price}{flag}")
    return 0


def _ids(catalog: Catalog) -> set[str]:
    return {m.id for m in catalog.models}


async def refresh_command(options: TargetOptions, out: Path | None, desired: Path) -> int:
    spec = get_provider(provider_name(desired))
    if spec.list_models is None:
        raise ConfigError(f"provider {spec.name} ({spec.display_name}) lists no models to refresh")
    old = load_catalog(provider=spec.name)
    provider = open_provider(replace(options, provider=spec.name))
    try:
        models = await spec.list_models(provider)
    finally:
        await provider.aclose()
    fresh = catalog_from_models_response(models, prices=old)
    added, gone = sorted(_ids(fresh) - _ids(old)), sorted(_ids(old) - _ids(fresh))
    unpriced = sorted(m.id for m in fresh.models if m.input_price is None)
    text = fresh.to_json()
    if out is None:
        sys.stdout.write(text)
    else:
        out.write_text(text, encoding="utf-8")
    err(
        f"{len(fresh.models)} models from {provider.target}"
        + (f"; new: {', '.join(added)}" if added else "")
        + (f"; gone: {', '.join(gone)}" if gone else "")
        + (f"; no known price: {', '.join(unpriced)}" if unpriced else "")
        + "."
    )
    if out is not None:
        err(f"Wrote {out}. Use it with: export {RECONCILER_CATALOG}={out}")
    return 0
