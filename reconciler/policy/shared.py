"""Open a usage store shared by processes or hosts from where it is, as a user writes it.

A ``postgresql://`` (or ``postgres://``) URL, or a libpq ``key=value`` string naming a
``host``/``dbname``, is a :class:`~reconciler.policy.postgres.PostgresStore` (a fleet);
anything else is the path of a :class:`~reconciler.policy.sqlite.SQLiteStore` file (one
host). The command line's ``--store`` takes either.
"""

from __future__ import annotations

import re

from reconciler.policy.store import UsageStore

_POSTGRES = re.compile(r"(postgres(ql)?://|.*\b(host|dbname|service)=)", re.IGNORECASE)


def open_store(location: str) -> UsageStore:
    """The shared store at ``location``: a PostgreSQL URL or connection string, else a file."""
    if _POSTGRES.match(location):
        from reconciler.policy.postgres import PostgresStore

        return PostgresStore(location)
    from reconciler.policy.sqlite import SQLiteStore

    return SQLiteStore(location)


def describe_store(location: str) -> str:
    """How to name the store at ``location`` in output: a database without its password."""
    if _POSTGRES.match(location):
        from reconciler.policy.postgres import describe

        return describe(location)
    return location
