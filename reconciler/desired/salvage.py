"""A file with shape errors, repaired just enough to run the cross-field checks on it.

Without this, one unknown field in ``workspaces/dev.yaml`` would hide every other problem
of that file (an expired key, a role that does not exist, a duplicate key name) until
the unknown field was fixed: the user would fix problems one run at a time.

After the shape errors have been reported, :func:`salvage` removes from a copy of the
data what pydantic refused, but only where the removal cannot invent a problem:

- an unknown field (it meant nothing);
- a field whose default can only make the later checks say less (``INERT``): a bad
  ``rpm`` or ``expires`` is simply not checked further;
- a key's ``role`` or ``secret`` as a whole (``TAINTED``), so their checks do not run on
  defaults: a bad ``secret.backend`` never turns into "repository applies only to
  github"; and a key whose secret was refused claims no secret destination
  (``Source.refused``), so it never collides with another key's.

Anything else (a missing required field, a bad name, e-mail or list item, a bad
``vault.backend``) gives up: the file is skipped by the later checks, as before. A
salvaged document is never turned into a desired state: the file has errors.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ValidationError

from reconciler.desired.problems import Loc

# Field paths ("*" matches any key or index) whose removal is safe, by prefix.
INERT: tuple[Loc, ...] = (
    ("organization", "spend_limit"),
    ("organization", "keys", "max_age_days"),
    ("organization", "keys", "unused_after_days"),
    ("organization", "keys", "rotation_period_days"),
    ("organization", "keys", "rotation_grace_hours"),
    ("organization", "keys", "platform_max_expiry_days"),
    ("organization", "vault", "address"),
    ("organization", "vault", "namespace"),
    ("organization", "vault", "mount"),
    ("organization", "vault", "path_prefix"),
    ("organization", "vault", "auth"),
    ("organization", "vault", "role"),
    ("organization", "safety"),
    ("roles", "*", "description"),
    ("roles", "*", "rpm"),
    ("roles", "*", "max_tokens_per_request"),
    ("roles", "*", "daily_token_budget"),
    ("roles", "*", "hourly_budget_usd"),
    ("roles", "*", "daily_budget_usd"),
    ("roles", "*", "monthly_budget_usd"),
    ("workspace", "description"),
    ("workspace", "policy"),
    ("workspace", "protected"),
    ("workspace", "prune_unmanaged_keys"),
    ("workspace", "archived"),
    ("workspace", "members", "*", "roles"),
    ("workspace", "api_keys", "*", "description"),
    ("workspace", "api_keys", "*", "expires"),
    ("workspace", "api_keys", "*", "rotation_period_days"),
    ("workspace", "api_keys", "*", "rotation_grace_hours"),
    ("workspace", "api_keys", "*", "policy"),
)
# Field paths removed as a whole (the matched prefix), whose defaults the checks must not
# rely on.
TAINTED: tuple[Loc, ...] = (
    ("workspace", "api_keys", "*", "role"),
    ("workspace", "api_keys", "*", "secret"),
)
MAX_ROUNDS = 4  # removing a field can reveal a model-level error one level up


def _match(path: Loc, patterns: tuple[Loc, ...]) -> Loc | None:
    """The prefix of ``path`` that one of ``patterns`` matches, if any."""
    for pattern in patterns:
        if len(path) >= len(pattern) and all(
            p == "*" or p == part for p, part in zip(pattern, path, strict=False)
        ):
            return path[: len(pattern)]
    return None


def _copy(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy(v) for v in value]
    return value


def _remove(data: Any, path: Loc) -> bool:
    """Delete the mapping entry at ``path``; False if there is none."""
    node = data
    for part in path[:-1]:
        inside = (isinstance(node, dict) and part in node) or (
            isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node)
        )
        if not inside:
            return False
        node = node[part]
    if isinstance(node, dict) and path and path[-1] in node:
        del node[path[-1]]
        return True
    return False


def _field(loc: Loc) -> Loc:
    """The mapping field an error is about: ``policy.allowed_models[2]`` -> the list."""
    end = len(loc)
    while end > 0 and isinstance(loc[end - 1], int):
        end -= 1
    return loc[:end]


def salvage(model_cls: type[BaseModel], data: Any) -> tuple[BaseModel, tuple[Loc, ...]] | None:
    """The document validated from ``data`` minus what it refused, and the tainted places.

    None when the refused parts cannot be removed without inventing problems.
    """
    repaired = _copy(data)
    tainted: list[Loc] = []
    for _ in range(MAX_ROUNDS):
        try:
            return model_cls.model_validate(repaired), tuple(tainted)
        except ValidationError as exc:
            errors = exc.errors(include_url=False)
        removed: list[Loc] = []
        for error in errors:
            loc: Loc = tuple(error["loc"])
            if error["type"] == "missing" or "[key]" in loc:
                return None
            if error["type"] == "extra_forbidden":
                path = loc
            elif _match(_field(loc), INERT) is not None:
                path = _field(loc)
            elif (unit := _match(_field(loc), TAINTED)) is not None:
                path = unit
                tainted.append(unit)
            else:
                return None
            if any(path[: len(done)] == done for done in removed):
                continue  # inside what this round removed already
            if not _remove(repaired, path):
                return None
            removed.append(path)
    return None
