"""``reconciler sandbox serve|reset|seed``: run, reset and seed the local La Plateforme.

The command functions in ``main.py`` parse the arguments and call these; each returns
the exit code. Only the standard library is imported at module level, so ``reconciler
--help`` stays fast.
"""

from __future__ import annotations

import shutil
import socket
import sys
from collections.abc import Sequence
from pathlib import Path

DEFAULT_PORT = 8765
DEFAULT_STATE = Path(".sandbox/state.json")
LOOPBACK = frozenset({"127.0.0.1", "::1", "localhost"})
DEMO = "built-in demo organisation"


def _err(message: str) -> int:
    print(f"Error: {message}", file=sys.stderr)
    return 1


def _read_admin_key(path: Path) -> str:
    from reconciler.errors import ConfigError

    try:
        key = path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the admin key: {exc.strerror or exc}") from exc
    if not key:
        raise ConfigError(f"{path}: the admin key file is empty")
    return key


def serve_command(
    *,
    port: int = DEFAULT_PORT,
    host: str = "127.0.0.1",
    state: Path = DEFAULT_STATE,
    seed: Path | None = None,
    latency_ms: int | None = None,
    faults: Path | None = None,
    fault: Sequence[str] = (),
    fault_seed: int | None = None,
    admin_key_file: Path | None = None,
    allow_remote: bool = False,
) -> int:
    """Serve the sandbox over HTTP until interrupted; print where and how to use it.

    Faults come from the ``faults`` file, then each ``fault`` rule (``METHOD PATH
    key=value...``) is appended; ``latency_ms`` and ``fault_seed`` override the file's.
    """
    from reconciler.errors import ConfigError
    from reconciler.platform.sandbox import (
        DEFAULT_ADMIN_KEY,
        FaultConfig,
        FaultRule,
        SandboxStore,
        create_app,
    )
    from reconciler.platform.sandbox.persist import StateFileError

    if host not in LOOPBACK and not allow_remote:
        return _err(f"refusing to listen on {host}: the sandbox is for loopback (--allow-remote)")
    try:
        admin_key = _read_admin_key(admin_key_file) if admin_key_file else DEFAULT_ADMIN_KEY
        config = FaultConfig.load(faults) if faults else FaultConfig()
        rules = (*config.rules, *(FaultRule.parse(text) for text in fault))
        config = FaultConfig(
            latency_ms=config.latency_ms if latency_ms is None else latency_ms,
            seed=config.seed if fault_seed is None else fault_seed,
            rules=rules,
        )
        store = SandboxStore.open(state, seed=seed)
    except (ConfigError, StateFileError) as exc:
        return _err(str(exc))

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
        return _err(f"cannot listen on {host}:{port}: {exc.strerror or exc}")
    url = f"http://{f'[{host}]' if ':' in host else host}:{sock.getsockname()[1]}"
    print(f"Sandbox La Plateforme listening on {url}")
    print(f"State: {state} (seed: {seed or DEMO})")
    if config.latency_ms or config.rules:
        print(f"Faults: {config.latency_ms} ms added latency, {len(config.rules)} rule(s)")
    print("To point reconciler at it:")
    print(f"  export MISTRAL_ADMIN_BASE_URL={url}/v1/admin")
    print(f"  export MISTRAL_API_BASE_URL={url}/v1")
    if admin_key_file is not None:
        print(f"  export MISTRAL_ADMIN_API_KEY_FILE={admin_key_file.resolve()}")
    else:
        print(f"  export MISTRAL_ADMIN_API_KEY={DEFAULT_ADMIN_KEY}")
    print("Press Ctrl+C to stop.", flush=True)

    import uvicorn

    app = create_app(store, config, admin_key=admin_key)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()
        store.close()
    return 0


def reset_command(*, state: Path = DEFAULT_STATE, seed: Path | None = None) -> int:
    """Throw the state away and create it again from the seed."""
    from reconciler.errors import ConfigError
    from reconciler.platform.sandbox import DEMO_SEED, SandboxStore, load_seed
    from reconciler.platform.sandbox.persist import StateFile

    try:
        load_seed(seed or DEMO_SEED)  # a bad seed changes nothing
    except ConfigError as exc:
        return _err(str(exc))
    StateFile(state).remove()
    doc = SandboxStore.open(state, seed=seed).snapshot()
    active = sum(1 for w in doc["workspaces"] if not w["archived"])
    print(
        f"Sandbox reset: {state} ({len(doc['users'])} users, {active} workspaces, "
        f"{len(doc['keys'])} keys; seed: {seed or DEMO})"
    )
    return 0


def seed_command(
    *,
    out: Path,
    generate: bool = False,
    workspaces: int = 100,
    keys: int = 1000,
    users: int | None = None,
    random_seed: int = 0,
) -> int:
    """Write a seed file: a copy of the demo seed, or a generated large organisation."""
    from reconciler.platform.sandbox import DEMO_SEED

    if not generate:
        out.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(DEMO_SEED, out)
        print(f"Wrote the demo seed to {out}")
        return 0
    from reconciler.platform.sandbox.generate import generate_seed, write_seed

    doc = generate_seed(workspaces=workspaces, keys=keys, users=users, seed=random_seed)
    write_seed(doc, out)
    print(f"Wrote {out}: {len(doc['users'])} users, {workspaces} workspaces + default, {keys} keys")
    return 0
