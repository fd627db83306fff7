"""La Plateforme's vocabulary: its workspace and organisation roles, product seats and model
catalog, recorded once.

The workspace role names are the public spec's (``WorkspaceMemberSingleIN.role_names``,
in its order). The registered provider (:mod:`reconciler.platform.plugin`) hands them and
the shipped catalog (``reconciler/data/models.json``) to validation; the sandbox pairs the
roles with its role UUIDs and serves the catalog. Static data only: it imports neither
the client nor the sandbox, so both may read it.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from reconciler.data import shipped_text

NAME = "mistral"

#: Workspace role -> what it allows, in the spec's order.
WORKSPACE_ROLES: Mapping[str, str] = MappingProxyType(
    {
        "billing": "Can view workspace billing",
        "user": "Can use the workspace",
        "contributor": "Can create resources",
        "dev": "Can use the API and create keys",
        "dev_contributor": "Developer and contributor",
        "mistral_code_user": "Can use Mistral Code",
        "cloud_user": "Can use cloud deployments",
        "workspace_contributor": "Can contribute to workspace resources",
        "workspace_admin": "Can manage workspace members and settings",
        "observability_viewer": "Can view observability",
        "workflow_executor": "Can run workflows",
    }
)
ADMIN_ROLE = "workspace_admin"
DEFAULT_MEMBER_ROLE = "user"

#: Organisation role -> what it allows (``OrganizationMemberCreate.role_names``).
ORGANIZATION_ROLES: Mapping[str, str] = MappingProxyType(
    {
        "member": "Member of the organization",
        "billing_manager": "Can manage billing",
        "organization_admin": "Can manage the organization",
    }
)
ORGANIZATION_ADMIN_ROLE = "organization_admin"
BILLING_MANAGER_ROLE = "billing_manager"
DEFAULT_ORGANIZATION_ROLE = "member"
#: Product seats a member may hold (``AdminOrganizationMemberUpdate.subscription_types``,
#: lower-cased as the desired state writes them).
SEATS = ("chat", "mistral_code")


def shipped_catalog_text() -> str:
    """The catalog shipped with the package (``reconciler/data/models.json``)."""
    return shipped_text("models.json")
