"""The La Plateforme client: every Admin API endpoint, and the inference API's ``/models``.

:class:`MistralClient` is the one object the provider holds. It is made of pieces with one
job each, so each can be read alone:

- :mod:`.connection`  the transport: auth, retry classes (creates are sent once),
                      concurrency bound, request counting, typed parsing
- :mod:`.auth`        the key attached per request; credentials redacted from errors
- :mod:`.paging`      whole listings: numbered pages concurrently, key pages read ahead
- :mod:`.endpoints`   the endpoints, one class per resource (people's: :mod:`.people`)
- :mod:`.wire`        the response models (the wire format, nothing else)
"""

from __future__ import annotations

from reconciler.platform.mistral.endpoints import (
    ApiKeys,
    AuditLogs,
    Inference,
    Organization,
    Users,
    WorkspaceMembers,
    Workspaces,
)
from reconciler.platform.mistral.people import OrgMembers, UserGroups

__all__ = ["MistralClient"]


class MistralClient(
    Workspaces,
    WorkspaceMembers,
    ApiKeys,
    Users,
    OrgMembers,
    UserGroups,
    Organization,
    AuditLogs,
    Inference,
):
    """Async client for the Admin API and the inference API's ``GET /models``.

    Construct it like :class:`~.connection.Connection` (or with ``from_settings``);
    ``transport`` replaces the network, ``sleep`` the wait between retries.
    """
