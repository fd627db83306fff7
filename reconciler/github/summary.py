"""The Actions job summary: append Markdown to the file named by ``$GITHUB_STEP_SUMMARY``.

GitHub shows at most 1 MiB of summary per step; a longer text is cut at a line boundary
with a note, so the summary still renders instead of being dropped.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from reconciler.env import GITHUB_STEP_SUMMARY
from reconciler.errors import ConfigError

STEP_SUMMARY_LIMIT = 1024 * 1024  # bytes, per step
TRUNCATED = "\n\n_Summary truncated: GitHub shows at most 1 MiB; see the job's artifacts._\n"


def fit(markdown: str, room: int) -> str:
    """``markdown`` cut at a line boundary so its UTF-8 encoding fits in ``room`` bytes."""
    if len(markdown.encode("utf-8")) <= room:
        return markdown
    budget = room - len(TRUNCATED.encode("utf-8"))
    if budget <= 0:
        return ""
    out: list[str] = []
    used = 0
    for line in markdown.splitlines(keepends=True):
        size = len(line.encode("utf-8"))
        if used + size > budget:
            break
        out.append(line)
        used += size
    return "".join(out) + TRUNCATED


def write_step_summary(markdown: str, env: Mapping[str, str] | None = None) -> Path | None:
    """Append ``markdown`` to the step summary; None when not in Actions (or no room left)."""
    source = os.environ if env is None else env
    name = source.get(GITHUB_STEP_SUMMARY)
    if not name:
        return None
    path = Path(name)
    try:
        used = path.stat().st_size if path.exists() else 0
        text = fit(
            markdown if markdown.endswith("\n") else markdown + "\n", STEP_SUMMARY_LIMIT - used
        )
        if not text:
            return None
        with path.open("a", encoding="utf-8") as handle:
            handle.write(text)
    except OSError as exc:
        raise ConfigError(f"cannot write the step summary {path}: {exc.strerror}") from None
    return path
