"""``reconciler sandbox serve|reset|accept-invite --provider anthropic``: the local Anthropic
organisation.

Serving is the library's :func:`reconciler.platform.anthropic.sandbox.serve.serve`; this
module prints its banner, resets the state and accepts an invitation as the invited person
would, each owning the state file while it runs. Its default state file sits beside the
La Plateforme sandbox's (``.sandbox/state.anthropic.json``), as ``--sandbox`` finds it; a
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
    from reconciler.platform.sandbox.owner import RESETTING, StateLock

    replaceable(state, force=force)
    with StateLock.take(state, RESETTING, replacing=True):
        state.unlink(missing_ok=True)
        data = Organisation.open(state).data
    counts = (plural(len(data[kind]), kind[:-1]) for kind in ("users", "workspaces", "keys"))
    print(f"Sandbox reset: {state} ({', '.join(counts)}; the built-in demo organisation)")
    return 0


def accept_invite_anthropic(*, email: str, state: Path) -> int:
    """What the invited person does on the Anthropic sandbox: accept their pending
    invitation (they join the organisation with its role)."""
    from reconciler.cli.sandbox import owned_by, provider_of
    from reconciler.errors import ConfigError
    from reconciler.platform.anthropic.sandbox.state import Organisation
    from reconciler.platform.sandbox.owner import ACCEPTING, StateLock

    owned_by(state, "anthropic")
    user = None
    if state.exists():  # else none: a new demo organisation has no invitation
        with StateLock.take(state, ACCEPTING):
            if provider_of(state) != "anthropic":
                raise ConfigError(f"{state}: not an Anthropic sandbox state")
            user = Organisation.open(state).accept_invite(email)
    if user is None:
        print(f"Error: no pending invitation for {email} in {state}", file=sys.stderr)
        return 1
    print(f"{user['email']} accepted the invitation to the organisation as {user['role']}.")
    return 0
