"""The desired-state layer: ``desired-state/`` YAML -> a validated ``DesiredState``.

Pipeline: :mod:`yaml_loader` (text -> data + marks) -> :mod:`sources` (one file's shape,
via :mod:`schema`) -> :mod:`checks` (catalog, dates, cross-file rules) -> :mod:`convert`
(documents -> :mod:`reconciler.model`). :mod:`catalog` holds the model catalog and
:mod:`json_schema` the JSON Schema editors use.

The names below are imported when first used, so a module of this package (the YAML
reader, say) can be imported without the schema and its validators.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from reconciler.desired.catalog import (
        Catalog,
        ModelInfo,
        catalog_from_models_response,
        load_catalog,
    )
    from reconciler.desired.load import Validation, check_desired_state, load_desired_state
    from reconciler.desired.problems import Problem, Severity

_HOMES = {
    "Catalog": "catalog",
    "ModelInfo": "catalog",
    "catalog_from_models_response": "catalog",
    "load_catalog": "catalog",
    "Validation": "load",
    "check_desired_state": "load",
    "load_desired_state": "load",
    "Problem": "problems",
    "Severity": "problems",
}

__all__ = [
    "Catalog",
    "ModelInfo",
    "Problem",
    "Severity",
    "Validation",
    "catalog_from_models_response",
    "check_desired_state",
    "load_catalog",
    "load_desired_state",
]


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{home}"), name)
    globals()[name] = value
    return value
