"""reconciler: GitOps for Mistral AI's La Plateforme.

Data flows one way: load desired state -> fetch live state -> diff -> plan -> render | apply.
The pure core (``model``, ``diff``, ``plan``, ``render``) never imports a provider's wire
format; providers live under ``reconciler.platform`` and speak the ``Provider`` protocol.
"""

import importlib
import sys
import types
from typing import Any

__version__ = "0.1.0"


def _defer_httpx_command_line() -> None:
    """Keep httpx from importing its own command-line client with httpx itself.

    ``import httpx`` loads ``httpx._main`` (click, pygments and Rich: a third of httpx's
    import time) whenever those are installed, and they are here, for a program that
    never runs httpx's command line. A stand-in takes its place; calling its ``main``
    loads the real module and runs it.
    """
    if "httpx" in sys.modules or "httpx._main" in sys.modules:
        return
    stand_in = types.ModuleType("httpx._main")

    def main(*args: Any, **kwargs: Any) -> Any:
        del sys.modules["httpx._main"]
        return importlib.import_module("httpx._main").main(*args, **kwargs)

    stand_in.main = main  # type: ignore[attr-defined]
    sys.modules["httpx._main"] = stand_in


_defer_httpx_command_line()
