"""Anthropic: the Admin API client, its wire models and the provider adapter.

- :mod:`.vocabulary`  Console workspace roles and the shipped model catalog (static data)
- :mod:`.plugin`      Anthropic as a registered :class:`~reconciler.providers.ProviderSpec`
- :mod:`.settings`    ``AnthropicSettings``: base URL and admin key from the environment
- :mod:`.wire`        typed request and response models (the wire format, nothing else)
- :mod:`.client`      ``AnthropicClient``: headers, retries, cursor paging, the endpoints
- :mod:`.provider`    ``AnthropicProvider``: the :class:`reconciler.provider.Provider` protocol

Importing this package loads no HTTP client: :mod:`reconciler.platform` registers the
plug-in from :mod:`.plugin`, which imports the rest only when a provider is opened.
"""
