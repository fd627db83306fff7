"""Versioned JSON rendering of a plan, for machines.

Format (``format_version`` "1.1"), modelled on ``terraform show -json``::

    {
      "format_version": "1.1",
      "target": "...", "provider": "mistral", "desired_path": "...",
      "created_at": "...", "desired_fingerprint": "sha256:...", "live_fingerprint": "sha256:...",
      "checksum": "sha256:...",
      "summary": {"add": 0, "change": 0, "destroy": 0, "manual": 0, "unmanaged": 0,
                  "conflicts": 0, "replace": 0},
      "warnings": [],
      "refusals": [
        {"kind": "delete-share",
         "message": "Too many deletes: 40% is over 30% (4/10); --force required",
         "addresses": ["api_key.old-1", "..."], "force_overrides": true}
      ],
      "resource_changes": [
        {"address": "api_key.dev-alice", "type": "api_key", "name": "dev-alice",
         "live_id": "...", "action_reason": "...", "message": null,
         "change": {"actions": ["create", "delete"], "before": {...}, "after": {...},
                    "after_unknown": {"id": true, "secret": true},
                    "before_sensitive": {}, "after_sensitive": {"secret": true}},
         "fields": [{"path": "expires", "before": "...", "after": "...",
                     "forces_replacement": true}],
         "unchanged_attributes": 2,
         "attribution": {"actor": "dan@acme.example", "at": "...", "event": "...",
                         "note": "changed outside reconciler by dan@acme.example on ..."}}
      ],
      "retiring": [{"address": "api_key.dev-bob", "key_id": "...",
                    "until": "2026-12-03T10:00:00+00:00"}],
      "key_audit": {"summary": {"keys": 20, "flagged": 1, "flags": {"unused": 1, ...}},
                    "keys": [{"address": "api_key.iris-laptop", "flags": ["unused"], ...}]}
    }

``refusals`` are what ``apply`` will refuse to do, found when the plan was made and
enforced by apply from the same data: ``kind`` is ``protected`` (a delete in a
``protected: true`` workspace), ``conflict`` (two live keys with one name),
``delete-share`` (too many keys destroyed, replacements included) or ``expired`` (a key
created, or replaced, with an expiry already past); ``message`` is the
reason, without the address; ``addresses`` the objects it is about (the one object, or
every destroy counted); ``force_overrides`` whether ``apply --force`` lifts it. Empty
when apply may proceed.

``rotation`` is only on a key's rotation (``{"grace_hours": 24}``: how long the old key
lives on once the new one is stored and verified). ``retiring`` lists the old keys of
earlier rotations whose grace has not ended: live, no change, deleted by the first apply
after ``until``.

``attribution`` is only on a change whose object someone changed outside reconciler (from
the platform's audit log); ``key_audit`` lists the keys the key audit flags, without the
secret store's flags (each key as in :mod:`reconciler.render.audit`).

``actions`` are Terraform's (``create``, ``update``, ``delete``, ``["create","delete"]`` for a
replacement that creates first) plus ``manual``, ``unmanaged`` and ``conflict``. A secret is
never present: ``after_sensitive`` marks where one will exist after apply.

Versions: a minor version only adds fields, so a reader of 1.x reads any 1.y. 1.1 added
``refusals``, ``summary.replace`` (how many of ``add`` and ``destroy`` are
replacements), ``attribution`` and ``key_audit``.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any

from reconciler.diff import Action, Change, Kind
from reconciler.model import Attribution
from reconciler.plan import Plan
from reconciler.render.audit import attribution_document, finding_document, summary_document


def _resource(change: Change, attribution: Attribution | None) -> dict[str, Any]:
    creates_key = change.kind is Kind.API_KEY and Action.CREATE in change.actions
    return {
        "address": change.address,
        "type": change.kind.value,
        "name": change.name,
        "live_id": change.live_id,
        "action_reason": change.reason,
        "message": change.message,
        "change": {
            "actions": [a.value for a in change.actions],
            "before": dict(change.before) if change.before is not None else None,
            "after": dict(change.after) if change.after is not None else None,
            "after_unknown": {"id": True, "secret": True} if creates_key else {},
            "before_sensitive": {},
            "after_sensitive": {"secret": True} if creates_key else {},
        },
        "fields": [asdict(f) for f in change.fields],
        "unchanged_attributes": change.unchanged,
        **({"conflicting_ids": list(change.extra_ids)} if change.extra_ids else {}),
        **(
            {"rotation": {"grace_hours": change.grace_hours}}
            if change.grace_hours is not None
            else {}
        ),
        **({"attribution": attribution_document(attribution)} if attribution else {}),
    }


def plan_document(plan: Plan) -> dict[str, Any]:
    who = plan.attributed()
    return {
        "format_version": plan.format_version,
        "target": plan.target,
        "provider": plan.provider,
        "desired_path": plan.desired_path,
        "created_at": plan.created_at,
        "desired_fingerprint": plan.desired_fingerprint,
        "live_fingerprint": plan.live_fingerprint,
        "checksum": plan.checksum(),
        "summary": asdict(plan.summary),
        "warnings": list(plan.warnings),
        "refusals": [r.as_dict() for r in plan.refusals],
        "resource_changes": [_resource(c, who.get(c.address)) for c in plan.changes],
        "retiring": [
            {"address": r.address, "key_id": r.key_id, "until": r.until.isoformat()}
            for r in plan.retiring
        ],
        "key_audit": {
            "summary": summary_document(plan.live_key_count, plan.key_findings),
            "keys": [finding_document(k) for k in plan.key_findings],
        },
    }


def render_json(plan: Plan) -> str:
    return json.dumps(plan_document(plan), indent=2, sort_keys=False, default=str) + "\n"
