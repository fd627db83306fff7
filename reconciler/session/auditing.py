"""A session's audit: every live key against the hygiene rules and its secret store.

:meth:`Auditing.audit` shares the one read of the live state with plans
(:mod:`reconciler.session.planning`) and adds what the secret stores hold for each
managed key. It changes nothing.
"""

from __future__ import annotations

import asyncio

from reconciler.audit import (
    AuditReport,
    latest_outside,
    unreadable_secrets,
)
from reconciler.plan import key_audit, unmanaged_key_ids
from reconciler.provider import ProgressCallback
from reconciler.session.planning import Planning
from reconciler.session.target import DEFAULT_ATTRIBUTION_DAYS
from reconciler.vault.facts import as_recorded, read_stored, secret_facts


class Auditing(Planning):
    """The audit of every live key (read only)."""

    async def audit(
        self,
        progress: ProgressCallback | None = None,
        *,
        days: int = DEFAULT_ATTRIBUTION_DAYS,
        concurrency: int = 16,
    ) -> AuditReport:
        """Every live key against the desired state's hygiene rules and its secret store
        (read only). ``days``: of the audit log; ``concurrency``: store reads at once."""
        desired = self.load_desired()
        self.refuse_file_vault(desired, writing=False)  # read only: its note comes with the plan
        # The stores are read while the platform is: both only wait, mostly.
        route = self.router(desired)
        reading = asyncio.ensure_future(read_stored(desired.keys, route, concurrency=concurrency))
        try:
            ctx = await self._plan(
                desired, progress, operation="audit", attribution_days=days, stored=reading
            )
        except BaseException:
            reading.cancel()
            await asyncio.gather(reading, return_exceptions=True)
            raise
        live = ctx.live
        unmanaged = unmanaged_key_ids(ctx.plan.changes)
        found = secret_facts(live.keys, await reading, unmanaged)
        ownership = ctx.ownership.facts if ctx.ownership is not None else None
        facts = {
            key.id: fact
            for key in live.keys
            if key.id is not None
            and (fact := as_recorded(found.get(key.id), key, ownership)) is not None
        }
        audit = key_audit(
            desired,
            live,
            ctx.plan.changes,
            now=self.clock(),
            secrets=facts,
            attributions=latest_outside(ctx.attributions),
            retiring=ctx.plan.retiring,
        )
        notes = (*ctx.notes, *unreadable_secrets(facts))
        where = str(self.desired_dir)
        return AuditReport(live.target, self.provider.name, where, audit, notes, live.requests)
