"""The registry's rules: what a spec must hold, one spec per name, plug-ins that break."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from reconciler.errors import ConfigError
from reconciler.providers import (
    DEFAULT_PROVIDER,
    Target,
    find_provider,
    get_provider,
    provider_names,
    register,
)
from tests.provider_plugin.testcloud import TESTCLOUD


def test_the_default_provider_is_built_in() -> None:
    mistral = get_provider(None)
    assert mistral.name == DEFAULT_PROVIDER == "mistral"
    assert "workspace_admin" in mistral.workspace_roles
    assert "mistral" in provider_names()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"name": "Test Cloud"}, "use lower-case letters"),
        ({"member_roles": ("guest",)}, "roles ['guest'] are not in workspace_roles"),
        ({"admin_role": "root"}, "roles ['root'] are not in workspace_roles"),
    ],
)
def test_a_spec_must_be_consistent(change: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("]", r"\]")):
        dataclasses.replace(TESTCLOUD, **change)  # type: ignore[arg-type]


def test_one_spec_per_name() -> None:
    with pytest.raises(ValueError, match="'mistral' is already registered"):
        register(dataclasses.replace(get_provider("mistral"), display_name="Another"))
    register(get_provider("mistral"))  # the same one again is harmless


def test_a_provider_without_sandbox_or_admin_api_says_so() -> None:
    no_sandbox = dataclasses.replace(TESTCLOUD, sandbox=None)
    target = Target(env={}, sandbox_state=Path("state.json"))
    with pytest.raises(ConfigError, match="has no sandbox; set TESTCLOUD_ADMIN_KEY to plan"):
        no_sandbox.open_target(target, sandbox=True)
    bare = dataclasses.replace(no_sandbox, open=None)
    for sandbox in (True, False):  # policy only: no sandbox of an API it does not have
        with pytest.raises(ConfigError, match=r"has no admin API \(policy only\)"):
            bare.open_target(target, sandbox=sandbox)


def test_a_broken_plugin_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    info = tmp_path / "broken_plugin-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: broken-plugin\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(
        "[reconciler.providers]\nbroken = no_such_module:SPEC\nrenamed = "
        "tests.provider_plugin.testcloud:TESTCLOUD\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    assert {"broken", "renamed"} <= set(provider_names())
    with pytest.raises(ConfigError, match=r"plug-in broken \(no_such_module:SPEC\) failed"):
        find_provider("broken")
    with pytest.raises(ConfigError, match="is not a ProviderSpec named 'renamed'"):
        find_provider("renamed")
