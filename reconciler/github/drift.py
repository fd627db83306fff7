"""Drift issues: one open GitHub issue per drifted target, kept in step with the live state.

Input is a plan JSON document (``reconciler plan --format json``, see
:mod:`reconciler.render.json`). Its changes are sorted into driftctl's classes:

- **missing**: in the desired state, not on the platform: most often not applied yet (a
  merge whose apply has not run or failed), sometimes deleted outside;
- **unmanaged**: on the platform, not in the desired state (``delete`` when apply will
  remove it, ``unmanaged`` when it is left alone);
- **changed**: on both sides, different (updates, replacements, manual console changes,
  a workspace archived in the desired state but active);
- **conflicts**: ambiguous live objects a person must resolve.

There is drift when apply would change something, a manual change is due, or there is a
conflict; objects merely left alone count only with ``unmanaged_is_drift``. A change whose
object someone changed outside reconciler says who and when (the plan's attribution from
the platform's audit log), people, invitations and groups are listed in a section of their
own (:mod:`.drift_people`; a pending invitation is not drift), and the keys the plan's
key audit flags are listed after the changes (:mod:`.drift_keys`); flags alone are not
drift.

The issue carries the label (default ``reconciler-drift``) and a hidden marker with the
target (``<!-- reconciler drift: TARGET -->``). Each run: create it when drift appears,
update its body, reopen a closed one instead of opening a duplicate (and close any
duplicate a race left behind), and close it with a comment when the drift is gone; the
notes it leaves say whether drift is back or a person closed the issue while it remained
(:mod:`.drift_notes`).

No secret can reach an issue: only addresses, reasons, field paths and non-sensitive
values are used, sensitive fields print as ``(sensitive value)``, free text is scrubbed.
Nor can a live name shape it: addresses and the target are inline code, the rest is
escaped prose (:mod:`reconciler.textsafe`).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from reconciler.errors import ConfigError, InvalidRequest, NotFound, scrub
from reconciler.github.client import GitHubClient, check_repository
from reconciler.github.comments import check_author, login_of
from reconciler.github.drift_keys import (
    FlaggedKey,
    attribution_note,
    flagged_keys,
    flagged_section,
)
from reconciler.github.drift_notes import PERMISSION, close_issue, no_drift_note, reopen_note
from reconciler.github.drift_people import is_people, people_section
from reconciler.textsafe import for_terminal, inline_code, md_text

LABEL = "reconciler-drift"
LABEL_COLOR = "d93f0b"
MAX_ITEMS = 200  # per class, in the issue body
MAX_BODY = 65_000
CLASSES = ("missing", "unmanaged", "changed", "conflict")
_HEADINGS = {
    "missing": "Not applied yet: in the desired state, not on the platform",
    "unmanaged": "Unmanaged: on the platform, not in the desired state",
    "changed": "Changed outside the desired state",
    "conflict": "Conflicts to resolve by hand",
}
_SENSITIVE = re.compile(r"(?i)secret|token|password|credential|private")


@dataclass(frozen=True, slots=True)
class DriftItem:
    address: str
    drift_class: str  # missing | unmanaged | changed | conflict
    actions: tuple[str, ...]
    detail: str  # what differs and what apply will do, one line
    manual: str | None = None  # console instruction for a manual change


@dataclass(frozen=True, slots=True)
class DriftReport:
    target: str
    desired_path: str | None
    summary: Mapping[str, int]
    items: tuple[DriftItem, ...]
    warnings: tuple[str, ...]
    unmanaged_is_drift: bool = False
    flagged_keys: tuple[FlaggedKey, ...] = ()

    @property
    def has_drift(self) -> bool:
        for item in self.items:
            if item.drift_class != "unmanaged" or self.unmanaged_is_drift:
                return True
            if "delete" in item.actions:
                return True
        return False

    def by_class(self, name: str) -> list[DriftItem]:
        return [i for i in self.items if i.drift_class == name]

    def sentence(self) -> str:
        """The summary line: never "No changes" above a list of changes."""
        s = self.summary
        add, change, destroy = s.get("add", 0), s.get("change", 0), s.get("destroy", 0)
        manual, conflicts = s.get("manual", 0), s.get("conflicts", 0)
        if add or change or destroy:
            text = f"Plan: {add} to add, {change} to change, {destroy} to destroy."
        elif self.items:
            text = "Nothing to apply through the Admin API."
        else:
            return "No changes. Your infrastructure matches the configuration."
        also = [
            f"{n} {what}{'' if n == 1 else 's'} {where}"
            for n, what, where in (
                (manual, "manual change", "to make in the admin console"),
                (conflicts, "conflict", "to resolve by hand"),
            )
            if n
        ]
        return text + (f" Also: {'; '.join(also)}." if also else "")


# --- reading the plan document -----------------------------------------------------------


def _need(data: Any, field: str, kind: type | tuple[type, ...], where: str) -> Any:
    if not isinstance(data, Mapping) or field not in data:
        raise ConfigError(f"{where}: missing field {field!r}: not a reconciler plan JSON document")
    value = data[field]
    if not isinstance(value, kind):
        names = " or ".join(t.__name__ for t in (kind if isinstance(kind, tuple) else (kind,)))
        raise ConfigError(f"{where}: field {field!r} must be {names}")
    return value


def load_plan_document(text: str, *, source: str) -> dict[str, Any]:
    """Parse plan JSON; a ConfigError names the file, line and column, or the field."""
    if not text.strip():
        raise ConfigError(f"{source}: empty: expected the output of reconciler plan --format json")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{source}:{exc.lineno}:{exc.colno}: not valid JSON: {exc.msg}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: expected a JSON object (a reconciler plan document)")
    version = _need(data, "format_version", str, source)
    if not version.startswith("1."):
        raise ConfigError(f"{source}: format_version {version!r} is not supported (expected 1.x)")
    return data


def _value(path: str, value: Any) -> str:
    if _SENSITIVE.search(path):
        return "(sensitive value)"
    return scrub(json.dumps(value, ensure_ascii=False, default=str))


def _fields(change: Mapping[str, Any], where: str) -> str:
    fields = change.get("fields") or []
    if not isinstance(fields, list):
        raise ConfigError(f"{where}: field 'fields' must be list")
    shown = []
    for f in fields:
        if isinstance(f, Mapping) and isinstance(f.get("path"), str):
            path = f["path"]
            if f.get("element"):  # one element of a collection added or removed
                added = f.get("before") is None
                value = _value(path, f.get("after") if added else f.get("before"))
                shown.append(f"{path}: {'+' if added else '−'} {value}")
            else:
                shown.append(
                    f"{path}: {_value(path, f.get('before'))} → {_value(path, f.get('after'))}"
                )
    return "; ".join(shown)


def _classify(actions: Sequence[str], reason: str) -> str | None:
    acts = set(actions)
    if not acts or acts <= {"no-op", "pending"}:
        return None  # nothing to do, or under way outside reconciler (an invitation)
    if "conflict" in acts:
        return "conflict"
    if acts == {"create"}:
        return "missing"
    if acts == {"unmanaged"}:
        return "unmanaged"
    if acts == {"delete"}:
        return "changed" if "archived" in reason else "unmanaged"
    return "changed"


def _detail(cls: str, actions: Sequence[str], reason: str, fields: str) -> str:
    acts = set(actions)
    if cls == "missing":
        text = "apply will create it"
    elif cls == "unmanaged":
        text = "apply will delete it" if "delete" in acts else "left alone"
    elif cls == "conflict":
        text = "apply is blocked until it is resolved"
    elif "manual" in acts:
        text = "change it in the admin console"
    elif "create" in acts and "delete" in acts:
        text = "apply will replace it"
    elif acts == {"delete"}:
        text = "apply will archive it"
    else:
        text = "apply will update it"
    if reason.endswith(text):  # "not in desired state; left alone": said once
        reason = reason.removesuffix(text).rstrip("; ")
    parts = [p for p in (fields, reason) if p]
    return text + (f" ({'; '.join(parts)})" if parts else "")


def report_from_document(
    doc: Mapping[str, Any], *, source: str = "plan", unmanaged_is_drift: bool = False
) -> DriftReport:
    """Sort a plan document's changes into drift classes."""
    target = _need(doc, "target", str, source)
    changes = _need(doc, "resource_changes", list, source)
    summary_raw = _need(doc, "summary", dict, source)
    summary = {k: v for k, v in summary_raw.items() if isinstance(v, int)}
    warnings = doc.get("warnings")
    warnings = warnings if isinstance(warnings, list) else []
    desired_path = doc.get("desired_path")
    items: list[DriftItem] = []
    for index, rc in enumerate(changes):
        where = f"{source}: resource_changes[{index}]"
        address = _need(rc, "address", str, where)
        change = _need(rc, "change", dict, where)
        actions = _need(change, "actions", list, f"{where}.change")
        acts = tuple(str(a) for a in actions)
        reason = scrub(str(rc.get("action_reason") or ""))
        cls = _classify(acts, reason)
        if cls is None:
            continue
        fields = _fields(rc, where)
        message = rc.get("message")
        manual = scrub(message) if "manual" in acts and isinstance(message, str) else None
        detail = _detail(cls, acts, reason, fields)
        note = attribution_note(rc.get("attribution"))
        detail += f"; {note}" if note else ""
        items.append(DriftItem(address, cls, acts, detail, manual))
    return DriftReport(
        target=target,
        desired_path=desired_path if isinstance(desired_path, str) else None,
        summary=summary,
        items=tuple(items),
        warnings=tuple(scrub(str(w)) for w in warnings),
        unmanaged_is_drift=unmanaged_is_drift,
        flagged_keys=flagged_keys(doc),
    )


