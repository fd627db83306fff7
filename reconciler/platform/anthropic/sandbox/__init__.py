"""A local Anthropic organisation that speaks the Admin API's wire format.

- :mod:`.state`     the organisation (users, workspaces, members, keys, spend limits), its
                    demo seed, and its JSON state file
- :mod:`.app`       the Starlette app: ``/v1/organizations/...`` as the Admin API answers,
                    ``/v1/models`` for key checks, and ``/sandbox/console/api_keys``, which
                    stands in for the Console (the only place a key is created)
- :mod:`.serve`     the app in-process (an ASGI transport) or on a loopback port

It shares nothing with :mod:`reconciler.platform.anthropic`'s client but the wire.
"""
