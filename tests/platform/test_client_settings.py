"""MistralSettings: where the client connects and how, from the environment only."""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.errors import ConfigError
from reconciler.platform.mistral.settings import (
    DEFAULT_ADMIN_BASE_URL,
    DEFAULT_API_BASE_URL,
    MistralSettings,
)
from tests.platform.mistral_wire import ADMIN_KEY


def test_defaults_with_only_a_key() -> None:
    settings = MistralSettings.from_env({"MISTRAL_ADMIN_API_KEY": ADMIN_KEY})
    assert settings.admin_key.get_secret_value() == ADMIN_KEY
    assert settings.admin_base_url == DEFAULT_ADMIN_BASE_URL == "https://api.mistral.ai/v1/admin"
    assert settings.api_base_url == DEFAULT_API_BASE_URL == "https://api.mistral.ai/v1"
    assert settings.auth == "bearer"
    assert settings.concurrency == 8


def test_every_variable_is_read() -> None:
    settings = MistralSettings.from_env(
        {
            "MISTRAL_ADMIN_API_KEY": f"  {ADMIN_KEY}\n",
            "MISTRAL_ADMIN_BASE_URL": "http://127.0.0.1:8765/v1/admin/",
            "MISTRAL_API_BASE_URL": "http://127.0.0.1:8765/v1",
            "MISTRAL_ADMIN_AUTH": "X-API-KEY",
            "MISTRAL_CONCURRENCY": "3",
        }
    )
    assert settings.admin_key.get_secret_value() == ADMIN_KEY
    assert settings.admin_base_url == "http://127.0.0.1:8765/v1/admin"
    assert settings.api_base_url == "http://127.0.0.1:8765/v1"
    assert settings.auth == "x-api-key"
    assert settings.concurrency == 3


def test_the_key_can_come_from_a_file(tmp_path: Path) -> None:
    path = tmp_path / "admin.key"
    path.write_text(ADMIN_KEY + "\n", encoding="utf-8")
    settings = MistralSettings.from_env({"MISTRAL_ADMIN_API_KEY_FILE": str(path)})
    assert settings.admin_key.get_secret_value() == ADMIN_KEY


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({}, "no Mistral Admin API key: set MISTRAL_ADMIN_API_KEY, or MISTRAL_ADMIN_API_KEY_FILE"),
        ({"MISTRAL_ADMIN_API_KEY": "   "}, "no Mistral Admin API key"),
        (
            {"MISTRAL_ADMIN_API_KEY": ADMIN_KEY, "MISTRAL_ADMIN_API_KEY_FILE": "/x"},
            "set either MISTRAL_ADMIN_API_KEY or MISTRAL_ADMIN_API_KEY_FILE, not both",
        ),
        (
            {"MISTRAL_ADMIN_API_KEY_FILE": "/nonexistent/admin.key"},
            "MISTRAL_ADMIN_API_KEY_FILE: cannot read /nonexistent/admin.key",
        ),
        (
            {"MISTRAL_ADMIN_API_KEY": ADMIN_KEY, "MISTRAL_ADMIN_AUTH": "basic"},
            "MISTRAL_ADMIN_AUTH must be 'bearer' or 'x-api-key', not 'basic'",
        ),
        (
            {"MISTRAL_ADMIN_API_KEY": ADMIN_KEY, "MISTRAL_ADMIN_BASE_URL": "api.mistral.ai"},
            "MISTRAL_ADMIN_BASE_URL: must be an http(s):// URL, got 'api.mistral.ai'",
        ),
        (
            {"MISTRAL_ADMIN_API_KEY": ADMIN_KEY, "MISTRAL_CONCURRENCY": "0"},
            "MISTRAL_CONCURRENCY: Input should be greater than or equal to 1, got '0'",
        ),
    ],
    ids=["missing", "blank", "both", "unreadable", "auth", "url", "concurrency"],
)
def test_bad_settings_are_a_config_error_naming_the_variable(
    env: dict[str, str], message: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        MistralSettings.from_env(env)
    assert message in str(caught.value)
    assert ADMIN_KEY not in str(caught.value)


def test_an_empty_key_file_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "admin.key"
    path.write_text("\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"admin\.key is empty"):
        MistralSettings.from_env({"MISTRAL_ADMIN_API_KEY_FILE": str(path)})


@pytest.mark.parametrize(
    "variable", ["MISTRAL_ADMIN_BASE_URL", "MISTRAL_API_BASE_URL"], ids=["admin", "api"]
)
@pytest.mark.parametrize(
    ("url", "message"),
    [
        (
            "https://ops:hunter2@proxy.example/v1/admin",
            "{variable}: must not carry a user name or password (user:password@), got "
            "'https://proxy.example/v1/admin'",
        ),
        (
            "http://192.0.2.7:8765/v1/admin",
            "{variable} is plain http:// to 192.0.2.7, another machine: the credentials "
            "reconciler sends there would cross the network in clear; use https://, or set "
            "RECONCILER_ALLOW_PLAIN_HTTP=1 to send them anyway (a sandbox served with "
            "--allow-remote on a network you trust)",
        ),
        (
            "https://api.mistral.ai/v1/admin?token=sk-not-a-real-one",
            "{variable}: must not carry a query (?...) or a fragment (#...), got "
            "'https://api.mistral.ai/v1/admin'",
        ),
        (
            "https://api.mistral.ai/v1/admin#sk-not-a-real-one",
            "{variable}: must not carry a query (?...) or a fragment (#...), got "
            "'https://api.mistral.ai/v1/admin'",
        ),
    ],
    ids=["password", "plain-http", "query", "fragment"],
)
def test_a_base_url_that_would_expose_a_credential_is_refused(
    variable: str, url: str, message: str
) -> None:
    """The base URL is the target every plan, lock and record names (and a failed
    connection's hint shows): a password in it would be printed everywhere. The admin key
    (and, on the inference API, each new key being verified) goes in every request's
    headers: over plain HTTP to another host, anyone on the path reads it."""
    with pytest.raises(ConfigError) as caught:
        MistralSettings.from_env({"MISTRAL_ADMIN_API_KEY": ADMIN_KEY, variable: url})
    assert str(caught.value) == message.format(variable=variable)


@pytest.mark.parametrize(
    "host",
    [
        "127.0.0.1",
        "127.8.9.10",
        "localhost",
        "LocalHost",
        "localhost.",  # the fully qualified spelling
        "sandbox.localhost.",
        "[::1]",
        "[::ffff:127.0.0.1]",  # IPv4 loopback, mapped into IPv6
        "sandbox.localhost",
        "0.0.0.0",  # the unspecified address: a connection to it stays on this machine
        "[::]",
    ],
)
def test_plain_http_to_this_machine_is_allowed(host: str) -> None:
    url = f"http://{host}:8765/v1/admin"
    settings = MistralSettings.from_env(
        {"MISTRAL_ADMIN_API_KEY": ADMIN_KEY, "MISTRAL_ADMIN_BASE_URL": url}
    )
    assert settings.admin_base_url == url


def test_plain_http_to_another_machine_when_allowed() -> None:
    env = {
        "MISTRAL_ADMIN_API_KEY": ADMIN_KEY,
        "MISTRAL_ADMIN_BASE_URL": "http://sandbox.ci.internal:8765/v1/admin",
        "RECONCILER_ALLOW_PLAIN_HTTP": "1",
    }
    assert MistralSettings.from_env(env).admin_base_url == env["MISTRAL_ADMIN_BASE_URL"]
