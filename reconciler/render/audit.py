"""Renderings of a key audit (:class:`reconciler.audit.AuditReport`): text, Markdown, JSON.

Text lists every key in aligned columns, flagged or not, with who changed it outside
reconciler under its row; Markdown (a pull-request comment or an issue) shows the counts
and the flagged keys, at most :data:`MAX_ROWS` of them; JSON (``format_version`` "1.0")
holds every key, for machines::

    {"format_version": "1.0", "target": "...", "provider": "mistral", "desired_path": "...",
     "generated_at": "...", "thresholds": {"max_age_days": 90, ...}, "secrets_read": true,
     "summary": {"keys": 2, "flagged": 1, "flags": {"unused": 1, ...}}, "warnings": [],
     "keys": [{"address": "api_key.iris-laptop", "name": "...", "workspace": "dev",
               "owner": "...", "key_id": "...", "created": "2026-05-15", "age_days": 200,
               "last_used": "...", "idle_days": 45, "expires": null,
               "expires_in_days": null, "rotation_period_days": 90, "managed": false,
               "secret": null | {"state": "missing", "where": "...", ...},
               "flags": ["unused", "old", "rotation-due", "unmanaged"],
               "attribution": null | {"actor": "...", "at": "...", "event": "...",
                                      "note": "created outside reconciler by ... on ..."},
               "retiring_until": null | "2026-12-03T10:00:00+00:00"}]}

Names, owners and actors come from the platform: text and Markdown escape them
(:mod:`reconciler.textsafe`); JSON escapes by itself. No secret is ever part of an audit.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Sequence
from typing import Any

from pydantic_core import to_json

from reconciler.audit import AuditReport, Flag, KeyAudit, KeyFinding, SecretFact, count_flags
from reconciler.model import Attribution, minute_text
from reconciler.render.markdown import warning_callout
from reconciler.textsafe import for_terminal, inline_code, md_text

FORMAT_VERSION = "1.0"
MARKER = "<!-- reconciler audit -->"
MAX_ROWS = 200  # flagged keys in the Markdown table
ID_SHOWN = 8  # characters of a key id in text and Markdown: tells two keys of one name apart


def _date(value: dt.date | None) -> str | None:
    return value.isoformat() if value is not None else None


def attribution_document(item: Attribution) -> dict[str, Any]:
    return {
        "actor": item.actor,
        "at": item.at.isoformat(),
        "event": item.event,
        "note": item.describe(),
    }


def _secret_document(fact: SecretFact | None) -> dict[str, Any] | None:
    if fact is None:
        return None
    return {  # by hand: dataclasses.asdict deep-copies, thousands of times per audit
        "state": fact.state.value,
        "where": fact.where,
        "stored_key_id": fact.stored_key_id,
        "error": fact.error,
    }


def finding_document(key: KeyFinding) -> dict[str, Any]:
    """One key's finding as JSON-ready data."""
    return {
        "address": key.address,
        "name": key.name,
        "workspace": key.workspace,
        "owner": key.owner,
        "key_id": key.key_id,
        "created": _date(key.created),
        "age_days": key.age_days,
        "last_used": _date(key.last_used),
        "idle_days": key.idle_days,
        "expires": _date(key.expires),
        "expires_in_days": key.expires_in_days,
        "rotation_period_days": key.rotation_period_days,
        "managed": key.managed,
        "secret": _secret_document(key.secret),
        "flags": [flag.value for flag in key.flags],
        "attribution": attribution_document(key.attribution) if key.attribution else None,
        "retiring_until": key.retiring_until.isoformat() if key.retiring_until else None,
    }


def summary_document(total: int, findings: Sequence[KeyFinding]) -> dict[str, Any]:
    """How many keys there are, how many are flagged, and how many carry each flag."""
    return {
        "keys": total,
        "flagged": sum(1 for k in findings if k.flags),
        "flags": {flag.value: n for flag, n in count_flags(findings).items()},
    }


def report_document(report: AuditReport) -> dict[str, Any]:
    """The JSON document as a dictionary."""
    audit = report.audit
    return {
        "format_version": FORMAT_VERSION,
        "target": report.target,
        "provider": report.provider,
        "desired_path": report.desired_path,
        "generated_at": audit.at.isoformat(timespec="seconds"),
        "thresholds": dataclasses.asdict(audit.thresholds),
        "secrets_read": audit.secrets_read,
        "summary": summary_document(len(audit.keys), audit.keys),
        "warnings": list(report.warnings),
        "keys": [finding_document(key) for key in audit.keys],
    }


def render_audit_json(report: AuditReport) -> str:
    # pydantic-core's serialiser: the standard library's indenting encoder is pure Python,
    # seconds for 20,000 keys
    return to_json(report_document(report), indent=2).decode() + "\n"


# --- text and Markdown ------------------------------------------------------------------


def _ago(days: int | None) -> str:
    return "" if days is None else f" ({days}d ago)"


