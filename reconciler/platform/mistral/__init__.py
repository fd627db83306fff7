"""La Plateforme (Mistral AI) provider: Admin API client, wire models and the adapter.

- :mod:`.settings`  ``MistralSettings``: base URLs, auth scheme and admin key from the env
- :mod:`.wire`      typed response models (the wire format, nothing else)
- :mod:`.client`    ``MistralClient``: every endpoint, retries, pagination, concurrency
- :mod:`.usage`     what a month's usage report costs
- :mod:`.provider`  ``MistralProvider``: the :class:`reconciler.provider.Provider` protocol
"""

from reconciler.platform.mistral.client import MistralClient
from reconciler.platform.mistral.provider import MistralProvider
from reconciler.platform.mistral.settings import MistralSettings

__all__ = ["MistralClient", "MistralProvider", "MistralSettings"]
