"""Platforms without an admin API, for application-side policy only: Groq and Cohere.

Neither offers an API to manage workspaces, members or keys, so plan and apply cannot
manage them (:meth:`~reconciler.providers.ProviderSpec.open_target` says so). What they
share with La Plateforme is the application side: a desired state whose
``organization.yaml`` says ``provider: groq`` (or ``cohere``) declares roles, teams
(workspaces) with their models and budgets, and keys by name; ``validate`` checks it
against the catalog below, and :class:`~reconciler.policy.Policy` enforces it in apps
with the SDK hooks of :mod:`reconciler.policy.sdk`, priced from the same catalog.

The catalogs (``reconciler/data/groq-models.json``, ``cohere-models.json``) are small and
record the published prices of the date in their ``fetched`` field: a reference to edit,
not live prices (copy one, change it, and set ``RECONCILER_CATALOG``). Static data only:
no HTTP client is imported.
"""

from __future__ import annotations

from collections.abc import Callable

from reconciler.data import shipped_text
from reconciler.providers import ProviderSpec


def _shipped(name: str) -> Callable[[], str]:
    def read() -> str:
        return shipped_text(f"{name}-models.json")

    return read


def policy_only(name: str, display_name: str) -> ProviderSpec:
    """A provider with a catalog and prices, and no admin API, sandbox or role names."""
    return ProviderSpec(
        name=name,
        display_name=display_name,
        workspace_roles=(),
        member_roles=(),
        admin_role=None,
        vault_path_prefix=name,
        catalog=_shipped(name),
    )


GROQ = policy_only("groq", "Groq")
COHERE = policy_only("cohere", "Cohere")
