"""Serving the sandbox over HTTP: the socket, the fault rules, the store, the server.

:func:`serve` is what ``reconciler sandbox serve`` runs, and what a script or a test can
run in a thread of its own. It listens on loopback only unless told otherwise (the
sandbox's admin key is well known), binds the socket before announcing where it listens
(so requests queue from then on), owns the state file while it serves (:mod:`.owner`:
anyone else who would own it is told where it is served) and compacts it when the server
stops.
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Sequence
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path

from reconciler.env import MISTRAL_ADMIN_BASE_URL
from reconciler.errors import ConfigError
from reconciler.platform.sandbox.app import ADMIN_PREFIX, DEFAULT_ADMIN_KEY, create_app
from reconciler.platform.sandbox.faults import FaultConfig, FaultRule
from reconciler.platform.sandbox.journaled import DEFAULT_STATE_PATH
from reconciler.platform.sandbox.owner import StateLock, serving
from reconciler.platform.sandbox.store import SandboxStore

DEFAULT_PORT = 8765
LOOPBACK = frozenset({"127.0.0.1", "::1", "localhost"})


@dataclass(frozen=True)
class Listening:
    """A served sandbox, announced once its socket listens; ``stop()`` ends the server."""

    url: str
    state: Path
    seed: Path | None
    faults: FaultConfig
    admin_key_file: Path | None
    stop: Callable[[], None] = field(repr=False, compare=False)

    @property
    def admin_base_url(self) -> str:
        return self.url + ADMIN_PREFIX

    @property
    def api_base_url(self) -> str:
        return self.url + "/v1"


def read_admin_key(path: Path) -> str:
    """The admin key held in the file ``path`` (surrounding whitespace dropped)."""
    try:
        key = path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the admin key: {exc.strerror or exc}") from exc
    if not key:
        raise ConfigError(f"{path}: the admin key file is empty")
    return key


def fault_config(
    file: Path | None = None,
    rules: Sequence[str] = (),
    *,
    latency_ms: int | None = None,
    seed: int | None = None,
) -> FaultConfig:
    """The rules of the fault ``file``, then each of ``rules`` (``METHOD PATH key=value...``);
    ``latency_ms`` and ``seed`` override the file's."""
    config = FaultConfig.load(file) if file else FaultConfig()
    return FaultConfig(
        latency_ms=config.latency_ms if latency_ms is None else latency_ms,
        seed=config.seed if seed is None else seed,
        rules=(*config.rules, *(FaultRule.parse(text) for text in rules)),
    )


def listen(host: str, port: int) -> socket.socket:
    """A TCP socket bound to ``host:port`` (0: any free port) and listening."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP, not 0: asyncio turns Nagle off only on sockets that say they are TCP,
    # and with Nagle on every reused connection waits out the client's delayed ACK (~40 ms).
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        sock.bind((host, port))
        sock.listen(128)  # connections queue from now on, before the server starts accepting
    except OSError as exc:
        sock.close()
        raise ConfigError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from exc
    return sock


def serve(
    *,
    state: Path = DEFAULT_STATE_PATH,
    seed: Path | None = None,
    host: str = "127.0.0.1",
    port: int = DEFAULT_PORT,
    faults: Path | None = None,
    fault: Sequence[str] = (),
    latency_ms: int | None = None,
    fault_seed: int | None = None,
    admin_key_file: Path | None = None,
    allow_remote: bool = False,
    ready: Callable[[Listening], None] = lambda _listening: None,
) -> None:
    """Serve the sandbox on ``state`` (created from ``seed``) until stopped.

    ``ready`` hears where it listens before the server starts; the server stops on
    SIGINT/SIGTERM (in the main thread) or on ``Listening.stop()``. Bad settings, and a
    state another process owns (:class:`~.owner.StateInUse`), raise :class:`ConfigError`
    before anything listens.
    """
    if host not in LOOPBACK and not allow_remote:
        raise ConfigError(
            f"refusing to listen on {host}: the sandbox is for loopback (--allow-remote)"
        )
    admin_key = read_admin_key(admin_key_file) if admin_key_file else DEFAULT_ADMIN_KEY
    config = fault_config(faults, fault, latency_ms=latency_ms, seed=fault_seed)
    with (
        StateLock.take(state, serving(MISTRAL_ADMIN_BASE_URL)) as lock,
        closing(SandboxStore.open(state, seed=seed)) as store,  # unusable: a ConfigError
        closing(listen(host, port)) as sock,
    ):
        import uvicorn

        app = create_app(store, config, admin_key=admin_key)
        server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))

        def stop() -> None:
            server.should_exit = True

        name = f"[{host}]" if ":" in host else host
        url = f"http://{name}:{sock.getsockname()[1]}"
        listening = Listening(url, state, seed, config, admin_key_file, stop)
        lock.announce(serving(MISTRAL_ADMIN_BASE_URL, listening.admin_base_url))
        ready(listening)
        server.run(sockets=[sock])
