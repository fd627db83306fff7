"""The sandbox without a port: an ``httpx`` transport that calls the app in-process.

This is what the tool talks to when no platform is configured, so a first run needs no
credentials and no server::

    transport = embedded_transport(Path(".sandbox/state.json"))
    client = httpx.AsyncClient(transport=transport, base_url=EMBEDDED_ADMIN_BASE_URL,
                               headers={"Authorization": f"Bearer {DEFAULT_ADMIN_KEY}"})

Each call loads the state file (creating it from the seed, by default the demo seed, the
first time) and owns it until the transport is closed (:mod:`.owner`: another owner, such
as a server on the same file, is refused at once); every mutation is persisted before its
response is returned, so the next process sees it.
"""

from __future__ import annotations

from pathlib import Path

import httpx

from reconciler.platform.sandbox.app import DEFAULT_ADMIN_KEY, create_app
from reconciler.platform.sandbox.faults import FaultConfig
from reconciler.platform.sandbox.owner import owned_transport
from reconciler.platform.sandbox.store import SandboxStore

EMBEDDED_HOST = "http://sandbox.localhost"  # in process; .localhost names no other machine
EMBEDDED_ADMIN_BASE_URL = f"{EMBEDDED_HOST}/v1/admin"
EMBEDDED_API_BASE_URL = f"{EMBEDDED_HOST}/v1"


def embedded_transport(
    state_path: Path,
    *,
    seed: Path | None = None,
    faults: FaultConfig | None = None,
    admin_key: str = DEFAULT_ADMIN_KEY,
) -> httpx.ASGITransport:
    """A transport serving the sandbox whose state lives in ``state_path``, owning it until
    closed."""
    return owned_transport(
        state_path,
        lambda: create_app(SandboxStore.open(state_path, seed=seed), faults, admin_key=admin_key),
    )
