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
         "unchanged_attributes": 2}
      ]
    }

``refusals`` are what ``apply`` will refuse to do, found when the plan was made and
enforced by apply from the same data: ``kind`` is ``protected`` (a delete in a
``protected: true`` workspace), ``conflict`` (two live keys with one name) or
``delete-share`` (too many keys destroyed, replacements included); ``message`` is the
reason, without the address; ``addresses`` the objects it is about (the one object, or
every destroy counted); ``force_overrides`` whether ``apply --force`` lifts it. Empty
when apply may proceed.

``actions`` are Terraform's (``create``, ``update``, ``delete``, ``["create","delete"]`` for a
replacement that creates first) plus ``manual``, ``unmanaged`` and ``conflict``. A secret is
never present: ``after_sensitive`` marks where one will exist after apply.

Versions: a minor version only adds fields, so a reader of 1.x reads any 1.y. 1.1 added
``refusals`` and ``summary.replace`` (how many of ``add`` and ``destroy`` are
replacements).
"""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any

from reconciler.diff import Action, Change, Kind
from reconciler.plan import Plan


def _resource(change: Change) -> dict[str, Any]:
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
    }


def plan_document(plan: Plan) -> dict[str, Any]:
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
        "resource_changes": [_resource(c) for c in plan.changes],
    }


def render_json(plan: Plan) -> str:
    return json.dumps(plan_document(plan), indent=2, sort_keys=False, default=str) + "\n"