# --- the issue ---------------------------------------------------------------------------


def drift_marker(target: str) -> str:
    """The hidden line that ties an issue to one target."""
    safe = re.sub(r"\s+", " ", for_terminal(target)).replace("--", "-").replace(">", "")
    return f"<!-- reconciler drift: {safe.strip()} -->"


def issue_title(report: DriftReport) -> str:
    return for_terminal(f"Drift detected: {report.target}")[:250]


def issue_body(
    report: DriftReport, *, run_url: str | None = None, now: dt.datetime | None = None
) -> str:
    """The issue's Markdown: summary, changes by class, manual actions, warnings."""
    when = (now or dt.datetime.now(dt.UTC)).strftime("%Y-%m-%d %H:%M UTC")
    checked = f"[this run]({run_url})" if run_url else "a scheduled plan"
    where = f" from {inline_code(report.desired_path)}" if report.desired_path else ""
    lines = [
        drift_marker(report.target),
        f"The live organisation {inline_code(report.target)} no longer matches the desired "
        f"state{where}.",
        f"Last checked {when} by {checked}.",
        "",
        f"**{report.sentence()}**",
        "",
        "| not applied yet | unmanaged | changed | conflicts | manual |",
        "|---:|---:|---:|---:|---:|",
        "| "
        + " | ".join(str(len(report.by_class(c))) for c in CLASSES)
        + f" | {sum(1 for i in report.items if i.manual)} |",
        "",
    ]
    for cls in CLASSES:
        items = [i for i in report.by_class(cls) if not is_people(i.address)]
        if not items:
            continue
        lines.append(f"### {_HEADINGS[cls]} ({len(items)})")
        lines.append("")
        lines.extend(f"- {inline_code(i.address)}: {md_text(i.detail)}" for i in items[:MAX_ITEMS])
        if len(items) > MAX_ITEMS:
            lines.append(f"- … and {len(items) - MAX_ITEMS} more (see the workflow run)")
        lines.append("")
    people = [(i.address, i.detail) for i in report.items if is_people(i.address)]
    lines.extend(people_section(people, limit=MAX_ITEMS))
    lines.extend(flagged_section(report.flagged_keys, limit=MAX_ITEMS))
    manual = [i for i in report.items if i.manual]
    if manual:
        lines.append("### Manual actions in the admin console")
        lines.append("")
        lines.append("The Admin API cannot make these changes; make them by hand:")
        lines.append("")
        lines.extend(
            f"- [ ] {inline_code(i.address)}: {md_text(i.manual or '')}" for i in manual[:MAX_ITEMS]
        )
        lines.append("")
    if report.warnings:
        lines.append("### Warnings")
        lines.append("")
        lines.extend(f"- {md_text(w)}" for w in report.warnings[:MAX_ITEMS])
        lines.append("")
    lines.append(
        "To resolve: apply the desired state (merge a pull request to the default branch, "
        "or run the apply workflow by hand, which plans, then by hand again with input "
        "`plan-run` naming that run, which applies what it planned), or change the desired "
        "state to accept what is live. This issue is updated by each check and closed when "
        "a check finds no drift."
    )
    body = "\n".join(lines) + "\n"
    if len(body) > MAX_BODY:
        body = body[: MAX_BODY - 80].rsplit("\n", 1)[0] + "\n\n_… cut: see the workflow run._\n"
    return body


