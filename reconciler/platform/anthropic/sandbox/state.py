"""The sandbox organisation: plain JSON-ready records, a demo seed, and the state file.

Ids are tagged as the API tags them (``user_``, ``wrkspc_``, ``apikey_``, ``spl_``) and
numbered, so listings sort by id. Every mutation is saved (atomically) before the app
answers, so the next process sees it. Key secrets are kept only as hashes.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import os
import secrets
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reconciler.private_paths import private_folder

Record = dict[str, Any]
DEFAULT_STATE_PATH = Path(".sandbox/state.anthropic.json")
# how long before the sandbox is seeded its demo objects were made: dated from the
# clock, so the demo (a key inside its 90-day rotation period) reads the same on any day
SEEDED_DAYS_AGO = 60


def state_file(sandbox_state: Path) -> Path:
    """The Anthropic organisation's file beside a sandbox state file (never that file: the
    La Plateforme sandbox keeps its own there)."""
    return sandbox_state.with_suffix(".anthropic.json")


def now() -> str:
    return _text(dt.datetime.now(dt.UTC))


def start() -> str:
    """When the demo organisation's objects were made: :data:`SEEDED_DAYS_AGO` days ago,
    at 09:00 UTC."""
    day = dt.datetime.now(dt.UTC) - dt.timedelta(days=SEEDED_DAYS_AGO)
    return _text(day.replace(hour=9, minute=0, second=0, microsecond=0))


def key_status(record: Record) -> str:
    """A key's status as the API reports it now: ``expired`` once its ``expires_at`` has
    passed (unless archived, which is final), else the status it was given."""
    expires = record.get("expires_at")
    if record["status"] == "archived" or not expires:
        return str(record["status"])
    ends = dt.datetime.fromisoformat(str(expires).replace("Z", "+00:00"))
    return "expired" if ends <= dt.datetime.now(dt.UTC) else str(record["status"])


def _text(moment: dt.datetime) -> str:
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _workspace(wid: str, name: str, *, tags: Record | None = None) -> Record:
    return {
        "id": wid,
        "type": "workspace",
        "name": name,
        "display_color": "#6C5BB9",
        "created_at": start(),
        "archived_at": None,
        "tags": tags or {},
        "data_residency": {
            "workspace_geo": "us",
            "allowed_inference_geos": "unrestricted",
            "default_inference_geo": "global",
        },
        "external_key_id": None,
        "user_profile_id": None,
        "compartment_id": f"cmpt_{wid}",
    }


def _user(uid: str, email: str, role: str) -> Record:
    name = email.split("@")[0].capitalize()
    return {
        "id": uid,
        "type": "user",
        "email": email,
        "name": name,
        "role": role,
        "added_at": start(),
    }


def _rate_limit(gid: str, kind: str, name: str | None, models: list[str] | None) -> Record:
    return {
        "id": gid.replace("rlg", "rl"),
        "type": "rate_limit",
        "group": {"id": gid, "type": kind, "display_name": name},
        "models": models,
        "limits": [
            {"type": "requests_per_minute", "value": 4000},
            {"type": "output_tokens_per_minute", "value": 400000},
        ],
    }


def demo() -> Record:
    """Acme: three people, a hidden default workspace, ``research`` with one key."""
    return {
        "organization": {
            "id": "8c9a3f2e-0000-4000-8000-00000000ac3e",
            "name": "Acme (sandbox)",
            "type": "organization",
        },
        "counter": 10,
        "users": [
            _user("user_01", "ada@acme.example", "admin"),
            _user("user_02", "ben@acme.example", "developer"),
            _user("user_03", "cy@acme.example", "user"),
        ],
        "invites": [],
        "workspaces": [
            {**_workspace("wrkspc_00", "Default"), "default": True},
            _workspace("wrkspc_01", "research", tags={"description": "Model evaluation"}),
        ],
        "members": [
            {
                "type": "workspace_member",
                "user_id": "user_01",
                "workspace_id": "wrkspc_01",
                "workspace_role": "workspace_admin",
            },
            {
                "type": "workspace_member",
                "user_id": "user_02",
                "workspace_id": "wrkspc_01",
                "workspace_role": "workspace_developer",
            },
        ],
        "keys": [
            {
                "id": "apikey_01",
                "type": "api_key",
                "name": "research-batch",
                "status": "active",
                "created_at": start(),
                "expires_at": None,
                "partial_key_hint": "sk-ant-api03-dem...oAA",
                "created_by": {"id": "user_01", "type": "user"},
                "principal": None,
                "scope": {"type": "workspace", "workspace_id": "wrkspc_01"},
                "secret_sha256": digest("sk-ant-api03-demo-research-batch"),
            }
        ],
        # the organisation's rate limits (read-only; workspaces override them)
        "rate_limits": [
            _rate_limit("rlg_01", "model_group", "Claude Sonnet", ["claude-sonnet-4-5"]),
            _rate_limit("rlg_02", "batch", None, None),
        ],
        # spend so far this month, per workspace, in US cents (the cost report's unit)
        "cost_cents": {"wrkspc_01": "4250.5"},
        "spend_limits": [
            {
                "id": "spl_01",
                "type": "spend_limit",
                "amount": "100000",
                "currency": "USD",
                "is_enabled": True,
                "period": "monthly",
                "scope": {"type": "organization"},
                "created_at": start(),
                "updated_at": start(),
            }
        ],
    }


@dataclass
class Organisation:
    """The sandbox's whole state, and where it is saved (None: memory only)."""

    data: Record
    path: Path | None = None

    @classmethod
    def open(cls, path: Path | None, seed: Record | None = None) -> Organisation:
        if path is not None and path.exists():
            return cls(json.loads(path.read_text("utf-8")), path)
        org = cls(seed if seed is not None else demo(), path)
        org.save()
        return org

    def save(self) -> None:
        if self.path is None:
            return
        private_folder(self.path.parent)
        # mkstemp makes the file mode 600: the state holds the organisation's key digests
        fd, temp = tempfile.mkstemp(prefix=f".{self.path.name}.", dir=self.path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(self.data, handle, indent=1)
            os.replace(temp, self.path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temp)
            raise

    def new_id(self, prefix: str) -> str:
        self.data["counter"] += 1
        return f"{prefix}_{self.data['counter']:02d}"

    def accept_invite(self, email: str) -> Record | None:
        """What the invited person does: the pending invitation for ``email`` (any case)
        becomes a member with its role, and the invitation is accepted; None without one."""
        wanted = email.strip().lower()
        pending = (i for i in self.data.setdefault("invites", []) if i["status"] == "pending")
        invite = next((i for i in pending if i["email"].lower() == wanted), None)
        if invite is None:
            return None
        invite["status"] = "accepted"
        user = _user(self.new_id("user"), invite["email"], invite["role"])
        user["added_at"] = now()
        self.data["users"].append(user)
        self.save()
        return user

    def find(self, kind: str, oid: str) -> Record | None:
        return next((r for r in self.data[kind] if r["id"] == oid), None)

    def workspace(self, name: str, tags: Record | None = None) -> Record:
        record = _workspace(self.new_id("wrkspc"), name, tags=tags)
        record["created_at"] = now()
        self.data["workspaces"].append(record)
        return record

    def console_key(
        self, name: str, workspace_id: str, user_id: str, expires_at: str | None = None
    ) -> tuple[Record, str]:
        """What the Console does: a new key and its secret, shown once; ``expires_at``:
        the moment it expires (the Console's expiration), or never."""
        secret = "sk-ant-api03-" + secrets.token_urlsafe(24)
        record = {
            "id": self.new_id("apikey"),
            "type": "api_key",
            "name": name,
            "status": "active",
            "created_at": now(),
            "expires_at": expires_at,
            "partial_key_hint": f"{secret[:16]}...{secret[-3:]}",
            "created_by": {"id": user_id, "type": "user"},
            "principal": None,
            "scope": {"type": "workspace", "workspace_id": workspace_id},
            "secret_sha256": digest(secret),
        }
        self.data["keys"].append(record)
        return record, secret
