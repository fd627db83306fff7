"""Plans: ordered changes, counts, fingerprints, refusals, and saved plan files.

A :class:`Plan` is pure data built from :func:`reconciler.diff.diff`. It records the
fingerprints of the desired and the live state it was made from, so a saved plan
(``plan --out FILE``) can be refused at apply time when either has changed since (a
stale plan), and a checksum of its changes, so a reviewer can pin what they approved.

The safety rails are found when the plan is made (:mod:`reconciler.rails`): a plan
carries the :class:`~reconciler.rails.Refusal` s apply will enforce (a delete in a
protected workspace, too large a share of keys destroyed, a conflict), so every render
of it shows them, and a saved plan keeps them.

Beside its changes, a plan carries the live keys the key audit flags (:mod:`reconciler.audit`,
with what the secret stores hold when the caller read them: :func:`key_audit`, the one
computation ``reconciler audit`` makes too), one warning line per flag, and who last
changed an object outside reconciler (attributions, given by the caller; the diff stays
pure): neither is part of the checksum nor of a saved plan.

:mod:`.core` makes a plan, :mod:`.fingerprints` fingerprints its states, :mod:`.targets`
restricts it (``--target``) and :mod:`.files` saves, reads and checks plan files.
"""

from reconciler.plan.core import (
    PLAN_FORMAT_VERSION,
    WARN,
    Plan,
    Summary,
    key_audit,
    make_plan,
    summarize,
    unmanaged_key_ids,
)
from reconciler.plan.files import (
    check_saved,
    from_dict,
    load,
    plan_differences,
    save,
    stale_reasons,
    to_dict,
)
from reconciler.plan.fingerprints import Fingerprints, desired_fingerprint, live_fingerprint
from reconciler.plan.targets import TARGETING_WARNING, narrow, restrict

__all__ = [
    "PLAN_FORMAT_VERSION",
    "TARGETING_WARNING",
    "WARN",
    "Fingerprints",
    "Plan",
    "Summary",
    "check_saved",
    "desired_fingerprint",
    "from_dict",
    "key_audit",
    "live_fingerprint",
    "load",
    "make_plan",
    "narrow",
    "plan_differences",
    "restrict",
    "save",
    "stale_reasons",
    "summarize",
    "to_dict",
    "unmanaged_key_ids",
]
