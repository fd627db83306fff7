"""Wiring for one run against one target: provider, secret stores, journal, plan, apply.

A :class:`Session` opens the desired state's provider (looked up by the name
``organization.yaml`` gives it, in :mod:`reconciler.providers`) for the chosen target (its
sandbox, or the platform through the environment's settings), the secret stores the
desired state names (or the ``--vault`` override), and the journal of that target. Its
parts, one module each:

- :mod:`~reconciler.session.target`: where a run goes (:class:`TargetOptions`), the
  provider and default store it opens, and :func:`force_unlock`;
- :mod:`~reconciler.session.core`: the provider, the stores, the journal;
- :mod:`~reconciler.session.planning`: :meth:`Session.plan`, the one read of the live
  state that plan, apply and audit share;
- :mod:`~reconciler.session.auditing`: :meth:`Session.audit`;
- :mod:`~reconciler.session.applying`: :meth:`Session.apply`, the one path of an apply;
- :mod:`~reconciler.session.importing`: :meth:`Session.import_organization`.
"""

from __future__ import annotations

from reconciler.session.applying import (
    Applying,
    ApplyListener,
    ApplyOutcome,
    Approve,
    audit_log_path,
    new_apply_id,
)
from reconciler.session.auditing import Auditing
from reconciler.session.importing import Importing, ImportOutcome
from reconciler.session.planning import PlanContext
from reconciler.session.target import (
    DEFAULT_ATTRIBUTION_DAYS,
    DEFAULT_SANDBOX_STATE,
    DEFAULT_SANDBOX_VAULT,
    DEFAULT_STATE_DIR,
    TargetOptions,
    force_unlock,
    open_default_store,
    open_provider,
)

__all__ = [
    "DEFAULT_ATTRIBUTION_DAYS",
    "DEFAULT_SANDBOX_STATE",
    "DEFAULT_SANDBOX_VAULT",
    "DEFAULT_STATE_DIR",
    "ApplyListener",
    "ApplyOutcome",
    "Approve",
    "ImportOutcome",
    "PlanContext",
    "Session",
    "TargetOptions",
    "audit_log_path",
    "force_unlock",
    "new_apply_id",
    "open_default_store",
    "open_provider",
]


class Session(Applying, Auditing, Importing):
    """One run against one target. Use as ``async with Session(...) as session``."""
