"""Anthropic's vocabulary: its Console workspace roles and its model catalog, recorded once.

The roles are the Admin API's ``workspace_role`` values (SDK ``member_create_params`` and
``member_update_params``). ``workspace_billing`` is held by billing members in every
workspace and is never granted through the API; the desired state may name it (so a live
billing member is not a difference) but the plan never asks the API for it. Static data
only: it imports neither the client nor the sandbox.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from reconciler.data import shipped_text

NAME = "anthropic"

#: Workspace role -> what it allows.
WORKSPACE_ROLES: Mapping[str, str] = MappingProxyType(
    {
        "workspace_user": "Can use the Workbench and the workspace's models",
        "workspace_developer": "Can also manage the workspace's API keys",
        "workspace_restricted_developer": "A developer without key management",
        "workspace_admin": "Can manage the workspace's members and settings",
        "workspace_billing": "Can see the workspace's billing (inherited, never granted)",
    }
)
ADMIN_ROLE = "workspace_admin"
DEFAULT_MEMBER_ROLE = "workspace_user"
GRANTABLE_ROLES = frozenset(WORKSPACE_ROLES) - {"workspace_billing"}

#: Organisation roles of a Console organisation (``admin`` is never granted by the API).
ORGANIZATION_ROLES = ("user", "developer", "billing", "claude_code_user", "admin")
ORGANIZATION_ADMIN_ROLE = "admin"
DEFAULT_ORGANIZATION_ROLE = "user"

CONSOLE_URL = "https://console.anthropic.com/settings/keys"
CONSOLE_LIMITS_URL = "https://console.anthropic.com/settings/limits"

#: A key's statuses the Admin API sets in place, and the final one (archived: for good).
KEY_STATUSES = ("active", "inactive")
FINAL_KEY_STATUS = "archived"

#: The limit types a workspace's rate-limit override takes (``POST /workspaces/{id}/
#: rate_limits/{rate_limit_id}``); the lower of the workspace's and the organisation's holds.
RATE_LIMIT_TYPES = (
    "requests_per_minute",
    "input_tokens_per_minute",
    "input_tokens_per_minute_cache_aware",
    "output_tokens_per_minute",
    "tokens_per_minute",
    "tokens_per_day",
    "tool_uses_per_second",
    "fast_itpmca",
    "fast_otpm",
)


def shipped_catalog_text() -> str:
    """The catalog shipped with the package (``reconciler/data/anthropic-models.json``)."""
    return shipped_text("anthropic-models.json")
