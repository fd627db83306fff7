"""``reconciler sandbox serve|reset|seed|accept-invite``: run, reset and seed the local La
Plateforme, and accept an invitation on it as the invited person would.

The command functions in ``main.py`` parse the arguments and call these; each returns
the exit code. Serving (the socket, the faults, the store, the server) is the library's
:func:`reconciler.platform.sandbox.serve.serve`; this module prints its banner. A reset or
an accepted invitation owns the state file while it runs
(:class:`~reconciler.platform.sandbox.owner.StateLock`), so neither rewrites a state a
server or a ``--sandbox`` command holds. Only the standard library is imported at module
level, so ``reconciler --help`` stays fast.
"""

from __future__ import annotations

import shutil
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from reconciler.platform.sandbox.serve import Listening

DEFAULT_STATE = Path(".sandbox/state.json")
DEMO = "built-in demo organisation"


def _err(message: str) -> int:
    print(f"Error: {message}", file=sys.stderr)
    return 1


def serve_command(
    *,
    port: int,
    host: str,
    state: Path,
    seed: Path | None = None,
    latency_ms: int | None = None,
    faults: Path | None = None,
    fault: Sequence[str] = (),
    fault_seed: int | None = None,
    admin_key_file: Path | None = None,
    allow_remote: bool = False,
) -> int:
    """Serve the sandbox over HTTP until interrupted; print where and how to use it."""
    from reconciler.errors import ConfigError
    from reconciler.platform.sandbox.serve import serve

    try:
        serve(
            state=state,
            seed=seed,
            host=host,
            port=port,
            faults=faults,
            fault=fault,
            latency_ms=latency_ms,
            fault_seed=fault_seed,
            admin_key_file=admin_key_file,
            allow_remote=allow_remote,
            ready=_banner,
        )
    except ConfigError as exc:
        return _err(str(exc))
    return 0


def _banner(served: Listening) -> None:
    from reconciler.platform.sandbox import DEFAULT_ADMIN_KEY

    print(f"Sandbox La Plateforme listening on {served.url}")
    print(f"State: {served.state} (seed: {served.seed or DEMO})")
    faults = served.faults
    if faults.latency_ms or faults.rules:
        print(f"Faults: {faults.latency_ms} ms added latency, {len(faults.rules)} rule(s)")
    print("To point reconciler at it:")
    print(f"  export MISTRAL_ADMIN_BASE_URL={served.admin_base_url}")
    print(f"  export MISTRAL_API_BASE_URL={served.api_base_url}")
    if served.admin_key_file is not None:
        print(f"  export MISTRAL_ADMIN_API_KEY_FILE={served.admin_key_file.resolve()}")
    else:
        print(f"  export MISTRAL_ADMIN_API_KEY={DEFAULT_ADMIN_KEY}")
    print("Press Ctrl+C to stop.", flush=True)


def provider_of(state: Path) -> str | None:
    """Whose sandbox ``state`` holds (``mistral`` or ``anthropic``), read from its marks;
    None for a file missing, unreadable, or neither's (the opener then says why)."""
    import json

    from reconciler.platform.sandbox.records import STATE_FORMAT

    try:
        doc = json.loads(state.read_bytes())
    except (OSError, ValueError):
        return None
    if not isinstance(doc, dict):
        return None
    if doc.get("format") == STATE_FORMAT:
        return "mistral"
    organization = doc.get("organization")
    if isinstance(organization, dict) and organization.get("type") == "organization":
        return "anthropic"  # the Admin API's own organisation record
    return None


def owned_by(state: Path, provider: str) -> None:
    """Refuse a state file of the other provider's sandbox, naming the ``--provider`` it needs."""
    from reconciler.errors import ConfigError

    found = provider_of(state)
    if found is not None and found != provider:
        whose = "the Anthropic" if found == "anthropic" else "La Plateforme's"
        raise ConfigError(f"{state} is {whose} sandbox state: give --provider {found}")


def replaceable(state: Path, *, force: bool) -> None:
    """Refuse to reset over a file that is no sandbox state of either provider (a
    mistyped ``--state`` naming a file of the user's), unless ``force``."""
    from reconciler.errors import ConfigError

    if force or not (state.exists() or state.is_symlink()):
        return
    if provider_of(state) is None:
        raise ConfigError(
            f"{state} is not a sandbox state file: not replaced (give --force to reset it "
            "anyway, e.g. a state file that was damaged)"
        )


def reset_command(
    *, state: Path = DEFAULT_STATE, seed: Path | None = None, force: bool = False
) -> int:
    """Throw the state away and create it again from the seed."""
    from reconciler.cli.common import plural
    from reconciler.errors import ConfigError
    from reconciler.platform.sandbox import DEMO_SEED, SandboxStore, load_seed
    from reconciler.platform.sandbox.owner import RESETTING, StateLock
    from reconciler.platform.sandbox.persist import StateFile

    try:
        load_seed(seed or DEMO_SEED)  # a bad seed changes nothing
    except ConfigError as exc:
        return _err(str(exc))
    replaceable(state, force=force)
    with StateLock.take(state, RESETTING, replacing=True):
        StateFile(state).remove()
        doc = SandboxStore.open(state, seed=seed).snapshot()
    active = sum(1 for w in doc["workspaces"] if not w["archived"])
    counts = plural(len(doc["users"]), "user"), plural(active, "workspace")
    keys = plural(len(doc["keys"]), "key")
    print(f"Sandbox reset: {state} ({', '.join(counts)}, {keys}; seed: {seed or DEMO})")
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


def accept_invite_command(*, email: str, state: Path = DEFAULT_STATE) -> int:
    """What the invited person does on the sandbox: accept their pending invitation (they
    join the organisation and the invitation's workspaces), recorded in the audit log."""
    from reconciler.platform.sandbox import SandboxStore
    from reconciler.platform.sandbox.audit_trail import AuditTrail
    from reconciler.platform.sandbox.owner import ACCEPTING, StateLock

    owned_by(state, "mistral")
    with StateLock.take(state, ACCEPTING):
        store = SandboxStore.open(state)
        wanted = email.strip().lower()
        invite = next((i for i in store.list_users(None)[1] if i.email.lower() == wanted), None)
        if invite is None or invite.expired:
            return _err(f"no pending invitation for {email} in {state}")
        user = store.accept_invite(invite.uuid)
        AuditTrail(store).invite_accepted(invite, user)
        joined = [ws.name for ws, _ in store.user_workspaces(user.uuid)]
    where = f"; joined {', '.join(joined)}" if joined else ""
    print(f"{user.email} accepted the invitation to the organisation{where}.")
    return 0