@dataclass(frozen=True, slots=True)
class DriftOutcome:
    action: str  # created | updated | unchanged | reopened | closed | none
    number: int | None = None
    url: str = ""
    duplicates_closed: tuple[int, ...] = ()

    def describe(self, target: str) -> str:
        if self.action == "none":
            return f"No drift on {target}."
        if self.action == "closed":
            return f"No drift on {target}: closed issue #{self.number}: {self.url}"
        text = f"Drift on {target}: issue #{self.number} {self.action}: {self.url}"
        if self.duplicates_closed:
            text += "; closed duplicates " + ", ".join(f"#{n}" for n in self.duplicates_closed)
        return text


async def find_drift_issues(
    client: GitHubClient, repository: str, *, target: str, label: str, author: str | None = None
) -> list[Mapping[str, Any]]:
    """Issues (open or closed) with the label and this target's marker as their first
    line (further down, it may be a live name the issue lists), oldest first; ``author``:
    opened by this login only (anyone who may label issues can open one that looks like
    ours)."""
    issues = await client.paginate(
        f"/repos/{repository}/issues",
        params={"labels": label, "state": "all", "sort": "created", "direction": "asc"},
        permission=PERMISSION,
    )
    wanted = drift_marker(target)
    mine = [
        i
        for i in issues
        if isinstance(i, Mapping)
        and "pull_request" not in i
        and isinstance(i.get("number"), int)
        and str(i.get("body") or "").split("\n", 1)[0].strip() == wanted
        and (author is None or login_of(i) == author)
    ]
    return sorted(mine, key=lambda i: int(i["number"]))


