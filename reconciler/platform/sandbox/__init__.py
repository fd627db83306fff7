"""A local La Plateforme: the Admin API, ``/v1/models`` and inference, from a state file.

Embedded (an ``httpx`` transport, no port) or served (``reconciler sandbox serve``), it
speaks the same wire contract as the platform, so the client under test cannot tell the
difference. Seeds describe a starting organisation; faults inject errors and latency.
The seed's names are imported at first use: opening an existing state (a plan on the
sandbox) reads no seed.
"""

from typing import TYPE_CHECKING, Any

from reconciler.platform.sandbox.app import ADMIN_PREFIX, DEFAULT_ADMIN_KEY, create_app
from reconciler.platform.sandbox.embedded import (
    EMBEDDED_ADMIN_BASE_URL,
    EMBEDDED_API_BASE_URL,
    embedded_transport,
)
from reconciler.platform.sandbox.faults import FaultConfig, FaultEngine, FaultRule
from reconciler.platform.sandbox.journaled import DEFAULT_STATE_PATH
from reconciler.platform.sandbox.store import SandboxStore

if TYPE_CHECKING:
    from reconciler.platform.sandbox.seed import DEMO_SEED, Seed, SeedError, load_seed

_FROM_SEED = frozenset({"DEMO_SEED", "Seed", "SeedError", "load_seed"})

__all__ = [
    "ADMIN_PREFIX",
    "DEFAULT_ADMIN_KEY",
    "DEFAULT_STATE_PATH",
    "DEMO_SEED",
    "EMBEDDED_ADMIN_BASE_URL",
    "EMBEDDED_API_BASE_URL",
    "FaultConfig",
    "FaultEngine",
    "FaultRule",
    "SandboxStore",
    "Seed",
    "SeedError",
    "create_app",
    "embedded_transport",
    "load_seed",
]


def __getattr__(name: str) -> Any:
    if name in _FROM_SEED:
        from reconciler.platform.sandbox import seed

        return getattr(seed, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
