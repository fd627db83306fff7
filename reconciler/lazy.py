"""Package attributes imported on first use (PEP 562).

A package whose ``__init__`` re-exports names from its modules would import every one of
them with the package, even for a caller (or a worker process) that needs one module.
:func:`attributes` makes the package's ``__getattr__`` instead: each name is imported from
its module the first time it is read, then kept in the package.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping
from typing import Any


def attributes(package: str, homes: Mapping[str, str]) -> Callable[[str], Any]:
    """A ``__getattr__`` for ``package`` that imports each name of ``homes`` (name ->
    module within the package) when it is first read."""

    def __getattr__(name: str) -> Any:
        home = homes.get(name)
        if home is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f"{package}.{home}"), name)
        setattr(sys.modules[package], name, value)  # found directly from now on
        return value

    return __getattr__
