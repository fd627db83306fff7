"""Seeds for large organisations (benchmarks): N workspaces, M keys, deterministic.

Workspace ``i`` is ``team-0001``...; it has an admin and two more members drawn from the
user pool, and keys are spread round-robin over workspaces, each owned by one of its
workspace's members. Ages, last use and expiry vary pseudo-randomly from ``seed``.
Written as JSON, one object per line, whatever the file's extension (JSON is valid
YAML); :func:`reconciler.platform.sandbox.seed.load_seed` reads it with the JSON parser.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

from reconciler.platform.vocabulary import DEFAULT_ORGANIZATION_ROLE, ORGANIZATION_ADMIN_ROLE

_MODELS = ("mistral-small-latest", "codestral-latest", "mistral-medium-latest")


def generate_seed(
    *, workspaces: int, keys: int, users: int | None = None, seed: int = 0
) -> dict[str, Any]:
    """A seed document (plain data) for an organisation of the given size."""
    if workspaces < 1 or keys < 0:
        raise ValueError("need at least one workspace and a non-negative number of keys")
    rng = random.Random(seed)  # noqa: S311 - reproducible test data
    user_count = users if users is not None else max(10, workspaces * 2)
    emails = [f"user{i:05d}@bench.example" for i in range(user_count)]
    user_docs = [
        {
            "email": email,
            "first_name": "User",
            "last_name": f"{i:05d}",
            "role": ORGANIZATION_ADMIN_ROLE if i == 0 else DEFAULT_ORGANIZATION_ROLE,
            "created_days_ago": rng.randint(30, 900),
        }
        for i, email in enumerate(emails)
    ]
    ws_docs: list[dict[str, Any]] = [
        {
            "name": "Default Workspace",
            "is_default": True,
            "members": {emails[0]: "workspace_admin"},
        }
    ]
    ws_members: list[list[str]] = []
    for i in range(workspaces):
        picked = list(dict.fromkeys(emails[(i * 3 + j) % user_count] for j in range(3)))
        ws_members.append(picked)
        ws_docs.append(
            {
                "name": f"team-{i + 1:04d}",
                "description": f"Team {i + 1}",
                "spend_limit": rng.choice([None, 100, 500, 1000]),
                "created_days_ago": rng.randint(30, 700),
                "members": {
                    email: "workspace_admin" if j == 0 else "user" for j, email in enumerate(picked)
                },
            }
        )
    key_docs = []
    for k in range(keys):
        w = k % workspaces
        created = rng.randint(0, 365)
        key: dict[str, Any] = {
            "name": f"team-{w + 1:04d}-key-{k // workspaces + 1:03d}",
            "workspace": f"team-{w + 1:04d}",
            "owner": ws_members[w][k // workspaces % len(ws_members[w])],
            "created_days_ago": created,
        }
        if rng.random() < 0.8:
            key["last_used_days_ago"] = rng.randint(0, created)
        if rng.random() < 0.3:
            key["expires_in_days"] = rng.randint(1, 365)
        key_docs.append(key)
    usage = [
        {
            "workspace": f"team-{i + 1:04d}",
            "model": _MODELS[i % len(_MODELS)],
            "input_tokens": rng.randint(0, 50_000_000),
            "output_tokens": rng.randint(0, 10_000_000),
        }
        for i in range(workspaces)
    ]
    return {
        "version": 1,
        "organization": {"name": "Bench Org", "spend_limit": 100_000},
        "users": user_docs,
        "workspaces": ws_docs,
        "keys": key_docs,
        "usage": usage,
    }


def write_seed(doc: dict[str, Any], out: Path) -> None:
    """Write a seed as JSON with one object per line.

    JSON is a subset of YAML, so the same text serves a ``.yaml`` file, and it loads with
    the JSON parser (a YAML parser needs seconds for 20,000 keys).
    """
    out.parent.mkdir(parents=True, exist_ok=True)
    parts = []
    for name, value in doc.items():
        if isinstance(value, list) and value:
            items = ",\n".join("  " + json.dumps(item, separators=(", ", ": ")) for item in value)
            parts.append(f"{json.dumps(name)}: [\n{items}\n]")
        else:
            parts.append(f"{json.dumps(name)}: {json.dumps(value)}")
    out.write_text("{\n" + ",\n".join(parts) + "\n}\n", "utf-8")
