"""The key audit's warnings in a plan: one line per flag some key carries, saying how
many keys and naming the first few."""

from __future__ import annotations

from collections.abc import Sequence

from reconciler.audit import Flag, KeyAudit

NAMES_SHOWN = 3  # key names in one summary line, before "and N more"


def summary_lines(audit: KeyAudit, *, flags: Sequence[Flag] = tuple(Flag)) -> list[str]:
    """One short line per flag some key carries: how many keys, and the first names.

    ``Key audit: 2 keys unused for more than 30 days (old-ci, iris-laptop)``.
    """
    counts = dict.fromkeys(flags, 0)
    named: dict[Flag, list[str]] = {flag: [] for flag in flags}  # the first few of each
    for key in audit.keys:
        for flag in key.flags:
            if flag in counts:
                counts[flag] += 1
                if counts[flag] <= NAMES_SHOWN:
                    named[flag].append(key.name or key.key_id or "?")
    lines = []
    for flag, count in counts.items():
        if not count:
            continue
        shown = ", ".join(named[flag])
        if count > NAMES_SHOWN:
            shown += f" and {count - NAMES_SHOWN} more"
        noun = "key" if count == 1 else "keys"
        lines.append(f"Key audit: {count} {noun} {audit.thresholds.describe(flag)} ({shown})")
    return lines
