"""Anthropic settings from the environment: the key from a variable or a file, never both,
the base URL overridable; each problem names its variable."""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.env import ANTHROPIC_ADMIN_API_KEY, ANTHROPIC_ADMIN_API_KEY_FILE, ANTHROPIC_BASE_URL
from reconciler.errors import ConfigError
from reconciler.platform.anthropic.settings import DEFAULT_BASE_URL, AnthropicSettings


def test_the_key_and_the_default_base() -> None:
    settings = AnthropicSettings.from_env({ANTHROPIC_ADMIN_API_KEY: " sk-ant-admin01-x \n"})
    assert settings.admin_key.get_secret_value() == "sk-ant-admin01-x"
    assert settings.base_url == DEFAULT_BASE_URL
    assert "sk-ant-admin01-x" not in repr(settings)


def test_the_key_from_a_file_and_another_base(tmp_path: Path) -> None:
    key = tmp_path / "admin-key"
    key.write_text("sk-ant-admin01-y\n")
    settings = AnthropicSettings.from_env(
        {ANTHROPIC_ADMIN_API_KEY_FILE: str(key), ANTHROPIC_BASE_URL: "http://127.0.0.1:8766/"}
    )
    assert settings.admin_key.get_secret_value() == "sk-ant-admin01-y"
    assert settings.base_url == "http://127.0.0.1:8766"


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({}, ANTHROPIC_ADMIN_API_KEY),
        ({ANTHROPIC_ADMIN_API_KEY: "k", ANTHROPIC_ADMIN_API_KEY_FILE: "/f"}, "not both"),
        ({ANTHROPIC_ADMIN_API_KEY_FILE: "/nonexistent/key"}, ANTHROPIC_ADMIN_API_KEY_FILE),
        ({ANTHROPIC_ADMIN_API_KEY: "k", ANTHROPIC_BASE_URL: "api.anthropic.com"}, "http(s)://"),
    ],
)
def test_each_problem_names_its_variable(env: dict[str, str], named: str) -> None:
    with pytest.raises(ConfigError) as caught:
        AnthropicSettings.from_env(env)
    assert named in str(caught.value)


def test_a_base_url_carrying_a_password_is_refused_without_showing_it() -> None:
    env = {ANTHROPIC_ADMIN_API_KEY: "k", ANTHROPIC_BASE_URL: "https://ops:hunter2@proxy.example"}
    with pytest.raises(ConfigError) as caught:
        AnthropicSettings.from_env(env)
    assert str(caught.value) == (
        f"{ANTHROPIC_BASE_URL}: must not carry a user name or password (user:password@)"
    )


def test_plain_http_to_another_machine_is_refused() -> None:
    env = {ANTHROPIC_ADMIN_API_KEY: "k", ANTHROPIC_BASE_URL: "http://anthropic.proxy.example"}
    with pytest.raises(ConfigError) as caught:
        AnthropicSettings.from_env(env)
    assert str(caught.value).startswith(
        f"{ANTHROPIC_BASE_URL} is plain http:// to anthropic.proxy.example, another machine"
    )
