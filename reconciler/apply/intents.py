"""The journal's create intents of one phase of creates, announced a window at a time.

Every key create is announced in the :class:`~reconciler.apply.journal.Journal` before it
is sent. Announced one by one, each create would wait for its own fsync; here the first
create of a window announces the intents of the next ``window`` creates of the phase (in
plan order) in one write and one fsync, and the creates of that window wait for that
write, not for one each. A create is never sent before its intent is durable.

An intent announced whose create was never sent (the apply stopped first, or a rotation
could not read its path) is answered ``key-create-skipped`` when the phase ends, so the
journal does not take it for a create whose answer was lost. A crash leaves at most one
window of intents unsent and unanswered: recovery looks for a key each may have made
(:meth:`~reconciler.apply.journal.Journal.abandoned_keys`) and finds none.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from reconciler.apply.journal import Journal

INTENT = "key-create-intent"


class CreateIntents:
    """The create intents of one phase: ``intents`` maps each create's address to the
    fields of its intent, in the order the creates are taken."""

    def __init__(self, journal: Journal, intents: dict[str, dict[str, Any]], window: int) -> None:
        self.journal = journal
        self.intents = intents
        self.order: Sequence[str] = list(intents)
        self._position = {address: index for index, address in enumerate(self.order)}
        self.window = max(1, window)
        self._writes: dict[str, asyncio.Future[None]] = {}  # address -> write announcing it
        self._sent: set[str] = set()

    async def before_create(self, address: str) -> None:
        """Return once the intent of the create at ``address`` is durable, announcing it
        (with the next ones of the phase not yet announced) if no write has; the create
        then counts as sent."""
        write = self._writes.get(address)
        if write is None:
            start = self._position[address]
            batch = [address]
            for later in self.order[start + 1 : start + self.window]:
                if later in self._writes:
                    break
                batch.append(later)
            write = asyncio.ensure_future(
                self.journal.arecord_many([(INTENT, self.intents[a]) for a in batch])
            )
            for announced in batch:
                self._writes[announced] = write
        await asyncio.shield(write)  # a cancelled create leaves the others' write be
        self._sent.add(address)

    def close(self) -> None:
        """At the end of the phase: answer the intents announced whose create was never
        sent (made durable by the next record waited for)."""
        for address, write in self._writes.items():
            if address in self._sent or not write.done() or write.cancelled():
                continue
            if write.exception() is not None:
                continue  # the write failed: the intent may not be in the journal at all
            fields = self.intents[address]
            self.journal.note(
                "key-create-skipped", apply_id=fields["apply_id"], intent=fields["intent"]
            )
