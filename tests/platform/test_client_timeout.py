"""MISTRAL_TIMEOUT: how long the client waits for one answer."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from reconciler import errors
from reconciler.http import DEFAULT_TIMEOUT
from reconciler.platform.mistral.client import MistralClient
from reconciler.platform.mistral.settings import MistralSettings
from tests.platform.mistral_wire import ADMIN_KEY


def test_the_timeout_comes_from_the_environment() -> None:
    settings = MistralSettings.from_env(
        {"MISTRAL_ADMIN_API_KEY": ADMIN_KEY, "MISTRAL_TIMEOUT": "2.5"}
    )
    assert settings.timeout == 2.5
    client = MistralClient.from_settings(settings)
    assert client._admin.timeout == httpx.Timeout(2.5)
    asyncio.run(client.aclose())


def test_without_it_the_default_timeout_applies() -> None:
    settings = MistralSettings.from_env({"MISTRAL_ADMIN_API_KEY": ADMIN_KEY})
    assert settings.timeout is None
    client = MistralClient.from_settings(settings)
    assert client._admin.timeout == DEFAULT_TIMEOUT
    asyncio.run(client.aclose())


@pytest.mark.parametrize("value", ["0", "-1", "soon", "601"])
def test_a_bad_timeout_is_a_config_error_naming_the_variable(value: str) -> None:
    with pytest.raises(errors.ConfigError, match=r"^MISTRAL_TIMEOUT: "):
        MistralSettings.from_env({"MISTRAL_ADMIN_API_KEY": ADMIN_KEY, "MISTRAL_TIMEOUT": value})
