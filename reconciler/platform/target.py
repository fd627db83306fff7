"""Choosing what to talk to: the embedded sandbox, or La Plateforme from the environment.

The sandbox target runs the sandbox app in-process (no port, no credentials) on a state
file; any other target reads ``MISTRAL_ADMIN_*`` settings from the environment. The
returned provider's ``target`` names it plainly, so no plan is mistaken for the other's.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from reconciler.env import (
    MISTRAL_ADMIN_API_KEY,
    MISTRAL_ADMIN_BASE_URL,
    MISTRAL_API_BASE_URL,
    MISTRAL_CONCURRENCY,
)
from reconciler.errors import ConfigError
from reconciler.platform.mistral.provider import MistralProvider


def sandbox_target_name(state_path: Path) -> str:
    return f"sandbox ({state_path})"


def open_mistral(
    *,
    sandbox: bool,
    state_path: Path,
    concurrency: int = 8,
    env: Mapping[str, str] | None = None,
    seed: Path | None = None,
) -> MistralProvider:
    """A provider for the sandbox at ``state_path``, or for the platform ``env`` names."""
    environ = dict(os.environ if env is None else env)
    if sandbox:
        from reconciler.platform.sandbox import (
            DEFAULT_ADMIN_KEY,
            EMBEDDED_ADMIN_BASE_URL,
            EMBEDDED_API_BASE_URL,
        )
        from reconciler.platform.sandbox.embedded import embedded_transport

        return MistralProvider.from_env(
            {
                MISTRAL_ADMIN_API_KEY: DEFAULT_ADMIN_KEY,
                MISTRAL_ADMIN_BASE_URL: EMBEDDED_ADMIN_BASE_URL,
                MISTRAL_API_BASE_URL: EMBEDDED_API_BASE_URL,
            },
            transport=embedded_transport(state_path, seed=seed),
            target=sandbox_target_name(state_path),
            concurrency=concurrency,
        )
    environ.setdefault(MISTRAL_CONCURRENCY, str(concurrency))
    try:
        return MistralProvider.from_env(environ)
    except ConfigError as exc:
        raise ConfigError(f"{exc}. To try reconciler without credentials, pass --sandbox.") from exc
