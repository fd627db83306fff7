"""``--target``: a plan restricted to some objects, and the warnings that go with it."""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from dataclasses import replace

from reconciler.errors import ConfigError
from reconciler.model import DesiredState, LiveState
from reconciler.plan.core import Plan, summarize
from reconciler.rails import (
    narrowed,
)


def _selects(target: str, address: str) -> bool:
    """Whether ``--target target`` takes in ``address``: the address itself, an abandoned
    key of that name (``api_key.x[1a2b3c4d]``), or a workspace's members."""
    if address == target or address.startswith(target + "["):
        return True
    return target.startswith("workspace.") and address.startswith(
        "member." + target.removeprefix("workspace.") + "/"
    )


def restrict(plan: Plan, targets: Sequence[str]) -> Plan:
    """Keep only changes whose address equals a target or lies under it (``workspace.dev``
    also selects ``member.dev/...``)."""
    if not targets:
        return plan
    kept = tuple(c for c in plan.changes if any(_selects(t, c.address) for t in targets))
    return replace(
        plan,
        changes=kept,
        summary=summarize(kept),
        refusals=narrowed(
            plan.refusals, kept, plan.live_key_count, plan.delete_limit, plan.live_people_count
        ),
    )


TARGETING_WARNING = (
    "Warning: Resource targeting is in effect. The plan may be incomplete; "
    "use --target only for exceptional situations, not routine operations."
)


def narrow(
    plan: Plan, targets: Sequence[str], desired: DesiredState, live: LiveState
) -> tuple[Plan, tuple[str, ...]]:
    """``--target``: ``plan`` restricted to ``targets``, with the warnings that go with it.

    A target that names no object of either state (a typo, most often) is a
    :class:`ConfigError`, so nobody reads "0 to add" as done; a target whose object has
    nothing to change gets a note.
    """
    if not targets:
        return plan, ()
    known = {"organization", *(c.address for c in plan.changes)}
    for state in (desired, live):
        known.update(w.address for w in state.workspaces)
        known.update(f"workspace_spend_limit.{w.name}" for w in state.workspaces)
        known.update(m.address for m in state.members)
        known.update(k.address for k in state.keys)
    unknown = [t for t in targets if not any(_selects(t, a) for a in known)]
    if unknown:
        named = []
        for target in unknown:
            hint = difflib.get_close_matches(target, sorted(known), n=1)
            named.append(f"--target {target}" + (f" (did you mean {hint[0]}?)" if hint else ""))
        raise ConfigError(
            f"{'; '.join(named)}: no such object in the desired state or on the platform"
        )
    notes = [
        f"Note: --target {target}: nothing to change there."
        for target in targets
        if not restrict(plan, [target]).changes
    ]
    return restrict(plan, targets), (TARGETING_WARNING, *notes)
