"""Entry point for ``python -m reconciler`` and the ``reconciler`` command.

The command line is imported only to run it: importing this module runs nothing. What
only the command's own process does to start faster (a program importing reconciler is
untouched): the garbage collector waits until a command runs
(:mod:`reconciler.cli.startup`), httpx's own command line is not imported, and pydantic
looks for no plugins.
"""

import os
import sys
import types
from typing import Any

from reconciler.env import PYDANTIC_DISABLE_PLUGINS


def _defer_httpx_command_line() -> None:
    """In this process only (the command's own, not a program that imports reconciler):
    keep ``import httpx`` from importing httpx's own command-line client, which loads
    click, pygments and Rich (about 80 ms, a sixth of a small plan) for a command that
    never runs it (httpx/__init__.py imports httpx._main; encode/httpx#3547). A stand-in
    takes its place; calling its ``main`` loads the real module and runs it."""
    if "httpx" in sys.modules or "httpx._main" in sys.modules:
        return
    stand_in = types.ModuleType("httpx._main")

    def main(*args: Any, **kwargs: Any) -> Any:
        import importlib

        del sys.modules["httpx._main"]
        return importlib.import_module("httpx._main").main(*args, **kwargs)

    stand_in.main = main  # type: ignore[attr-defined]
    sys.modules["httpx._main"] = stand_in


def _no_pydantic_plugins() -> None:
    """Pydantic looks for plugins (observability hooks, such as Logfire's) when it builds
    its first model, by importing ``importlib.metadata`` and reading every installed
    package's metadata: some 30 ms, a tenth of a ``validate``, for a command that uses
    none. In this process only, a stand-in takes the place of pydantic's plugin loader
    (``pydantic/plugin/_schema_validator.py`` imports its ``get_plugins`` alone): it
    answers "none" unless ``PYDANTIC_DISABLE_PLUGINS`` is set to something else than
    pydantic's values for "all disabled" (empty: plugins load), and then hands over to
    the real loader. The environment is left as it is, for the processes a command
    starts."""
    name = "pydantic.plugin._loader"
    if name in sys.modules:
        return
    stand_in = types.ModuleType(name)

    def get_plugins() -> Any:
        if os.environ.get(PYDANTIC_DISABLE_PLUGINS, "__all__") in ("__all__", "1", "true"):
            return ()  # as pydantic's own loader answers then
        import importlib

        del sys.modules[name]
        return importlib.import_module(name).get_plugins()

    stand_in.get_plugins = get_plugins  # type: ignore[attr-defined]
    sys.modules[name] = stand_in


def main() -> None:
    from reconciler.cli.startup import pause

    pause()  # no garbage collection while the program starts (until a command runs)
    _defer_httpx_command_line()
    _no_pydantic_plugins()
    from reconciler.cli.main import run

    run()


if __name__ == "__main__":
    main()
