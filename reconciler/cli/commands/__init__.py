"""The commands of ``reconciler``, one module per group (registered by
:mod:`reconciler.cli.main`)."""
