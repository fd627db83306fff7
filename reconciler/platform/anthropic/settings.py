"""Connection settings for Anthropic's Admin API, resolved from the environment.

=============================  ==========================================  ================
variable                       meaning                                     default
=============================  ==========================================  ================
ANTHROPIC_ADMIN_API_KEY        the organisation's Admin API key            (required)
ANTHROPIC_ADMIN_API_KEY_FILE   a file holding the key (instead of above)
ANTHROPIC_BASE_URL             the API base                                DEFAULT_BASE_URL
=============================  ==========================================  ================

The key is a :class:`~pydantic.SecretStr` from the moment it is read
(:func:`reconciler.platform.credentials.read_key`); every problem is a
:class:`~reconciler.errors.ConfigError` naming the variable.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from pydantic import BaseModel, ConfigDict, SecretStr, ValidationError, field_validator

from reconciler.env import (
    ANTHROPIC_ADMIN_API_KEY,
    ANTHROPIC_ADMIN_API_KEY_FILE,
    ANTHROPIC_BASE_URL,
)
from reconciler.errors import ConfigError
from reconciler.http import refuse_in_clear
from reconciler.platform.credentials import http_url, read_key

DEFAULT_BASE_URL = "https://api.anthropic.com"


class AnthropicSettings(BaseModel):
    """Where the Admin API is and the key that opens it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    admin_key: SecretStr
    base_url: str = DEFAULT_BASE_URL

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        return http_url(value)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> AnthropicSettings:
        """Read the settings from ``env`` (default ``os.environ``); ConfigError if unusable."""
        source = os.environ if env is None else env
        key = read_key(
            source,
            ANTHROPIC_ADMIN_API_KEY,
            ANTHROPIC_ADMIN_API_KEY_FILE,
            f"no Anthropic Admin API key: set {ANTHROPIC_ADMIN_API_KEY}, or "
            f"{ANTHROPIC_ADMIN_API_KEY_FILE} to a file holding it (an org admin creates "
            "one in the Console; ordinary sk-ant-api keys are rejected)",
        )
        base = source.get(ANTHROPIC_BASE_URL) or DEFAULT_BASE_URL
        try:
            settings = cls(admin_key=key, base_url=base)
        except ValidationError as exc:
            why = exc.errors()[0]["msg"].removeprefix("Value error, ")
            raise ConfigError(f"{ANTHROPIC_BASE_URL}: {why}") from None
        refuse_in_clear(settings.base_url, named=ANTHROPIC_BASE_URL, env=source)
        return settings
