"""The key audit as a user reads it: text columns, a Markdown section, a JSON document."""

from __future__ import annotations

import datetime as dt
import json

from reconciler.audit import AuditReport, Flag, SecretFact, SecretState, audit_keys
from reconciler.model import ApiKey, Attribution, DesiredState, LiveState, Organization
from reconciler.render.audit import (
    MAX_ROWS,
    render_audit,
    render_audit_json,
    render_audit_markdown,
    render_audit_text,
)

NOW = dt.datetime(2026, 3, 15, 9, 30, tzinfo=dt.UTC)
HOSTILE = "evil\x1b[31m|`name`"


def report(
    *, warnings: tuple[str, ...] = (), keys: tuple[ApiKey, ...] | None = None
) -> AuditReport:
    live = keys or (
        ApiKey(
            name="dev-alice",
            workspace="dev",
            owner="alice@acme.example",
            id="k-alice",
            created_at=NOW - dt.timedelta(days=20),
            last_used=dt.date(2026, 3, 14),
            expires=dt.date(2026, 3, 20),
        ),
        ApiKey(
            name="iris-laptop",
            workspace="dev",
            owner="iris@acme.example",
            id="k-iris",
            created_at=NOW - dt.timedelta(days=200),
            last_used=dt.date(2026, 1, 29),
        ),
    )
    desired = DesiredState(
        organization=Organization(name="Acme"),
        keys=(ApiKey(name="dev-alice", workspace="dev"),),
    )
    iris = Attribution(
        address="api_key.iris-laptop",
        actor="iris@acme.example",
        at=NOW - dt.timedelta(days=200),
        event="api_key.create",
    )
    audit = audit_keys(
        desired,
        LiveState(keys=live),
        now=NOW,
        secrets={"k-alice": SecretFact(SecretState.MISSING, where="file vault: dev/dev-alice")},
        attributions={"api_key.iris-laptop": iris},
    )
    return AuditReport("sandbox (test)", "mistral", "desired-state", audit, warnings)


def test_text_lists_every_key_with_its_facts_and_flags() -> None:
    text = render_audit_text(report(warnings=("1 secret(s) could not be read",)))
    lines = text.splitlines()
    assert lines[0] == "Key audit of sandbox (test) (provider: mistral)"
    assert lines[1] == "Desired state: desired-state"
    assert lines[2].startswith("As of 2026-03-15. Rules: unused for more than 30 days")
    header = lines[4].split()
    assert header == [
        "WORKSPACE",
        "KEY",
        "ID",
        "OWNER",
        "AGE",
        "LAST",
        "USED",
        "EXPIRES",
        "SECRET",
        "FLAGS",
    ]
    assert lines[5].split() == [
        "dev",
        "dev-alice",
        "k-alice",
        "alice@acme.example",
        "20d",
        "2026-03-14",
        "(1d",
        "ago)",
        "2026-03-20",
        "(in",
        "5d)",
        "missing",
        "expiring,",
        "secret-missing",
    ]
    assert lines[6].split()[:5] == ["dev", "iris-laptop", "k-iris", "iris@acme.example", "200d"]
    assert lines[6].endswith("-        unused, old, rotation-due, unmanaged")
    assert lines[7] == "      # created outside reconciler by iris@acme.example on 2025-08-27"
    assert lines[-2] == (
        "2 keys, 2 flagged: 1 unused, 1 old, 1 rotation-due, 1 expiring, 1 unmanaged, "
        "1 secret-missing."
    )
    assert lines[-1] == "Warning: 1 secret(s) could not be read"


def test_markdown_counts_every_flag_and_lists_the_flagged_keys() -> None:
    md = render_audit_markdown(report())
    lines = md.splitlines()
    assert lines[0] == "<!-- reconciler audit -->"
    assert lines[1] == "### Key audit of `sandbox (test)`"
    assert "**2 keys, 2 flagged: 1 unused, 1 old, 1 rotation-due, 1 expiring, 1 unmanaged, " in md
    counts = lines.index(
        "| unused | old | rotation-due | expiring | expired | unmanaged | secret-missing "
        "| secret-mismatch | secret-unreadable | retiring |"
    )
    assert lines[counts + 2] == "| 1 | 1 | 1 | 1 | 0 | 1 | 1 | 0 | 0 | 0 |"
    assert (
        "| `dev` | `iris-laptop` | `k-iris` | `iris@acme.example` | 200d | 2026-01-29 (45d ago) "
        "| - | - | unused, old, rotation-due, unmanaged (created outside reconciler by "
        "iris@acme.example on 2025-08-27) |"
    ) in lines


