"""La Plateforme as a registered provider (:data:`MISTRAL`), as :mod:`reconciler.platform`
registers it.

Its roles and catalog come from :mod:`reconciler.platform.vocabulary`. Loading this
module imports no HTTP client: the functions that open the platform or its sandbox
(:mod:`reconciler.platform.target`) and list its models import it when called.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from reconciler.env import MISTRAL_ADMIN_API_KEY, MISTRAL_ADMIN_API_KEY_FILE
from reconciler.platform.vocabulary import (
    ADMIN_ROLE,
    DEFAULT_MEMBER_ROLE,
    DEFAULT_ORGANIZATION_ROLE,
    NAME,
    ORGANIZATION_ADMIN_ROLE,
    ORGANIZATION_ROLES,
    SEATS,
    WORKSPACE_ROLES,
    shipped_catalog_text,
)
from reconciler.provider import Provider
from reconciler.providers import ProviderSpec, Target


def _open(target: Target) -> Provider:
    from reconciler.platform.target import open_mistral

    return open_mistral(target)


def _sandbox(target: Target) -> Provider:
    from reconciler.platform.target import open_mistral_sandbox

    return open_mistral_sandbox(target)


def _target_name(target: Target, sandbox: bool) -> str:
    from reconciler.platform.target import mistral_target_name

    return mistral_target_name(target, sandbox=sandbox)


async def _list_models(provider: Provider) -> Mapping[str, Any]:
    from reconciler.platform.mistral.provider import MistralProvider

    if not isinstance(provider, MistralProvider):
        raise TypeError(f"expected a MistralProvider, got {type(provider).__name__}")
    models = await provider.client.list_models()
    return models.model_dump(mode="json")


MISTRAL = ProviderSpec(
    name=NAME,
    display_name="La Plateforme",
    workspace_roles=tuple(WORKSPACE_ROLES),
    member_roles=(DEFAULT_MEMBER_ROLE,),
    admin_role=ADMIN_ROLE,
    vault_path_prefix=NAME,
    credential_env=(MISTRAL_ADMIN_API_KEY, MISTRAL_ADMIN_API_KEY_FILE),
    catalog=shipped_catalog_text,
    open=_open,
    sandbox=_sandbox,
    list_models=_list_models,
    target_name=_target_name,
    organization_roles=tuple(ORGANIZATION_ROLES),
    organization_admin_role=ORGANIZATION_ADMIN_ROLE,
    default_organization_role=DEFAULT_ORGANIZATION_ROLE,
    seats=SEATS,
)
