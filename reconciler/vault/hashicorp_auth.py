"""How the HashiCorp Vault backend gets its token: a token, AppRole, or JWT (GitHub OIDC).

Read from the environment (never from the desired state) by :func:`auth_from_env`:

- ``token``: ``VAULT_TOKEN``, else the file named by ``VAULT_TOKEN_FILE``, else
  ``~/.vault-token`` (the Vault CLI's token helper file).
- ``approle``: ``role_id`` from the environment variable named by ``vault.role`` in the
  desired state (default ``VAULT_ROLE_ID``), ``secret_id`` from ``VAULT_SECRET_ID``;
  ``POST /v1/auth/approle/login``.
- ``jwt``: ``role`` from ``VAULT_ROLE`` (the job's own role: CI sets it, so a change to
  the desired state cannot pick another), else ``vault.role``; the JWT from ``VAULT_JWT``, or
  fetched from GitHub Actions (``ACTIONS_ID_TOKEN_REQUEST_URL`` with ``audience`` =
  ``VAULT_JWT_AUDIENCE``, default the Vault address, authorised by
  ``ACTIONS_ID_TOKEN_REQUEST_TOKEN``; the workflow needs ``permissions: id-token: write``);
  ``POST /v1/auth/jwt/login``.

``VAULT_AUTH`` overrides ``vault.auth`` (a laptop's ``VAULT_TOKEN`` beside a desired state
whose CI logs in with ``jwt``: ``VAULT_AUTH=token``); ``VAULT_AUTH_PATH`` overrides the auth
mount (``approle`` / ``jwt``). Missing settings
raise :class:`~reconciler.errors.ConfigError` naming the variable; a refused login raises
:class:`~reconciler.errors.SecretStoreError`. Credentials are ``SecretStr`` throughout.

A JWT login is retried like any idempotent call. An AppRole login is sent once: a
``secret_id`` may be limited to a number of uses, and an ambiguous failure followed by a
resend could spend one.

A token a login created is this run's alone: :func:`revoke` ends it when the run is done
(``POST auth/token/revoke-self``), so it cannot be used after the run, whatever its TTL. A
token the user supplied (``VAULT_TOKEN``, a token file) is never revoked.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from pydantic import SecretStr

from reconciler import errors, http
from reconciler.env import (
    ACTIONS_ID_TOKEN_REQUEST_TOKEN,
    ACTIONS_ID_TOKEN_REQUEST_URL,
    HOME,
    VAULT_AUTH,
    VAULT_AUTH_PATH,
    VAULT_JWT,
    VAULT_JWT_AUDIENCE,
    VAULT_ROLE,
    VAULT_ROLE_ID,
    VAULT_SECRET_ID,
    VAULT_TOKEN,
    VAULT_TOKEN_FILE,
)
from reconciler.errors import ConfigError, SecretStoreError
from reconciler.model import VAULT_AUTH_METHODS, VaultAuthMethod, VaultSettings


@dataclass(frozen=True, slots=True, repr=False)
class TokenAuth:
    token: SecretStr
    source: str  # which variable or file it came from

    def __repr__(self) -> str:
        return f"TokenAuth(source={self.source!r})"


@dataclass(frozen=True, slots=True, repr=False)
class AppRoleAuth:
    role_id: SecretStr
    secret_id: SecretStr
    mount: str = "approle"

    def __repr__(self) -> str:
        return f"AppRoleAuth(mount={self.mount!r})"


@dataclass(frozen=True, slots=True, repr=False)
class JwtAuth:
    role: str
    jwt: SecretStr | None = None  # given directly (VAULT_JWT)
    request_url: str | None = None  # ACTIONS_ID_TOKEN_REQUEST_URL
    request_token: SecretStr | None = None  # ACTIONS_ID_TOKEN_REQUEST_TOKEN
    audience: str = ""
    mount: str = "jwt"

    def __repr__(self) -> str:
        return f"JwtAuth(role={self.role!r}, mount={self.mount!r})"


VaultAuth = TokenAuth | AppRoleAuth | JwtAuth


def auth_from_env(settings: VaultSettings, env: Mapping[str, str], *, address: str) -> VaultAuth:
    """The credential the settings ask for (``VAULT_AUTH`` wins over ``vault.auth``), from
    the environment; ConfigError if missing (saying so when a Vault token is set that these
    settings do not use: a laptop's ``VAULT_TOKEN`` beside a desired state whose CI logs in
    with ``jwt``)."""
    method = auth_method(settings, env)
    try:
        return _auth_from_env(method, settings, env, address=address)
    except ConfigError as exc:
        if method == "token" or not (env.get(VAULT_TOKEN) or env.get(VAULT_TOKEN_FILE)):
            raise
        said = (
            f"{VAULT_AUTH} is {method}"
            if env.get(VAULT_AUTH, "").strip()
            else f"vault.auth is {method} in organization.yaml"
        )
        raise ConfigError(
            f"{exc} ({said}, so {VAULT_TOKEN} is not used; {VAULT_AUTH}=token uses it)"
        ) from None


def auth_method(settings: VaultSettings, env: Mapping[str, str]) -> VaultAuthMethod:
    """``VAULT_AUTH`` when set (one of ``vault.auth``'s values, else a ConfigError naming
    them), else the desired state's ``vault.auth``."""
    given = env.get(VAULT_AUTH, "").strip()
    if not given:
        return settings.auth
    for method in VAULT_AUTH_METHODS:
        if given.lower() == method:
            return method
    raise ConfigError(
        f"{VAULT_AUTH} must be one of {', '.join(VAULT_AUTH_METHODS)} (as vault.auth), "
        f"got {given!r}"
    )


