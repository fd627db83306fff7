"""The Anthropic sandbox in-process (an ASGI transport) or served on a loopback port.

:func:`embedded_transport` is what ``--sandbox`` talks to for an organisation whose
provider is anthropic; :func:`serve` is what ``reconciler sandbox serve --provider
anthropic`` runs (the socket and loopback rules are the La Plateforme sandbox's).
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import closing
from pathlib import Path

import httpx

from reconciler.env import ANTHROPIC_BASE_URL
from reconciler.errors import ConfigError
from reconciler.platform.anthropic.sandbox.app import DEFAULT_ADMIN_KEY, create_app
from reconciler.platform.anthropic.sandbox.state import DEFAULT_STATE_PATH, Organisation
from reconciler.platform.sandbox.owner import StateLock, owned_transport, serving
from reconciler.platform.sandbox.serve import LOOPBACK, listen

# in process; .localhost names no other machine
EMBEDDED_BASE_URL = "http://anthropic-sandbox.localhost"
DEFAULT_PORT = 8766


def embedded_transport(state: Path, *, admin_key: str = DEFAULT_ADMIN_KEY) -> httpx.ASGITransport:
    """A transport serving the sandbox organisation saved in ``state``, owning it until
    closed (:mod:`reconciler.platform.sandbox.owner`)."""
    return owned_transport(state, lambda: create_app(Organisation.open(state), admin_key=admin_key))


def serve(
    *,
    state: Path = DEFAULT_STATE_PATH,
    host: str = "127.0.0.1",
    port: int = DEFAULT_PORT,
    allow_remote: bool = False,
    ready: Callable[[str, Callable[[], None]], None] = lambda _url, _stop: None,
) -> None:
    """Serve the sandbox on ``state`` until stopped; ``ready(url, stop)`` hears where."""
    if host not in LOOPBACK and not allow_remote:
        raise ConfigError(
            f"refusing to listen on {host}: the sandbox is for loopback (--allow-remote)"
        )
    with StateLock.take(state, serving(ANTHROPIC_BASE_URL)) as lock:
        app = create_app(Organisation.open(state))
        with closing(listen(host, port)) as sock:
            import uvicorn

            server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))

            def stop() -> None:
                server.should_exit = True

            name = f"[{host}]" if ":" in host else host
            url = f"http://{name}:{sock.getsockname()[1]}"
            lock.announce(serving(ANTHROPIC_BASE_URL, url))
            ready(url, stop)
            server.run(sockets=[sock])
