"""The desired-state layer: ``desired-state/`` YAML -> a validated ``DesiredState``.

Pipeline: :mod:`yaml_loader` (text -> data + marks) -> :mod:`sources` (one file's shape,
via :mod:`schema`) -> :mod:`checks` (catalog, dates, cross-file rules) -> :mod:`convert`
(documents -> :mod:`reconciler.model`). :mod:`catalog` holds the model catalog and
:mod:`json_schema` the JSON Schema editors use.
"""

from reconciler.desired.catalog import (
    Catalog,
    ModelInfo,
    catalog_from_models_response,
    load_catalog,
)
from reconciler.desired.load import Validation, check_desired_state, load_desired_state
from reconciler.desired.problems import Problem, Severity

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
