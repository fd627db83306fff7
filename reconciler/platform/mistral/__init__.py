"""La Plateforme (Mistral AI) provider: Admin API client, wire models and the adapter.

- :mod:`.settings`     ``MistralSettings``: base URLs, auth scheme and admin key from the env
- :mod:`.wire`         typed response models (the wire format, nothing else)
- :mod:`.client`       ``MistralClient``: every endpoint, made of the four pieces below
- :mod:`.connection`   auth, retry classes, concurrency bound and parsing under every request
- :mod:`.auth`         the key on the wire, and redacted from every error
- :mod:`.paging`       whole listings, page by page, never a partial one
- :mod:`.endpoints`    the endpoints, one class per resource
- :mod:`.normalize`    wire models -> reconciler.model objects; names <-> uuids
- :mod:`.usage`        what a month's usage report costs
- :mod:`.provider`     ``MistralProvider``: the :class:`reconciler.provider.Provider` protocol
"""

from reconciler.platform.mistral.client import MistralClient
from reconciler.platform.mistral.provider import MistralProvider
from reconciler.platform.mistral.settings import MistralSettings

__all__ = ["MistralClient", "MistralProvider", "MistralSettings"]