def _auth_from_env(
    method: VaultAuthMethod, settings: VaultSettings, env: Mapping[str, str], *, address: str
) -> VaultAuth:
    mount = env.get(VAULT_AUTH_PATH, "").strip("/")
    if method == "token":
        return _token_from_env(env)
    if method == "approle":
        role_var = settings.role or VAULT_ROLE_ID
        role_id = env.get(role_var)
        secret_id = env.get(VAULT_SECRET_ID)
        if not role_id or not secret_id:
            missing = [n for n, v in ((role_var, role_id), (VAULT_SECRET_ID, secret_id)) if not v]
            raise ConfigError(f"Vault AppRole login needs {' and '.join(missing)} to be set")
        return AppRoleAuth(SecretStr(role_id), SecretStr(secret_id), mount=mount or "approle")
    role = env.get(VAULT_ROLE) or settings.role
    if not role:
        raise ConfigError(f"Vault JWT login needs a role: set {VAULT_ROLE} or vault.role")
    jwt = env.get(VAULT_JWT)
    request_url = env.get(ACTIONS_ID_TOKEN_REQUEST_URL)
    request_token = env.get(ACTIONS_ID_TOKEN_REQUEST_TOKEN)
    if not jwt and not (request_url and request_token):
        raise ConfigError(
            f"Vault JWT login needs {VAULT_JWT}, or {ACTIONS_ID_TOKEN_REQUEST_URL} and "
            f"{ACTIONS_ID_TOKEN_REQUEST_TOKEN} (GitHub Actions with 'permissions: id-token: write')"
        )
    return JwtAuth(
        role=role,
        jwt=SecretStr(jwt) if jwt else None,
        request_url=request_url,
        request_token=SecretStr(request_token) if request_token else None,
        audience=env.get(VAULT_JWT_AUDIENCE) or address,
        mount=mount or "jwt",
    )


def _token_from_env(env: Mapping[str, str]) -> TokenAuth:
    token = env.get(VAULT_TOKEN)
    if token:
        return TokenAuth(SecretStr(token.strip()), VAULT_TOKEN)
    candidates: list[Path] = []
    if env.get(VAULT_TOKEN_FILE):
        candidates.append(Path(env[VAULT_TOKEN_FILE]).expanduser())
    elif env.get(HOME):
        candidates.append(Path(env[HOME]) / ".vault-token")
    for file in candidates:
        try:
            text = file.read_text(encoding="utf-8").strip()
        except FileNotFoundError:
            continue
        except OSError as exc:
            raise ConfigError(f"cannot read the Vault token file {file}: {exc.strerror}") from None
        if text:
            return TokenAuth(SecretStr(text), str(file))
    raise ConfigError(
        f"Vault token login needs {VAULT_TOKEN} (or {VAULT_TOKEN_FILE}, or ~/.vault-token)"
    )


