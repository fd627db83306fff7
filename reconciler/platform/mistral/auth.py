"""The Admin API key on the wire, and out of everything else.

:class:`KeyAuth` attaches the key per request as ``Authorization: Bearer`` (default) or
``x-api-key``, holding it as a :class:`~pydantic.SecretStr` until that moment, so it is
never in a client's default headers or a repr. :func:`redact` replaces any credential a
server echoed back in an error with ``[REDACTED]`` before the error leaves the client
(:mod:`reconciler.platform.credentials`, shared by every provider).
"""

from __future__ import annotations

from reconciler.platform.credentials import REDACTED, KeyAuth, redact

__all__ = ["REDACTED", "KeyAuth", "redact"]
