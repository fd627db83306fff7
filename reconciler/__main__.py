"""Entry point for ``python -m reconciler`` and the ``reconciler`` command.

The command line is imported only to run it: importing this module runs nothing.
"""

import sys
import types
from typing import Any


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


def main() -> None:
    _defer_httpx_command_line()
    from reconciler.cli.main import run

    run()


if __name__ == "__main__":
    main()
