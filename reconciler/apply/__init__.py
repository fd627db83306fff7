"""Executing plans: the journal, the apply lock and the engine that orders remote changes."""

DEFAULT_PARALLELISM = 8  # independent steps of one apply phase in flight at once
