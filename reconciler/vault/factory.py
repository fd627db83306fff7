"""Opening secret stores: the organisation's default, an override, and per-key targets.

``--vault SPEC`` (or ``RECONCILER_VAULT=SPEC``) overrides the desired state's store so a
change can be rehearsed without touching real secrets:

- ``file:PATH`` (or ``file`` for ``.sandbox/vault``): a :class:`FileVault`;
- ``vault:https://ADDRESS``: a :class:`HashiCorpVault` at that address (mount, prefix,
  namespace and auth from the settings).

An override store is ``exclusive``: :func:`store_for_target` then sends EVERY key there,
GitHub-targeted ones included, so a rehearsal can never write a real secret store. (The
session then files a GitHub secret under ``github/<owner>/<repo>[/environments/<env>]/``
so that secrets of one name in other repositories or environments stay apart.)

Each backend's module is imported when a store of that kind is opened: a plan against
the file vault never loads the GitHub (PyNaCl) or Vault clients.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from reconciler.env import RECONCILER_VAULT
from reconciler.errors import ConfigError
from reconciler.model import SecretBackend, SecretTarget, VaultSettings
from reconciler.vault.base import DEFAULT_ROOT, SecretStore

if TYPE_CHECKING:
    import httpx

    from reconciler.vault.hashicorp import HashiCorpVault

OVERRIDE_HELP = "file:PATH or vault:https://ADDRESS"


def parse_override(spec: str) -> tuple[SecretBackend, str | None]:
    """``file:PATH`` / ``file`` / ``vault:URL`` → (backend, location or None)."""
    kind, _, where = spec.strip().partition(":")
    kind = kind.lower()
    if kind == "file":
        return SecretBackend.FILE, where or None
    if kind == "vault" and where.startswith(("https://", "http://")):
        return SecretBackend.VAULT, where
    raise ConfigError(f"--vault / {RECONCILER_VAULT} must be {OVERRIDE_HELP}, got {spec!r}")


def _override(override: str | None, env: Mapping[str, str]) -> str | None:
    spec = override if override is not None else env.get(RECONCILER_VAULT)
    return spec.strip() if spec and spec.strip() else None


def _file_root(settings: VaultSettings | None) -> Path:
    if settings is not None and settings.backend is SecretBackend.FILE and settings.address:
        return Path(settings.address)
    return DEFAULT_ROOT


def open_store(
    settings: VaultSettings,
    *,
    override: str | None = None,
    env: Mapping[str, str] = os.environ,
    transport: httpx.AsyncBaseTransport | None = None,
) -> SecretStore:
    """The organisation's default store, or the override (``--vault`` / RECONCILER_VAULT).

    Raises :class:`ConfigError` for a bad override or missing address/credentials. Nothing
    is contacted yet (a login happens on first use; call ``check()`` to fail early).
    """
    spec = _override(override, env)
    if spec is not None:
        backend, where = parse_override(spec)
        if backend is SecretBackend.FILE:
            return _file_vault(Path(where) if where else DEFAULT_ROOT, exclusive=True)
        return _hashicorp(settings, env, transport, address=where, exclusive=True)
    if settings.backend is SecretBackend.FILE:
        return _file_vault(_file_root(settings))
    if settings.backend is SecretBackend.VAULT:
        return _hashicorp(settings, env, transport)
    raise ConfigError(
        "vault.backend: github cannot be the organisation's default store (it needs a "
        "repository per key and cannot hold the apply lock); use vault or file, and set "
        "secret: {backend: github, repository: owner/name} on the keys that go to GitHub"
    )


def store_for_target(
    target: SecretTarget,
    default: SecretStore,
    *,
    settings: VaultSettings | None = None,
    override: str | None = None,
    env: Mapping[str, str] = os.environ,
    transport: httpx.AsyncBaseTransport | None = None,
) -> SecretStore:
    """The store one key's secret goes to.

    The default store when it is an override (or ``override``/RECONCILER_VAULT is set),
    when the target names no backend, or names the default's own backend. Otherwise a new
    store (the caller closes it): GitHub for ``backend: github`` (``repository`` required),
    Vault from ``settings`` (or defaults and ``VAULT_*``), or the file vault.
    """
    if default.exclusive or _override(override, env) is not None:
        return default
    backend = target.backend or default.backend
    if backend is SecretBackend.GITHUB:
        if not target.repository:
            raise ConfigError(
                f"secret path {target.path!r}: backend github needs repository: owner/name"
            )
        from reconciler.vault.github import GitHubSecretStore

        return GitHubSecretStore.from_env(
            repository=target.repository,
            environment=target.environment,
            env=env,
            transport=transport,
        )
    if backend is default.backend:
        return default
    if backend is SecretBackend.FILE:
        return _file_vault(_file_root(settings))
    return _hashicorp(settings or VaultSettings(), env, transport)


def _file_vault(root: Path, *, exclusive: bool = False) -> SecretStore:
    from reconciler.vault.file import FileVault

    return FileVault(root, exclusive=exclusive)


def _hashicorp(
    settings: VaultSettings,
    env: Mapping[str, str],
    transport: httpx.AsyncBaseTransport | None,
    *,
    address: str | None = None,
    exclusive: bool = False,
) -> HashiCorpVault:
    from reconciler.vault.hashicorp import HashiCorpVault

    return HashiCorpVault.from_settings(
        settings, env=env, address=address, transport=transport, exclusive=exclusive
    )
