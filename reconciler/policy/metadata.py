"""A key's vault metadata (a flat string map) read back as a one-key desired state.

When ``apply`` stores a key's secret it writes the key's effective policy beside it as
string metadata (Vault ``custom_metadata``): ``key_name``, ``workspace``, ``role``,
``allowed_models`` (comma-separated), ``max_tokens_per_request``, ``daily_token_budget``,
``rpm`` and ``monthly_budget_usd``. An application that only has its own key's vault
entry builds its :class:`~reconciler.policy.Policy` from that, without the repository:
from the metadata map itself, or from the entry a secret store's ``read_metadata`` returns.

Absent or empty numbers mean no limit. ``allowed_models`` absent means any model;
present but empty means none. ``name`` and ``key`` are accepted for ``key_name``.
Anything malformed is a :class:`~reconciler.errors.ConfigError` naming the field.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from reconciler.errors import ConfigError
from reconciler.model import UNLIMITED, ApiKey, DesiredState, Role, Workspace, WorkspacePolicy

_NONE = frozenset({"", "none", "null", "unlimited", "-"})


def state_from_key_metadata(metadata: Mapping[str, str] | Any) -> DesiredState:
    """A desired state holding one key, its role and its workspace's policy."""
    values = _as_mapping(metadata)
    name = _text(values, "key_name") or _text(values, "name") or _text(values, "key")
    if not name:
        raise ConfigError("key metadata: field 'key_name' is missing")
    workspace = _text(values, "workspace") or "default"
    role_name = _text(values, "role") or name
    raw_models = values.get("allowed_models")
    models = (UNLIMITED,) if raw_models is None else _models(str(raw_models))
    try:
        role = Role(
            name=role_name,
            allowed_models=models,
            max_tokens_per_request=_whole(values, "max_tokens_per_request"),
            daily_token_budget=_whole(values, "daily_token_budget"),
        )
        space = Workspace(
            name=workspace,
            policy=WorkspacePolicy(
                rpm=_whole(values, "rpm"), monthly_budget_usd=_money(values, "monthly_budget_usd")
            ),
        )
        key = ApiKey(name=name, workspace=workspace, role=role_name)
    except ValueError as exc:  # pydantic's ValidationError is a ValueError
        raise ConfigError(f"key metadata for {name!r} is invalid: {exc}") from exc
    return DesiredState(roles=(role,), workspaces=(space,), keys=(key,))


def _as_mapping(metadata: Mapping[str, str] | Any) -> Mapping[str, Any]:
    if isinstance(metadata, Mapping):
        return metadata
    inner = getattr(metadata, "metadata", None)  # a vault entry (``StoredSecret``)
    if inner is not None and inner is not metadata:
        return _as_mapping(inner)
    as_strings = getattr(metadata, "as_strings", None)
    if callable(as_strings):
        result = as_strings()
        if isinstance(result, Mapping):
            return result
    raise ConfigError(f"key metadata must be a string map, got {type(metadata).__name__}")


def _text(values: Mapping[str, Any], field: str) -> str:
    value = values.get(field)
    return "" if value is None else str(value).strip()


def _whole(values: Mapping[str, Any], field: str) -> int | None:
    text = _text(values, field)
    if text.lower() in _NONE:
        return None
    try:
        number = int(text.replace("_", "").replace(",", ""))
    except ValueError:
        number = -1
    if number < 0:
        raise ConfigError(
            f"key metadata field {field!r}: expected a whole number >= 0, got {text!r}"
        )
    return number


def _money(values: Mapping[str, Any], field: str) -> Decimal | None:
    text = _text(values, field)
    if text.lower() in _NONE:
        return None
    try:
        amount = Decimal(text)
    except InvalidOperation:
        amount = Decimal(-1)
    if not amount.is_finite() or amount < 0:
        raise ConfigError(
            f"key metadata field {field!r}: expected an amount in USD >= 0, got {text!r}"
        )
    return amount


def _models(text: str) -> tuple[str, ...]:
    text = text.strip()
    if text.startswith("["):
        try:
            value = json.loads(text)
        except ValueError:
            value = None
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ConfigError(
                f"key metadata field 'allowed_models': expected names separated by commas "
                f"or a JSON list of names, got {text[:60]!r}"
            )
        return tuple(v.strip() for v in value if v.strip())
    return tuple(part.strip() for part in text.split(",") if part.strip())
