"""The sandbox's listings, encoded as JSON by pydantic-core's serializer.

A page of 1,000 API keys is some 450 KB of JSON; ``json.dumps`` (what Starlette's
``JSONResponse`` uses) takes about three times as long to encode it, and the sandbox
shares the machine's cores with the client it serves in end-to-end tests and
benchmarks. For a listing's values (strings, integers, booleans, null, lists and
objects) the bytes are the same: UTF-8, no spaces, control characters escaped.
"""

from __future__ import annotations

from typing import Any

from pydantic_core import to_json
from starlette.responses import JSONResponse


class ListingResponse(JSONResponse):
    """A listing's ``JSONResponse``, encoded by :func:`pydantic_core.to_json`. Only for
    values without floats: ``to_json`` writes a float that is not a number as ``NaN``,
    which ``json.dumps(allow_nan=False)`` would refuse."""

    def render(self, content: Any) -> bytes:
        return to_json(content)
