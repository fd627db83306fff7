"""The order an apply carries out a plan's changes in: its steps, grouped into phases.

Order: the organisation, then workspaces (create, update), then groups, invitations and
people's roles (:mod:`.people`), then members (add or update, then remove), then keys are
created (replacements included), then keys' statuses set, then keys are deleted (the old
halves of replacements included, so a replacement never leaves a workspace without a
working key), then people are removed, invitations cancelled and groups deleted, then
workspaces are archived. A rotation's old key (a replacement with ``grace_hours``) is not
deleted here but by a later apply (:mod:`reconciler.apply.rotation`).

Each phase depends on the ones before it; the steps of one phase do not depend on each
other (:mod:`reconciler.apply.engine` runs them concurrently). Pure: no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass

from reconciler.apply import people
from reconciler.diff import Action, Change, Kind

CREATE_PHASE = 4  # keys are created (see :func:`steps`)
KEY_STATUS_PHASE = 4.5  # keys' statuses are set, after the creates, before the deletes


@dataclass(frozen=True, slots=True)
class Step:
    """One remote operation: a change, or one half (create or delete) of a replacement."""

    phase: float
    change: Change
    action: Action


def steps(changes: tuple[Change, ...]) -> list[Step]:
    """The plan's actionable changes as steps, in the safe order."""
    out: list[Step] = []
    for c in changes:
        if not c.is_actionable:
            continue
        if c.kind in people.PEOPLE_KINDS:
            out.extend(Step(phase, c, action) for phase, action in people.phases(c))
        elif c.kind is Kind.ORGANIZATION:
            out.append(Step(0, c, Action.UPDATE))
        elif c.kind is Kind.WORKSPACE:
            if Action.DELETE in c.actions:
                out.append(Step(7, c, Action.DELETE))
            else:
                out.append(Step(1, c, c.actions[0]))
        elif c.kind is Kind.MEMBER:
            if Action.DELETE in c.actions:
                out.append(Step(3, c, Action.DELETE))
            else:
                out.append(Step(2, c, c.actions[0]))
        elif c.kind is Kind.API_KEY:
            if Action.UPDATE in c.actions:
                out.append(Step(KEY_STATUS_PHASE, c, Action.UPDATE))
            if Action.CREATE in c.actions:
                out.append(Step(CREATE_PHASE, c, Action.CREATE))
            if Action.DELETE in c.actions and not c.grace_hours:  # a rotation's: later
                out.append(Step(5, c, Action.DELETE))
    return sorted(out, key=lambda s: (s.phase, s.change.address))


def phases(changes: tuple[Change, ...]) -> list[list[Step]]:
    """The steps in the safe order, grouped by phase: each phase depends on the ones
    before it, the steps of one phase do not depend on each other."""
    grouped: dict[float, list[Step]] = {}
    for step in steps(changes):
        grouped.setdefault(step.phase, []).append(step)
    return list(grouped.values())