async def login(
    auth: VaultAuth,
    client: httpx.AsyncClient,
    *,
    store: str,
    transport: httpx.AsyncBaseTransport | None,
    policy: http.RetryPolicy,
    sleep: Callable[[float], Any] | None,
) -> SecretStr:
    """Exchange the configured credential for a Vault token."""
    if isinstance(auth, TokenAuth):
        return auth.token
    if isinstance(auth, AppRoleAuth):
        body = {
            "role_id": auth.role_id.get_secret_value(),
            "secret_id": auth.secret_id.get_secret_value(),
        }
        return await _login(
            client,
            auth.mount,
            body,
            store=store,
            idempotent=False,
            policy=policy,
            sleep=sleep,
            what="AppRole",
        )
    jwt = auth.jwt or await fetch_github_oidc_token(
        auth, store=store, transport=transport, policy=policy, sleep=sleep
    )
    body = {"role": auth.role, "jwt": jwt.get_secret_value()}
    return await _login(
        client,
        auth.mount,
        body,
        store=store,
        idempotent=True,
        policy=policy,
        sleep=sleep,
        what=f"JWT (role {auth.role})",
    )


def login_creates_token(auth: VaultAuth) -> bool:
    """True if :func:`login` makes a new token (AppRole, JWT), False for a given token."""
    return not isinstance(auth, TokenAuth)


async def revoke(
    client: httpx.AsyncClient,
    token: SecretStr,
    *,
    store: str,
    policy: http.RetryPolicy,
    sleep: Callable[[float], Any] | None,
) -> None:
    """End a token a login created (``POST auth/token/revoke-self``). A failure raises
    :class:`SecretStoreError`; the token then ends with its TTL."""
    path = "/v1/auth/token/revoke-self"
    try:
        await http.send(
            client,
            "POST",
            path,
            service="Vault",
            idempotent=True,
            policy=policy,
            sleep=sleep,
            headers={"X-Vault-Token": token.get_secret_value()},
        )
    except errors.RemoteError as exc:
        raise SecretStoreError(
            f"{store}: could not revoke the token this run logged in with ({exc}); it ends "
            "when its TTL runs out"
        ) from None


async def _login(
    client: httpx.AsyncClient,
    mount: str,
    body: dict[str, str],
    *,
    store: str,
    idempotent: bool,
    policy: http.RetryPolicy,
    sleep: Callable[[float], Any] | None,
    what: str,
) -> SecretStr:
    path = f"/v1/auth/{mount}/login"
    try:
        response = await http.send(
            client,
            "POST",
            path,
            service="Vault",
            idempotent=idempotent,
            policy=policy,
            sleep=sleep,
            json=body,
        )
    except errors.RemoteError as exc:
        reason = exc.server_message or str(exc)
        if isinstance(exc, errors.TransportError):
            reason = f"cannot reach Vault ({exc})"
        raise SecretStoreError(f"{store}: {what} login at {path} was refused: {reason}") from None
    try:
        token = response.json()["auth"]["client_token"]
    except (ValueError, KeyError, TypeError):
        token = None
    if not isinstance(token, str) or not token:
        raise SecretStoreError(f"{store}: {what} login at {path} returned no client_token")
    return SecretStr(token)


async def fetch_github_oidc_token(
    auth: JwtAuth,
    *,
    store: str,
    transport: httpx.AsyncBaseTransport | None,
    policy: http.RetryPolicy,
    sleep: Callable[[float], Any] | None,
) -> SecretStr:
    """The workflow's OIDC token from GitHub Actions, for the configured audience."""
    if not auth.request_url or auth.request_token is None:
        raise ConfigError(
            f"{ACTIONS_ID_TOKEN_REQUEST_URL} and {ACTIONS_ID_TOKEN_REQUEST_TOKEN} unset"
        )
    headers = {"Authorization": f"bearer {auth.request_token.get_secret_value()}"}
    # merge, not replace: the request URL already carries api-version
    url = httpx.URL(auth.request_url).copy_merge_params({"audience": auth.audience})
    async with http.make_client("", headers=headers, transport=transport) as client:
        try:
            response = await http.send(
                client,
                "GET",
                str(url),
                service="GitHub Actions OIDC",
                idempotent=True,
                policy=policy,
                sleep=sleep,
            )
        except errors.RemoteError as exc:
            raise SecretStoreError(
                f"{store}: could not get the GitHub Actions OIDC token: {exc}"
            ) from None
    try:
        value = response.json()["value"]
    except (ValueError, KeyError, TypeError):
        value = None
    if not isinstance(value, str) or not value:
        raise SecretStoreError(f"{store}: the GitHub Actions OIDC response had no token value")
    return SecretStr(value)
