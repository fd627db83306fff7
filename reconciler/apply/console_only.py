"""Changes the platform refused for this organisation, remembered for the next plans.

An organisation whose plan lacks an API access (Anthropic's spend-limit writes are an
early-access preview: a 403 says so) cannot make that change through the API; apply
reports it as a manual action (:class:`~reconciler.errors.ConsoleOnly`), and it is
written here so the next plans show it as one (``!``, with the console step) instead of
planning an API change that will be refused. One small JSON file per organisation in the
state directory, beside the journal (CI keeps both between runs): address -> the message and
when it was refused. An entry is forgotten after :data:`REMEMBER`, so an access granted
later is used: the plan after that tries the API again.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from pathlib import Path

from reconciler.identity import identity_slug
from reconciler.private_paths import private_folder, replace_file

REMEMBER = dt.timedelta(days=30)


def refusals_path(state_dir: Path, identity: str) -> Path:
    """The refusals remembered for one organisation (its target and pinned id or name)."""
    return state_dir / f"console-only-{identity_slug(identity)}.json"


def _entries(path: Path) -> dict[str, dict[str, str]]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}  # none yet, or unreadable: the plan then tries the API, which says again
    if not isinstance(data, dict):
        return {}
    return {
        str(address): {"message": str(entry["message"]), "at": str(entry["at"])}
        for address, entry in data.items()
        if isinstance(entry, dict) and "message" in entry and "at" in entry
    }


def _fresh(entry: Mapping[str, str], now: dt.datetime) -> bool:
    try:
        at = dt.datetime.fromisoformat(entry["at"])
    except ValueError:
        return False
    return now - at < REMEMBER


def remembered(path: Path, now: dt.datetime) -> dict[str, str]:
    """Address -> message of each refusal younger than :data:`REMEMBER`."""
    return {a: e["message"] for a, e in _entries(path).items() if _fresh(e, now)}


def remember(path: Path, refused: Mapping[str, str], now: dt.datetime) -> None:
    """Add ``refused`` (address -> message) to what ``path`` remembers, atomically."""
    if not refused:
        return
    entries = {a: e for a, e in _entries(path).items() if _fresh(e, now)}
    at = now.isoformat(timespec="seconds")
    entries.update({a: {"message": m, "at": at} for a, m in refused.items()})
    private_folder(path.parent)
    replace_file(path, json.dumps(entries, indent=2, sort_keys=True).encode())
