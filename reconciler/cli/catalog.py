"""``reconciler catalog``: show the model catalog, and refresh it from ``GET /v1/models``.

The catalog (model ids, aliases, prices, deprecations) ships with the package; validation
and the policy library read it. ``refresh`` builds a new one from the platform's model
list, keeping the shipped prices (the API publishes none), and writes it to a file that
``RECONCILER_CATALOG`` then points every command at.
"""

from __future__ import annotations

import sys
from pathlib import Path

from reconciler.cli.common import err
from reconciler.desired.catalog import Catalog, catalog_from_models_response, load_catalog
from reconciler.env import RECONCILER_CATALOG
from reconciler.session import TargetOptions


def list_command() -> int:
    catalog = load_catalog()
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


async def refresh_command(options: TargetOptions, out: Path | None) -> int:
    from reconciler.platform.target import open_mistral

    provider = open_mistral(
        sandbox=options.sandbox,
        state_path=options.sandbox_state,
        concurrency=options.concurrency,
        env=options.env,
    )
    try:
        models = await provider.client.list_models()
    finally:
        await provider.aclose()
    fresh = catalog_from_models_response(models.model_dump(mode="json"))
    old = load_catalog()
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
