"""The sandbox's listings, encoded as JSON by pydantic-core's serializer.

A page of 1,000 API keys is some 450 KB of JSON; ``json.dumps`` (what Starlette's
``JSONResponse`` uses) takes about three times as long to encode it, and the sandbox
shares the machine's cores with the client it serves in end-to-end tests and
benchmarks. The bytes are the same as ``json.dumps``'s for strings, integers, booleans,
null, lists and objects (UTF-8, no spaces, control characters escaped); a float may be
spelt otherwise (``1e-7`` for ``1e-07``), the same number to any JSON reader. A float
that is not a number never reaches a listing: the sandbox refuses one on input (a
spend limit of ``Infinity``), where ``to_json`` would write it as invalid JSON.
"""

from __future__ import annotations

from typing import Any

from pydantic_core import to_json
from starlette.responses import JSONResponse


class ListingResponse(JSONResponse):
    """A listing's ``JSONResponse``, encoded by :func:`pydantic_core.to_json`."""

    def render(self, content: Any) -> bytes:
        return to_json(content)
