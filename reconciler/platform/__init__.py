"""Platform providers: the La Plateforme Admin API client and its local sandbox.

``reconciler.platform.mistral`` is the only code that knows the Admin API's wire format;
``reconciler.platform.sandbox`` is a local server that speaks the same API.
"""