async def _ensure_label(client: GitHubClient, repository: str, label: str) -> None:
    try:
        await client.request(
            "GET", f"/repos/{repository}/labels/{quote(label, safe='')}", permission=PERMISSION
        )
    except NotFound:
        with contextlib.suppress(InvalidRequest):  # 422: created meanwhile
            await client.request(
                "POST",
                f"/repos/{repository}/labels",
                json={
                    "name": label,
                    "color": LABEL_COLOR,
                    "description": "The live organisation differs from the desired state",
                },
                permission=PERMISSION,
            )


async def sync_drift_issue(
    client: GitHubClient,
    repository: str,
    report: DriftReport,
    *,
    label: str = LABEL,
    run_url: str | None = None,
    now: dt.datetime | None = None,
    author: str | None = None,
) -> DriftOutcome:
    """Create, update, reopen or close the target's drift issue; never a second one
    (``author``: see :func:`find_drift_issues`)."""
    repository = check_repository(repository, what="--repo")
    if not label.strip() or "," in label:
        raise ConfigError(f"--label {label!r}: one label name, without commas")
    issues = await find_drift_issues(
        client, repository, target=report.target, label=label, author=author
    )
    opened = [i for i in issues if i.get("state") == "open"]
    base = f"/repos/{repository}/issues"
    when = (now or dt.datetime.now(dt.UTC)).strftime("%Y-%m-%d %H:%M UTC")
    seen = f" ([run]({run_url}))" if run_url else ""
    if not report.has_drift:
        if not opened:
            return DriftOutcome("none")
        for issue in opened:
            note = no_drift_note(f"{when}{seen}")
            await close_issue(client, base, int(issue["number"]), note, "completed")
        first = opened[0]
        return DriftOutcome("closed", int(first["number"]), _url(first))
    title = issue_title(report)
    body = issue_body(report, run_url=run_url, now=now)
    duplicates: list[int] = []
    if opened:
        keep = opened[0]
        number = int(keep["number"])
        for dupe in opened[1:]:
            dupe_number = int(dupe["number"])
            await close_issue(client, base, dupe_number, f"Duplicate of #{number}.", "not_planned")
            duplicates.append(dupe_number)
        if keep.get("body") == body and keep.get("title") == title:
            return DriftOutcome("unchanged", number, _url(keep), tuple(duplicates))
        await client.request(
            "PATCH", f"{base}/{number}", json={"title": title, "body": body}, permission=PERMISSION
        )
        return DriftOutcome("updated", number, _url(keep), tuple(duplicates))
    if issues:
        keep = issues[-1]  # the most recent closed one
        number = int(keep["number"])
        await client.request(
            "PATCH",
            f"{base}/{number}",
            json={"state": "open", "title": title, "body": body},
            permission=PERMISSION,
        )
        note = await reopen_note(client, base, number, f"{when}{seen}")
        await client.request(
            "POST", f"{base}/{number}/comments", json={"body": note}, permission=PERMISSION
        )
        return DriftOutcome("reopened", number, _url(keep))
    await _ensure_label(client, repository, label)
    data = await client.json(
        "POST", base, json={"title": title, "body": body, "labels": [label]}, permission=PERMISSION
    )
    created = data.get("number") if isinstance(data, Mapping) else None
    check_author(data, author, what=f"issue {_url(data) or created}")
    return DriftOutcome("created", created if isinstance(created, int) else None, _url(data))


def _url(data: Any) -> str:
    if isinstance(data, Mapping) and isinstance(data.get("html_url"), str):
        return str(data["html_url"])
    return ""
