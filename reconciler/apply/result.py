"""What an apply reports: the counts of what it did, and the error it stops with.

:class:`ApplyResult` is filled in step by step as an apply runs
(:mod:`reconciler.apply.engine`, :mod:`reconciler.apply.keys`); an apply that stops
part-way raises :class:`ApplyError`, which carries the result so far.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from reconciler.diff import RetiringKey
from reconciler.errors import ReconcilerError
from reconciler.model import minute_text


@dataclass
class ApplyResult:
    """What an apply did; the counts match the plan's summary when it completes, but for
    the old keys of rotations with a grace: the plan counts them destroyed, the apply
    ``retiring`` (deleted by a later apply)."""

    added: int = 0
    changed: int = 0
    destroyed: int = 0
    stored: list[str] = field(default_factory=list)  # "store description: path" per secret
    # address -> why: changes the platform refused for this organisation (ConsoleOnly)
    console_only: dict[str, str] = field(default_factory=dict)
    retiring: list[RetiringKey] = field(default_factory=list)

    def sentence(self) -> str:
        done = (
            f"Apply complete! Resources: {self.added} added, {self.changed} changed, "
            f"{self.destroyed} destroyed"
        )
        if not self.retiring:
            return done + "."
        last = max(r.until for r in self.retiring)
        if len(self.retiring) == 1:
            waiting = f"1 key retiring until {minute_text(last)}"
        elif all(r.until == last for r in self.retiring):
            waiting = f"{len(self.retiring)} keys retiring until {minute_text(last)}"
        else:
            waiting = f"{len(self.retiring)} keys retiring, the last until {minute_text(last)}"
        return f"{done}; {waiting} (deleted by the first apply after that)."


class ApplyError(ReconcilerError):
    """An apply stopped part-way; ``result`` holds what was done before it stopped."""

    def __init__(self, message: str, result: ApplyResult) -> None:
        self.result = result
        super().__init__(message)
