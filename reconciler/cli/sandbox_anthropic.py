"""``reconciler sandbox serve --provider anthropic``: serve the local Anthropic organisation.

Serving is the library's :func:`reconciler.platform.anthropic.sandbox.serve.serve`; this
module prints its banner and resets the state. Its default state file sits beside the La
Plateforme sandbox's (``.sandbox/state.anthropic.json``), as ``--sandbox`` finds it; a
``--state`` given is served as it is.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path


def serve_anthropic(*, port: int, host: str, state: Path, allow_remote: bool) -> int:
    """Serve until interrupted; print where and how to point reconciler at it."""
    from reconciler.errors import ConfigError
    from reconciler.platform.anthropic.sandbox.serve import serve

    file = state

    def banner(url: str, _stop: Callable[[], None]) -> None:
        from reconciler.env import ANTHROPIC_ADMIN_API_KEY, ANTHROPIC_BASE_URL
        from reconciler.platform.anthropic.sandbox.app import DEFAULT_ADMIN_KEY

        print(f"Sandbox Anthropic organisation listening on {url}")
        print(f"State: {file}")
        print("To point reconciler (or the anthropic SDK) at it:")
        print(f"  export {ANTHROPIC_BASE_URL}={url}")
        print(f"  export {ANTHROPIC_ADMIN_API_KEY}={DEFAULT_ADMIN_KEY}")
        print(f"Console stand-in (create a key): POST {url}/sandbox/console/api_keys")
        print("Press Ctrl+C to stop.", flush=True)

    try:
        serve(state=file, host=host, port=port, allow_remote=allow_remote, ready=banner)
    except ConfigError as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return 1
    return 0


def reset_anthropic(*, state: Path, force: bool = False) -> int:
    """Throw the Anthropic sandbox's state away and create the demo organisation again."""
    from reconciler.cli.common import plural
    from reconciler.cli.sandbox import replaceable
    from reconciler.platform.anthropic.sandbox.state import Organisation

    replaceable(state, force=force)
    state.unlink(missing_ok=True)
    data = Organisation.open(state).data
    counts = (plural(len(data[kind]), kind[:-1]) for kind in ("users", "workspaces", "keys"))
    print(f"Sandbox reset: {state} ({', '.join(counts)}; the built-in demo organisation)")
    return 0
