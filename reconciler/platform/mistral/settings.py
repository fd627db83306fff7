"""Connection settings for La Plateforme, resolved from the environment.

The admin key comes from ``MISTRAL_ADMIN_API_KEY`` or from the file named by
``MISTRAL_ADMIN_API_KEY_FILE`` (never from a command-line value, which would show in
``ps`` and shell history). It is held as a :class:`~pydantic.SecretStr` from the moment it
is read. Every problem is a :class:`~reconciler.errors.ConfigError` naming the variable.

=============================  ==========================================  ===============
variable                       meaning                                     default
=============================  ==========================================  ===============
MISTRAL_ADMIN_API_KEY          the organisation's Admin API key            (required)
MISTRAL_ADMIN_API_KEY_FILE     a file holding the key (instead of above)
MISTRAL_ADMIN_BASE_URL         the Admin API base                          DEFAULT_ADMIN_BASE_URL
MISTRAL_API_BASE_URL           the inference API base (``/models``)        DEFAULT_API_BASE_URL
MISTRAL_ADMIN_AUTH             ``bearer`` or ``x-api-key``                 bearer
MISTRAL_ADMIN_API_KEY_NAME     the admin key's name in the audit log       (any admin key)
MISTRAL_CONCURRENCY            requests in flight at once                  8
MISTRAL_TIMEOUT                seconds to wait for one answer              30 (connect 10)
=============================  ==========================================  ===============
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

from reconciler.env import (
    MISTRAL_ADMIN_API_KEY,
    MISTRAL_ADMIN_API_KEY_FILE,
    MISTRAL_ADMIN_API_KEY_NAME,
    MISTRAL_ADMIN_AUTH,
    MISTRAL_ADMIN_BASE_URL,
    MISTRAL_API_BASE_URL,
    MISTRAL_CONCURRENCY,
    MISTRAL_TIMEOUT,
)
from reconciler.errors import ConfigError
from reconciler.http import refuse_in_clear
from reconciler.platform.credentials import AuthScheme, http_url, read_key, shown_url

DEFAULT_ADMIN_BASE_URL = "https://api.mistral.ai/v1/admin"
DEFAULT_API_BASE_URL = "https://api.mistral.ai/v1"
DEFAULT_CONCURRENCY = 8


class MistralSettings(BaseModel):
    """Where La Plateforme is and how to authenticate to it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    admin_key: SecretStr
    admin_base_url: str = DEFAULT_ADMIN_BASE_URL
    api_base_url: str = DEFAULT_API_BASE_URL
    auth: AuthScheme = "bearer"
    concurrency: int = Field(default=DEFAULT_CONCURRENCY, ge=1, le=64)
    timeout: float | None = Field(default=None, gt=0, le=600)  # None: the client's default
    # the admin key's name as the audit log shows it; None: changes made with any admin key
    # count as reconciler's own (the Admin API does not say which admin key a client holds)
    admin_key_name: str | None = None
    # the variable admin_base_url was read from, named by a failure that suggests it is wrong
    # (a connection refused, a 404 under a base without /admin); None: not from a variable
    admin_base_url_variable: str | None = None

    @field_validator("admin_base_url", "api_base_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        return http_url(value)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> MistralSettings:
        """Read the settings from ``env`` (default ``os.environ``); ConfigError if unusable."""
        source = os.environ if env is None else env
        key = _read_key(source)
        raw_auth = source.get(MISTRAL_ADMIN_AUTH, "bearer").strip().lower() or "bearer"
        if raw_auth not in ("bearer", "x-api-key"):
            raise ConfigError(
                f"{MISTRAL_ADMIN_AUTH} must be 'bearer' or 'x-api-key', not {raw_auth!r}"
            )
        fields: dict[str, object] = {"admin_key": key, "auth": raw_auth}
        for name, variable in (
            ("admin_base_url", MISTRAL_ADMIN_BASE_URL),
            ("api_base_url", MISTRAL_API_BASE_URL),
        ):
            if source.get(variable):
                fields[name] = source[variable]
        if "admin_base_url" in fields:
            fields["admin_base_url_variable"] = MISTRAL_ADMIN_BASE_URL
        if source.get(MISTRAL_CONCURRENCY):
            fields["concurrency"] = source[MISTRAL_CONCURRENCY]
        if source.get(MISTRAL_TIMEOUT):
            fields["timeout"] = source[MISTRAL_TIMEOUT]
        if source.get(MISTRAL_ADMIN_API_KEY_NAME, "").strip():
            fields["admin_key_name"] = source[MISTRAL_ADMIN_API_KEY_NAME].strip()
        try:
            settings = cls.model_validate(fields)
        except ValidationError as exc:
            problem = exc.errors()[0]
            field = str(problem["loc"][0]) if problem["loc"] else "?"
            variable = {
                "admin_base_url": MISTRAL_ADMIN_BASE_URL,
                "api_base_url": MISTRAL_API_BASE_URL,
                "concurrency": MISTRAL_CONCURRENCY,
                "timeout": MISTRAL_TIMEOUT,
            }.get(field, field)
            why = problem["msg"].removeprefix("Value error, ")  # pydantic's, for a ValueError
            raise ConfigError(f"{variable}: {why}, got {shown_url(problem['input'])!r}") from None
        refuse_in_clear(settings.admin_base_url, named=MISTRAL_ADMIN_BASE_URL, env=source)
        refuse_in_clear(settings.api_base_url, named=MISTRAL_API_BASE_URL, env=source)
        return settings


def _read_key(env: Mapping[str, str]) -> SecretStr:
    return read_key(
        env,
        MISTRAL_ADMIN_API_KEY,
        MISTRAL_ADMIN_API_KEY_FILE,
        f"no Mistral Admin API key: set {MISTRAL_ADMIN_API_KEY}, or "
        f"{MISTRAL_ADMIN_API_KEY_FILE} to a file holding it "
        "(create one in the admin console; ordinary inference keys are rejected)",
    )