def test_markdown_lists_at_most_max_rows_flagged_keys() -> None:
    keys = tuple(
        ApiKey(name=f"k{i:04d}", workspace="dev", id=f"id{i}", created_at=NOW - dt.timedelta(400))
        for i in range(MAX_ROWS + 5)
    )
    md = render_audit_markdown(report(keys=keys))
    assert "`k0199`" in md and "`k0200`" not in md
    assert "… and 5 more flagged keys (see the JSON)." in md


def test_live_names_cannot_reach_a_terminal_or_break_a_table() -> None:
    keys = (ApiKey(name=HOSTILE, workspace="dev|x", id="k", created_at=NOW),)
    text = render_audit_text(report(keys=keys))
    assert "\x1b" not in text and "evil\\x1b[31m|`name`" in text
    md = render_audit_markdown(report(keys=keys))
    row = next(line for line in md.splitlines() if "evil" in line)
    assert "\x1b" not in row
    assert row.count(" | ") == 8  # nine cells: every pipe inside one is escaped
    assert "`` evil\\x1b[31m\\|`name` ``" in row


def test_json_holds_every_key_and_no_secret() -> None:
    doc = json.loads(render_audit_json(report()))
    assert doc["format_version"] == "1.0"
    assert doc["thresholds"] == {
        "max_age_days": 90,
        "unused_after_days": 30,
        "expiry_warning_days": 14,
        "rotation_period_days": 90,
    }
    assert doc["summary"]["keys"] == 2 and doc["summary"]["flagged"] == 2
    assert doc["summary"]["flags"]["secret-missing"] == 1
    alice, iris = doc["keys"]
    assert alice["secret"] == {
        "state": "missing",
        "where": "file vault: dev/dev-alice",
        "stored_key_id": None,
        "error": None,
    }
    assert alice["expires_in_days"] == 5 and alice["flags"] == ["expiring", "secret-missing"]
    assert iris["managed"] is False and iris["secret"] is None
    assert iris["attribution"]["note"] == (
        "created outside reconciler by iris@acme.example on 2025-08-27"
    )
    assert render_audit(report(), "json") == render_audit_json(report())


def test_a_rotations_old_key_is_retiring_until_its_grace_ends_not_due_nor_mismatched() -> None:
    old = ApiKey(
        name="dev-alice",
        workspace="dev",
        id="k-old",
        created_at=NOW - dt.timedelta(days=95),
        last_used=dt.date(2026, 3, 15),
    )
    new = old.model_copy(update={"id": "k-new", "created_at": NOW})
    desired = DesiredState(
        organization=Organization(name="Acme"),
        keys=(ApiKey(name="dev-alice", workspace="dev"),),
    )
    until = NOW + dt.timedelta(hours=23, minutes=30)
    audit = audit_keys(
        desired,
        LiveState(keys=(old, new)),
        now=NOW,
        secrets={  # the path holds the new key's secret: no mismatch for the old one
            "k-old": SecretFact(SecretState.MISMATCHED, where="file vault: dev/dev-alice"),
            "k-new": SecretFact(SecretState.STORED, where="file vault: dev/dev-alice"),
        },
        retiring={"k-old": until},
    )
    rendered = AuditReport("sandbox (test)", "mistral", "desired-state", audit, ())
    by_id = {k.key_id: k for k in audit.keys}
    assert by_id["k-old"].flags == (Flag.OLD, Flag.RETIRING)  # not rotation-due: replaced
    assert by_id["k-new"].flags == ()
    text = render_audit_text(rendered)
    assert "old, retiring until 2026-03-16 09:00 UTC" in text
    assert "1 retiring" in text
    # the two rows of one name are told apart by key id; the old one's secret is the
    # previous version of its successor's entry, not a mismatch
    rows = {line.split()[2]: line for line in text.splitlines() if "dev-alice" in line}
    assert sorted(rows) == ["k-new", "k-old"]
    assert "previous version" in rows["k-old"] and "mismatched" not in text
    assert " stored " in rows["k-new"]
    markdown = render_audit_markdown(rendered)
    assert "| `dev` | `dev-alice` | `k-old` |" in markdown
    assert "previous version" in markdown and "mismatched" not in markdown
    document = json.loads(render_audit_json(rendered))
    keys = {k["key_id"]: k for k in document["keys"]}
    assert keys["k-old"]["retiring_until"] == "2026-03-16T09:00:00+00:00"
    assert keys["k-new"]["retiring_until"] is None
    assert document["summary"]["flags"]["retiring"] == 1
    assert keys["k-old"]["secret"]["state"] == "previous version"
