"""Where log events go before anything configured logging: owned by the command line.

reconciler's library code logs through structlog, which, left unconfigured, prints every
event unredacted to standard output, where ``plan --format json`` writes its document. The
command line marks itself here at start-up (:func:`claim_for_cli`, loading nothing), and
:func:`reconciler.logging.get_logger` then routes an event emitted before any command
configured logging to standard error, redacted, at WARNING. A program that embeds the
library keeps its own logging set-up untouched.
"""

from __future__ import annotations

_cli = False


def claim_for_cli() -> None:
    """The running program is reconciler's command line."""
    global _cli
    _cli = True


def cli_owns_logging() -> bool:
    return _cli