def _cells(key: KeyFinding) -> list[str]:
    """Workspace, key, short key id, owner, age, last used, expires, secret, flags: plain
    text."""
    if key.expires is None or key.expires_in_days is None:
        expires = "-"
    elif key.expires_in_days >= 0:
        expires = f"{key.expires.isoformat()} (in {key.expires_in_days}d)"
    else:
        expires = f"{key.expires.isoformat()} ({-key.expires_in_days}d ago)"
    used = f"{key.last_used.isoformat()}{_ago(key.idle_days)}" if key.last_used else "never"
    return [
        key.workspace,
        key.name,
        key.key_id[:ID_SHOWN] if key.key_id else "-",
        key.owner or "-",
        "-" if key.age_days is None else f"{key.age_days}d",
        used,
        expires,
        key.secret.state.value if key.secret is not None else "-",
        ", ".join(_flag_text(key, flag) for flag in key.flags) or "-",
    ]


def _flag_text(key: KeyFinding, flag: Flag) -> str:
    if flag is Flag.RETIRING and key.retiring_until is not None:
        return f"retiring until {minute_text(key.retiring_until)}"
    return flag.value


_HEADER = ["WORKSPACE", "KEY", "ID", "OWNER", "AGE", "LAST USED", "EXPIRES", "SECRET", "FLAGS"]


def _rules(audit: KeyAudit) -> str:
    t = audit.thresholds
    secrets = "" if audit.secrets_read else "; secrets not read"
    return (
        f"Rules: unused for more than {t.unused_after_days} days, older than "
        f"{t.max_age_days} days, rotation every {t.rotation_period_days} days unless the "
        f"key sets its own, expiring within {t.expiry_warning_days} days{secrets}."
    )


def _tally(audit: KeyAudit) -> str:
    counts = [f"{n} {flag.value}" for flag, n in audit.counts().items() if n]
    noun = "key" if len(audit.keys) == 1 else "keys"
    flagged = f"{len(audit.flagged)} flagged: " + ", ".join(counts) if counts else "none flagged"
    return f"{len(audit.keys)} {noun}, {flagged}."


def render_audit_text(report: AuditReport) -> str:
    """Every key in aligned columns, its attribution under it; counts; warnings."""
    audit = report.audit
    lines = [
        for_terminal(f"Key audit of {report.target} (provider: {report.provider})"),
        f"As of {audit.at.astimezone(dt.UTC).date().isoformat()}. {_rules(audit)}",
    ]
    if report.desired_path:
        lines.insert(1, for_terminal(f"Desired state: {report.desired_path}"))
    lines.append("")
    rows = [[for_terminal(cell) for cell in _cells(key)] for key in audit.keys]
    widths = [max(len(row[i]) for row in [_HEADER, *rows]) for i in range(len(_HEADER))]

    def fmt(row: list[str]) -> str:
        return "  " + "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()

    if rows:
        lines.append(fmt(_HEADER))
    for key, row in zip(audit.keys, rows, strict=True):
        lines.append(fmt(row))
        if key.attribution is not None:
            lines.append(for_terminal(f"      # {key.attribution.describe()}"))
    lines += ["", _tally(audit)]
    lines += [for_terminal(f"Warning: {w}") for w in report.warnings]
    return "\n".join(lines) + "\n"


def _md_cell(text: str, *, code: bool = False) -> str:
    return (inline_code(text) if code else md_text(text)).replace("|", "\\|")


def render_audit_markdown(report: AuditReport, *, marker: str = MARKER) -> str:
    """A Markdown section: counts per flag, then the flagged keys."""
    audit = report.audit
    lines = [
        marker,
        f"### Key audit of {inline_code(report.target)}",
        "",
        f"As of {audit.at.astimezone(dt.UTC).date().isoformat()}. {md_text(_rules(audit))}",
        "",
        f"**{md_text(_tally(audit))}**",
        "",
    ]
    counts = audit.counts()
    lines += [
        "| " + " | ".join(flag.value for flag in Flag) + " |",
        "|" + "---:|" * len(Flag),
        "| " + " | ".join(str(counts[flag]) for flag in Flag) + " |",
        "",
    ]
    flagged = audit.flagged
    if flagged:
        lines.append("| " + " | ".join(h.lower() for h in _HEADER) + " |")
        lines.append("|" + "---|" * len(_HEADER))
        for key in flagged[:MAX_ROWS]:
            cells = _cells(key)
            if key.attribution is not None:
                cells[-1] += f" ({key.attribution.describe()})"
            shown = [_md_cell(c, code=i in (0, 1, 2, 3)) for i, c in enumerate(cells)]
            lines.append("| " + " | ".join(shown) + " |")
        if len(flagged) > MAX_ROWS:
            lines.append(f"\n… and {len(flagged) - MAX_ROWS} more flagged keys (see the JSON).")
        lines.append("")
    lines += warning_callout(report.warnings)
    return "\n".join(lines) + "\n"


def render_audit(report: AuditReport, fmt: str) -> str:
    """Render in ``text``, ``markdown`` or ``json``."""
    if fmt == "json":
        return render_audit_json(report)
    if fmt == "markdown":
        return render_audit_markdown(report)
    return render_audit_text(report)
