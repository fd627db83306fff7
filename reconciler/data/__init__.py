"""The data files shipped with the package (the providers' model catalogs) and their
reader.

A file beside this module is read as one: ``importlib.resources`` would do the same for
an installed package, at the cost of importing its readers (``zipfile`` among them), a
twentieth of a short command's start.
"""

from __future__ import annotations

from pathlib import Path

_HERE = Path(__file__).parent


def shipped_text(name: str) -> str:
    """The text of the shipped file ``name`` (``models.json``, ...)."""
    return (_HERE / name).read_text("utf-8")
