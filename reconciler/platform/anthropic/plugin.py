"""Anthropic as a registered provider (:data:`ANTHROPIC`), as :mod:`reconciler.platform`
registers it.

Its roles and catalog come from :mod:`.vocabulary`. Loading this module imports no HTTP
client: opening the platform (or its sandbox) imports the provider when called. Keys
cannot be created through Anthropic's API, so the spec says so
(``can_create_keys=False``) and plans turn key creates into Console instructions.
"""

from __future__ import annotations

from reconciler.env import (
    ANTHROPIC_ADMIN_API_KEY,
    ANTHROPIC_ADMIN_API_KEY_FILE,
    ANTHROPIC_BASE_URL,
)
from reconciler.errors import ConfigError
from reconciler.platform.anthropic.vocabulary import (
    ADMIN_ROLE,
    CONSOLE_URL,
    DEFAULT_MEMBER_ROLE,
    DEFAULT_ORGANIZATION_ROLE,
    FINAL_KEY_STATUS,
    KEY_STATUSES,
    NAME,
    ORGANIZATION_ADMIN_ROLE,
    ORGANIZATION_ROLES,
    RATE_LIMIT_TYPES,
    WORKSPACE_ROLES,
    shipped_catalog_text,
)
from reconciler.provider import Provider
from reconciler.providers import ProviderSpec, Target


def _open(target: Target) -> Provider:
    from reconciler.platform.anthropic.provider import AnthropicProvider

    try:
        return AnthropicProvider.from_env(target.env, concurrency=target.concurrency)
    except ConfigError as exc:
        raise ConfigError(f"{exc}. To try reconciler without credentials, pass --sandbox.") from exc


def _target_name(target: Target, sandbox: bool) -> str:
    """The ``target`` of what :func:`_open` (or :func:`_sandbox`) opens, without the key."""
    if sandbox:
        from reconciler.platform.anthropic.sandbox.state import state_file

        return f"anthropic sandbox ({state_file(target.sandbox_state)})"
    from reconciler.platform.anthropic.settings import DEFAULT_BASE_URL

    return (target.env.get(ANTHROPIC_BASE_URL) or DEFAULT_BASE_URL).strip().rstrip("/")


def _sandbox(target: Target) -> Provider:
    from reconciler.platform.anthropic.provider import AnthropicProvider
    from reconciler.platform.anthropic.sandbox.app import DEFAULT_ADMIN_KEY
    from reconciler.platform.anthropic.sandbox.serve import EMBEDDED_BASE_URL, embedded_transport
    from reconciler.platform.anthropic.sandbox.state import state_file

    return AnthropicProvider.from_env(
        {ANTHROPIC_ADMIN_API_KEY: DEFAULT_ADMIN_KEY, ANTHROPIC_BASE_URL: EMBEDDED_BASE_URL},
        transport=embedded_transport(state_file(target.sandbox_state)),
        target=_target_name(target, True),
        concurrency=target.concurrency,
    )


ANTHROPIC = ProviderSpec(
    name=NAME,
    display_name="Anthropic",
    workspace_roles=tuple(WORKSPACE_ROLES),
    member_roles=(DEFAULT_MEMBER_ROLE,),
    admin_role=ADMIN_ROLE,
    vault_path_prefix=NAME,
    credential_env=(ANTHROPIC_ADMIN_API_KEY, ANTHROPIC_ADMIN_API_KEY_FILE, ANTHROPIC_BASE_URL),
    catalog=shipped_catalog_text,
    open=_open,
    sandbox=_sandbox,
    target_name=_target_name,
    organization_roles=ORGANIZATION_ROLES,
    organization_admin_role=ORGANIZATION_ADMIN_ROLE,
    default_organization_role=DEFAULT_ORGANIZATION_ROLE,
    can_create_keys=False,
    key_console=CONSOLE_URL,
    key_statuses=KEY_STATUSES,
    final_key_status=FINAL_KEY_STATUS,
    rate_limit_types=RATE_LIMIT_TYPES,
)
