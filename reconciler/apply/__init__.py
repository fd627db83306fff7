"""Executing plans: the journal, the apply lock and the engine that orders remote changes."""
