"""The desired-state layer: ``desired-state/`` YAML -> a validated ``DesiredState``.

Pipeline: :mod:`yaml_loader` (text -> data + marks) -> :mod:`sources` (one file's shape,
via :mod:`schema`) -> :mod:`checks` (catalog, dates, cross-file rules) -> :mod:`convert`
(documents -> :mod:`reconciler.model`). :mod:`catalog` holds the model catalog and
:mod:`json_schema` the JSON Schema editors use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from reconciler.lazy import attributes

if TYPE_CHECKING:
    from reconciler.desired.catalog import (
        Catalog,
        ModelInfo,
        catalog_from_models_response,
        load_catalog,
    )
    from reconciler.desired.load import Validation, check_desired_state, load_desired_state
    from reconciler.desired.problems import Problem, Severity

# Each name is imported on first use, so that a module of this package imports only what
# it needs: the YAML parse worker (``yaml_worker``) starts without the schema, checks and
# catalog (a third of a second).
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


if not TYPE_CHECKING:  # so that the type checker still refuses a name that is not here
    __getattr__ = attributes(__name__, _HOMES)


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
