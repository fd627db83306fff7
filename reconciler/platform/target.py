"""Opening La Plateforme: the platform from the environment, or the embedded sandbox.

These are the ``open`` and ``sandbox`` functions of the Mistral provider
(:data:`reconciler.platform.plugin.MISTRAL`). The sandbox target runs the sandbox
app in-process (no port, no credentials) on a state file; the platform target reads
``MISTRAL_ADMIN_*`` settings from the environment. The returned provider's ``target``
names it plainly, so no plan is mistaken for the other's.
"""

from __future__ import annotations

from pathlib import Path

from reconciler.env import (
    MISTRAL_ADMIN_API_KEY,
    MISTRAL_ADMIN_BASE_URL,
    MISTRAL_API_BASE_URL,
    MISTRAL_CONCURRENCY,
)
from reconciler.errors import ConfigError
from reconciler.platform.mistral.provider import MistralProvider
from reconciler.platform.mistral.settings import DEFAULT_ADMIN_BASE_URL
from reconciler.providers import Target


def sandbox_target_name(state_path: Path) -> str:
    return f"sandbox ({state_path})"


def sandbox_state_of(target: str) -> Path | None:
    """The sandbox state file a target name stands for (see :func:`sandbox_target_name`),
    or None for any other target."""
    if target.startswith("sandbox (") and target.endswith(")"):
        return Path(target.removeprefix("sandbox (").removesuffix(")"))
    return None


def mistral_target_name(target: Target, *, sandbox: bool) -> str:
    """The ``target`` of the provider :func:`open_mistral` (or, ``sandbox``,
    :func:`open_mistral_sandbox`) opens, read from the same settings without needing
    the admin key."""
    if sandbox:
        return sandbox_target_name(target.sandbox_state)
    url = target.env.get(MISTRAL_ADMIN_BASE_URL) or DEFAULT_ADMIN_BASE_URL
    return url.strip().rstrip("/")


def open_mistral(target: Target) -> MistralProvider:
    """A provider for the platform ``target.env`` names."""
    environ = dict(target.env)
    environ.setdefault(MISTRAL_CONCURRENCY, str(target.concurrency))
    try:
        return MistralProvider.from_env(environ)
    except ConfigError as exc:
        raise ConfigError(f"{exc}. To try reconciler without credentials, pass --sandbox.") from exc


def open_mistral_sandbox(target: Target) -> MistralProvider:
    """A provider for the embedded sandbox whose state is ``target.sandbox_state``."""
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
        transport=embedded_transport(target.sandbox_state, seed=target.sandbox_seed),
        target=sandbox_target_name(target.sandbox_state),
        concurrency=target.concurrency,
    )
