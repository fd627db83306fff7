"""``secret put``: which live key a secret is stored for, and what is refused."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from pydantic import SecretStr

from reconciler.apply.secret_put import put_secret
from reconciler.errors import ConfigError
from reconciler.model import ApiKey, LiveState
from reconciler.vault.file import FileVault
from tests.apply.fakes import OLD, FakeProvider, desired_org, live_org

SECRET = "Abcd-new-secret-of-dev-alice-Wxyz"
OLD_SECRET = "Oldk-old-secret-of-dev-alice-Old9"


def rotating() -> LiveState:
    """dev-alice during a rotation's grace: the new key and the old one, both live."""
    base = live_org()
    old = base.keys[0].model_copy(update={"hidden_key": "Oldk...Old9"})
    new = ApiKey(
        name="dev-alice",
        workspace="dev",
        owner="alice@acme.example",
        id="k-alice-2",
        created_at=OLD,
        hidden_key="Abcd...Wxyz",
    )
    return base.model_copy(update={"keys": (old, new, *base.keys[1:])})


def put(
    tmp_path: Path, live: LiveState, secret: str, retiring: frozenset[str] = frozenset()
) -> str:
    provider = FakeProvider(live)
    provider.secrets["k-alice-2"] = SECRET
    provider.secrets["k-alice"] = OLD_SECRET  # live, and so accepted, through its grace
    vault = FileVault(tmp_path / "vault")
    done = asyncio.run(
        put_secret(
            provider,
            desired_org(),
            live,
            lambda key: (vault, f"dev/{key.name}"),
            "api_key.dev-alice",
            SecretStr(secret),
            retiring=retiring,
        )
    )
    return done.key.id or ""


def test_during_a_rotation_s_grace_the_secret_goes_to_the_key_its_hint_names(
    tmp_path: Path,
) -> None:
    assert put(tmp_path, rotating(), SECRET) == "k-alice-2"


def test_two_live_keys_a_secret_fits_neither_of_are_named_by_id(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as refused:
        put(tmp_path, rotating(), "Zzzz-not-either-Zzzz")
    message = str(refused.value)
    assert message.startswith(
        "api_key.dev-alice: 2 live keys have this name (k-alice, k-alice-2), and"
    )
    assert "this secret is neither's" in message and "archive" not in message


def test_the_old_key_of_a_rotation_is_refused_its_secret(tmp_path: Path) -> None:
    # the old secret, still in someone's .env: stored, it would take the place of the new
    # key's at the name's path and die with the old key when its grace ends
    with pytest.raises(ConfigError) as refused:
        put(tmp_path, rotating(), OLD_SECRET, retiring=frozenset({"k-alice"}))
    assert str(refused.value) == (
        "api_key.dev-alice: this secret is the old key's of a rotation (id k-alice), "
        "deleted once its grace ends: store the new key's (id k-alice-2)"
    )


def test_an_old_key_without_a_hint_leaves_the_secret_to_the_new_key_it_fits(
    tmp_path: Path,
) -> None:
    live = rotating()
    old = live.keys[0].model_copy(update={"hidden_key": None})  # fits any secret
    live = live.model_copy(update={"keys": (old, *live.keys[1:])})
    assert put(tmp_path, live, SECRET, retiring=frozenset({"k-alice"})) == "k-alice-2"
